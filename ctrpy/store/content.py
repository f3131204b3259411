"""Content-addressed blobs: verified, resumable, atomic, concurrency-safe writes.

A blob is written through a :class:`Writer`::

    with store.content.writer(desc) as w:
        if not w.exists:                      # somebody already committed it: done
            for chunk in fetch(desc, offset=w.offset):
                w.write(chunk)
            w.commit()                        # size + digest checked, atomic rename

The writer holds a per-digest flock for its whole life, so a second process (or
thread) writing the same digest waits and then finds it committed.  Bytes go to
``ingest/<alg>-<hex>.partial`` and are hashed as they pass (one pass, constant
memory); a partial left by an interrupted writer is re-hashed on entry and resumed
from its end.  Only content whose size and digest match ever reaches ``blobs/``.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Literal

from ctrpy.errors import IntegrityError, InvalidDigest, NotFound, StoreError
from ctrpy.oci.descriptor import Descriptor
from ctrpy.oci.digest import ALGORITHMS, Digest, verify_bytes
from ctrpy.store import fs
from ctrpy.store.layout import BLOB_MODE, FILE_MODE, Layout

if TYPE_CHECKING:
    from hashlib import _Hash

ProblemKind = Literal["corrupt", "missing", "unexpected", "temp"]

#: A writer asks the kernel to start writing out each this many freshly written bytes
#: (``posix_fadvise(DONTNEED)`` on a dirty range starts asynchronous writeback and drops
#: nothing), so the disk works while the download goes on and the fsync in
#: :meth:`Writer.commit` finds little left to do: for 8 x 64 MiB layers on 3 threads the
#: fsyncs took 0.42 thread-s (all 3 threads waiting ~80 ms at once) instead of 0.06.
WRITEBACK_BYTES = 8 << 20
_FADVISE = getattr(os, "posix_fadvise", None)  # not on macOS: there fsync does it all


@dataclass(frozen=True, slots=True)
class Problem:
    """Something :meth:`ContentStore.check` / ``Store.check`` found wrong.

    ``kind``: ``corrupt`` (a blob does not hash to its name), ``missing`` (referenced
    but absent), ``unexpected`` (a file that has no business in ``blobs/``) or
    ``temp`` (a leftover temporary file).  ``path`` is relative to the store root.
    """

    kind: ProblemKind
    path: str
    digest: Digest | None
    detail: str
    actual: Digest | None = None


def as_digest(value: Digest | str) -> Digest:
    """Accept a :class:`Digest` or its string form; anything else is refused."""
    if isinstance(value, Digest):
        return value
    if isinstance(value, str):
        return Digest.parse(value)
    raise InvalidDigest(f"invalid digest {value!r:.80}: not a digest")


def hash_file(fd: int, algorithm: str) -> tuple[_Hash, int]:
    """Hash an open file from its current position to its end (constant memory)."""
    hasher = hashlib.new(algorithm)
    size = 0
    buf = bytearray(fs.CHUNK)
    view = memoryview(buf)
    while True:
        n = os.readv(fd, [buf])
        if not n:
            return hasher, size
        hasher.update(view[:n])
        size += n


class ContentStore:
    """The blobs of one store root."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout

    @property
    def root(self) -> Path:
        return self._layout.root

    # --- reading ------------------------------------------------------------------

    def path(self, digest: Digest | str) -> Path:
        """``<root>/blobs/<alg>/<hex>`` (whether or not it exists). Never outside the root."""
        return self._layout.blob(as_digest(digest))

    def size(self, digest: Digest | str) -> int | None:
        """The stored blob's size, or None when it is not there."""
        try:
            st = os.stat(self.path(digest))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._layout.error(exc, "read", self.path(digest)) from exc
        return st.st_size if _is_regular(st.st_mode) else None

    def has_digest(self, digest: Digest | str) -> bool:
        return self.size(digest) is not None

    def has(self, desc: Descriptor) -> bool:
        """The blob is present with the descriptor's size."""
        return self.size(desc.digest) == desc.size

    def open(self, digest: Digest | str) -> BinaryIO:
        """Open a stored blob for reading; :class:`NotFound` when it is not there."""
        d = as_digest(digest)
        path = self.path(d)
        try:
            return builtins.open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {d} is not in the store {self.root}") from None
        except OSError as exc:
            raise self._layout.error(exc, "read", path) from exc

    def read(self, digest: Digest | str) -> bytes:
        """A whole stored blob (manifests, configs), re-verified against its digest."""
        d = as_digest(digest)
        path = self.path(d)
        with self.open(d) as f:
            try:
                data = f.read()
            except OSError as exc:
                raise self._layout.error(exc, "read", path) from exc
        actual = Digest.of(data, d.algorithm)
        if actual != d:
            raise IntegrityError(
                f"stored blob {d} is corrupt: its content hashes to {actual}",
                hint=f"remove {path} and pull again: the pull fetches it anew",
            )
        return data

    def blobs(self) -> Iterator[tuple[Digest, Path]]:
        """Every well-named blob file (digest, path); other entries are skipped."""
        for path, digest in self._walk_blobs():
            if digest is not None:
                yield digest, path

    def _walk_blobs(self) -> Iterator[tuple[Path, Digest | None]]:
        """Every file under ``blobs/``, with its digest when its name is a valid one."""
        try:
            algs = sorted(os.listdir(self._layout.blobs))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise self._layout.error(exc, "list", self._layout.blobs) from exc
        for alg in algs:
            alg_dir = self._layout.blobs / alg
            if not alg_dir.is_dir() or alg not in ALGORITHMS:
                yield alg_dir, None
                continue
            try:
                names = sorted(os.listdir(alg_dir))
            except OSError as exc:
                raise self._layout.error(exc, "list", alg_dir) from exc
            for name in names:
                path = alg_dir / name
                try:
                    digest: Digest | None = Digest(alg, name)
                except InvalidDigest:
                    digest = None
                yield path, digest

    # --- writing ------------------------------------------------------------------

    def writer(self, desc: Descriptor, *, on_wait: Callable[[], None] | None = None) -> Writer:
        """A context manager that writes one blob (see :class:`Writer`).

        ``on_wait`` is called (once) when another writer holds this digest and this
        one has to wait: the pull reports ``waiting`` then.
        """
        return Writer(self._layout, desc, on_wait=on_wait)

    def put(self, desc: Descriptor, data: bytes) -> bool:
        """Store a small body (a manifest) held in memory: verify, then write atomically.

        Returns True when written, False when the blob was already there.  Raises
        :class:`IntegrityError` (nothing stored) when ``data`` does not match ``desc``.
        """
        verify_bytes(data, desc.digest, desc.size, what=desc.key)
        with self.writer(desc) as w:
            if w.exists:
                return False
            w.restart()
            w.write(data)
            w.commit()
            return True

    # --- checking -----------------------------------------------------------------

    def check(self) -> builtins.list[Problem]:
        """Re-hash every blob; report corrupt blobs, stray files and leftover temp files."""
        problems: list[Problem] = []
        for path, digest in self._walk_blobs():
            rel = self._layout.relative(path)
            if digest is None or not path.is_file() or path.is_symlink():
                problems.append(
                    Problem("unexpected", rel, None, "not a blob: unexpected entry in blobs/")
                )
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # removed meanwhile (gc)
            except OSError as exc:
                raise self._layout.error(exc, "read", path) from exc
            try:
                hasher, _ = hash_file(fd, digest.algorithm)
            except OSError as exc:
                problems.append(Problem("corrupt", rel, digest, f"cannot read it: {exc}"))
                continue
            finally:
                os.close(fd)
            actual = Digest(digest.algorithm, hasher.hexdigest())
            if actual != digest:
                problems.append(
                    Problem(
                        "corrupt",
                        rel,
                        digest,
                        f"blob {digest} is corrupt: its content hashes to {actual}",
                        actual,
                    )
                )
        for directory in (self._layout.root, self._layout.ingest):
            try:
                names = sorted(os.listdir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise self._layout.error(exc, "list", directory) from exc
            for name in names:
                if name.endswith(".tmp"):
                    problems.append(
                        Problem(
                            "temp",
                            self._layout.relative(directory / name),
                            None,
                            "leftover temporary file (an interrupted write, or one in progress)",
                        )
                    )
        return problems


def _is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)


