"""HTTP statuses and the registry's ``{"errors": [...]}`` body, mapped to ctrpy errors.

401/403 -> :class:`AuthError`; 404 and the codes ``MANIFEST_UNKNOWN``, ``BLOB_UNKNOWN``,
``NAME_UNKNOWN`` -> :class:`NotFound`; 429 -> :class:`RateLimited` (see
:func:`rate_limited`); everything else -> :class:`RegistryError`.  A HEAD response has no
body, so the message says what the status means.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from dataclasses import dataclass

from ctrpy.errors import AuthError, CtrpyError, NotFound, RateLimited, RegistryError
from ctrpy.registry.ratelimit import RateLimit, format_seconds

#: at most this much of an error body is read
MAX_ERROR_BODY = 64 * 1024

NOT_FOUND_CODES = frozenset({"MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"})
AUTH_CODES = frozenset({"UNAUTHORIZED", "DENIED"})

_MEANING = {
    400: "the registry rejected the request as malformed",
    401: "authentication required",
    403: "access denied",
    404: "not found",
    405: "the registry does not allow this method here",
    408: "the registry timed out waiting for the request",
    416: "the requested byte range is not satisfiable",
    429: "too many requests (rate limited)",
    500: "internal server error in the registry",
    502: "bad gateway (a proxy in front of the registry failed)",
    503: "the registry is unavailable",
    504: "gateway timeout (a proxy in front of the registry timed out)",
}


class RegistryRateLimited(RateLimited):
    """:class:`RateLimited` with what the registry said about its limit."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        rate_limit: RateLimit | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.rate_limit = rate_limit
        self.retry_after = retry_after


@dataclass(frozen=True)
class RegistryErrorBody:
    """The ``errors`` of a registry error body: (code, message) pairs, printable."""

    errors: tuple[tuple[str, str], ...] = ()

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(code for code, _ in self.errors)

    def describe(self) -> str:
        parts = []
        for code, message in self.errors[:3]:
            parts.append(f"{code}: {message}" if code and message else code or message)
        return "; ".join(p for p in parts if p)

    @classmethod
    def parse(cls, body: bytes | None) -> RegistryErrorBody:
        if not body:
            return cls()
        try:
            data = json.loads(body[:MAX_ERROR_BODY])
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return cls()
        if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
            return cls()
        out = []
        for e in data["errors"][:10]:
            if not isinstance(e, dict):
                continue
            code = e.get("code")
            message = e.get("message")
            out.append(
                (
                    _printable(code).upper() if isinstance(code, str) else "",
                    _printable(message) if isinstance(message, str) else "",
                )
            )
        return cls(tuple(out))


def _printable(text: str, limit: int = 200) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)[:limit].strip()


def meaning(status: int) -> str:
    if status in _MEANING:
        return _MEANING[status]
    try:
        return http.HTTPStatus(status).phrase.lower()
    except ValueError:
        return "unexpected status"


def error_for(
    status: int, body: bytes | None, what: str, scrub: Callable[[str], str] = str
) -> CtrpyError:
    """The ctrpy error for a failed response (not 429: see :func:`rate_limited`).

    ``what`` names the host, the repository and the object, e.g.
    ``resolve 127.0.0.1:5000/library/x:latest at http://127.0.0.1:5000``; ``scrub`` cuts
    secrets out of the registry's own words before they become part of the message.
    """
    parsed = RegistryErrorBody.parse(body)
    detail = scrub(parsed.describe())
    why = f"{status} {meaning(status)}" + (f" ({detail})" if detail else "")
    codes = parsed.codes
    if status == 404 or codes & NOT_FOUND_CODES:
        return NotFound(
            f"{what}: {why}",
            hint="check the repository name and tag (or digest); a private repository may "
            "also answer not found when you are not logged in",
        )
    if status in (401, 403) or codes & AUTH_CODES:
        return AuthError(
            f"{what}: {why}",
            hint="log in with --user or `docker login`, and check that you may pull this "
            "repository",
        )
    return RegistryError(f"{what}: {why}")


def rate_limited(
    what: str,
    host: str,
    rate_limit: RateLimit | None,
    retry_after: float | None,
    docker_hub: bool,
) -> RegistryRateLimited:
    """The error for a 429: whose limit, how big, when it resets if known, what to do."""
    whose = "Docker Hub's pull rate limit" if docker_hub else f"the pull rate limit of {host}"
    facts = []
    if rate_limit is not None and (
        rate_limit.limit is not None or rate_limit.remaining is not None
    ):
        facts.append(rate_limit.describe())
    if retry_after is not None:
        facts.append(f"retry after {format_seconds(round(retry_after))}")
    elif rate_limit is not None and rate_limit.reset is not None and not facts:
        facts.append(f"resets in {format_seconds(rate_limit.reset)}")
    known = f" ({'; '.join(facts)})" if facts else ""
    return RegistryRateLimited(
        f"{what}: 429 too many requests: {whose} was reached{known}",
        hint="log in (--user or `docker login`) for a higher limit, or pull through a mirror "
        "(--mirror URL or a hosts.toml in the hosts directory)",
        rate_limit=rate_limit,
        retry_after=retry_after,
    )
