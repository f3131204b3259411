"""``WWW-Authenticate`` parsing (RFC 7235), lenient where registries are sloppy.

Grammar (RFC 7235 section 4.1 and 2.1, RFC 7230 ``#rule``)::

    WWW-Authenticate = 1#challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )

Scheme and parameter names are case-insensitive: both come out lower-cased,
values keep their case.  Several challenges may share one header line, empty
list elements are skipped.  Registries are not always that tidy, so unquoted
values may hold any visible character but ``,`` and ``"``.  On a syntax error the
parser stops and returns what it understood so far (a parameter cut short is
dropped): it never raises and never invents a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_OWS = re.compile(r"[ \t]*")
_UNQUOTED_VALUE = re.compile(r"[^\s,\"]*")

SUPPORTED_SCHEMES = ("bearer", "basic")


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: ``scheme`` and its ``params`` (names lower-cased)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """A parameter by case-insensitive name."""
        return self.params.get(name.lower(), default)

    @property
    def realm(self) -> str | None:
        return self.get("realm")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def ows(self) -> None:
        m = _OWS.match(self.text, self.pos)
        assert m is not None
        self.pos = m.end()

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str | None:
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group()

    def skip_commas(self) -> None:
        """Skip ``OWS *( "," OWS )``: empty list elements are allowed and ignored."""
        self.ows()
        while self.peek() == ",":
            self.pos += 1
            self.ows()

    def quoted_string(self) -> str | None:
        """A quoted-string starting at ``"``; None (position unchanged) if unterminated."""
        start = self.pos
        assert self.text[self.pos] == '"'
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(self.text):
                    break
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif ch == '"':
                self.pos += 1
                return "".join(out)
            else:
                out.append(ch)
                self.pos += 1
        self.pos = start
        return None

    def param(self) -> tuple[str, str] | None:
        """``token BWS "=" BWS value`` at the current position, or None (position unchanged).

        ``name==`` is not a parameter (that is token68 padding).
        """
        start = self.pos
        name = self.token()
        if name is None:
            return None
        self.ows()
        if self.peek() != "=":
            self.pos = start
            return None
        self.pos += 1
        if self.peek() == "=":
            self.pos = start
            return None
        self.ows()
        if self.peek() == '"':
            value = self.quoted_string()
            if value is None:
                self.pos = start
                return None
        else:
            m = _UNQUOTED_VALUE.match(self.text, self.pos)
            assert m is not None
            value = m.group()
            self.pos = m.end()
        return name.lower(), value

    def looks_like_param(self) -> bool:
        """Whether ``token BWS "="`` starts here (a parameter, even if a broken one)."""
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            return False
        rest = _OWS.match(self.text, m.end())
        assert rest is not None
        return self.text.startswith("=", rest.end()) and not self.text.startswith("==", rest.end())

    def token68(self) -> str | None:
        start = self.pos
        m = _TOKEN68.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        self.ows()
        if self.at_end() or self.peek() == ",":
            return m.group()
        self.pos = start
        return None


def parse_challenges(header: str) -> list[Challenge]:
    """Parse one ``WWW-Authenticate`` header value into its challenges, in order."""
    p = _Parser(header)
    out: list[Challenge] = []
    p.skip_commas()
    while not p.at_end():
        scheme = p.token()
        if scheme is None:
            break
        params: dict[str, str] = {}
        token68: str | None = None
        out_index = len(out)
        out.append(Challenge(scheme.lower()))
        sp = p.pos
        p.ows()
        if p.pos == sp or p.at_end() or p.peek() == ",":
            # bare scheme (end of header, or a comma before the next challenge)
            p.skip_commas()
            continue
        first = p.param()
        if first is None:
            if p.looks_like_param():
                break  # a parameter cut short: drop it and stop
            token68 = p.token68()
            if token68 is None:
                break  # junk after the scheme
            out[out_index] = Challenge(scheme.lower(), {}, token68)
            p.skip_commas()
            continue
        params.setdefault(*first)
        stop = False
        while True:
            out[out_index] = Challenge(scheme.lower(), dict(params))
            p.ows()
            if p.at_end():
                break
            if p.peek() != ",":
                stop = True  # junk after a value: keep what we have
                break
            p.skip_commas()
            if p.at_end():
                break
            nxt = p.param()
            if nxt is None:
                stop = p.looks_like_param()  # a broken parameter ends the parse
                break  # otherwise the next challenge starts here
            params.setdefault(*nxt)
        if stop:
            break
    return out


def parse_all(headers: Iterable[str]) -> list[Challenge]:
    """The challenges of every ``WWW-Authenticate`` header line, in header order."""
    return [c for h in headers for c in parse_challenges(h)]


def select(challenges: Iterable[Challenge]) -> Challenge | None:
    """The challenge a puller acts on: Bearer first, then Basic; None when none is usable."""
    found = list(challenges)
    for scheme in SUPPORTED_SCHEMES:
        for c in found:
            if c.scheme == scheme:
                return c
    return None
