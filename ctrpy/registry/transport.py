"""One HTTP exchange: redirects followed by hand, the ``--debug`` trace, redaction.

Redirects are followed here (at most :data:`MAX_REDIRECTS` hops) so that
``Authorization`` (and the host's configured headers) never travel to an origin other
than the one they were meant for: once a hop leaves that origin they are dropped for
the rest of the chain.  Every request and response is traced at DEBUG on the
``ctrpy.registry`` logger with secrets redacted.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from ctrpy.errors import RegistryError

log = logging.getLogger("ctrpy.registry")

MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})

#: Response headers shown in the trace.
TRACED_HEADERS = (
    "docker-content-digest",
    "content-type",
    "content-length",
    "content-range",
    "ratelimit-limit",
    "ratelimit-remaining",
    "docker-ratelimit-source",
    "retry-after",
    "location",
)
#: Query parameters whose values are secrets (tokens, pre-signed URL signatures, ...).
_SECRET_PARAM = re.compile(
    r"token|signature|sig$|credential|secret|password|passwd|key|auth|session", re.IGNORECASE
)

REDACTED = "REDACTED"


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """scheme, host, port (default ports made explicit) of a URL."""
    u = httpx.URL(str(url))
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return u.scheme, u.host.lower(), port


def redact_url(url: str | httpx.URL) -> str:
    """The URL without user info and with secret-looking query values replaced.

    Never raises: the URL may come from a hostile registry (a realm, a ``Location``).
    """
    try:
        parts = urlsplit(str(url))
    except ValueError:  # e.g. an unbalanced "[" in the host
        return "<malformed URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe=":/,"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def auth_scheme(headers: httpx.Headers) -> str:
    value: str = headers.get("authorization") or ""
    return value.split(" ", 1)[0].lower() if value else "none"


def send(
    http: httpx.Client,
    method: str,
    url: str,
    headers: dict[str, str],
    *,
    label: str,
    extra: list[tuple[str, str]] | None = None,
    data: dict[str, str] | None = None,
) -> httpx.Response:
    """Send a request and follow redirects; return the final response, body not read.

    ``headers`` may hold ``Authorization``; ``extra`` are additional (repeatable) headers
    such as a hosts.toml ``header`` table.  Both are sent only to the origin of ``url``.
    ``label`` names the configured host in the trace ("which host served").
    The caller must close the response.
    """
    home = origin(url)
    private = True
    for _hop in range(MAX_REDIRECTS + 1):
        pairs = [(k, v) for k, v in headers.items() if private or k.lower() != "authorization"]
        if private:
            pairs.extend(extra or ())
        request_headers = httpx.Headers(pairs)
        started = time.monotonic()
        try:
            with _unusable_url(url):
                request = http.build_request(method, url, headers=request_headers, data=data)
                response = http.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.debug(
                "%s %s failed after %.0f ms: %s (host %s)",
                method,
                redact_url(url),
                (time.monotonic() - started) * 1000,
                type(exc).__name__,
                label,
            )
            raise
        _trace(response, started, label, auth_scheme(request_headers))
        location = response.headers.get("location")
        if response.status_code not in REDIRECTS or not location:
            return response
        response.close()
        with _unusable_url(location):
            url = str(httpx.URL(url).join(location))
        if origin(url) != home:
            private = False
        if response.status_code == 303 and method != "HEAD":
            method, data = "GET", None
    raise RegistryError(
        f"{method} {redact_url(url)}: more than {MAX_REDIRECTS} redirects",
        hint="the registry or a proxy in front of it is misconfigured",
    )


@contextlib.contextmanager
def _unusable_url(url: str) -> Iterator[None]:
    """Turn what httpx raises for a URL it cannot use (a host name IDNA cannot encode, a
    control character) into :class:`httpx.UnsupportedProtocol`, the transport error it
    raises for other unusable URLs, so that callers handle it like any failed request."""
    try:
        yield
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise httpx.UnsupportedProtocol(f"unusable URL {redact_url(url)}: {exc}") from None


def _trace(response: httpx.Response, started: float, label: str, auth: str) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    request = response.request
    shown = []
    for name in TRACED_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            shown.append(f"{name}={redact_url(value) if name == 'location' else value}")
    log.debug(
        "%s %s -> %d %s in %.0f ms (host %s, auth %s)%s",
        request.method,
        redact_url(request.url),
        response.status_code,
        response.reason_phrase,
        (time.monotonic() - started) * 1000,
        label,
        auth,
        (" " + " ".join(shown)) if shown else "",
    )
