"""The store under concurrency: threads, processes, killed lock holders, index.json updates."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import Digest
from ctrpy.store import Store, Writer

#: Long enough that a hang fails the test instead of blocking the run (not a timing check).
GUARD = 60.0

DATA = os.urandom(200_000)
HALF = len(DATA) // 2


def desc_of(data: bytes) -> Descriptor:
    return Descriptor(mediatypes.OCI_LAYER_GZIP, Digest.of(data), len(data))


def assert_sound(store: Store) -> None:
    assert store.check() == []
    for digest, path in store.content.blobs():
        assert Digest.of(path.read_bytes()) == digest


#: A child process that takes the writer lock, writes the first half, says so, then
#: either waits for a line on stdin and finishes, or sleeps until it is killed.
HOLDER = """
import sys
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import Digest
from ctrpy.store import Store

root, path, media_type = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(path, "rb").read()
desc = Descriptor(media_type, Digest.of(data), len(data))
with Store(root).content.writer(desc) as w:
    w.write(data[: len(data) // 2])
    print("locked", w.offset, flush=True)
    if sys.stdin.readline().strip() == "finish":
        w.write(data[len(data) // 2 :])
        w.commit()
        print("committed", flush=True)
"""


def start_holder(tmp_path: Path, root: Path) -> subprocess.Popen[str]:
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(DATA)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), str(data_file), mediatypes.OCI_LAYER_GZIP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["locked", "0"]
    return proc


class Waiter:
    """Runs a writer for ``desc`` in a thread; ``waiting`` is set when it has to wait."""

    def __init__(self, store: Store, desc: Descriptor, body: Callable[[Writer], None]) -> None:
        self.waiting = threading.Event()
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, args=(store, desc, body), daemon=True)
        self.thread.start()

    def _run(self, store: Store, desc: Descriptor, body: Callable[[Writer], None]) -> None:
        try:
            with store.content.writer(desc, on_wait=self.waiting.set) as w:
                self.result.update(exists=w.exists, offset=w.offset)
                body(w)
        except BaseException as exc:  # reported to the test thread
            self.result["error"] = exc

    def join(self) -> dict[str, Any]:
        self.thread.join(GUARD)
        assert not self.thread.is_alive(), "writer did not finish"
        assert "error" not in self.result, self.result.get("error")
        return self.result


def finish(w: Writer) -> None:
    if not w.exists:
        w.write(DATA[w.offset :])
        w.commit()


# --- two writers of one digest -----------------------------------------------------------


def test_two_threads_one_digest(tmp_path: Path) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    first_has_lock = threading.Event()
    release_first = threading.Event()

    def first(w: Writer) -> None:
        w.write(DATA[:HALF])
        first_has_lock.set()
        assert release_first.wait(GUARD)
        w.write(DATA[HALF:])
        w.commit()

    one = Waiter(store, d, first)
    assert first_has_lock.wait(GUARD)
    two = Waiter(store, d, finish)
    assert two.waiting.wait(GUARD)  # blocked on the per-digest lock
    release_first.set()
    assert one.join() == {"exists": False, "offset": 0}
    assert two.join() == {"exists": True, "offset": 0}
    assert not one.waiting.is_set()
    assert_sound(store)


def test_two_processes_one_digest(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    d = desc_of(DATA)
    holder = start_holder(tmp_path, store.root)
    try:
        waiter = Waiter(store, d, finish)
        assert waiter.waiting.wait(GUARD)
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("finish\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "committed"
        assert holder.wait(GUARD) == 0
        assert waiter.join() == {"exists": True, "offset": 0}
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert_sound(store)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_a_killed_lock_holder_does_not_block(tmp_path: Path, sig: signal.Signals) -> None:
    store = Store(tmp_path / "store")
    d = desc_of(DATA)
    holder = start_holder(tmp_path, store.root)
    lock_file = store.root / "ingest" / f"sha256-{d.digest.hex}.lock"
    try:
        waiter = Waiter(store, d, finish)
        assert waiter.waiting.wait(GUARD)
        os.kill(holder.pid, sig)
        assert holder.wait(GUARD) == -sig
        # The lock died with its holder; the waiter resumes its partial download.
        assert waiter.join() == {"exists": False, "offset": HALF}
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert store.content.read(d.digest) == DATA
    assert not lock_file.exists()
    assert_sound(store)


def test_a_lock_file_left_behind_is_not_held(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    d = desc_of(DATA)
    holder = start_holder(tmp_path, store.root)
    holder.kill()
    holder.wait()
    lock_file = store.root / "ingest" / f"sha256-{d.digest.hex}.lock"
    assert lock_file.exists()  # SIGKILL left it on disk ...
    waiter = Waiter(store, d, finish)
    assert waiter.join() == {"exists": False, "offset": HALF}
    assert not waiter.waiting.is_set()  # ... but nobody holds it: no wait at all
    assert not lock_file.exists()
    assert_sound(store)


# --- many processes, many blobs ----------------------------------------------------------

BLOBS = [bytes([i]) * (50_000 + 997 * i) for i in range(8)]


def write_all_blobs(root: str, start: Any) -> list[tuple[str, str]]:
    """Worker: write every blob of BLOBS, in 4 KiB chunks; say which were written."""
    start.wait()
    store = Store(root)
    outcome = []
    for data in BLOBS:
        d = desc_of(data)
        with store.content.writer(d) as w:
            if w.exists:
                outcome.append((str(d.digest), "exists"))
                continue
            for i in range(w.offset, len(data), 4096):
                w.write(data[i : i + 4096])
            w.commit()
            outcome.append((str(d.digest), "wrote"))
    return outcome


def test_four_processes_write_the_same_blobs_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    try:
        start = manager.Event()
        with ctx.Pool(4) as pool:
            pending = [
                pool.apply_async(write_all_blobs, (str(tmp_path / "store"), start))
                for _ in range(4)
            ]
            start.set()
            results = [p.get(GUARD) for p in pending]
    finally:
        manager.shutdown()
    wrote = Counter(digest for outcome in results for digest, how in outcome if how == "wrote")
    found = Counter(digest for outcome in results for digest, how in outcome if how == "exists")
    expected = {str(desc_of(b).digest) for b in BLOBS}
    assert all(len(outcome) == len(BLOBS) for outcome in results)  # every process succeeded
    assert dict(wrote) == dict.fromkeys(expected, 1)  # each blob written exactly once
    assert dict(found) == dict.fromkeys(expected, 3)  # the others found it committed
    store = Store(tmp_path / "store")
    assert {str(d) for d, _ in store.content.blobs()} == expected
    assert sorted(os.listdir(store.root / "ingest")) == ["gc.lock"]
    assert_sound(store)


# --- index.json ----------------------------------------------------------------------------


def put_names(root: str, worker: int, count: int, start: Any) -> None:
    start.wait()
    store = Store(root)
    for i in range(count):
        body = f"{worker}-{i}".encode()
        store.images.put(f"127.0.0.1:5000/w{worker}/img:{i}", desc_of(body))


def test_concurrent_index_updates_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(root)
    store.images.put("docker.io/library/base:1", desc_of(b"base"))
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    try:
        start = manager.Event()
        with ctx.Pool(4) as pool:
            pending = [pool.apply_async(put_names, (str(root), w, 10, start)) for w in range(4)]
            start.set()
            seen = 0
            while not all(p.ready() for p in pending):
                # Readers never see a half-written index.json.
                seen = max(seen, len(json.loads((root / "index.json").read_bytes())["manifests"]))
                store.images.list()
            for p in pending:
                p.get(GUARD)
    finally:
        manager.shutdown()
    names = [r.name for r in store.images.list()]
    expected = ["docker.io/library/base:1"] + [
        f"127.0.0.1:5000/w{w}/img:{i}" for w in range(4) for i in range(10)
    ]
    assert names == sorted(expected)
    assert seen <= len(expected)
    assert [p for p in os.listdir(root) if p.endswith(".tmp")] == []
