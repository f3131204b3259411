"""The registry client against fakes (pytest-httpserver): resolve, fetch, errors, retries,
429, rate-limit headers, redirects, mirror fallback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ctrpy.errors import (
    AuthError,
    CtrpyError,
    IntegrityError,
    NetworkError,
    NotFound,
    RateLimited,
    RegistryError,
)
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import Digest
from ctrpy.oci.reference import Reference
from ctrpy.registry.client import Client, Resolved
from ctrpy.registry.ratelimit import RateLimit
from ctrpy.registry.statuses import RegistryRateLimited
from tests.unit import registry_fakes as fakes

IMG = fakes.image()
MANIFEST_PATH = "/v2/test/app/manifests/latest"
BY_DIGEST = f"/v2/test/app/manifests/{IMG.manifest_desc.digest}"
BLOB_PATH = f"/v2/test/app/blobs/{IMG.layer_desc.digest}"


@pytest.fixture
def other(other_host_server: HTTPServer) -> HTTPServer:
    """A second server on another host name (127.0.0.1; the main one is localhost)."""
    return other_host_server


def make_ref(server: HTTPServer, **kw: str | None) -> Reference:
    return fakes.ref(f"localhost:{server.port}", **kw)  # type: ignore[arg-type]


def client(tmp_path: Path, **kw: object) -> Client:
    return Client(fakes.options(tmp_path, **kw))


def manifest_headers(digest: bool = True) -> dict[str, str]:
    headers = {"Content-Type": mediatypes.OCI_MANIFEST}
    if digest:
        headers["Docker-Content-Digest"] = str(IMG.manifest_desc.digest)
    return headers


def requests_seen(server: HTTPServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r, _ in server.log]


def ctrpy_log(caplog: pytest.LogCaptureFixture) -> str:
    """What ctrpy logged (the fake servers' own access logs left out)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ctrpy"))


# --- resolve ----------------------------------------------------------------------------


def test_resolve_tag_is_one_head(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        IMG.manifest, headers=manifest_headers()
    )
    with client(tmp_path) as c:
        got = c.resolve(make_ref(httpserver))
    assert got == Resolved(IMG.manifest_desc, f"http://localhost:{httpserver.port}", None)
    assert requests_seen(httpserver) == [("HEAD", MANIFEST_PATH)]
    request = httpserver.log[0][0]
    assert request.headers["Accept"] == mediatypes.MANIFEST_ACCEPT
    assert request.headers["User-Agent"].startswith("ctrpy/")


@pytest.mark.parametrize(
    "head",
    [
        Response(status=200, headers={"Content-Type": mediatypes.OCI_MANIFEST}),
        Response(
            status=200,
            headers={"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": "sha256:x"},
        ),
        Response(status=405),
    ],
    ids=["no-digest-header", "malformed-digest-header", "head-405"],
)
def test_resolve_falls_back_to_get_and_hash(
    httpserver: HTTPServer, tmp_path: Path, head: Response
) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_response(head)
    httpserver.expect_request(MANIFEST_PATH, method="GET").respond_with_data(
        IMG.manifest, headers=manifest_headers(digest=False)
    )
    with client(tmp_path) as c:
        r = make_ref(httpserver)
        got = c.resolve(r)
        assert got.descriptor == IMG.manifest_desc
        # the body fetched while resolving is reused: no second GET
        assert c.fetch_manifest(r, got.descriptor) == IMG.manifest
    assert requests_seen(httpserver) == [("HEAD", MANIFEST_PATH), ("GET", MANIFEST_PATH)]


def test_resolve_by_get_rejects_a_lying_digest_header(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_response(
        Response(status=405)
    )
    wrong = {"Docker-Content-Digest": str(Digest.of(b"other")), **manifest_headers(False)}
    httpserver.expect_request(MANIFEST_PATH, method="GET").respond_with_data(
        IMG.manifest, headers=wrong
    )
    with client(tmp_path) as c, pytest.raises(IntegrityError, match="hashes to"):
        c.resolve(make_ref(httpserver))


def test_resolve_digest_reference_never_gets(httpserver: HTTPServer, tmp_path: Path) -> None:
    digest = IMG.manifest_desc.digest
    httpserver.expect_request(BY_DIGEST, method="HEAD").respond_with_data(
        IMG.manifest, headers=manifest_headers(digest=False)
    )
    with client(tmp_path) as c:
        got = c.resolve(Reference(f"localhost:{httpserver.port}", "test/app", None, digest))
    assert got.descriptor == IMG.manifest_desc
    assert requests_seen(httpserver) == [("HEAD", BY_DIGEST)]


def test_resolve_digest_reference_with_head_405_fails_without_get(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request(BY_DIGEST, method="HEAD").respond_with_response(Response(status=405))
    r = Reference(f"localhost:{httpserver.port}", "test/app", None, IMG.manifest_desc.digest)
    with client(tmp_path) as c, pytest.raises(RegistryError, match="405"):
        c.resolve(r)
    assert [m for m, _ in requests_seen(httpserver)] == ["HEAD"]


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (404, NotFound, "404 not found"),
        (401, AuthError, "401 authentication required"),
        (403, AuthError, "403 access denied"),
        (400, RegistryError, "400 the registry rejected the request"),
    ],
    ids=["404", "401-no-challenge", "403", "400"],
)
def test_head_errors_say_what_the_status_means(
    httpserver: HTTPServer,
    tmp_path: Path,
    status: int,
    error: type[CtrpyError],
    words: str,
) -> None:
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_response(
        Response(status=status)
    )
    r = make_ref(httpserver)
    with client(tmp_path) as c, pytest.raises(error) as info:
        c.resolve(r)
    assert type(info.value) is error
    message = info.value.message
    assert words in message
    assert str(r) in message and f"localhost:{httpserver.port}" in message


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "MANIFEST_UNKNOWN", NotFound),
        (400, "MANIFEST_UNKNOWN", NotFound),
        (404, "NAME_UNKNOWN", NotFound),
        (401, "UNAUTHORIZED", AuthError),
        (403, "DENIED", AuthError),
        (400, "MANIFEST_INVALID", RegistryError),
    ],
    ids=lambda v: str(v) if not isinstance(v, type) else v.__name__,
)
def test_get_errors_use_the_errors_body(
    httpserver: HTTPServer, tmp_path: Path, status: int, code: str, error: type[CtrpyError]
) -> None:
    body = {"errors": [{"code": code, "message": "said the registry", "detail": {"x": 1}}]}
    httpserver.expect_request(BY_DIGEST, method="GET").respond_with_json(body, status=status)
    r = make_ref(httpserver)
    with client(tmp_path) as c, pytest.raises(error) as info:
        c.fetch_manifest(r, IMG.manifest_desc)
    assert type(info.value) is error
    assert f"{code}: said the registry" in info.value.message
    assert str(IMG.manifest_desc.digest) in info.value.message
    assert r.name in info.value.message


