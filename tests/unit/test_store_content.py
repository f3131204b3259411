"""The content store: verified, resumable, atomic blob writes (single process).

Concurrency (threads, processes, killed lock holders) is in test_store_concurrency.py.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from ctrpy.errors import IntegrityError, InvalidDigest, NotFound, StoreError
from ctrpy.oci import mediatypes
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import Digest
from ctrpy.store import Store
from ctrpy.store.content import WRITEBACK_BYTES

DATA = bytes(range(256)) * 40  # 10 KiB


def desc_of(data: bytes, media_type: str = mediatypes.OCI_LAYER_GZIP) -> Descriptor:
    return Descriptor(media_type, Digest.of(data), len(data))


def partial_path(store: Store, digest: Digest) -> Path:
    """The documented on-disk name of a partial download."""
    return store.root / "ingest" / f"{digest.algorithm}-{digest.hex}.partial"


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def assert_sound(store: Store) -> None:
    """Every blob hashes to its name and nothing stray is left."""
    assert store.check() == []
    for digest, path in store.content.blobs():
        assert Digest.of(path.read_bytes()) == digest


# --- layout ---------------------------------------------------------------------------


def test_reading_a_fresh_root_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(root)
    d = desc_of(DATA)
    assert store.images.list() == []
    assert store.images.get("docker.io/library/x:latest") is None
    assert store.images.remove("docker.io/library/x:latest") is False
    assert not store.content.has(d)
    assert store.content.size(d.digest) is None
    assert store.check() == []
    assert store.gc().removed == ()
    with pytest.raises(NotFound):
        store.content.open(d.digest)
    assert not root.exists()


def test_first_write_creates_the_oci_layout(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    d = desc_of(DATA)
    assert store.content.put(d, DATA) is True
    root = store.root
    assert (root / "oci-layout").read_text() == '{"imageLayoutVersion": "1.0.0"}'
    assert (root / "index.json").exists()
    blob = root / "blobs" / "sha256" / d.digest.hex
    assert blob.read_bytes() == DATA
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert sorted(os.listdir(root / "ingest")) == ["gc.lock"]  # no partial, no lock files
    assert store.content.path(d.digest) == blob
    assert store.content.read(d.digest) == DATA
    with store.content.open(str(d.digest)) as f:
        assert f.read() == DATA


def test_refuses_to_write_into_a_directory_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    store = Store(tmp_path)
    with pytest.raises(StoreError, match="neither empty nor an OCI image layout") as info:
        store.content.put(desc_of(DATA), DATA)
    assert "--root" in (info.value.hint or "")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


# --- commit and mismatch ----------------------------------------------------------------

WRONG = bytes(reversed(DATA))


@pytest.mark.parametrize(
    ("written", "failure"),
    [
        pytest.param(DATA, None, id="one-chunk"),
        pytest.param(DATA, None, id="many-chunks"),
        pytest.param(DATA[:-1], "size mismatch", id="short"),
        pytest.param(DATA + b"!", "size mismatch", id="long"),
        pytest.param(WRONG, "digest mismatch", id="same-size-wrong-bytes"),
        pytest.param(b"", "size mismatch", id="nothing"),
    ],
)
def test_writer_commits_only_the_right_content(
    tmp_path: Path, request: pytest.FixtureRequest, written: bytes, failure: str | None
) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    chunk = 1000 if request.node.callspec.id == "many-chunks" else 1 << 20
    if failure is None:
        with store.content.writer(d) as w:
            assert (w.exists, w.offset) == (False, 0)
            for c in chunks(written, chunk):
                w.write(c)
            w.commit()
        assert w.committed
        assert store.content.has(d)
    else:
        with pytest.raises(IntegrityError, match=failure) as info, store.content.writer(d) as w:
            for c in chunks(written, chunk):
                w.write(c)
            w.commit()
        message = info.value.message
        assert str(d.digest) in message
        assert str(Digest.of(written)) in message  # the actual digest is named
        assert info.value.exit_code == 5
        assert not store.content.has_digest(d.digest)
        assert not partial_path(store, d.digest).exists()  # discarded
    assert_sound(store)


def test_empty_blob(tmp_path: Path) -> None:
    store = Store(tmp_path)
    d = desc_of(b"")
    with store.content.writer(d) as w:
        w.commit()
    assert store.content.read(d.digest) == b""


def test_second_writer_finds_the_blob(tmp_path: Path) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    store.content.put(d, DATA)
    with store.content.writer(d) as w:
        assert w.exists
        w.commit()  # a no-op
        with pytest.raises(StoreError, match="already exists"):
            w.write(b"x")
    assert store.content.put(d, DATA) is False


def test_put_verifies_before_writing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    d = desc_of(DATA, mediatypes.OCI_MANIFEST)
    with pytest.raises(IntegrityError, match="digest mismatch"):
        store.content.put(d, WRONG)
    assert not store.content.has_digest(d.digest)
    assert not store.root.exists()  # verified before anything was created


def test_put_ignores_a_wrong_partial(tmp_path: Path) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA, mediatypes.OCI_MANIFEST)
    store.content.put(desc_of(b"x"), b"x")  # create the layout
    partial_path(store, d.digest).write_bytes(b"garbage")
    assert store.content.put(d, DATA) is True
    assert store.content.read(d.digest) == DATA
    assert_sound(store)


def test_read_notices_a_corrupt_blob(tmp_path: Path) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    store.content.put(d, DATA)
    path = store.content.path(d.digest)
    path.chmod(0o644)
    path.write_bytes(WRONG)
    with pytest.raises(IntegrityError, match="corrupt") as info:
        store.content.read(d.digest)
    # the hint names the file to remove (there is no store-check command to run)
    assert info.value.hint == f"remove {path} and pull again: the pull fetches it anew"
    path.unlink()
    assert store.content.put(d, DATA) is True
    assert store.content.read(d.digest) == DATA


# --- resume -----------------------------------------------------------------------------

HALF = len(DATA) // 2


@pytest.mark.parametrize(
    ("partial", "offset"),
    [
        pytest.param(DATA[:HALF], HALF, id="right-prefix"),
        pytest.param(DATA[:1], 1, id="one-byte"),
        pytest.param(b"", 0, id="empty"),
        pytest.param(DATA, len(DATA), id="complete-and-right"),
        pytest.param(DATA + b"extra", 0, id="longer-than-the-blob"),
        pytest.param(WRONG, 0, id="complete-but-wrong"),
    ],
)
def test_resume_rehashes_the_partial(tmp_path: Path, partial: bytes, offset: int) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    store.content.put(desc_of(b"x"), b"x")  # create the layout
    partial_path(store, d.digest).write_bytes(partial)
    with store.content.writer(d) as w:
        assert w.offset == offset
        assert w.position == offset
        for c in chunks(DATA[w.offset :], 3000):
            w.write(c)
        w.commit()
    assert store.content.read(d.digest) == DATA
    assert not partial_path(store, d.digest).exists()
    assert_sound(store)


def test_a_wrong_partial_is_discarded_at_commit(tmp_path: Path) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    store.content.put(desc_of(b"x"), b"x")
    partial_path(store, d.digest).write_bytes(WRONG[:HALF])  # stale and wrong
    mismatch = pytest.raises(IntegrityError, match="digest mismatch")
    with mismatch as info, store.content.writer(d) as w:
        assert w.offset == HALF
        w.write(DATA[HALF:])
        w.commit()
    assert f"resumed from byte {HALF}" in (info.value.hint or "")
    assert not partial_path(store, d.digest).exists()
    assert not store.content.has_digest(d.digest)
    with store.content.writer(d) as w:  # the next attempt starts over and succeeds
        assert w.offset == 0
        w.write(DATA)
        w.commit()
    assert_sound(store)


class Interrupted(Exception):
    pass


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(KeyboardInterrupt(), id="ctrl-c"),
        pytest.param(ConnectionResetError(errno.ECONNRESET, "reset"), id="network-error"),
        pytest.param(Interrupted("stop"), id="other-exception"),
    ],
)
def test_an_exception_keeps_the_partial(tmp_path: Path, exc: BaseException) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    with pytest.raises(type(exc)), store.content.writer(d) as w:
        w.write(DATA[:1234])
        raise exc
    assert partial_path(store, d.digest).read_bytes() == DATA[:1234]
    assert not store.content.has_digest(d.digest)
    with store.content.writer(d) as w:
        assert w.offset == 1234
        w.write(DATA[1234:])
        w.commit()
    assert_sound(store)


def test_leaving_without_commit_keeps_the_partial(tmp_path: Path) -> None:
    store = Store(tmp_path)
    d = desc_of(DATA)
    with store.content.writer(d) as w:
        w.write(DATA[:10])
    assert not store.content.has_digest(d.digest)
    with store.content.writer(d) as w:
        assert w.offset == 10


def test_big_blob_in_constant_memory(tmp_path: Path) -> None:
    store = Store(tmp_path)
    block = os.urandom(1 << 20)
    total = 32
    h = hashlib.sha256()
    for _ in range(total):
        h.update(block)
    d = Descriptor(mediatypes.OCI_LAYER_GZIP, Digest("sha256", h.hexdigest()), total << 20)
    tracemalloc.start()
    try:
        with store.content.writer(d) as w:
            for _ in range(total // 2):
                w.write(block)
        with store.content.writer(d) as w:  # resume: re-hashes 16 MiB from disk
            assert w.offset == (total // 2) << 20
            for _ in range(total // 2):
                w.write(block)
            w.commit()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # well under the blob's 32 MiB
    assert store.content.size(d.digest) == total << 20


@pytest.mark.parametrize(
    ("chunk", "stop_at"),
    [
        pytest.param(1 << 20, 0, id="1MiB-chunks"),
        pytest.param(3 * 1000 * 1000 + 7, 0, id="odd-chunks-across-writeback-ranges"),
        pytest.param(999_983, 9 * 1000 * 1000 + 1, id="resumed-at-an-odd-offset"),
    ],
)
def test_blobs_beyond_the_writeback_size_are_stored_whole(
    tmp_path: Path, chunk: int, stop_at: int
) -> None:
    """Writers start writeback every WRITEBACK_BYTES: odd offsets, resumes, same bytes."""
    store = Store(tmp_path)
    data = os.urandom(2 * WRITEBACK_BYTES + 12345)
    d = desc_of(data)
    if stop_at:
        with store.content.writer(d) as w:
            for c in chunks(data[:stop_at], chunk):
                w.write(c)
    with store.content.writer(d) as w:
        assert w.offset == stop_at
        for c in chunks(data[w.offset :], chunk):
            w.write(c)
        w.commit()
    assert store.content.read(d.digest) == data
    assert_sound(store)


# --- malicious digests ---------------------------------------------------------------------

HEX = "a" * 64


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("sha256:../../etc/passwd", id="dotdot"),
        pytest.param("sha256:" + "../" * 20 + "x", id="long-dotdot"),
        pytest.param("sha256:/etc/passwd", id="absolute"),
        pytest.param(f"sha256:{HEX}/..", id="hex-then-dotdot"),
        pytest.param(f"sha256:{HEX[:-1]}/", id="slash"),
        pytest.param(f"sha256:{HEX.upper()}", id="upper-case"),
        pytest.param(f"md5:{HEX[:32]}", id="unknown-algorithm"),
        pytest.param(f"../sha256:{HEX}", id="algorithm-dotdot"),
        pytest.param(f"sha256:{HEX}\x00", id="nul"),
        pytest.param(HEX, id="no-algorithm"),
        pytest.param("", id="empty"),
    ],
)
def test_malicious_digests_never_become_paths(tmp_path: Path, text: str) -> None:
    root = tmp_path / "store"
    store = Store(root)
    calls: list[Callable[[], object]] = [
        lambda: store.content.path(text),
        lambda: store.content.has_digest(text),
        lambda: store.content.size(text),
        lambda: store.content.open(text),
        lambda: store.content.read(text),
    ]
    for call in calls:
        with pytest.raises(InvalidDigest):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_forged_digest_object_is_refused(tmp_path: Path) -> None:
    """Even a Digest whose validation was bypassed does not reach the filesystem."""
    forged = object.__new__(Digest)
    object.__setattr__(forged, "algorithm", "sha256")
    object.__setattr__(forged, "hex", "../../../escape")
    store = Store(tmp_path / "store")
    with pytest.raises(InvalidDigest):
        store.content.path(forged)
    d = Descriptor.__new__(Descriptor)
    object.__setattr__(d, "media_type", mediatypes.OCI_LAYER_GZIP)
    object.__setattr__(d, "digest", forged)
    object.__setattr__(d, "size", 1)
    with pytest.raises(InvalidDigest):
        store.content.writer(d)
    assert list(tmp_path.iterdir()) == []


# --- disk errors ------------------------------------------------------------------------------


def fail_in(
    monkeypatch: pytest.MonkeyPatch, root: Path, name: str, code: int, *, after: int = 0
) -> None:
    """Make ``os.<name>`` fail with ``code`` on files under ``root`` (after ``after`` calls).

    This is the store's own I/O boundary: the file system saying no.
    """
    real = getattr(os, name)
    calls = {"n": 0}

    def target_of(arg: object) -> str:
        if isinstance(arg, int):
            try:
                return os.readlink(f"/proc/self/fd/{arg}")
            except OSError:
                return ""
        return os.fspath(arg) if isinstance(arg, (str, Path)) else ""

    def fake(*args: object, **kwargs: object) -> object:
        where = target_of(args[0])
        if where.startswith(str(root)) and (name != "open" or where.endswith(".partial")):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, fake)


@pytest.mark.parametrize(
    ("name", "code", "after", "action", "hint"),
    [
        pytest.param("write", errno.ENOSPC, 0, "write", "free some space", id="full-at-once"),
        pytest.param("write", errno.ENOSPC, 2, "write", "free some space", id="full-midway"),
        pytest.param("write", errno.EDQUOT, 1, "write", "free some space", id="quota"),
        pytest.param("write", errno.EIO, 1, "write", "I/O error", id="io-error"),
        pytest.param("fsync", errno.EIO, 0, "commit", "I/O error", id="fsync-fails"),
        pytest.param("open", errno.EACCES, 0, "open", "permissions", id="permission-denied"),
        pytest.param("rename", errno.EROFS, 0, "commit", "permissions", id="read-only-fs"),
    ],
)
def test_disk_errors_are_clear_and_leave_the_store_sound(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    code: int,
    after: int,
    action: str,
    hint: str,
) -> None:
    store = Store(tmp_path / "store")
    keep = desc_of(b"already here")
    store.content.put(keep, b"already here")
    d = desc_of(DATA)
    with monkeypatch.context() as m:
        fail_in(m, store.root, name, code, after=after)
        with pytest.raises(StoreError) as info, store.content.writer(d) as w:
            for c in chunks(DATA, 1000):
                w.write(c)
            w.commit()
    error = info.value
    assert error.message.startswith(f"cannot {action} ")
    rel = f"sha256/{d.digest.hex}" if action == "commit" and name == "rename" else ""
    assert f"ingest/sha256-{d.digest.hex}.partial" in error.message or rel in error.message
    assert os.strerror(code) in error.message
    assert str(store.root) in error.message
    assert hint in (error.hint or "")
    assert "--root" in (error.hint or "") or code == errno.EIO
    # Sound: nothing half-written in blobs/, and the next writer finishes the job.
    assert not store.content.has_digest(d.digest)
    assert_sound(store)
    with store.content.writer(d) as w:
        assert DATA.startswith(partial_path(store, d.digest).read_bytes())
        w.write(DATA[w.offset :])
        w.commit()
    assert store.content.read(d.digest) == DATA
    assert store.content.read(keep.digest) == b"already here"
    assert_sound(store)
