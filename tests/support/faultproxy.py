"""A fault-injecting HTTP/1.1 reverse proxy for reliability and security tests.

It listens on 127.0.0.1, forwards every request to an upstream (normally the real
docker-registry started by the tests) with :mod:`http.client`, streams response bodies
back chunk by chunk, and lets a test inject faults per request with :class:`Rule` objects:

- :class:`DropHalfway`   close the connection after part of a blob body (once per path);
- :class:`FailFirst`     answer 503 (or any status) to the first request of each path;
- :class:`IgnoreRange`   strip ``Range`` before forwarding, so the answer is a full 200;
- :class:`FlipByte`      flip one byte of a given blob in flight;
- :class:`Throttle`      pace body bytes to a given rate (bytes/s);
- :class:`LieDigest`     replace the ``Docker-Content-Digest`` response header;
- :class:`Canned`        answer with a fixed response (hostile manifests, 401 challenges,
  redirects) without asking the upstream.

Every request is recorded as an :class:`Exchange` (method, path, the client's headers,
its ``Range``, the rules that fired, the status and the body bytes sent), so a test can
assert, for example, that the retry after a dropped connection asked for
``Range: bytes=N-`` with ``N > 0``.

Only loopback addresses are used.  The proxy runs in daemon threads of the test process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from tests.support import ctrpy_command

#: Path patterns (matched with ``re.fullmatch`` against the path without its query).
ANY = r"/.*"
BLOBS = r"/v2/.+/blobs/[a-z0-9]+:[^/]+"
MANIFESTS = r"/v2/.+/manifests/[^/]+"

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass
class Exchange:
    """One request the proxy received, and what it did with it."""

    method: str
    target: str  # path with query, as the client sent it
    headers: dict[str, str]  # the client's request headers, names lower-cased
    fired: list[str] = field(default_factory=list)  # names of the rules that fired
    status: int | None = None  # status sent to the client (None: connection broke first)
    sent: int = 0  # body bytes sent to the client
    upstream: bool = False  # whether the upstream was asked
    body: bytes = b""  # the request body (token POSTs), as received
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    @property
    def range(self) -> str | None:
        return self.headers.get("range")

    @property
    def range_start(self) -> int | None:
        """N of ``Range: bytes=N-`` (or ``bytes=N-M``), else None."""
        match = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", self.range or "")
        return int(match.group(1)) if match else None

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class Response:
    """A canned response."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Plan:
    """What the proxy will do to one exchange; rules fill it in."""

    canned: Response | None = None
    strip_range: bool = False
    set_headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None  # close after this many body bytes
    flip_at: int | None = None  # flip the byte at this offset of the body sent
    rate: float | None = None  # bytes per second


class Rule:
    """Base class: a fault applied to the requests whose method and path match.

    ``path`` is a regular expression matched in full against the request path (no query).
    Subclasses override :meth:`on_request` (before the upstream is asked) and/or
    :meth:`on_response` (after its status and headers arrived); each returns True when
    the rule fired, which is recorded in :attr:`Exchange.fired`.
    """

    name: ClassVar[str] = "rule"

    def __init__(self, path: str = ANY, methods: Iterable[str] = ("GET", "HEAD")) -> None:
        self.pattern = re.compile(path)
        self.methods = frozenset(m.upper() for m in methods)
        self.lock = threading.Lock()

    def matches(self, ex: Exchange) -> bool:
        return ex.method in self.methods and self.pattern.fullmatch(ex.path) is not None

    def on_request(self, ex: Exchange, plan: Plan) -> bool:
        return False

    def on_response(
        self, ex: Exchange, status: int, headers: dict[str, str], length: int | None, plan: Plan
    ) -> bool:
        return False


