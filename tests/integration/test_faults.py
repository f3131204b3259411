"""Faults (issue 8): ctrpy finishes or fails cleanly, and its store never holds a wrong byte.

Every test pulls from the real docker-registry through the fault proxy
(tests/support/faultproxy.py) with the installed ``ctrpy`` in a subprocess, because the
process is what matters here: exit codes, signals, several processes on one store.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctrpy.store import Store
from tests.support import images
from tests.support.faultproxy import (
    BLOBS,
    CtrpyEnv,
    DropHalfway,
    Exchange,
    FailFirst,
    FaultProxy,
    FlipByte,
    IgnoreRange,
    Throttle,
    blob_problems,
    finish,
)
from tests.support.registry import Registry

MiB = 1 << 20


@pytest.fixture
def world(tmp_path: Path) -> CtrpyEnv:
    return CtrpyEnv.make(tmp_path)


def wait_for_partial(
    world: CtrpyEnv, digest: str, at_least: int, proc: subprocess.Popen[str]
) -> int:
    """Poll until the partial download of ``digest`` holds ``at_least`` bytes."""
    path = world.partial(digest)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"ctrpy ended (exit {proc.returncode}) before the partial grew:\n{err}")
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size >= at_least:
            return size
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    pytest.fail(f"no partial of {at_least} bytes at {path} within 60s")


def assert_sound(root: Path) -> None:
    """The store's own check and an independent re-hash of blobs/ both find nothing wrong."""
    assert blob_problems(root) == []
    assert Store(root).check() == []


def assert_pulled(root: Path, name: str, image: images.ImageManifest) -> None:
    assert_sound(root)
    store = Store(root)
    record = store.images.get(name)
    assert record is not None, f"{name} not recorded; have {[r.name for r in store.images.list()]}"
    assert str(record.target.digest) == image.digest
    for blob in image.blobs:
        assert store.content.has_digest(blob.digest), blob.digest


def blob_gets(proxy: FaultProxy, digest: str) -> list[Exchange]:
    return [ex for ex in proxy.find(BLOBS, "GET") if ex.path.endswith("/" + digest)]


# --- images ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    repository: str
    image: images.ImageManifest

    def ref(self, proxy: FaultProxy) -> str:
        return f"{proxy.host}/{self.repository}:latest"

    def name(self, proxy: FaultProxy) -> str:
        return self.ref(proxy)


def _push(registry: Registry, repository: str, img: images.ImageManifest) -> Pushed:
    images.push(registry.url, repository, img, ("latest",))
    return Pushed(repository, img)


@pytest.fixture(scope="module")
def small(registry: Registry) -> Pushed:
    """Three layers of 1 MiB (random, so incompressible) and a config."""
    return _push(registry, "faults/small", images.big_image(3, MiB, seed=8101))


@pytest.fixture(scope="module")
def large(registry: Registry) -> Pushed:
    """One 24 MiB layer: large enough to kill a throttled pull in the middle of it."""
    return _push(registry, "faults/large", images.big_image(1, 24 * MiB, seed=8102))


@pytest.fixture(scope="module")
def medium(registry: Registry) -> Pushed:
    """Three layers of 4 MiB, for 4 processes at once and for the full disk."""
    return _push(registry, "faults/medium", images.big_image(3, 4 * MiB, seed=8103))


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.url) as p:
        yield p


def blob_bytes(blob: images.Blob) -> bytes:
    return b"".join(blob.chunks())


# --- the tests -----------------------------------------------------------------------------------


def test_dropped_connections_resume_with_range(
    world: CtrpyEnv, proxy: FaultProxy, small: Pushed
) -> None:
    """Every blob's connection is dropped half-way once: the pull succeeds, and each retry
    asks for the rest with ``Range: bytes=N-`` (N > 0), it does not start over."""
    proxy.add(DropHalfway())
    run = world.pull(small.ref(proxy))
    assert run.returncode == 0, run.explain()
    assert_pulled(world.root, small.name(proxy), small.image)
    wrong = []
    for blob in small.image.blobs:
        gets = blob_gets(proxy, blob.digest)
        assert gets and gets[0].fired == ["drop"], [(g.range, g.fired) for g in gets]
        dropped_at = gets[0].sent
        assert 0 < dropped_at < blob.size
        assert len(gets) >= 2, f"{blob.digest}: no retry after the drop"
        # Every byte that arrived before the drop is kept: the retry asks for the rest.
        if gets[1].range_start != dropped_at:
            wrong.append(
                f"{blob.digest} ({blob.size} bytes): dropped after {dropped_at} bytes, "
                f"the retry asked for {gets[1].range or 'everything (no Range)'}"
            )
    assert wrong == []


def test_503_on_the_first_request_of_each_path(
    world: CtrpyEnv, proxy: FaultProxy, small: Pushed
) -> None:
    proxy.add(FailFirst())
    run = world.pull(small.ref(proxy))
    assert run.returncode == 0, run.explain()
    assert_pulled(world.root, small.name(proxy), small.image)
    by_path: dict[str, list[Exchange]] = {}
    for ex in proxy.requests:
        by_path.setdefault(ex.path, []).append(ex)
    for blob in small.image.blobs:
        seen = by_path[f"/v2/{small.repository}/blobs/{blob.digest}"]
        assert [ex.status for ex in seen][:1] == [503]
        assert seen[-1].status == 200