class Writer:
    """Writes one blob; a context manager (enter takes the per-digest lock).

    Attributes after entering:

    - ``exists``: the blob is already committed; write nothing, just leave.
    - ``offset``: verified bytes already in ``ingest/`` to resume from (ask the
      registry for the rest with ``Range: bytes=<offset>-``).
    - ``position``: bytes in the partial so far (``offset`` plus what was written).

    Leaving the block with an exception keeps the partial for the next writer,
    except after an :class:`IntegrityError` from :meth:`write` or :meth:`commit`
    (the partial is then discarded).
    """

    def __init__(
        self,
        layout: Layout,
        desc: Descriptor,
        *,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self.desc = desc
        self.exists = False
        self.offset = 0
        self.position = 0
        self.committed = False
        self._layout = layout
        self._on_wait = on_wait
        self._blob = layout.blob(desc.digest)
        self._partial = layout.partial(desc.digest)
        self._stack = ExitStack()
        self._fd: int | None = None
        self._hash: _Hash = desc.digest.hasher()
        self._resumed_from = 0
        self._dirty = 0  # bytes written since the last writeback was started

    @property
    def key(self) -> str:
        return self.desc.key

    # --- context manager ----------------------------------------------------------

    def __enter__(self) -> Writer:
        if self._present():  # fast path: no lock, no file created
            self.exists = True
            return self
        try:
            self._layout.ensure()
            self._stack.enter_context(self._layout.lease())
            lock = self._layout.digest_lock(self.desc.digest)
            self._stack.enter_context(self._layout.locked(lock, on_wait=self._on_wait))
            if self._present():
                self.exists = True
                return self
            self._open_partial()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    # --- writing ------------------------------------------------------------------

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append a chunk to the partial and hash it."""
        fd = self._require_open("write")
        n = len(chunk)
        if self.position + n > self.desc.size:
            self._hash.update(chunk)
            got = self.position + n
            actual = Digest(self.desc.digest.algorithm, self._hash.hexdigest())
            self._discard()
            raise IntegrityError(
                f"{self.key}: size mismatch: expected {self.desc.size} bytes, "
                f"got at least {got} (expected digest {self.desc.digest}, "
                f"the first {got} bytes hash to {actual})",
                hint=self._integrity_hint(),
            )
        try:
            fs.write_all(fd, chunk)
        except OSError as exc:
            self._close_fd()  # the partial is re-hashed by the next writer
            raise self._layout.error(exc, "write", self._partial) from exc
        self._hash.update(chunk)
        self.position += n
        self._dirty += n
        if self._dirty >= WRITEBACK_BYTES:
            self._start_writeback(fd)

    def commit(self) -> None:
        """Verify size and digest, then move the blob into ``blobs/`` atomically, read-only.

        On a mismatch raises :class:`IntegrityError` naming the expected and actual
        digest; nothing reaches ``blobs/`` and the partial is discarded.
        """
        if self.exists or self.committed:
            return
        fd = self._require_open("commit")
        actual = Digest(self.desc.digest.algorithm, self._hash.hexdigest())
        if self.position != self.desc.size or actual != self.desc.digest:
            self._discard()
            if self.position != self.desc.size:
                why = f"size mismatch: expected {self.desc.size} bytes, got {self.position}"
            else:
                why = "digest mismatch"
            raise IntegrityError(
                f"{self.key}: {why}: expected digest {self.desc.digest}, got {actual}",
                hint=self._integrity_hint(),
            )
        path = self._partial
        action = "commit"
        try:
            os.fsync(fd)
            os.fchmod(fd, BLOB_MODE)
            self._blob.parent.mkdir(parents=True, exist_ok=True)
            path = self._blob
            try:
                os.rename(self._partial, self._blob)
            except OSError:
                os.fchmod(fd, FILE_MODE)
                raise
            action = "sync"
            fs.fsync_dir(self._blob.parent)
        except OSError as exc:
            self._close_fd()
            raise self._layout.error(exc, action, path) from exc
        self._close_fd()
        self.committed = True

    def restart(self) -> None:
        """Throw away what is in the partial and start from byte 0."""
        fd = self._require_open("restart")
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
        except OSError as exc:
            raise self._layout.error(exc, "truncate", self._partial) from exc
        self._hash = self.desc.digest.hasher()
        self.offset = self.position = self._resumed_from = self._dirty = 0

    # --- internals ----------------------------------------------------------------

    def _present(self) -> bool:
        try:
            st = os.stat(self._blob)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise self._layout.error(exc, "read", self._blob) from exc
        return _is_regular(st.st_mode) and st.st_size == self.desc.size

    def _open_partial(self) -> None:
        path = self._partial
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        try:
            try:
                fd = os.open(path, flags, FILE_MODE)
            except PermissionError:
                if not path.exists():
                    raise
                os.chmod(path, FILE_MODE)  # a read-only leftover of ours
                fd = os.open(path, flags, FILE_MODE)
            self._fd = fd
            size = os.fstat(fd).st_size
            if size > self.desc.size:
                self._truncate(fd)  # longer than the blob can be: wrong, discard
                return
            hasher, size = hash_file(fd, self.desc.digest.algorithm)
            if size == self.desc.size and hasher.hexdigest() != self.desc.digest.hex:
                self._truncate(fd)  # complete but wrong: discard
                return
            os.lseek(fd, size, os.SEEK_SET)
        except OSError as exc:
            raise self._layout.error(exc, "open", path) from exc
        self._hash = hasher
        self.offset = self.position = self._resumed_from = size

    def _start_writeback(self, fd: int) -> None:
        if _FADVISE is not None:
            # only a hint: commit's fsync still makes the blob durable
            with suppress(OSError):
                _FADVISE(fd, self.position - self._dirty, self._dirty, os.POSIX_FADV_DONTNEED)
        self._dirty = 0

    def _truncate(self, fd: int) -> None:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)

    def _require_open(self, what: str) -> int:
        if self.exists:
            raise StoreError(f"{self.key}: cannot {what}: the blob already exists")
        if self.committed:
            raise StoreError(f"{self.key}: cannot {what}: already committed")
        if self._fd is None:
            raise StoreError(f"{self.key}: cannot {what}: the writer is not open")
        return self._fd

    def _integrity_hint(self) -> str:
        if self._resumed_from:
            return (
                f"the download resumed from byte {self._resumed_from} of an earlier partial "
                "one; that partial was discarded: pull again to download it from the start"
            )
        return "the registry or a proxy served different content; nothing was stored"

    def _discard(self) -> None:
        self._close_fd()
        try:
            os.unlink(self._partial)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._layout.error(exc, "remove", self._partial) from exc

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _close(self) -> None:
        try:
            self._close_fd()
        finally:
            self._stack.close()


__all__ = ["ContentStore", "Problem", "Writer", "as_digest"]
