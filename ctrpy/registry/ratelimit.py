"""Pull rate limits as registries announce them, and ``Retry-After``.

Docker Hub sends ``ratelimit-limit: 100;w=21600``, ``ratelimit-remaining: 97;w=21600``
and ``docker-ratelimit-source: <ip or account>`` on manifest responses.  Some
registries also send ``ratelimit-reset`` (seconds until the window resets, IETF draft).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

_QUOTA = re.compile(r"\s*(\d+)\s*(?:;(.*))?$")
_WINDOW = re.compile(r"(?:^|;)\s*w\s*=\s*(\d+)\s*(?:;|$)")


@dataclass(frozen=True)
class RateLimit:
    """What a registry said about its pull rate limit (any field may be unknown)."""

    limit: int | None
    remaining: int | None
    window: int | None  # seconds
    source: str | None
    reset: int | None = None  # seconds until the window resets, when the registry said

    def describe(self) -> str:
        """``97 of 100 remaining in a 6h window (source 1.2.3.4)``, with what is known."""
        window = f" in a {format_seconds(self.window)} window" if self.window else ""
        if self.remaining is not None and self.limit is not None:
            text = f"{self.remaining} of {self.limit} remaining{window}"
        elif self.limit is not None:
            text = f"limit {self.limit}{window}"
        elif self.remaining is not None:
            text = f"{self.remaining} remaining{window}"
        else:
            text = "limit unknown"
        if self.reset is not None:
            text += f", resets in {format_seconds(self.reset)}"
        if self.source:
            text += f" (source {self.source})"
        return text

    @property
    def low(self) -> bool:
        """Nearly used up: at most a tenth of the limit (and at most 10) left."""
        if self.remaining is None:
            return False
        if self.limit is None:
            return self.remaining <= 5
        return self.remaining <= min(10, max(1, self.limit // 10))


def format_seconds(seconds: int) -> str:
    """``21600`` -> ``6h``; ``90`` -> ``1m30s``; ``45`` -> ``45s``."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])


def _quota(value: str | None) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    m = _QUOTA.match(value)
    if m is None:
        return None, None
    window = None
    if m.group(2):
        w = _WINDOW.search(m.group(2))
        if w:
            window = int(w.group(1))
    return int(m.group(1)), window


def parse(headers: Mapping[str, str]) -> RateLimit | None:
    """The rate limit in a response's headers (a case-insensitive mapping), or None."""
    limit, window = _quota(headers.get("ratelimit-limit"))
    remaining, window2 = _quota(headers.get("ratelimit-remaining"))
    source = headers.get("docker-ratelimit-source")
    reset_value = (headers.get("ratelimit-reset") or "").strip()
    reset = int(reset_value) if reset_value.isdigit() else None
    if limit is None and remaining is None and reset is None:
        return None
    source = source.strip()[:100] if source else None
    return RateLimit(limit, remaining, window or window2, source or None, reset)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
