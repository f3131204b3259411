"""Run a real distribution registry (Debian's ``docker-registry`` 2.8) for tests and benchmarks.

No pytest in here: the benchmark scripts use it too.

    with Registry() as upstream, Registry(upstream=upstream) as proxy:
        mark = upstream.mark()
        ...  # pull something through proxy.url
        reqs = upstream.since(mark)  # list[Request] parsed from the access log

Modes: plain (default), htpasswd Basic auth (``users={"alice": "pw"}``; the registry answers 401
with ``WWW-Authenticate: Basic realm=...``), proxy-cache (``upstream=<Registry or URL>``; the
registry then pings ``<upstream>/v2/`` at start-up and before upstream requests, and answers 405
to pushes).

The registry cannot bind port 0: a free port is picked and the start is retried on a clash. Each
instance sends a unique ``X-Ctrpy-Harness`` header, so readiness means *this* process answers.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

BINARY = "docker-registry"
HARNESS_HEADER = "X-Ctrpy-Harness"
# Requests the harness itself makes (readiness probes, log sync sentinels) carry this query
# parameter and are left out of requests().
HARNESS_PARAM = "ctrpy-harness"

# The user and password of the auth_registry fixture (and the default for ``users=`` helpers).
TEST_USER = "ctrpy-tester"
TEST_PASSWORD = "correct horse battery staple"

INSTALL_HINT = (
    "the real distribution registry is needed: run `bash .ci/run` (it installs it) "
    "or `apt-get install docker-registry`"
)


class RegistryError(RuntimeError):
    """The test registry could not be started or used."""


class RegistryUnavailable(RegistryError):
    """``docker-registry`` is not installed."""


# --- the access log -------------------------------------------------------------------------

# gorilla/handlers CombinedLoggingHandler (Apache combined format), e.g.
# 127.0.0.1 - alice [04/Dec/2026:15:39:02 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
_LINE = re.compile(
    r"^(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]*)\] "
    r'"(?P<method>\S+) (?P<uri>\S+) (?P<proto>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"$'
)
_API_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<what>manifests|blobs|tags)/(?P<rest>.*)$")


@dataclass(frozen=True)
class Request:
    """One access-log line: ``path`` without the query, ``query`` raw ("" when none)."""

    method: str
    path: str
    query: str
    status: int
    size: int = 0  # response body bytes written by the registry
    user: str | None = None  # URL userinfo only: Basic-auth users are NOT logged (always None)
    user_agent: str = ""

    @property
    def uri(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def params(self) -> dict[str, list[str]]:
        """The query parameters, e.g. ``{"ns": ["docker.io"]}``."""
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)

    @property
    def kind(self) -> str:
        """'ping' (/v2/), 'manifest', 'blob', 'upload', 'tags', 'catalog' or 'other'."""
        if self.path in ("/v2/", "/v2"):
            return "ping"
        if self.path == "/v2/_catalog":
            return "catalog"
        m = _API_PATH.match(self.path)
        if not m:
            return "other"
        what, rest = m["what"], m["rest"]
        if what == "blobs":
            return "upload" if rest == "uploads" or rest.startswith("uploads/") else "blob"
        return "manifest" if what == "manifests" else "tags"

    @property
    def repository(self) -> str | None:
        """``library/hello-world`` for ``/v2/library/hello-world/manifests/linux``."""
        m = _API_PATH.match(self.path)
        return m["name"] if m else None

    @property
    def reference(self) -> str | None:
        """The tag or digest of a manifest or blob request (``linux``, ``sha256:...``)."""
        m = _API_PATH.match(self.path)
        if not m or self.kind not in ("manifest", "blob"):
            return None
        return urllib.parse.unquote(m["rest"])

    def __str__(self) -> str:
        return f"{self.method} {self.uri} {self.status}"


def parse_access_log(text: str) -> list[Request]:
    """Parse complete access-log lines; lines that are not access-log lines are ignored."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        uri = m["uri"]
        path, _, query = uri.partition("?")
        user = m["user"]
        out.append(
            Request(
                method=m["method"],
                path=path,
                query=query,
                status=int(m["status"]),
                size=0 if m["size"] == "-" else int(m["size"]),
                user=None if user == "-" else user,
                user_agent=m["agent"],
            )
        )
    return out


