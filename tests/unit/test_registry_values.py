"""Pure parts of the registry package: rate-limit headers, Retry-After, URL redaction,
error-body mapping."""

from __future__ import annotations

import json

import httpx
import pytest

from ctrpy.errors import AuthError, CtrpyError, NotFound, RegistryError
from ctrpy.registry import ratelimit, statuses, transport
from ctrpy.registry.ratelimit import RateLimit


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        (
            {
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "97;w=21600",
                "docker-ratelimit-source": "1.2.3.4",
            },
            RateLimit(100, 97, 21600, "1.2.3.4"),
        ),
        ({"ratelimit-limit": "200"}, RateLimit(200, None, None, None)),
        ({"ratelimit-remaining": "0;w=60"}, RateLimit(None, 0, 60, None)),
        ({"ratelimit-limit": "garbage", "ratelimit-remaining": "x;w=1"}, None),
        ({"ratelimit-limit": "100; w = 3600 ; comment=x"}, RateLimit(100, None, 3600, None)),
        ({"ratelimit-reset": "42"}, RateLimit(None, None, None, None, 42)),
    ],
    ids=["none", "docker-hub", "limit-only", "remaining-only", "garbage", "spaces", "reset"],
)
def test_rate_limit_headers(headers: dict[str, str], expected: RateLimit | None) -> None:
    assert ratelimit.parse(httpx.Headers(headers)) == expected


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (
            RateLimit(100, 97, 21600, "1.2.3.4"),
            "97 of 100 remaining in a 6h window (source 1.2.3.4)",
        ),
        (RateLimit(100, None, 21600, None), "limit 100 in a 6h window"),
        (RateLimit(None, 3, 90, None), "3 remaining in a 1m30s window"),
        (RateLimit(None, None, None, None, 3600), "limit unknown, resets in 1h"),
    ],
    ids=["full", "limit", "remaining", "reset"],
)
def test_rate_limit_describe(rate: RateLimit, text: str) -> None:
    assert rate.describe() == text


@pytest.mark.parametrize(
    ("rate", "low"),
    [
        (RateLimit(100, 97, None, None), False),
        (RateLimit(100, 10, None, None), True),
        (RateLimit(100, 11, None, None), False),
        (RateLimit(5000, 10, None, None), True),
        (RateLimit(None, 5, None, None), True),
        (RateLimit(100, None, None, None), False),
    ],
    ids=["plenty", "tenth", "above-tenth", "cap-10", "no-limit", "no-remaining"],
)
def test_rate_limit_low(rate: RateLimit, low: bool) -> None:
    assert rate.low is low


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),
    ],
    ids=["absent", "zero", "seconds", "junk", "http-date", "http-date-past"],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert ratelimit.retry_after(value, now=40.0) == seconds


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "http://h:5000/v2/x/manifests/latest?ns=docker.io",
            "http://h:5000/v2/x/manifests/latest?ns=docker.io",
        ),
        (
            "https://auth/token?service=s&scope=repository:a/b:pull&access_token=SECRET",
            "https://auth/token?service=s&scope=repository:a/b:pull&access_token=REDACTED",
        ),
        (
            "https://s3/b?X-Amz-Credential=SECRET&X-Amz-Signature=SECRET&X-Amz-Expires=60",
            "https://s3/b?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=60",
        ),
        ("https://user:SECRET@host/v2/", "https://host/v2/"),
        ("https://cdn/blob?sig=SECRET&se=2030", "https://cdn/blob?sig=REDACTED&se=2030"),
    ],
    ids=["plain", "token", "presigned", "userinfo", "azure-sig"],
)
def test_redact_url(url: str, shown: str) -> None:
    assert transport.redact_url(url) == shown
    assert "SECRET" not in transport.redact_url(url)


@pytest.mark.parametrize(
    "url", ["http://[bad/token?token=SECRET", "ftp://a]b/x"], ids=["open-bracket", "close-bracket"]
)
def test_redact_url_of_a_malformed_url_does_not_raise(url: str) -> None:
    """A realm or Location from a hostile registry may be unparsable; its redacted form
    (for a message or the trace) is then a placeholder, never an exception."""
    assert transport.redact_url(url) == "<malformed URL>"


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (404, b"", NotFound, "404 not found"),
        (
            400,
            json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]}),
            NotFound,
            "BLOB_UNKNOWN: blob unknown",
        ),
        (
            403,
            json.dumps({"errors": [{"code": "DENIED", "message": "denied\x1b[31m"}]}),
            AuthError,
            "DENIED: denied [31m",
        ),
        (500, b"<html>oops</html>", RegistryError, "500 internal server error"),
        (418, b"{not json", RegistryError, "418"),
        (400, json.dumps({"errors": "not a list"}), RegistryError, "400"),
    ],
    ids=["404", "blob-unknown", "denied-control-chars", "500-html", "418", "errors-not-list"],
)
def test_error_for(status: int, body: bytes | str, error: type[CtrpyError], words: str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    got = statuses.error_for(status, raw, "fetching x of r from h")
    assert type(got) is error
    assert got.message.startswith("fetching x of r from h: ")
    assert words in got.message
    assert "\x1b" not in got.message
