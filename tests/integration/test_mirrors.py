"""Mirrors (issue 6), end to end with real parts: the installed ``ctrpy`` entry point as
subprocesses, a real "upstream" registry standing in for Docker Hub (a hosts.toml ``server``
sends ``docker.io`` there: nothing ever leaves 127.0.0.1) and a real distribution registry in
proxy-cache mode as the mirror.

The seed scenario: 6 clusters x 6 nodes, each node with its own store, each pulling
``hello-world:linux``, ``:latest`` and ``:nanoserver-ltsc2022`` by their short names (108
pulls), once through the mirror and once straight at a fresh upstream.  What matters is how
many counted pulls (manifest GETs) the upstream sees; run with ``-s`` to see the counts.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctrpy.store import Store
from tests.support import ctrpy_script
from tests.support.images import (
    NANOSERVER_OS_VERSION,
    PushedImage,
    hello_world_linux,
    hello_world_nanoserver,
    push,
)
from tests.support.registry import Registry, Request

CLUSTERS = 6
NODES_PER_CLUSTER = 6
TAGS = ("linux", "latest", "nanoserver-ltsc2022")
WINDOWS_TAG = "nanoserver-ltsc2022"
# The ctrpy processes of one node, one after another (see run_fleet).
NODE_RUNS = (("linux", "latest"), (WINDOWS_TAG,))
# Nodes pulling at the same time (each node pulls its three tags one after another).
PARALLEL_NODES = 6
REPOSITORY = "library/hello-world"
DOCKER_HUB = "docker.io"
MakeRegistry = Callable[..., Registry]


# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    """The registry that plays Docker Hub, with hello-world pushed into it."""

    registry: Registry
    linux: PushedImage  # :linux and :latest (multi-arch OCI index)
    windows: PushedImage  # :nanoserver-ltsc2022 (windows/amd64 only)


@dataclass(frozen=True)
class Pull:
    node: str
    root: Path
    tag: str
    returncode: int
    stderr: str

    def __str__(self) -> str:
        return f"{self.node} hello-world:{self.tag} -> exit {self.returncode}\n{self.stderr}"


def make_upstream(make_registry: MakeRegistry, name: str = "upstream") -> Upstream:
    reg = make_registry(name=name)
    linux = push(reg.url, REPOSITORY, hello_world_linux(), ("linux", "latest"))
    windows = push(reg.url, REPOSITORY, hello_world_nanoserver(), (WINDOWS_TAG,))
    return Upstream(reg, linux, windows)


def write_hosts(hosts_dir: Path, server: str, mirrors: Sequence[str] = ()) -> Path:
    """``<hosts_dir>/docker.io/hosts.toml``: ``server`` plus one ``[host]`` table per mirror."""
    lines = [f'server = "{server}"', ""]
    for url in mirrors:
        lines += [f'[host."{url}"]', '  capabilities = ["pull", "resolve"]', ""]
    path = hosts_dir / DOCKER_HUB / "hosts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return hosts_dir


def hermetic_env(home: Path) -> dict[str, str]:
    """The environment minus anything of the user's: no CTRPY_*, no docker config, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRPY_")}
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "DOCKER_CONFIG": str(home / ".docker"),
            "NO_COLOR": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def run_ctrpy(
    *args: str, root: Path, hosts_dir: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    exe = ctrpy_script()
    assert exe, "the ctrpy console script is not installed (pip install -e .)"
    return subprocess.run(
        [exe, "--root", str(root), "--hosts-dir", str(hosts_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def run_fleet(base: Path, hosts_dir: Path) -> list[Pull]:
    """Every node of every cluster pulls the three tags one after another, nodes in parallel,
    each node with its own store root.

    A node runs two processes: ``pull hello-world:linux hello-world:latest`` (both in one
    process, as a node script would) and ``pull hello-world:nanoserver-ltsc2022``, so each
    exit status is about one kind of pull and the CPU cost of starting Python is paid twice per
    node, not three times (a ctrpy process costs about 0.3 s of CPU).
    """
    env = hermetic_env(base / "home")
    nodes = [f"c{c}n{n}" for c in range(1, CLUSTERS + 1) for n in range(1, NODES_PER_CLUSTER + 1)]

    def node(name: str) -> list[Pull]:
        root = base / "nodes" / name
        pulls = []
        for tags in NODE_RUNS:
            refs = [f"hello-world:{tag}" for tag in tags]
            done = run_ctrpy("image", "pull", *refs, root=root, hosts_dir=hosts_dir, env=env)
            pulls += [Pull(name, root, tag, done.returncode, done.stderr) for tag in tags]
        return pulls

    with ThreadPoolExecutor(max_workers=PARALLEL_NODES) as pool:
        return [p for pulls in pool.map(node, nodes) for p in pulls]


def manifest_gets(requests: Sequence[Request]) -> list[Request]:
    return [r for r in requests if r.method == "GET" and r.kind == "manifest"]


def blob_gets(requests: Sequence[Request]) -> list[Request]:
    return [r for r in requests if r.method == "GET" and r.kind == "blob"]


def from_ctrpy(requests: Sequence[Request]) -> list[Request]:
    """The requests ctrpy made itself (not the proxy-cache registry on its behalf)."""
    return [r for r in requests if r.user_agent.startswith("ctrpy/")]


def check_fleet(pulls: Sequence[Pull]) -> None:
    assert len(pulls) == CLUSTERS * NODES_PER_CLUSTER * len(TAGS)
    for p in pulls:
        assert "Traceback" not in p.stderr, str(p)
        if p.tag == WINDOWS_TAG:
            assert p.returncode == 3, str(p)
            assert f"windows/amd64 (os.version {NANOSERVER_OS_VERSION})" in p.stderr, str(p)
            assert "hint: " in p.stderr and "--platform windows/amd64" in p.stderr, str(p)
        else:
            assert p.returncode == 0, str(p)
            assert f"docker.io/library/hello-world:{p.tag}: " in p.stderr, str(p)
    for root in {p.root for p in pulls}:
        names = {record.name for record in Store(root).images.list()}
        assert names == {f"docker.io/library/hello-world:{tag}" for tag in ("linux", "latest")}


@pytest.fixture
def upstream(make_registry: MakeRegistry) -> Upstream:
    return make_upstream(make_registry)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return hermetic_env(tmp_path / "home")


@pytest.fixture
def dead_mirror() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where nothing listens: the port is held by a socket that is
    bound but not listening, so connections are refused and nobody else can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


# --- the seed scenario ------------------------------------------------------------------------


def test_fleet_behind_a_pull_through_cache_spares_the_upstream(
    make_registry: MakeRegistry, tmp_path: Path
) -> None:
    started = time.monotonic()

    # With the mirror: every node resolves and fetches through the proxy-cache registry.
    up = make_upstream(make_registry, "upstream-mirrored")
    proxy = make_registry(name="proxy", upstream=up.registry)
    hosts = write_hosts(tmp_path / "hosts-mirrored", up.registry.url, [proxy.url])
    up_mark, proxy_mark = up.registry.mark(), proxy.mark()
    mirrored = run_fleet(tmp_path / "mirrored", hosts)
    up_seen, proxy_seen = up.registry.since(up_mark), proxy.since(proxy_mark)

    check_fleet(mirrored)
    pulls = len(mirrored)
    assert proxy_seen, "the mirror received nothing"
    assert [str(r) for r in proxy_seen if r.params.get("ns") != [DOCKER_HUB]] == []
    assert len([r for r in proxy_seen if r.method == "HEAD" and r.kind == "manifest"]) == pulls
    assert from_ctrpy(up_seen) == [], "ctrpy went around the mirror"
    mirrored_gets = manifest_gets(up_seen)

    # Without the mirror, against a fresh upstream (clean log): the same 108 pulls.
    direct_up = make_upstream(make_registry, "upstream-direct")
    direct_hosts = write_hosts(tmp_path / "hosts-direct", direct_up.registry.url)
    direct_mark = direct_up.registry.mark()
    direct = run_fleet(tmp_path / "direct", direct_hosts)
    direct_seen = direct_up.registry.since(direct_mark)

    check_fleet(direct)
    direct_gets = manifest_gets(direct_seen)

    elapsed = time.monotonic() - started
    print(
        f"\n{pulls} pulls per run ({CLUSTERS} clusters x {NODES_PER_CLUSTER} nodes x "
        f"{len(TAGS)} tags, {PARALLEL_NODES} nodes at a time), {elapsed:.1f} s for both runs\n"
        f"  upstream manifest GETs: with mirror {len(mirrored_gets)}, "
        f"without mirror {len(direct_gets)}\n"
        f"  upstream blob GETs:     with mirror {len(blob_gets(up_seen))}, "
        f"without mirror {len(blob_gets(direct_seen))}\n"
        f"  upstream requests:      with mirror {len(up_seen)}, without mirror {len(direct_seen)}\n"
        f"  mirror requests:        {len(proxy_seen)} (all with ns={DOCKER_HUB})\n"
        "  upstream manifest GETs with the mirror:\n" + "".join(f"    {r}\n" for r in mirrored_gets)
    )
    # Without a mirror each node costs the upstream 3 counted pulls: the linux index and its
    # amd64 manifest (":latest" is the same index, already stored) and the windows index.
    assert len(direct_gets) == CLUSTERS * NODES_PER_CLUSTER * 3
    # With it, only the proxy's cold fetches reach the upstream: the linux tag, the amd64
    # manifest and the windows tag -- at most once per node pulling at the same time.
    assert 3 <= len(mirrored_gets) <= 3 * PARALLEL_NODES
    assert len(mirrored_gets) * 6 <= len(direct_gets)


# --- focused tests ------------------------------------------------------------------------------


def test_mirror_option_without_any_hosts_file(
    upstream: Upstream, make_registry: MakeRegistry, env: dict[str, str], tmp_path: Path
) -> None:
    """``--mirror URL`` alone (an empty hosts dir) sends resolve and fetch to the mirror, with
    ``?ns=<the reference's registry>``."""
    proxy = make_registry(name="proxy", upstream=upstream.registry)
    empty = tmp_path / "no-hosts"
    empty.mkdir()
    ref = upstream.linux.ref("linux")
    up_mark, proxy_mark = upstream.registry.mark(), proxy.mark()
    done = run_ctrpy(
        "image",
        "pull",
        "--mirror",
        proxy.url,
        ref,
        root=tmp_path / "store",
        hosts_dir=empty,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    seen = proxy.since(proxy_mark)
    assert [(r.method, r.kind) for r in seen][:2] == [("HEAD", "manifest"), ("GET", "manifest")]
    assert {tuple(r.params.get("ns", [])) for r in seen} == {(upstream.registry.host,)}
    assert from_ctrpy(upstream.registry.since(up_mark)) == []


def test_dead_mirror_listed_first_falls_back_to_the_upstream_with_one_warning(
    upstream: Upstream, dead_mirror: str, env: dict[str, str], tmp_path: Path
) -> None:
    """Two references in one process: the dead mirror is reported once, not per request."""
    hosts = write_hosts(tmp_path / "hosts", upstream.registry.url, [dead_mirror])
    mark = upstream.registry.mark()
    refs = ("hello-world:linux", "hello-world:latest")
    done = run_ctrpy("image", "pull", *refs, root=tmp_path / "store", hosts_dir=hosts, env=env)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line.lower()]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith("warning: ") and "connection refused" in warnings[0]
    assert f"{dead_mirror} " in warnings[0] and upstream.registry.url in warnings[0]
    assert "Traceback" not in done.stderr
    seen = from_ctrpy(upstream.registry.since(mark))
    # :linux -- resolve, index, manifest, config and layer -- then :latest (HEAD only: the same
    # index, already stored): all from the upstream.
    assert [(r.method, r.kind) for r in seen] == [
        ("HEAD", "manifest"),
        ("GET", "manifest"),
        ("GET", "manifest"),
        ("GET", "blob"),
        ("GET", "blob"),
        ("HEAD", "manifest"),
    ]
    assert seen[-1].reference == "latest"
    stored = {record.name for record in Store(tmp_path / "store").images.list()}
    assert stored == {f"docker.io/library/{r}" for r in refs}
    # The stand-in upstream is not docker.io's own host (registry-1.docker.io), so it gets
    # ?ns=docker.io too, as containerd sends it (its isProxy).
    assert {tuple(r.params.get("ns", [])) for r in seen} == {(DOCKER_HUB,)}


TRACE = re.compile(
    r"^debug: ctrpy\.registry(?:\.transport)?: (?P<method>HEAD|GET) (?P<url>\S+) "
    r"(?:-> (?P<status>\d{3}) .*|failed after .*)\(host (?P<host>[^ ,)]+)(?P<mirror> \(mirror\))?"
)


@pytest.mark.parametrize("mirror_up", [True, False], ids=["mirror-serves", "mirror-down"])
def test_debug_names_the_host_that_served_each_request(
    mirror_up: bool,
    upstream: Upstream,
    make_registry: MakeRegistry,
    dead_mirror: str,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    mirror = make_registry(name="proxy", upstream=upstream.registry).url if mirror_up else None
    mirror_url = mirror or dead_mirror
    hosts = write_hosts(tmp_path / "hosts", upstream.registry.url, [mirror_url])
    done = run_ctrpy(
        "--debug",
        "image",
        "pull",
        "hello-world:linux",
        root=tmp_path / "store",
        hosts_dir=hosts,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    traced = [m for line in done.stderr.splitlines() if (m := TRACE.match(line))]
    served = [m for m in traced if m["status"]]
    # HEAD tag, GET index, GET manifest, GET config, GET layer: each names its host.
    assert [m["method"] for m in served] == ["HEAD", "GET", "GET", "GET", "GET"], done.stderr
    expected_host = mirror_url if mirror_up else upstream.registry.url
    assert {m["host"] for m in served} == {expected_host}
    assert all(m["url"].startswith(expected_host + "/v2/library/hello-world/") for m in served)
    failed = [m for m in traced if not m["status"]]
    if mirror_up:
        assert failed == []
        assert all(m["mirror"] and m["url"].endswith("?ns=docker.io") for m in served)
    else:
        # Only the first request went to the dead mirror (retried there); once it is known to
        # refuse connections, the rest go straight to the next host.
        head = f"{dead_mirror}/v2/library/hello-world/manifests/linux?ns=docker.io"
        assert failed, done.stderr
        assert {(m["method"], m["url"], m["host"]) for m in failed} == {("HEAD", head, dead_mirror)}
