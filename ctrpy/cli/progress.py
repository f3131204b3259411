"""Progress: turn the core's Events into what the user sees on stderr.

:class:`Board` is the model (one row per job, bytes received, elapsed time); views render it:
:class:`PlainView` for pipes and files (each job's line once, when it finishes, then the
summary; no escape codes), :class:`~ctrpy.cli.live.LiveView` on a terminal (rich, imported
only then), :class:`QuietView` for ``--quiet``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, TextIO

from ctrpy.cli.render import human_size, summary_line
from ctrpy.events import Event, Status

Clock = Callable[[], float]

#: statuses after which a job does not change any more
FINAL = frozenset({Status.RESOLVED, Status.DONE, Status.EXISTS})

#: "manifest-sha256:<64 hex>:" -- the longest content key, so plain lines align
KEY_WIDTH = len("manifest-sha256:") + 64 + 1
STATUS_WIDTH = len("downloading")


@dataclass(frozen=True, slots=True)
class Job:
    """One row: a job's latest state and the bytes it received in this run."""

    key: str
    status: Status
    offset: int = 0
    total: int | None = None
    received: int = 0

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def sizes(self) -> str:
        """``1.2 MiB/3.4 MiB`` while downloading, the size once finished, else empty."""
        if self.total is None or self.status in (Status.RESOLVING, Status.RESOLVED):
            return ""
        if self.status in (Status.DONE, Status.EXISTS):
            return human_size(self.total)
        return f"{human_size(self.offset)}/{human_size(self.total)}"

    def fraction(self) -> float:
        if self.status in FINAL:
            return 1.0
        if not self.total:
            return 0.0
        return min(1.0, self.offset / self.total)


class Board:
    """The state of every job of one pull, in order of first appearance.  Thread-safe."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def update(self, event: Event) -> Job | None:
        """Apply ``event``; return the job if this event finished it (else None)."""
        with self._lock:
            old = self._jobs.get(event.key)
            received = 0 if old is None else old.received
            was_downloading = old is not None and old.status is Status.DOWNLOADING
            if was_downloading and event.status in (Status.DOWNLOADING, Status.DONE):
                assert old is not None
                end = event.total if event.status is Status.DONE and event.total else event.offset
                received += max(0, end - old.offset)
            job = Job(event.key, event.status, event.offset, event.total, received)
            if old is not None and old.total is not None and job.total is None:
                job = replace(job, total=old.total)
            self._jobs[event.key] = job
            newly_final = job.final and (old is None or not old.final)
            return job if newly_final else None

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def received(self) -> int:
        with self._lock:
            return sum(job.received for job in self._jobs.values())

    def stored(self) -> int:
        """Bytes of finished objects that were not fetched in this run: objects that already
        existed, and the part of a resumed download that was already on disk."""
        with self._lock:
            return sum(
                max(0, job.total - job.received)
                for job in self._jobs.values()
                if job.total is not None and job.status in (Status.DONE, Status.EXISTS)
            )

    def elapsed(self) -> float:
        return max(0.0, self._clock() - self.started)

    def summary(self) -> str:
        return summary_line(self.elapsed(), self.received(), self.stored())


class View(Protocol):
    """What the pull command talks to: a Reporter plus a closing call."""

    def report(self, event: Event) -> None: ...

    def close(self, ok: bool) -> None: ...


class QuietView:
    """``--quiet``: nothing at all (errors are printed by the command)."""

    def report(self, event: Event) -> None:
        pass

    def close(self, ok: bool) -> None:
        pass


def plain_line(job: Job) -> str:
    """One finished job, ctr's words, aligned: ``layer-sha256:…:  done  2.4 KiB``."""
    key = f"{job.key}:".ljust(KEY_WIDTH)
    return f"{key}  {job.status.value.ljust(STATUS_WIDTH)}  {job.sizes()}".rstrip()


class PlainView:
    """Not a terminal: each job's line once when it finishes, then the summary."""

    def __init__(self, stream: TextIO, clock: Clock = time.monotonic) -> None:
        self.board = Board(clock)
        self._stream = stream

    def report(self, event: Event) -> None:
        finished = self.board.update(event)
        if finished is not None:
            self._stream.write(plain_line(finished) + "\n")
            self._stream.flush()

    def close(self, ok: bool) -> None:
        if ok:
            self._stream.write(self.board.summary() + "\n")
            self._stream.flush()


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def open_view(*, quiet: bool, color: bool, stream: TextIO | None = None) -> View:
    """The right view for stderr: quiet, live (a terminal) or plain (anything else)."""
    if quiet:
        return QuietView()
    out = stream if stream is not None else sys.stderr
    if is_terminal(out):
        from ctrpy.cli.live import LiveView

        return LiveView(out, color=color).start()
    return PlainView(out)