class FailFirst(Rule):
    """Answer ``status`` (503) to the first ``times`` requests of each matching path."""

    name = "fail-first"

    def __init__(
        self,
        path: str = ANY,
        methods: Iterable[str] = ("GET", "HEAD"),
        status: int = 503,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(path, methods)
        self.status = status
        self.times = times
        self.headers = dict(headers or {})
        self.seen: dict[str, int] = {}

    def on_request(self, ex: Exchange, plan: Plan) -> bool:
        with self.lock:
            count = self.seen.get(ex.path, 0)
            if count >= self.times:
                return False
            self.seen[ex.path] = count + 1
        body = json.dumps(
            {"errors": [{"code": "UNAVAILABLE", "message": "injected fault", "detail": None}]}
        ).encode()
        plan.canned = Response(
            self.status, {"Content-Type": "application/json", **self.headers}, body
        )
        return True


class DropHalfway(Rule):
    """Close the connection after ``fraction`` of a body, once per path (FIN, not RST)."""

    name = "drop"

    def __init__(self, path: str = BLOBS, fraction: float = 0.5, times: int = 1) -> None:
        super().__init__(path, ("GET",))
        self.fraction = fraction
        self.times = times
        self.dropped: dict[str, int] = {}

    def on_response(
        self, ex: Exchange, status: int, headers: dict[str, str], length: int | None, plan: Plan
    ) -> bool:
        if status not in (200, 206) or length is None or length < 2:
            return False
        with self.lock:
            count = self.dropped.get(ex.path, 0)
            if count >= self.times:
                return False
            self.dropped[ex.path] = count + 1
        plan.drop_after = min(length - 1, max(1, int(length * self.fraction)))
        return True


class IgnoreRange(Rule):
    """Remove ``Range`` from requests, so the upstream answers 200 with the whole body."""

    name = "ignore-range"

    def __init__(self, path: str = ANY) -> None:
        super().__init__(path, ("GET", "HEAD"))

    def on_request(self, ex: Exchange, plan: Plan) -> bool:
        if ex.range is None:
            return False
        plan.strip_range = True
        return True


class FlipByte(Rule):
    """Flip (xor 0xFF) the byte at ``offset`` (default: the middle) of the blob ``digest``."""

    name = "flip"

    def __init__(self, digest: str, offset: int | None = None) -> None:
        super().__init__(r"/v2/.+/blobs/" + re.escape(digest), ("GET",))
        self.offset = offset

    def on_response(
        self, ex: Exchange, status: int, headers: dict[str, str], length: int | None, plan: Plan
    ) -> bool:
        if status not in (200, 206) or not length:
            return False
        start, total = 0, length
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(headers.get("content-range", ""))
            if match is None:
                return False
            start = int(match.group(1))
            total = int(match.group(3)) if match.group(3) != "*" else start + length
        target = self.offset if self.offset is not None else total // 2
        if not start <= target < start + length:
            return False
        plan.flip_at = target - start
        return True


class Throttle(Rule):
    """Pace response bodies to ``rate`` bytes per second."""

    name = "throttle"

    def __init__(self, rate: float, path: str = BLOBS) -> None:
        super().__init__(path, ("GET",))
        self.rate = rate

    def on_response(
        self, ex: Exchange, status: int, headers: dict[str, str], length: int | None, plan: Plan
    ) -> bool:
        plan.rate = self.rate
        return True


class LieDigest(Rule):
    """Replace ``Docker-Content-Digest`` in responses (HEAD and GET) with ``value``."""

    name = "lie-digest"

    def __init__(self, value: str, path: str = MANIFESTS) -> None:
        super().__init__(path, ("GET", "HEAD"))
        self.value = value

    def on_response(
        self, ex: Exchange, status: int, headers: dict[str, str], length: int | None, plan: Plan
    ) -> bool:
        if status >= 300:
            return False
        plan.set_headers["Docker-Content-Digest"] = self.value
        return True


class Canned(Rule):
    """Answer matching requests with a fixed :class:`Response`, without the upstream.

    ``when`` narrows it further (e.g. only requests without ``Authorization``);
    ``times`` limits how often it fires (None: always).
    """

    name = "canned"

    def __init__(
        self,
        path: str,
        response: Response,
        methods: Iterable[str] = ("GET", "HEAD"),
        when: Callable[[Exchange], bool] | None = None,
        times: int | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(path, methods)
        self.response = response
        self.when = when
        self.times = times
        self.count = 0
        self.label = label

    def on_request(self, ex: Exchange, plan: Plan) -> bool:
        if self.when is not None and not self.when(ex):
            return False
        with self.lock:
            if self.times is not None and self.count >= self.times:
                return False
            self.count += 1
        plan.canned = self.response
        return True

    @classmethod
    def manifest(
        cls,
        path: str,
        body: bytes,
        media_type: str,
        digest: str | None = None,
        methods: Iterable[str] = ("GET", "HEAD"),
        label: str | None = None,
    ) -> Canned:
        """Serve ``body`` as a manifest at ``path`` (a regex), with a correct digest header
        unless ``digest`` says otherwise."""
        headers = {
            "Content-Type": media_type,
            "Docker-Content-Digest": digest or "sha256:" + hashlib.sha256(body).hexdigest(),
        }
        return cls(path, Response(200, headers, body), methods, label=label)


def manifest_path(repo: str, obj: str) -> str:
    """The regex for ``/v2/<repo>/manifests/<obj>`` (tag or digest)."""
    return re.escape(f"/v2/{repo}/manifests/{obj}")


def blob_path(repo: str, digest: str) -> str:
    """The regex for ``/v2/<repo>/blobs/<digest>``."""
    return re.escape(f"/v2/{repo}/blobs/{digest}")


class FaultProxy:
    """The proxy.  Use as a context manager, or call :meth:`start` and :meth:`close`.

    ``upstream`` is ``http://127.0.0.1:PORT`` (None: only canned answers; anything else
    gets 502).  ``rules`` may be changed while it runs (:meth:`add`, :attr:`rules`).
    """

    def __init__(self, upstream: str | None, rules: Iterable[Rule] = ()) -> None:
        self.upstream = urlsplit(upstream) if upstream else None
        if self.upstream is not None and self.upstream.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the fault proxy only forwards to loopback")
        self.rules: list[Rule] = list(rules)
        self._log: list[Exchange] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: what goes in an image reference."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FaultProxy:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_all()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- rules and records ---------------------------------------------------------

    def add(self, *rules: Rule) -> FaultProxy:
        self.rules.extend(rules)
        return self

    @property
    def requests(self) -> list[Exchange]:
        """A snapshot of every exchange so far, in arrival order.

        Exchanges still being answered are waited for (up to 5 s in all), so that a test
        that just got its answer sees the status and byte count the proxy recorded."""
        with self._lock:
            snapshot = list(self._log)
        deadline = time.monotonic() + 5
        for ex in snapshot:
            ex.done.wait(max(0.0, deadline - time.monotonic()))
        return snapshot

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def find(self, path: str = ANY, method: str | None = None) -> list[Exchange]:
        """The exchanges whose path matches the regex ``path`` (and ``method``)."""
        pattern = re.compile(path)
        return [
            ex
            for ex in self.requests
            if pattern.fullmatch(ex.path) and (method is None or ex.method == method)
        ]

    def _record(self, ex: Exchange) -> None:
        with self._lock:
            self._log.append(ex)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-exchange is normal here

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # --- one exchange --------------------------------------------------------------

    def _handle(self) -> None:
        proxy = self.server.proxy
        headers = {k.lower(): v for k, v in self.headers.items()}
        ex = Exchange(self.command, self.path, headers)
        proxy._record(ex)
        try:
            self._exchange(proxy, ex)
        finally:
            ex.done.set()

    def _exchange(self, proxy: FaultProxy, ex: Exchange) -> None:
        body = self._read_request_body()
        ex.body = body or b""
        plan = Plan()
        rules = [r for r in list(proxy.rules) if r.matches(ex)]
        for rule in rules:
            if rule.on_request(ex, plan):
                ex.fired.append(rule.name)
            if plan.canned is not None:
                break
        if plan.canned is not None:
            self._send_canned(ex, plan.canned)
            return
        if proxy.upstream is None:
            self._send_canned(ex, Response(502, {}, b"no upstream\n"))
            return
        try:
            conn, resp = self._forward(proxy, ex, plan, body)
        except OSError as exc:
            self._send_canned(ex, Response(502, {}, f"upstream: {exc}\n".encode()))
            return
        ex.upstream = True
        try:
            self._relay(proxy, ex, plan, rules, resp)
        finally:
            conn.close()

    def _read_request_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return None

    def _forward(
        self, proxy: FaultProxy, ex: Exchange, plan: Plan, body: bytes | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        assert proxy.upstream is not None
        conn = http.client.HTTPConnection(
            proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=60
        )
        conn.putrequest(ex.method, ex.target, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            lname = name.lower()
            if lname in _HOP_BY_HOP or lname == "content-length":
                continue
            if lname == "range" and plan.strip_range:
                continue
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        return conn, conn.getresponse()

    def _relay(
        self,
        proxy: FaultProxy,
        ex: Exchange,
        plan: Plan,
        rules: list[Rule],
        resp: http.client.HTTPResponse,
    ) -> None:
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
        lower = {k.lower(): v for k, v in out}
        no_body = ex.method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        buffered: bytes | None = None
        if "content-length" in lower:
            length: int | None = int(lower["content-length"])
        elif no_body:
            length = None
        else:
            buffered = resp.read()
            length = len(buffered)
            out.append(("Content-Length", str(length)))
            lower["content-length"] = str(length)
        for rule in rules:
            if rule.on_response(ex, resp.status, lower, None if no_body else length, plan):
                ex.fired.append(rule.name)
        if plan.set_headers:
            replaced = {k.lower() for k in plan.set_headers}
            out = [(k, v) for k, v in out if k.lower() not in replaced]
            out.extend(plan.set_headers.items())
        self.send_response_only(resp.status, resp.reason)
        for name, value in out:
            self.send_header(name, value)
        self.end_headers()
        ex.status = resp.status
        if no_body:
            return
        source: Callable[[int], bytes]
        if buffered is not None:
            view = memoryview(buffered)
            pos = 0

            def source(n: int) -> bytes:
                nonlocal pos
                piece = bytes(view[pos : pos + n])
                pos += len(piece)
                return piece

        else:
            source = resp.read
        self._stream(proxy, ex, plan, source, length or 0)

    def _stream(
        self, proxy: FaultProxy, ex: Exchange, plan: Plan, read: Callable[[int], bytes], length: int
    ) -> None:
        limit = length if plan.drop_after is None else plan.drop_after
        step = _CHUNK
        if plan.rate:
            step = max(1024, min(_CHUNK, int(plan.rate / 20)))
        started = time.monotonic()
        sent = 0
        try:
            while sent < limit:
                if proxy._closing.is_set():
                    raise ConnectionAbortedError("proxy closing")
                chunk = read(min(step, limit - sent))
                if not chunk:
                    break
                if plan.flip_at is not None and sent <= plan.flip_at < sent + len(chunk):
                    mutable = bytearray(chunk)
                    mutable[plan.flip_at - sent] ^= 0xFF
                    chunk = bytes(mutable)
                if plan.rate:
                    due = started + (sent + len(chunk)) / plan.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self.wfile.write(chunk)
                sent += len(chunk)
                ex.sent = sent
        except OSError:
            self.close_connection = True
            return
        if sent < length:
            # Dropped on purpose (or the upstream broke): end the connection after what we
            # sent, so the client sees a body shorter than its Content-Length.
            with contextlib.suppress(OSError):
                self.wfile.flush()
            self.close_connection = True

    def _send_canned(self, ex: Exchange, response: Response) -> None:
        body = response.body
        self.send_response_only(response.status)
        names = {k.lower() for k in response.headers}
        for name, value in response.headers.items():
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        ex.status = response.status
        if self.command != "HEAD" and body:
            try:
                self.wfile.write(body)
                ex.sent = len(body)
            except OSError:
                self.close_connection = True


# --- a token realm and a Bearer gate, for auth tests ---------------------------------------


def bearer_gate(realm: str, service: str, token: str, path: str = r"/v2/.*") -> Canned:
    """A rule that answers 401 with a Bearer challenge naming ``realm`` to every request
    that does not carry ``Authorization: Bearer <token>`` (put it first in the rules)."""
    challenge = f'Bearer realm="{realm}",service="{service}"'
    body = json.dumps(
        {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
    ).encode()
    return Canned(
        path,
        Response(401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, body),
        when=lambda ex: ex.authorization != f"Bearer {token}",
        label="bearer-gate",
    )


def token_realm(token: str, user: str | None = None, password: str | None = None) -> FaultProxy:
    """A token server (not started): ``GET /token`` answers ``{"token": token}``, to anyone
    when ``user`` is None, else only to ``Authorization: Basic`` with those credentials
    (others get 401).  Every request it gets is recorded like the proxy's."""
    good = None
    if user is not None:
        good = "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode()
    grant = Response(
        200,
        {"Content-Type": "application/json"},
        json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode(),
    )
    deny = Response(401, {"Content-Type": "application/json"}, b'{"details":"bad credentials"}')
    return FaultProxy(
        None,
        [
            Canned(r"/token", grant, when=lambda ex: good is None or ex.authorization == good),
            Canned(r"/token", deny),
        ],
    )


# --- running ctrpy and checking a store ------------------------------------------------------

#: seconds a ctrpy subprocess may take before the test gives up on it
CTRPY_TIMEOUT = 120.0


def hermetic_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a ctrpy subprocess: no user config, no colours, no CTRPY_*.

    ``home`` (a directory) becomes HOME; DOCKER_CONFIG and the hosts dir point at empty
    directories inside it unless ``extra`` says otherwise.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CTRPY_", "DOCKER_", "XDG_")) and k not in ("NO_COLOR", "HOME")
    }
    for sub in ("docker", "hosts", "config", "data"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        DOCKER_CONFIG=str(home / "docker"),
        CTRPY_HOSTS_DIR=str(home / "hosts"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Run:
    """A finished ctrpy process."""

    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class CtrpyEnv:
    """One test's world: a store root, a hermetic environment, a working directory."""

    root: Path
    env: dict[str, str]
    cwd: Path | None = None

    @classmethod
    def make(cls, base: Path, root: Path | None = None, **extra: str) -> CtrpyEnv:
        """A world under ``base``: store ``base/store`` (or ``root``), HOME ``base/home``,
        working directory ``base/cwd`` (empty)."""
        (base / "cwd").mkdir(parents=True, exist_ok=True)
        return cls(root or base / "store", hermetic_env(base / "home", **extra), base / "cwd")

    def args(self, *args: str) -> list[str]:
        return [*ctrpy_command(), "--root", str(self.root), *args]

    def run(self, *args: str, timeout: float = CTRPY_TIMEOUT) -> Run:
        try:
            proc = subprocess.run(
                self.args(*args),
                env=self.env,
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:  # subprocess.run killed it (by PID)
            raise AssertionError(f"ctrpy {' '.join(args)} did not finish in {timeout}s") from exc
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(*args),
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def pull(self, ref: str, *extra: str) -> Run:
        return self.run("image", "pull", *extra, "--", ref)

    def partial(self, digest: str) -> Path:
        return self.root / "ingest" / (digest.replace(":", "-", 1) + ".partial")

    def blob(self, digest: str) -> Path:
        return self.root / "blobs" / Path(*digest.split(":", 1))


def finish(proc: subprocess.Popen[str], timeout: float = CTRPY_TIMEOUT) -> Run:
    """Wait for a spawned ctrpy; kill it (by PID) if it does not end in time."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"ctrpy did not finish in {timeout}s:\n{err}") from None
    return Run(proc.returncode, out, err)


def blob_problems(root: Path) -> list[str]:
    """An independent check of a store's ``blobs/``: every file is a regular file named by
    a known algorithm and lowercase hex that hashes to its name; nothing else is there."""
    blobs = root / "blobs"
    problems: list[str] = []
    if not blobs.exists():
        return problems
    for path in sorted(blobs.rglob("*")):
        rel = path.relative_to(blobs)
        if path.is_dir():
            if len(rel.parts) != 1 or rel.parts[0] not in ("sha256", "sha384", "sha512"):
                problems.append(f"unexpected directory blobs/{rel}")
            continue
        if len(rel.parts) != 2 or not re.fullmatch(r"[0-9a-f]{64,128}", rel.parts[1]):
            problems.append(f"unexpected file blobs/{rel}")
            continue
        hasher = hashlib.new(rel.parts[0])
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
        if hasher.hexdigest() != rel.parts[1]:
            problems.append(f"blobs/{rel} hashes to {hasher.hexdigest()}")
    return problems
