"""The live progress display on a terminal (rich), redrawn at most 10 times a second."""

from __future__ import annotations

import time
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ctrpy.cli import logs
from ctrpy.cli.progress import KEY_WIDTH, STATUS_WIDTH, Board, Clock, Job
from ctrpy.events import Event, Status

_STYLE = {
    Status.RESOLVING: "yellow",
    Status.RESOLVED: "green",
    Status.WAITING: "dim",
    Status.DOWNLOADING: "yellow",
    Status.DONE: "green",
    Status.EXISTS: "blue",
}
_SIZES_WIDTH = len("1023.9 MiB/1023.9 MiB")
_MAX_BAR = 40


def bar(fraction: float, width: int) -> str:
    """ctr's bar: ``|+++++     |`` with ``width`` cells inside."""
    filled = round(fraction * width)
    return "|" + "+" * filled + " " * (width - filled) + "|"


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
        logs.divert(None)
        self._live.stop()  # draws the last frame and leaves it on screen

    def render(self) -> RenderableType:
        width = self.console.width
        key_width = min(KEY_WIDTH, max(20, width - STATUS_WIDTH - _SIZES_WIDTH - 12 - 8))
        bar_width = max(0, min(_MAX_BAR, width - key_width - STATUS_WIDTH - _SIZES_WIDTH - 10))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=key_width)
        grid.add_column(no_wrap=True, width=STATUS_WIDTH)
        if bar_width:
            grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, justify="right")
        for job in self.board.jobs():
            grid.add_row(*self._row(job, bar_width))
        return Group(grid, Text(self.board.summary()))

    @staticmethod
    def _row(job: Job, bar_width: int) -> list[RenderableType]:
        style = _STYLE[job.status]
        cells: list[RenderableType] = [Text(f"{job.key}:"), Text(job.status.value, style=style)]
        if bar_width:
            cells.append(Text(bar(job.fraction(), bar_width - 2), style=style))
        sizes = job.sizes()
        if job.status in (Status.DONE, Status.EXISTS) and job.total is not None:
            sizes = f"{sizes}/{sizes}"
        cells.append(Text(sizes))
        return cells