def test_server_that_ignores_range(world: CtrpyEnv, proxy: FaultProxy, small: Pushed) -> None:
    """Drops force ranged retries; the server answers them with 200 and the whole body.
    ctrpy must skip what it already has and still store exactly the right bytes."""
    proxy.add(IgnoreRange(), DropHalfway())
    run = world.pull(small.ref(proxy))
    assert run.returncode == 0, run.explain()
    assert_pulled(world.root, small.name(proxy), small.image)
    ignored = [ex for ex in proxy.requests if "ignore-range" in ex.fired]
    assert ignored, "ctrpy never sent a Range request"
    assert all(ex.status == 200 for ex in ignored)


def test_corrupted_layer_is_refused(world: CtrpyEnv, proxy: FaultProxy, small: Pushed) -> None:
    """One byte flipped: exit 5, the message names expected and actual digest, the layer
    is not committed, no image is recorded, and the store's check passes."""
    victim = small.image.layers[1]
    data = bytearray(blob_bytes(victim))
    data[len(data) // 2] ^= 0xFF
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    proxy.add(FlipByte(victim.digest))
    run = world.pull(small.ref(proxy))
    assert run.returncode == 5, run.explain()
    assert victim.digest in run.stderr and actual in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert not world.blob(victim.digest).exists()
    assert not world.partial(victim.digest).exists(), "a wrong partial was kept"
    assert Store(world.root).images.list() == []
    assert_sound(world.root)
    # The corruption is not remembered: without the fault the next pull succeeds.
    proxy.rules.clear()
    again = world.pull(small.ref(proxy))
    assert again.returncode == 0, again.explain()
    assert_pulled(world.root, small.name(proxy), small.image)


def test_sigkill_mid_pull_then_pull_again_resumes(
    world: CtrpyEnv, proxy: FaultProxy, large: Pushed
) -> None:
    """SIGKILL in the middle of a throttled 24 MiB layer; the next pull finds a sound
    store, resumes the partial with Range and ends with a verified blob."""
    layer = large.image.layers[0]
    proxy.add(Throttle(4 * MiB))
    proc = world.spawn("image", "pull", large.ref(proxy))
    had = wait_for_partial(world, layer.digest, 2 * MiB, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert_sound(world.root)
    assert not world.blob(layer.digest).exists()
    assert world.partial(layer.digest).stat().st_size >= had

    proxy.rules.clear()
    proxy.clear()
    run = world.pull(large.ref(proxy))
    assert run.returncode == 0, run.explain()
    assert_pulled(world.root, large.name(proxy), large.image)
    gets = blob_gets(proxy, layer.digest)
    assert gets, "the layer was not fetched again"
    assert [g.range_start is not None and g.range_start >= had for g in gets] == [True], (
        f"partial had {had} bytes; the re-pull asked {[g.range for g in gets]}"
    )
    assert gets[0].sent == layer.size - (gets[0].range_start or 0)


def test_sigint_exits_130_keeps_partials(world: CtrpyEnv, proxy: FaultProxy, large: Pushed) -> None:
    """Ctrl-C: exit 130, a clean message (no traceback), the partial download kept."""
    layer = large.image.layers[0]
    proxy.add(Throttle(4 * MiB))
    proc = world.spawn("image", "pull", large.ref(proxy))
    wait_for_partial(world, layer.digest, MiB, proc)
    proc.send_signal(signal.SIGINT)
    run = finish(proc, timeout=30)
    assert run.returncode == 130, run.explain()
    assert "Traceback" not in run.stderr
    assert run.error_lines == ["error: interrupted"], run.stderr
    assert world.partial(layer.digest).stat().st_size > 0
    assert not world.blob(layer.digest).exists()
    assert_sound(world.root)


def test_four_processes_pull_the_same_image_into_one_store(
    world: CtrpyEnv, proxy: FaultProxy, medium: Pushed, registry: Registry
) -> None:
    """All succeed, the store is sound, and each blob crosses the network about once."""
    proxy.add(Throttle(16 * MiB))
    mark = registry.mark()
    procs = [world.spawn("image", "pull", medium.ref(proxy)) for _ in range(4)]
    runs = [finish(p) for p in procs]
    assert [r.returncode for r in runs] == [0] * 4, "\n".join(r.explain() for r in runs)
    assert_pulled(world.root, medium.name(proxy), medium.image)
    logged = registry.since(mark)
    for blob in medium.image.blobs:
        sent = sum(g.sent for g in blob_gets(proxy, blob.digest))
        assert sent <= blob.size * 1.5, f"{blob.digest}: {sent} bytes sent for {blob.size}"
        gets = [r for r in logged if r.method == "GET" and r.reference == blob.digest]
        assert len(gets) == 1, f"{blob.digest}: registry served {[str(r) for r in gets]}"


def test_full_disk(tmp_path: Path, proxy: FaultProxy, medium: Pushed) -> None:
    """A store on a 6 MiB tmpfs, a 12 MiB image: a clear error, and nothing half-written
    in blobs/ (every blob there hashes to its name)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, (
        f"this test needs root to mount a tiny tmpfs: {mounted.stderr.strip()}"
    )
    try:
        world = CtrpyEnv.make(tmp_path, root=mnt / "store")
        run = world.pull(medium.ref(proxy))
        assert run.returncode == 1, run.explain()
        assert "Traceback" not in run.stderr
        assert len(run.error_lines) == 1, run.stderr
        assert "space" in run.error_lines[0].lower(), run.error_lines
        assert_sound(world.root)
        assert Store(world.root).images.list() == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", str(mnt)], check=False)
