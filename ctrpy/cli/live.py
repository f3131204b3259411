"""The live progress display on a terminal (rich), redrawn at most 10 times a second.

Every row has the same fixed layout (:func:`layout`), so nothing shifts while bytes arrive:
the key (whole when there is room, else content keys are cut to ``layer-sha256:<12 hex>…``;
the image reference is never cut), the status word, a bar when there is room, and
``done/total`` right-aligned in a column as wide as the widest value it can hold.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from ctrpy.cli import logs
from ctrpy.cli.progress import STATUS_WIDTH, Board, Clock, Job
from ctrpy.events import Event, Status

_STYLE = {
    Status.RESOLVING: "yellow",
    Status.RESOLVED: "green",
    Status.WAITING: "dim",
    Status.DOWNLOADING: "yellow",
    Status.DONE: "green",
    Status.EXISTS: "blue",
}
#: what an unfinished row says once the pull has failed (or was interrupted)
FAILED = "failed"
#: the widest ``done/total``: every size is at most 10 characters (``1023.9 MiB``)
SIZES_WIDTH = len("1023.9 MiB/1023.9 MiB")
MAX_BAR = 40
#: a narrower bar says nothing; leave it out and give the room to the keys
MIN_BAR = 8
#: hex digits a cut content key keeps (as ``ctrpy image ls`` and docker's image IDs)
SHORT_HEX = 12
_CONTENT_KEY = re.compile(r"[a-z]+-[a-z0-9]+:[0-9a-f]{32,}")


def bar(fraction: float, width: int) -> str:
    """ctr's bar: ``|+++++     |`` with ``width`` cells inside."""
    filled = round(fraction * width)
    return "|" + "+" * filled + " " * (width - filled) + "|"


def is_content_key(key: str) -> bool:
    """``layer-sha256:<hex>`` and the like, as opposed to the image reference's row."""
    return _CONTENT_KEY.fullmatch(key) is not None


@dataclass(frozen=True, slots=True)
class Layout:
    """Column widths of the progress rows for one terminal width."""

    #: width of the key column (``key:`` padded)
    key: int
    #: width of the bar including its two ``|`` (0: no bar)
    bar: int
    #: content keys are cut to ``kind-sha256:<12 hex>…`` (the short digest of ``ls``)
    cut: bool = False
    #: True when the reference does not fit the key column: its row is a line of its own
    ref_apart: bool = False


def short_key(key: str) -> str:
    """``layer-sha256:27af4709de98…``: a content key cut to 12 hex digits, like docker's IDs."""
    head, _, hexpart = key.partition(":")
    return f"{head}:{hexpart[:SHORT_HEX]}…"


def layout(width: int, keys: Iterable[str]) -> Layout:
    """Fit key, status, bar and sizes into ``width`` columns, one space between columns.

    Whole keys when they fit beside a bar; otherwise content keys are cut to their short
    form and the bar takes what is left.  The image reference always stays whole: if it
    cannot have the key column, its row is printed apart from the columns.
    """
    content: list[str] = []
    refs: list[str] = []
    for k in keys:
        (content if is_content_key(k) else refs).append(k)
    room = width - STATUS_WIDTH - SIZES_WIDTH - 3  # key + bar, three one-space gaps
    ref = max((len(k) + 1 for k in refs), default=0)
    whole = max([len(k) + 1 for k in content] + [ref])
    if whole + MIN_BAR <= room:
        return Layout(whole, _bar(room - whole))
    key = max([len(short_key(k)) for k in content] + [ref])
    if key <= room + 1:  # at worst without a bar
        return Layout(key, _bar(room - key), cut=True)
    key = max(1, min(room + 1, max((len(short_key(k)) for k in content), default=1)))
    return Layout(key, 0, cut=True, ref_apart=ref > key)


def _bar(room: int) -> int:
    return min(MAX_BAR, room) if room >= MIN_BAR else 0


def fit_key(key: str, shape: Layout) -> str:
    """``key:`` padded to the key column; content keys cut as the layout says."""
    text = f"{key}:"
    if is_content_key(key):
        if shape.cut:
            text = short_key(key)
        if len(text) > shape.key:
            text = text[: shape.key - 1] + "…"
    return text.ljust(shape.key)


class LiveView:
    """One row per job (key, status, bar, done/total) and the elapsed/total line."""

    def __init__(
        self,
        stream: TextIO,
        *,
        color: bool = True,
        clock: Clock = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.board = Board(clock)
        self.color = color
        self.failed = False
        self.console = Console(file=stream, no_color=not color, highlight=False, width=width)
        self._live = Live(
            get_renderable=self.render,
            console=self.console,
            refresh_per_second=10,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def start(self) -> LiveView:
        self._live.start()
        logs.divert(self.print_above)
        return self

    def print_above(self, line: str) -> None:
        """A log line, printed above the live rows (rich keeps the display intact)."""
        self.console.print(Text(line), soft_wrap=True)

    def report(self, event: Event) -> None:
        # Only the model changes here; the refresh thread redraws (at most 10/s).
        self.board.update(event)

    def close(self, ok: bool) -> None:
        """Draw the last frame and leave it on screen.  After a failure, unfinished rows say
        ``failed`` and there is no summary: the error printed next is the last word."""
        logs.divert(None)
        self.failed = not ok
        self._live.stop()

    def rows(self) -> list[Text]:
        """One line per job, laid out for the console's width."""
        jobs = self.board.jobs()
        shape = layout(self.console.width, (job.key for job in jobs))
        return [self._row(job, shape) for job in jobs]

    def render(self) -> RenderableType:
        lines: list[RenderableType] = list(self.rows())
        if not self.failed:
            summary = self.board.summary()
            # one line; on a terminal too narrow for it, elapsed and total on two
            parts = [summary] if len(summary) <= self.console.width else summary.split("   ", 1)
            lines += [Text(part) for part in parts]
        return Group(*lines)

    def _style(self, style: str) -> str:
        return style if self.color else ""

    def _row(self, job: Job, shape: Layout) -> Text:
        word, style = job.status.value, _STYLE[job.status]
        if self.failed and not job.final:
            word, style = FAILED, "red"
        style = self._style(style)
        if shape.ref_apart and not is_content_key(job.key):
            return Text.assemble(f"{job.key}: ", (word, style), overflow="fold")
        sizes = job.sizes()
        if job.status in (Status.DONE, Status.EXISTS) and job.total is not None:
            sizes = f"{sizes}/{sizes}"
        row = Text(no_wrap=True, overflow="crop")
        row.append(fit_key(job.key, shape) + " ")
        row.append(word.ljust(STATUS_WIDTH), style)
        if shape.bar:
            row.append(" ")
            row.append(bar(job.fraction(), shape.bar - 2), style)
        row.append(" " + sizes.rjust(SIZES_WIDTH))
        return row
