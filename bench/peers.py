"""The tools ctrpy is measured against, and a private containerd for ``ctr``.

Nothing is installed here: :func:`missing_tools` says which Debian package to install for
each missing tool, and the benchmark stops with that message.
"""

from __future__ import annotations

import compileall
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.measure import TIME_V, RunFailed, output
from tests.support import ctrpy_command

#: tool -> the Debian package that provides it
DEBIAN_PACKAGES = {
    "containerd": "containerd",
    "ctr": "containerd",
    "skopeo": "skopeo",
    "curl": "curl",
    "openssl": "openssl",
    "docker-registry": "docker-registry",
    TIME_V: "time",
    "sync": "coreutils",
}


def missing_tools() -> list[str]:
    """One line per missing tool: which package to ``apt-get install`` for it."""
    missing = []
    for tool, package in DEBIAN_PACKAGES.items():
        found = os.access(tool, os.X_OK) if tool.startswith("/") else shutil.which(tool)
        if not found:
            missing.append(f"{tool}: not found (apt-get install -y {package})")
    return missing


def _first_line(cmd: list[str]) -> str:
    try:
        text = output(cmd, timeout=20)
    except (OSError, RunFailed, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "unknown"


REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CtrpySource:
    """Which ctrpy code the benchmark runs: ``path`` goes first on ``PYTHONPATH``."""

    path: Path
    revision: str


def prepare_ctrpy(dest: Path, *, working_tree: bool = False) -> CtrpySource:
    """The ctrpy package to measure, independent of whatever ``pip install -e`` points at.

    By default the committed ``HEAD`` of this checkout, exported to ``dest`` (so other people's
    uncommitted edits are not measured and the revision printed is exact); with
    ``working_tree`` this checkout's files as they are.

    Either way its ``.pyc`` files are written first, as ``pip install`` does: otherwise, under
    ``PYTHONDONTWRITEBYTECODE=1`` (set in some CI and sandbox environments), every measured
    run would compile ctrpy's sources again (~38 ms of each start-up here).
    """
    git = ["git", "-C", str(REPO)]
    head = output([*git, "rev-parse", "--short", "HEAD"]).strip()
    if working_tree:
        dirty = output([*git, "status", "--porcelain", "--", "ctrpy"]).strip()
        _compile(REPO / "ctrpy")
        return CtrpySource(REPO, head + (" + uncommitted changes in ctrpy/" if dirty else ""))
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "ctrpy.tar"
    output([*git, "archive", "--format=tar", "-o", str(archive), "HEAD", "ctrpy"])
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    _compile(dest / "ctrpy")
    return CtrpySource(dest, f"{head} (committed HEAD)")


def _compile(package: Path) -> None:
    if not compileall.compile_dir(package, quiet=1):
        raise RuntimeError(f"cannot byte-compile {package}")


def ctrpy_env(source: CtrpySource) -> dict[str, str]:
    """The environment that makes ``import ctrpy`` load ``source`` (checked by the caller)."""
    env = dict(os.environ)
    rest = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(source.path) + (os.pathsep + rest if rest else "")
    return env


def ctrpy_location(env: dict[str, str]) -> Path:
    """Where ``import ctrpy`` finds the package under ``env``."""
    code = "import ctrpy, os; print(os.path.dirname(ctrpy.__file__))"
    proc = subprocess.run(
        [sys.executable, "-P", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return Path(proc.stdout.strip())


def tool_versions() -> dict[str, str]:
    """One version line per tool, as the tools print it (they print no paths)."""
    ctrpy = _first_line([*ctrpy_command(), "--version"])
    return {
        "ctrpy": ctrpy,
        "python": platform.python_version(),
        "containerd": _first_line(["containerd", "--version"]),
        "ctr": _first_line(["ctr", "--version"]),
        "skopeo": _first_line(["skopeo", "--version"]),
        "curl": _first_line(["curl", "--version"]),
        "openssl": _first_line(["openssl", "version"]),
        "docker-registry": _first_line(["docker-registry", "--version"]),
        "GNU time": "Debian package time "
        + _first_line(["dpkg-query", "-W", "-f", "${Version}\\n", "time"]),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine() -> dict[str, str]:
    """What RESULTS.md says about the machine (no host names, no paths)."""
    return {
        "CPUs (nproc)": str(os.cpu_count() or "unknown"),
        "CPU model": _cpu_model(),
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        **tool_versions(),
    }


@dataclass(frozen=True)
class ContainerdPaths:
    base: Path

    @property
    def config(self) -> Path:
        return self.base / "config.toml"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def socket(self) -> Path:
        return self.base / "containerd.sock"

    @property
    def log(self) -> Path:
        return self.base / "containerd.log"


def containerd_config(paths: ContainerdPaths) -> str:
    """A version-2 config whose every path is under ``paths.base``; no CRI, no listeners."""
    return f"""version = 2
root = "{paths.root}"
state = "{paths.state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{paths.socket}"

[ttrpc]
  address = "{paths.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.base / "opt"}"
"""


class Containerd:
    """A private containerd (own root, state, socket) started and stopped by its PID.

    ``reset()`` stops it, empties its root and state and starts it again: the fresh, empty
    target a cold ``ctr content fetch`` needs (containerd shares blobs across namespaces, so a
    new namespace would not be empty).
    """

    def __init__(self, base: Path) -> None:
        self.paths = ContainerdPaths(base)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def ctr(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.paths.socket), *args]

    def start(self) -> None:
        self.paths.base.mkdir(parents=True, exist_ok=True)
        self.paths.config.write_text(containerd_config(self.paths))
        with open(self.paths.log, "ab") as log:
            self._proc = subprocess.Popen(
                ["containerd", "--config", str(self.paths.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self.paths.socket.exists():
                try:
                    output(self.ctr("version"), timeout=5)
                    return
                except (RunFailed, subprocess.TimeoutExpired):
                    pass
            time.sleep(0.05)
        tail = self.paths.log.read_text(errors="replace").splitlines()[-5:]
        self.stop()
        raise RuntimeError("containerd did not start: " + " / ".join(tail))

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def reset(self) -> None:
        self.stop()
        for path in (self.paths.root, self.paths.state):
            shutil.rmtree(path, ignore_errors=True)
        self.start()

    def __enter__(self) -> Containerd:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