def _is_harness(req: Request) -> bool:
    return HARNESS_PARAM in req.params


@dataclass(frozen=True)
class Mark:
    """A position in a registry's access log (see Registry.mark)."""

    index: int


# --- the process ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()  # by PID: only the process we started
        proc.wait(timeout=5)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: the registry gets SIGTERM if the process (thread) that started it dies, so a
    # killed test run leaves no registries behind.
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Registry:
    """A ``docker-registry serve`` process on 127.0.0.1 with its own storage and access log.

    users:    {name: password} -> htpasswd (bcrypt) Basic auth.
    upstream: a Registry or URL -> proxy-cache (pull-through) mode in front of it.
    delete:   storage.delete.enabled (lets tests DELETE manifests/blobs by digest).
    workdir:  where config.yml, storage/, access.log and registry.log go (a temp dir by default,
              removed on stop; a given workdir is kept).
    die_with_parent: (Linux) the registry gets SIGTERM when the *thread* that started it ends,
              so a killed test run leaves nothing behind; pass False when starting from a
              short-lived thread.
    """

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        upstream: Registry | str | None = None,
        delete: bool = True,
        workdir: Path | None = None,
        name: str = "registry",
        binary: str = BINARY,
        start_timeout: float = 15.0,
        log_level: str = "info",
        die_with_parent: bool = True,
    ) -> None:
        self.name = name
        self.users: dict[str, str] = dict(users or {})
        self.upstream_url: str | None = upstream.url if isinstance(upstream, Registry) else upstream
        self.delete = delete
        self._binary = binary
        self._start_timeout = start_timeout
        self._log_level = log_level
        self._die_with_parent = die_with_parent and sys.platform == "linux"
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="ctrpy-reg-"))
        self.storage_dir = self.workdir / "storage"
        self.config_path = self.workdir / "config.yml"
        self.access_log_path = self.workdir / "access.log"
        self.error_log_path = self.workdir / "registry.log"
        self.htpasswd_path = self.workdir / "htpasswd"
        self.token = secrets.token_hex(8)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._log_offset = 0
        self._log_tail = b""
        self._requests: list[Request] = []
        self._syncs = 0

    # -- identity --------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` (what goes in an image reference)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    @property
    def credentials(self) -> tuple[str, str] | None:
        """The first (user, password) when auth is on, else None."""
        return next(iter(self.users.items()), None)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        mode = "proxy" if self.upstream_url else "auth" if self.users else "plain"
        return f"<Registry {self.name} {mode} {self.url} pid={self.pid}>"

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> Registry:
        if self.running:
            return self
        if shutil.which(self._binary) is None:
            raise RegistryUnavailable(f"{self._binary} not found on PATH: {INSTALL_HINT}")
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        if self.users:
            self._write_htpasswd()
        last = ""
        for _attempt in range(8):
            self.port = _free_port()
            self._write_config()
            if self._spawn_and_wait():
                return self
            last = self.error_log_path.read_text(errors="replace")[-2000:]
            if "address already in use" not in last:
                break
        raise RegistryError(f"{self.name}: docker-registry did not start; its log:\n{last}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # by PID: only the process we started
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_htpasswd(self) -> None:
        import bcrypt  # a test dependency; only needed for auth mode

        lines = []
        for user, password in self.users.items():
            # Cost 4 (the minimum): the registry checks the hash on every request.
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
            lines.append(f"{user}:{hashed}\n")
        self.htpasswd_path.write_text("".join(lines))

    def config(self) -> dict[str, object]:
        """The registry configuration (YAML is a superset of JSON: written as JSON)."""
        cfg: dict[str, object] = {
            "version": 0.1,
            "log": {
                "level": self._log_level,
                "formatter": "text",
                "accesslog": {"disabled": False},
            },
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": self.delete},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": f"127.0.0.1:{self.port}",
                "secret": self.token,
                "headers": {HARNESS_HEADER: [self.token]},
            },
        }
        if self.users:
            cfg["auth"] = {"htpasswd": {"realm": "ctrpy-test", "path": str(self.htpasswd_path)}}
        if self.upstream_url:
            cfg["proxy"] = {"remoteurl": self.upstream_url}
        return cfg

    def _write_config(self) -> None:
        self.config_path.write_text(json.dumps(self.config(), indent=2) + "\n")

    def _spawn_and_wait(self) -> bool:
        """Start the process; True once it answers, False if it exited (e.g. port taken)."""
        with self._lock:
            self._log_offset, self._log_tail, self._requests = 0, b"", []
        with (
            open(self.access_log_path, "wb") as out,
            open(self.error_log_path, "wb") as err,
        ):
            proc = subprocess.Popen(
                [self._binary, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.workdir,
                preexec_fn=_die_with_parent if self._die_with_parent else None,
            )
        self._proc = proc
        deadline = time.monotonic() + self._start_timeout
        delay = 0.005
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._proc = None
                return False
            if self._probe("ready", timeout=0.25):
                return True
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)
        _kill(proc)
        raise RegistryError(
            f"{self.name}: no answer on {self.url}/v2/ after {self._start_timeout}s"
        )

    def _probe(self, what: str, timeout: float = 2.0) -> bool:
        """GET /v2/?ctrpy-harness=<what>; True if *our* process answered (any status)."""
        url = f"{self.url}/v2/?{HARNESS_PARAM}={what}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return bool(resp.headers.get(HARNESS_HEADER) == self.token)
        except urllib.error.HTTPError as e:  # 401 from an auth registry is an answer too
            return bool(e.headers.get(HARNESS_HEADER) == self.token)
        except (OSError, ValueError):
            return False

    # -- the access log --------------------------------------------------------------------
    def _read_new(self) -> int:
        """Parse newly appended complete lines; returns the number of parsed lines so far."""
        with self._lock:
            try:
                with open(self.access_log_path, "rb") as f:
                    f.seek(self._log_offset)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            self._log_offset += len(chunk)
            data = self._log_tail + chunk
            complete, sep, self._log_tail = data.rpartition(b"\n")
            if sep:
                self._requests.extend(parse_access_log(complete.decode(errors="replace")))
            return len(self._requests)

    def sync(self, timeout: float = 5.0) -> None:
        """Wait until every request answered so far is in the access log.

        The registry writes a line after the handler returns, which for a streamed body can be
        just after the client has read the last byte. So: send a sentinel request, wait for its
        line, then until the count stops changing for a few ms.
        """
        if not self.running:
            self._read_new()
            return
        with self._lock:
            self._syncs += 1
            tag = f"sync-{self._syncs}"
        sent = self._probe(tag)
        deadline = time.monotonic() + timeout
        while sent and time.monotonic() < deadline:
            self._read_new()
            with self._lock:
                if any(r.params.get(HARNESS_PARAM) == [tag] for r in self._requests[-64:]):
                    break
            time.sleep(0.002)
        count = self._read_new()
        while time.monotonic() < deadline:
            time.sleep(0.005)
            now = self._read_new()
            if now == count:
                break
            count = now

    def _all(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def mark(self) -> Mark:
        """A position: ``since(mark)`` gives only the requests made after it."""
        self.sync()
        return Mark(len(self._all()))

    def since(self, mark: Mark) -> list[Request]:
        """Requests logged after ``mark`` (harness probes left out)."""
        self.sync()
        return [r for r in self._all()[mark.index :] if not _is_harness(r)]

    def requests(self) -> list[Request]:
        """All requests since the process started (harness probes left out)."""
        return self.since(Mark(0))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Request]]:
        """``with reg.recording() as reqs: ...`` -- reqs is filled when the block ends."""
        mark = self.mark()
        reqs: list[Request] = []
        try:
            yield reqs
        finally:
            reqs.extend(self.since(mark))

    def error_log(self) -> str:
        """The registry's own (logrus) log, for failure messages."""
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def registry_available(binary: str = BINARY) -> bool:
    return shutil.which(binary) is not None


if __name__ == "__main__":  # pragma: no cover - manual use: python -m tests.support.registry
    with Registry() as reg:
        print(reg, "storage", reg.storage_dir, file=sys.stderr)
        print(reg.url)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
