"""Registry authentication: challenges, the Bearer token flow, Basic.

A registry that wants credentials answers 401 with ``WWW-Authenticate``.  For Bearer,
ctrpy asks the challenge's ``realm`` for a token (``service``, ``scope=repository:<name>:pull``),
anonymously or with credentials (GET with Basic; POST with ``grant_type=refresh_token`` for
an identity token), accepts ``token`` or ``access_token`` and honours ``expires_in``; tokens
are cached per scope for the run.  For Basic it sends the user's credentials.  Either way
credentials go only to the host that challenged (and its token realm), and the challenge is
remembered per host so later requests carry the right header at once.

Parsing lives in :mod:`ctrpy.registry.challenges`; it is re-exported here.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import httpx

from ctrpy.errors import AuthError, NetworkError
from ctrpy.registry import transport
from ctrpy.registry.challenges import Challenge, parse_all, parse_challenges, select
from ctrpy.registry.credentials import Credentials, CredentialStore

__all__ = [
    "Authenticator",
    "Challenge",
    "CredentialStore",
    "Credentials",
    "parse_all",
    "parse_challenges",
    "select",
]

log = logging.getLogger("ctrpy.registry")

#: expires_in when the realm does not say (the distribution token spec's default)
DEFAULT_EXPIRES_IN = 60
#: at most this much of a token response is read
MAX_TOKEN_RESPONSE = 64 * 1024


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires_at: float

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at


def base64_of(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def basic_header(creds: Credentials) -> str:
    return "Basic " + base64_of(f"{creds.username}:{creds.password}")


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


class Authenticator:
    """Per-run auth state: the challenge each host gave, and tokens per scope.  Thread-safe."""

    def __init__(self, credentials: CredentialStore) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str, str, str], _Token] = {}
        self._fetching: dict[tuple[str, str, str, str], threading.Lock] = {}
        self._secrets: set[str] = set()

    def scrub(self, text: str) -> str:
        """``text`` (from a registry or realm) without any secret this run has sent.

        A registry may echo the token or password it was given in its error message; that
        message reaches the user, so every value we sent is cut out of it first.
        """
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def _remember(self, *values: str | None) -> None:
        fresh = set()
        for value in values:
            if value:
                fresh.update({value, urllib.parse.quote(value, safe=""), base64_of(value)})
        with self._lock:
            self._secrets |= fresh

    def _remember_credentials(self, creds: Credentials) -> None:
        self._remember(
            creds.password,
            creds.identity_token,
            basic_header(creds).removeprefix("Basic "),
        )

    def authorization(
        self, http: httpx.Client, host_url: str, authority: str, repository: str
    ) -> str | None:
        """The ``Authorization`` value to send to a host that challenged us before, or None."""
        with self._lock:
            challenge = self._challenges.get(host_url)
        if challenge is None:
            return None
        return self._header(http, challenge, authority, repository, stale=None)

    def challenged(
        self,
        http: httpx.Client,
        host_url: str,
        authority: str,
        repository: str,
        response: httpx.Response,
        sent: str | None,
        what: str,
    ) -> str:
        """After a 401: the ``Authorization`` value to retry with; AuthError when there is none.

        ``sent`` is what the refused request carried (a cached token is then thrown away).
        """
        challenges = parse_all(response.headers.get_list("www-authenticate"))
        chosen = select(challenges)
        if chosen is None:
            offered = ", ".join(sorted({c.scheme for c in challenges})) or "none"
            raise AuthError(
                f"{what}: {authority} requires authentication, but offers no scheme ctrpy "
                f"supports (offered: {offered}; supported: Bearer, Basic)",
            )
        with self._lock:
            self._challenges[host_url] = chosen
        header = self._header(http, chosen, authority, repository, stale=sent)
        if header is None or header == sent:
            raise self.refused(authority, what)
        return header

    def refused(self, authority: str, what: str) -> AuthError:
        """The error for a host that still answers 401 to the best header we had."""
        creds = self._credentials.lookup(authority)
        if creds is None:
            return AuthError(
                f"{what}: {authority} requires authentication (no credentials for it)",
                hint="log in with --user USER[:PASSWORD] or `docker login`",
            )
        return AuthError(
            f"{what}: {authority} refused the credentials of user {creds.username!r} "
            f"(from {creds.source})",
            hint="check the user name and password, and that this user may pull the repository",
        )

    # --- per scheme ------------------------------------------------------------------

    def _header(
        self,
        http: httpx.Client,
        challenge: Challenge,
        authority: str,
        repository: str,
        stale: str | None,
    ) -> str | None:
        if challenge.scheme == "basic":
            creds = self._credentials.lookup(authority)
            if creds is None or creds.identity_token:
                return None
            self._remember_credentials(creds)
            return basic_header(creds)
        token = self._token(http, challenge, authority, repository, stale)
        return f"Bearer {token}"

    def _token(
        self,
        http: httpx.Client,
        challenge: Challenge,
        authority: str,
        repository: str,
        stale: str | None,
    ) -> str:
        realm = challenge.realm
        if not realm or _scheme(realm) not in ("http", "https"):
            raise AuthError(
                f"{authority} sent a Bearer challenge without a usable realm "
                f"({transport.redact_url(realm) if realm else 'none'})",
            )
        service = challenge.get("service") or ""
        scope = pull_scope(repository) if repository else challenge.get("scope") or ""
        creds = self._credentials.lookup(authority)
        key = (realm, service, scope, creds.username if creds else "")
        with self._lock:
            lock = self._fetching.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                cached = self._tokens.get(key)
            if cached and cached.fresh() and f"Bearer {cached.value}" != stale:
                return cached.value
            token = self._fetch(http, realm, service, scope, creds, authority)
            with self._lock:
                self._tokens[key] = token
            return token.value

    def _fetch(
        self,
        http: httpx.Client,
        realm: str,
        service: str,
        scope: str,
        creds: Credentials | None,
        authority: str,
    ) -> _Token:
        realm_host = httpx.URL(realm).netloc.decode("ascii", "replace")
        what = f"token for {scope or 'the registry'} from realm {realm_host}"
        headers: dict[str, str] = {"Accept": "application/json"}
        form: dict[str, str] | None = None
        url = httpx.URL(realm)
        if creds is not None:
            self._remember_credentials(creds)
        if creds is not None and creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "service": service,
                "scope": scope,
                "client_id": "ctrpy",
            }
            method = "POST"
        else:
            params = [(k, v) for k, v in url.params.multi_items()]
            if service:
                params.append(("service", service))
            if scope:
                params.append(("scope", scope))
            if creds is not None:
                params.append(("account", creds.username))
                headers["Authorization"] = basic_header(creds)
            url = url.copy_with(params=params)
            method = "GET"
        try:
            response = transport.send(
                http, method, str(url), headers, label=f"token realm {realm_host}", data=form
            )
        except httpx.HTTPError as exc:
            raise NetworkError(
                f"cannot get a {what} for {authority}: {type(exc).__name__}",
                hint="check the network and that the token realm is reachable",
            ) from None
        try:
            body = _read_limited(response, MAX_TOKEN_RESPONSE)
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot get a {what}: {type(exc).__name__}") from None
        finally:
            response.close()
        if response.status_code != 200:
            who = f" for user {creds.username!r} (from {creds.source})" if creds else " anonymously"
            raise AuthError(
                f"realm {realm_host} refused a {what}{who}: "
                f"{response.status_code} {response.reason_phrase}"
                f"{self.scrub(_error_detail(body))}",
                hint=(
                    "check the user name and password"
                    if creds
                    else "the repository may be private: log in with --user or `docker login`"
                ),
            )
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        value = None
        if isinstance(data, dict):
            value = data.get("token") or data.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(f"realm {realm_host} answered a {what} without a token")
        expires_in = data.get("expires_in") if isinstance(data, dict) else None
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            expires_in = DEFAULT_EXPIRES_IN
        margin = min(10.0, expires_in / 4)
        self._remember(value)
        return _Token(value, time.monotonic() + expires_in - margin)


def _scheme(url: str) -> str:
    """The scheme of a URL from a challenge; "" when httpx cannot parse it."""
    try:
        return httpx.URL(url).scheme
    except httpx.InvalidURL:
        return ""


def _read_limited(response: httpx.Response, limit: int) -> bytes:
    out = bytearray()
    for chunk in response.iter_bytes():
        out += chunk
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def _error_detail(body: bytes) -> str:
    """A short, printable reason from a realm's error body (``details``/``errors``)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    messages: list[str] = []
    if isinstance(data, dict):
        for key in ("details", "detail", "error_description", "message", "error"):
            value = data.get(key)
            if isinstance(value, str) and value:
                messages.append(value)
                break
        errors = data.get("errors")
        if isinstance(errors, list):
            for e in errors[:3]:
                if isinstance(e, dict) and isinstance(e.get("message"), str):
                    messages.append(e["message"])
    text = "; ".join(messages)
    text = "".join(ch if ch.isprintable() else " " for ch in text)[:200]
    return f" ({text})" if text else ""
