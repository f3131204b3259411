"""Filesystem helpers for the store: file locks, atomic writes, fsync, error translation.

Locks are ``flock(2)`` locks (:func:`fcntl.flock`): they belong to an open file
description, so two threads that each open the lock file exclude each other just as
two processes do, and the kernel drops them when the process dies (even by SIGKILL).
A lock file left behind by a killed process is therefore never *held*; it is only a
name on disk, and the next locker takes it at once.

Per-name lock files are unlinked by their holder before the lock is released.  To
make that safe, :func:`lock` re-checks after acquiring that the path still names the
inode it locked (otherwise somebody unlinked it meanwhile and it starts over).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ctrpy.errors import StoreError

#: Read buffer for hashing files (constant memory whatever the blob size).
CHUNK = 1 << 20


def store_error(exc: OSError, action: str, path: Path, root: Path) -> StoreError:
    """Turn an ``OSError`` at the store's I/O boundary into a :class:`StoreError`.

    The message says what failed and on which path (relative to the root, which the
    hint names); the hint says what to do about it.
    """
    where = relative(path, root)
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    message = f"cannot {action} {where} in the store {root}: {reason}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = (
            f"free some space on the filesystem that holds {root} (or use --root to put "
            "the store elsewhere), then pull again: what was downloaded so far is kept"
        )
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = (
            f"check the permissions of {root} (ctrpy needs to write there), "
            "or use --root to put the store elsewhere"
        )
    elif exc.errno == errno.EIO:
        hint = f"the disk that holds {root} reported an I/O error: check the disk"
    else:
        hint = f"check {root}, or use --root to put the store elsewhere"
    return StoreError(message, hint=hint)


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX form) when inside it, else the path itself."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@contextmanager
def lock(
    path: Path,
    *,
    shared: bool = False,
    unlink: bool = True,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive (or ``shared``) flock on ``path``, creating the file if needed.

    Blocks until the lock is free; ``on_wait`` is called once, first, when it is not
    free right away.  With ``unlink`` (exclusive locks only) the holder removes the
    lock file before releasing it, so no lock files linger.
    """
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    fd = _acquire(path, mode, on_wait=on_wait, blocking=True)
    assert fd is not None
    try:
        yield
    finally:
        if unlink and not shared:
            with suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """Take an exclusive lock on an *existing* ``path`` without blocking.

    Returns the locked fd, or ``None`` when the file is gone or somebody holds it.
    """
    return _acquire(path, fcntl.LOCK_EX, on_wait=None, blocking=False, create=False)


def _acquire(
    path: Path,
    mode: int,
    *,
    on_wait: Callable[[], None] | None,
    blocking: bool,
    create: bool = True,
) -> int | None:
    waited = False
    while True:
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:
            if create:
                raise
            return None
        try:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    os.close(fd)
                    return None
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                fcntl.flock(fd, mode)
            st = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            return fd
        # The holder we waited for unlinked the file: lock the new one instead.
        os.close(fd)
        if not create and now is None:
            return None


def fsync_dir(path: Path) -> None:
    """fsync a directory, so that a rename or unlink inside it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until every byte is written (short writes happen near a full disk)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def temp_name(path: Path) -> Path:
    """A unique temporary sibling of ``path``: ``<name>.<random>.tmp``."""
    return path.with_name(f"{path.name}.{os.urandom(6).hex()}.tmp")  # as secrets.token_hex(6)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, replace: bool = True) -> bool:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, fsync the directory.

    With ``replace=False`` an existing ``path`` is left alone (hard link instead of
    rename) and the result is False.  Raises ``OSError``; the caller translates it.
    """
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            write_all(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
            written = True
        else:
            try:
                os.link(tmp, path)
                written = True
            except FileExistsError:
                written = False
            os.unlink(tmp)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return written