# --- manifests and blobs ---------------------------------------------------------------------


def test_fetch_manifest_verifies_the_digest(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(BY_DIGEST, method="GET").respond_with_data(IMG.manifest + b" ")
    with client(tmp_path) as c, pytest.raises(IntegrityError):
        c.fetch_manifest(make_ref(httpserver), IMG.manifest_desc)


def test_fetch_manifest_caps_the_size(httpserver: HTTPServer, tmp_path: Path) -> None:
    big = Descriptor(mediatypes.OCI_MANIFEST, IMG.manifest_desc.digest, 5 << 20)
    with client(tmp_path) as c, pytest.raises(RegistryError, match="bytes allowed"):
        c.fetch_manifest(make_ref(httpserver), big)
    assert httpserver.log == []


@pytest.mark.parametrize("offset", [0, 1, 1000, len(IMG.layer) - 1], ids=lambda o: f"offset{o}")
@pytest.mark.parametrize("honour_range", [True, False], ids=["range", "range-ignored"])
def test_fetch_blob_from_offset(
    httpserver: HTTPServer, tmp_path: Path, offset: int, honour_range: bool
) -> None:
    def handler(request: Request) -> Response:
        rng = request.headers.get("Range")
        if rng and honour_range:
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            return Response(
                IMG.layer[start:],
                status=206,
                headers={"Content-Range": f"bytes {start}-{len(IMG.layer) - 1}/{len(IMG.layer)}"},
            )
        return Response(IMG.layer, status=200)

    httpserver.expect_request(BLOB_PATH, method="GET").respond_with_handler(handler)
    with client(tmp_path) as c:
        got = b"".join(c.fetch_blob(make_ref(httpserver), IMG.layer_desc, offset=offset))
    assert got == IMG.layer[offset:]
    sent = httpserver.log[0][0].headers.get("Range")
    assert sent == (f"bytes={offset}-" if offset else None)


@pytest.mark.parametrize(
    "content_range", ["bytes 1500-2999/3000", "bytes 0-99/3000"], ids=["after", "ends-before"]
)
def test_fetch_blob_refuses_a_range_without_the_asked_byte(
    httpserver: HTTPServer, tmp_path: Path, content_range: str
) -> None:
    """Asked for bytes from 1000 on, a 206 that does not hold byte 1000 is refused at once
    (one request), not resumed again and again as a body that "ended early"."""
    start, end = (int(x) for x in content_range.split()[1].split("/")[0].split("-"))
    httpserver.expect_request(BLOB_PATH).respond_with_response(
        Response(IMG.layer[start : end + 1], status=206, headers={"Content-Range": content_range})
    )
    with client(tmp_path) as c, pytest.raises(RegistryError, match="partial response"):
        b"".join(c.fetch_blob(make_ref(httpserver), IMG.layer_desc, offset=1000))
    assert len(httpserver.log) == 1


def test_fetch_blob_refuses_more_than_the_size(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(BLOB_PATH).respond_with_data(IMG.layer + b"extra")
    with client(tmp_path) as c, pytest.raises(IntegrityError, match="more than"):
        b"".join(c.fetch_blob(make_ref(httpserver), IMG.layer_desc))


@pytest.mark.parametrize("what", ["manifest", "blob"])
def test_body_that_does_not_decode_is_a_registry_error(
    httpserver: HTTPServer, tmp_path: Path, what: str
) -> None:
    """A body labelled ``Content-Encoding: gzip`` that is not gzip fails as a registry error
    (httpx's DecodingError is no transport error: it escaped as an internal error)."""
    path, desc = (
        (BY_DIGEST, IMG.manifest_desc) if what == "manifest" else (BLOB_PATH, IMG.layer_desc)
    )
    httpserver.expect_request(path).respond_with_data(
        b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    with client(tmp_path) as c, pytest.raises(RegistryError, match="Content-Encoding 'gzip'"):
        if what == "manifest":
            c.fetch_manifest(make_ref(httpserver), desc)
        else:
            b"".join(c.fetch_blob(make_ref(httpserver), desc))


# --- retries, 5xx, 429 -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_transient_statuses_are_retried(
    httpserver: HTTPServer, tmp_path: Path, status: int
) -> None:
    httpserver.expect_oneshot_request(MANIFEST_PATH, method="HEAD").respond_with_response(
        Response(status=status)
    )
    httpserver.expect_request(MANIFEST_PATH, method="HEAD").respond_with_data(
        IMG.manifest, headers=manifest_headers()
    )
    with client(tmp_path) as c:
        assert c.resolve(make_ref(httpserver)).descriptor == IMG.manifest_desc
    assert len(httpserver.log) == 2


def test_5xx_retries_are_bounded(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(BY_DIGEST).respond_with_json(
        {"errors": [{"code": "UNKNOWN", "message": "boom"}]}, status=503
    )
    with client(tmp_path, retries=2) as c, pytest.raises(RegistryError) as info:
        c.fetch_manifest(make_ref(httpserver), IMG.manifest_desc)
    assert "503" in info.value.message and "UNKNOWN: boom" in info.value.message
    assert len(httpserver.log) == 3


def test_429_with_short_retry_after_waits_and_retries_once(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_oneshot_request(MANIFEST_PATH).respond_with_response(
        Response(status=429, headers={"Retry-After": "0"})
    )
    httpserver.expect_request(MANIFEST_PATH).respond_with_data(
        IMG.manifest, headers=manifest_headers()
    )
    with client(tmp_path) as c:
        assert c.resolve(make_ref(httpserver)).descriptor == IMG.manifest_desc
    assert len(httpserver.log) == 2


def test_429_twice_fails_after_one_retry(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(MANIFEST_PATH).respond_with_response(
        Response(status=429, headers={"Retry-After": "0"})
    )
    with client(tmp_path) as c, pytest.raises(RateLimited):
        c.resolve(make_ref(httpserver))
    assert len(httpserver.log) == 2


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, []),
        ({"Retry-After": "3600"}, ["retry after 1h"]),
        (
            {"Retry-After": "21600", "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0"},
            ["0 of 100 remaining in a 6h window", "retry after 6h"],
        ),
    ],
    ids=["no-retry-after", "long-retry-after", "with-limit-headers"],
)
def test_429_fails_at_once_and_explains(
    httpserver: HTTPServer, tmp_path: Path, headers: dict[str, str], words: list[str]
) -> None:
    httpserver.expect_request(MANIFEST_PATH).respond_with_response(
        Response(status=429, headers=headers)
    )
    with client(tmp_path) as c, pytest.raises(RateLimited) as info:
        c.resolve(make_ref(httpserver))
    assert len(httpserver.log) == 1
    message = info.value.message
    assert "429" in message and "pull rate limit" in message
    assert all(w in message for w in words), message
    assert info.value.hint is not None and "mirror" in info.value.hint
    assert "log in" in info.value.hint
    assert isinstance(info.value, RegistryRateLimited)


def test_rate_limit_headers_are_kept(httpserver: HTTPServer, tmp_path: Path) -> None:
    headers = {
        **manifest_headers(),
        "ratelimit-limit": "100;w=21600",
        "ratelimit-remaining": "97;w=21600",
        "docker-ratelimit-source": "203.0.113.9",
    }
    httpserver.expect_request(MANIFEST_PATH).respond_with_data(IMG.manifest, headers=headers)
    expected = RateLimit(limit=100, remaining=97, window=21600, source="203.0.113.9")
    with client(tmp_path) as c:
        assert c.rate_limit is None
        got = c.resolve(make_ref(httpserver))
        assert c.rate_limit == expected
    assert got.rate_limit == expected
    assert expected.describe() == "97 of 100 remaining in a 6h window (source 203.0.113.9)"


def test_low_rate_limit_warns_once(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {**manifest_headers(), "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "3"}
    httpserver.expect_request(MANIFEST_PATH).respond_with_data(IMG.manifest, headers=headers)
    caplog.set_level(logging.WARNING, logger="ctrpy")
    with client(tmp_path) as c:
        c.resolve(make_ref(httpserver))
        c.resolve(make_ref(httpserver))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "3 of 100 remaining" in warnings[0].getMessage()


def test_connection_refused_is_a_network_error(tmp_path: Path) -> None:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    port = server.port
    server.stop()
    with client(tmp_path, retries=1) as c, pytest.raises(NetworkError) as info:
        c.resolve(fakes.ref(f"127.0.0.1:{port}"))
    assert f"127.0.0.1:{port}" in info.value.message


# --- redirects --------------------------------------------------------------------------------


def test_blob_redirect_to_another_host_carries_no_authorization(
    httpserver: HTTPServer, other: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_sig = "S1GNATURE-very-secret"
    target = other.url_for(f"/storage/blob?X-Amz-Signature={secret_sig}&X-Amz-Expires=60")
    httpserver.expect_request(BLOB_PATH).respond_with_response(
        Response(status=307, headers={"Location": target})
    )
    other.expect_request("/storage/blob").respond_with_data(IMG.layer)
    caplog.set_level(logging.DEBUG, logger="ctrpy")
    with client(tmp_path, user="alice", password="pw-SECRET") as c:
        # make the registry host challenge for Basic first, so Authorization is being sent
        httpserver.expect_oneshot_request(BLOB_PATH).respond_with_response(
            Response(status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        )
        got = b"".join(c.fetch_blob(make_ref(httpserver), IMG.layer_desc))
    assert got == IMG.layer
    registry_auth = [r.headers.get("Authorization") for r, _ in httpserver.log]
    assert registry_auth[0] is None and registry_auth[1] is not None
    assert [r.headers.get("Authorization") for r, _ in other.log] == [None]
    logged = ctrpy_log(caplog)
    assert secret_sig not in logged and "pw-SECRET" not in logged
    assert "X-Amz-Signature=REDACTED" in logged


def test_redirects_are_capped(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request(BLOB_PATH).respond_with_response(
        Response(status=302, headers={"Location": BLOB_PATH})
    )
    with client(tmp_path) as c, pytest.raises(RegistryError, match="redirects"):
        b"".join(c.fetch_blob(make_ref(httpserver), IMG.layer_desc))
    assert len(httpserver.log) == 11


# --- mirrors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mirror_answer",
    [Response(status=404), Response(status=500), Response(status=401)],
    ids=["404", "500", "401"],
)
def test_mirror_failure_falls_back_to_upstream_with_one_warning(
    httpserver: HTTPServer,
    other: HTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    mirror_answer: Response,
) -> None:
    other.expect_request(MANIFEST_PATH).respond_with_response(mirror_answer)
    other.expect_request(BY_DIGEST).respond_with_response(mirror_answer)
    httpserver.expect_request(MANIFEST_PATH).respond_with_data(
        IMG.manifest, headers=manifest_headers()
    )
    httpserver.expect_request(BY_DIGEST).respond_with_data(IMG.manifest)
    caplog.set_level(logging.WARNING, logger="ctrpy")
    mirror = f"http://127.0.0.1:{other.port}"
    r = make_ref(httpserver)
    with client(tmp_path, mirrors=(mirror,)) as c:
        got = c.resolve(r)
        assert c.fetch_manifest(r, got.descriptor) == IMG.manifest
    assert got.host == f"http://localhost:{httpserver.port}"
    assert {req.args.get("ns") for req, _ in other.log} == {r.domain}
    assert all("ns" not in req.args for req, _ in httpserver.log)
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warnings) == 1 and mirror in warnings[0]


def test_mirror_down_falls_back_at_once(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = HTTPServer(host="127.0.0.1")
    dead.start()
    port = dead.port
    dead.stop()
    httpserver.expect_request(MANIFEST_PATH).respond_with_data(
        IMG.manifest, headers=manifest_headers()
    )
    caplog.set_level(logging.WARNING, logger="ctrpy")
    with client(tmp_path, mirrors=(f"http://127.0.0.1:{port}",)) as c:
        for _ in range(3):
            assert c.resolve(make_ref(httpserver)).descriptor == IMG.manifest_desc
    warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warnings) == 1 and "connection refused" in warnings[0].getMessage()


def test_mirror_serving_content_is_used(
    httpserver: HTTPServer, other: HTTPServer, tmp_path: Path
) -> None:
    other.expect_request(MANIFEST_PATH).respond_with_data(IMG.manifest, headers=manifest_headers())
    with client(tmp_path, mirrors=(f"http://127.0.0.1:{other.port}",)) as c:
        got = c.resolve(make_ref(httpserver))
    assert got.host == f"http://127.0.0.1:{other.port}"
    assert httpserver.log == []
    assert other.log[0][0].args["ns"] == f"localhost:{httpserver.port}"


def test_debug_trace_names_method_url_status_headers_and_host(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(MANIFEST_PATH).respond_with_data(
        IMG.manifest, headers={**manifest_headers(), "ratelimit-remaining": "5;w=60"}
    )
    caplog.set_level(logging.DEBUG, logger="ctrpy.registry")
    with client(tmp_path) as c:
        c.resolve(make_ref(httpserver))
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    for part in (
        f"HEAD http://localhost:{httpserver.port}{MANIFEST_PATH} -> 200",
        f"docker-content-digest={IMG.manifest_desc.digest}",
        f"content-type={mediatypes.OCI_MANIFEST}",
        f"content-length={len(IMG.manifest)}",
        "ratelimit-remaining=5;w=60",
        f"host http://localhost:{httpserver.port}",
    ):
        assert part in line


def test_error_body_json_is_read_at_most_64k(httpserver: HTTPServer, tmp_path: Path) -> None:
    huge = json.dumps({"errors": [{"code": "X", "message": "m" * 200_000}]})
    httpserver.expect_request(BY_DIGEST).respond_with_data(huge, status=400)
    with client(tmp_path) as c, pytest.raises(RegistryError) as info:
        c.fetch_manifest(make_ref(httpserver), IMG.manifest_desc)
    assert len(info.value.message) < 1000
