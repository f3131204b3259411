"""The fault proxy itself: each rule does exactly what it says, and is recorded.

The upstream here is a tiny stdlib server that serves one blob with Range support, so
these tests do not depend on the registry fixture; the fault tests use the real registry.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.faultproxy import (
    BLOBS,
    Canned,
    DropHalfway,
    FailFirst,
    FaultProxy,
    FlipByte,
    IgnoreRange,
    LieDigest,
    Response,
    Throttle,
    blob_path,
)

BLOB = os.urandom(300_000)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
BLOB_PATH = f"/v2/test/app/blobs/{DIGEST}"
MANIFEST_PATH = "/v2/test/app/manifests/v1"


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: list[tuple[str, str, str | None]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self.server.hits.append((self.command, self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        if self.path == BLOB_PATH:
            body, status = BLOB, 200
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match:
                start = int(match.group(1))
                body, status = BLOB[start:], 206
            self.send_response(status)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Content-Digest", DIGEST)
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)
            return
        if self.path == MANIFEST_PATH:
            body = b'{"schemaVersion": 2}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the proxy closing a half-read upstream response resets the connection


@pytest.fixture(scope="module")
def upstream() -> Iterator[ThreadingHTTPServer]:
    server = _QuietServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: ThreadingHTTPServer) -> Iterator[FaultProxy]:
    with FaultProxy(f"http://127.0.0.1:{upstream.server_address[1]}") as p:
        yield p


def get(
    proxy: FaultProxy, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def test_passes_through_and_records(proxy: FaultProxy) -> None:
    status, headers, body = get(proxy, BLOB_PATH)
    assert (status, body) == (200, BLOB)
    assert headers["docker-content-digest"] == DIGEST
    status, headers, body = get(proxy, MANIFEST_PATH, "HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == "20"
    assert [(e.method, e.path, e.status, e.fired) for e in proxy.requests] == [
        ("GET", BLOB_PATH, 200, []),
        ("HEAD", MANIFEST_PATH, 200, []),
    ]
    assert proxy.requests[0].sent == len(BLOB)


def test_drop_halfway_once_per_path_then_range_resume_works(proxy: FaultProxy) -> None:
    proxy.add(DropHalfway())
    with pytest.raises(http.client.IncompleteRead) as info:
        get(proxy, BLOB_PATH)
    got = len(info.value.partial)
    assert got == len(BLOB) // 2
    status, _, body = get(proxy, BLOB_PATH, headers={"Range": f"bytes={got}-"})
    assert (status, body) == (206, BLOB[got:])
    first, second = proxy.find(BLOBS)
    assert first.fired == ["drop"] and first.sent == got
    assert second.fired == [] and second.range_start == got


def test_fail_first_answers_503_once_per_path(proxy: FaultProxy) -> None:
    proxy.add(FailFirst())
    assert get(proxy, MANIFEST_PATH, "HEAD")[0] == 503
    assert get(proxy, BLOB_PATH)[0] == 503
    assert get(proxy, MANIFEST_PATH, "HEAD")[0] == 200
    assert get(proxy, BLOB_PATH)[2] == BLOB
    assert [e.fired for e in proxy.requests] == [["fail-first"], ["fail-first"], [], []]
    assert [e.upstream for e in proxy.requests] == [False, False, True, True]


def test_ignore_range_answers_200_with_the_whole_body(
    proxy: FaultProxy, upstream: ThreadingHTTPServer
) -> None:
    proxy.add(IgnoreRange())
    upstream.hits.clear()  # type: ignore[attr-defined]
    status, _, body = get(proxy, BLOB_PATH, headers={"Range": "bytes=1000-"})
    assert (status, body) == (200, BLOB)
    assert proxy.requests[0].range == "bytes=1000-"
    assert proxy.requests[0].fired == ["ignore-range"]
    assert upstream.hits == [("GET", BLOB_PATH, None)]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("range_start", "offset"),
    [(None, None), (None, 0), (100_000, None), (100_000, 299_999)],
    ids=["middle", "first-byte", "ranged-middle", "ranged-last-byte"],
)
def test_flip_byte_changes_exactly_one_byte(
    proxy: FaultProxy, range_start: int | None, offset: int | None
) -> None:
    proxy.add(FlipByte(DIGEST, offset))
    headers = {} if range_start is None else {"Range": f"bytes={range_start}-"}
    _, _, body = get(proxy, BLOB_PATH, headers=headers)
    start = range_start or 0
    expected = BLOB[start:]
    diff = [i + start for i, (a, b) in enumerate(zip(body, expected, strict=True)) if a != b]
    assert diff == [len(BLOB) // 2 if offset is None else offset]
    assert proxy.requests[0].fired == ["flip"]


def test_throttle_still_delivers_every_byte(proxy: FaultProxy) -> None:
    proxy.add(Throttle(2_000_000))
    assert get(proxy, BLOB_PATH)[2] == BLOB
    assert proxy.requests[0].fired == ["throttle"]


def test_lie_digest_replaces_the_header(proxy: FaultProxy) -> None:
    lie = "sha256:" + "0" * 64
    proxy.add(LieDigest(lie))
    for method in ("HEAD", "GET"):
        _, headers, _ = get(proxy, MANIFEST_PATH, method)
        assert headers["docker-content-digest"] == lie


def test_canned_answers_without_the_upstream(
    proxy: FaultProxy, upstream: ThreadingHTTPServer
) -> None:
    upstream.hits.clear()  # type: ignore[attr-defined]
    proxy.add(
        Canned.manifest(re.escape(MANIFEST_PATH), b"{not json", "application/json", label="bad"),
        Canned(
            blob_path("test/app", DIGEST),
            Response(401, {"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:1/token"'}),
            when=lambda ex: ex.authorization is None,
        ),
    )
    status, headers, body = get(proxy, MANIFEST_PATH)
    assert (status, body) == (200, b"{not json")
    assert headers["docker-content-digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert get(proxy, BLOB_PATH)[0] == 401
    assert get(proxy, BLOB_PATH, headers={"Authorization": "Bearer x"})[2] == BLOB
    assert upstream.hits == [("GET", BLOB_PATH, None)]  # type: ignore[attr-defined]
    assert proxy.requests[2].authorization == "Bearer x"


def test_no_upstream_means_502() -> None:
    with FaultProxy(None) as proxy:
        assert get(proxy, "/v2/")[0] == 502


def test_refuses_a_non_loopback_upstream() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("http://192.0.2.1:5000")
