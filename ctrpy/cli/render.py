"""Plain-text formatting shared by the commands: sizes, durations, aligned tables."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: float) -> str:
    """Binary units: whole bytes below 1 KiB (``533 B``), else one decimal (``2.5 KiB``)."""
    value = float(n)
    if abs(round(value)) < 1024:
        return f"{round(value)} B"
    for unit in _UNITS[1:-1]:
        value /= 1024
        if abs(round(value, 1)) < 1024:  # 1023.96 KiB is 1.0 MiB, not "1024.0 KiB"
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} {_UNITS[-1]}"


def human_rate(nbytes: int, seconds: float) -> str:
    """``533 B/s``; a zero-length interval counts as no time at all."""
    return f"{human_size(nbytes / seconds if seconds > 0 else 0)}/s"


def human_duration(seconds: float) -> str:
    """``4.8 s``, ``2 min 5 s``, ``1 h 2 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def summary_line(elapsed: float, fetched: int, stored: int = 0) -> str:
    """The closing line of a pull, ctr's shape, and true about what was downloaded.

    ``fetched`` bytes came over the network in this run; ``stored`` bytes of the image were
    already in the store (whole objects, or the resumed part of a partial download)::

        elapsed: 4.8 s   total: 2.5 KiB (533 B/s)
        elapsed: 0.6 s   total: 1.2 KiB fetched (2.0 KiB/s), 1.4 KiB already stored
        elapsed: 0.1 s   total: 0 B fetched, 2.6 KiB already stored
    """
    head = f"elapsed: {human_duration(elapsed)}   total: {human_size(fetched)}"
    if not stored:
        return f"{head} ({human_rate(fetched, elapsed)})"
    if not fetched:
        return f"{head} fetched, {human_size(stored)} already stored"
    return f"{head} fetched ({human_rate(fetched, elapsed)}), {human_size(stored)} already stored"


#: a cell of :func:`columns`: one line, or several (a folded list)
Cell = str | Sequence[str]
#: ``style(row, column, padded text) -> text``: colour for a terminal, applied after padding
Style = Callable[[int, int, str], str]


def columns(
    rows: Sequence[Sequence[Cell]],
    *,
    gap: int = 3,
    right: Container[int] = (),
    style: Style | None = None,
) -> list[str]:
    """Rows of cells aligned in columns with spaces (like Go's tabwriter): ``right`` columns
    right-aligned, the last column not padded, no trailing spaces.  A cell given as several
    lines makes its row that many lines high."""
    grid = [
        [[cell] if isinstance(cell, str) else list(cell) or [""] for cell in row] for row in rows
    ]
    widths: list[int] = []
    for row in grid:
        for i, cell in enumerate(row):
            width = max(len(line) for line in cell)
            if i == len(widths):
                widths.append(width)
            widths[i] = max(widths[i], width)
    lines = []
    for r, row in enumerate(grid):
        for n in range(max(len(cell) for cell in row)):
            parts = []
            for i, cell in enumerate(row):
                text = cell[n] if n < len(cell) else ""
                last = i == len(row) - 1
                if i in right:
                    text = text.rjust(widths[i])
                elif not last:
                    text = text.ljust(widths[i])
                parts.append(style(r, i, text) if style and text.strip() else text)
            lines.append((" " * gap).join(parts).rstrip())
    return lines


def table(header: Sequence[str], rows: Sequence[Sequence[str]], gap: int = 3) -> list[str]:
    """Columns aligned with spaces (like Go's tabwriter); the last column is not padded."""
    return columns([header, *rows], gap=gap)


def wrap_items(items: Sequence[str], width: int, sep: str = ", ") -> list[str]:
    """``items`` joined by ``sep``, broken into lines of at most ``width`` after a separator
    (never inside an item: an item longer than ``width`` has a line of its own)."""
    lines: list[str] = []
    line = ""
    for i, item in enumerate(items):
        piece = item + (sep.rstrip() if i < len(items) - 1 else "")
        if line and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = ""
        line = f"{line} {piece}" if line else piece
    return [*lines, line] if line or not lines else lines


def short_digest(digest: object, hex_digits: int = 12) -> str:
    """``sha256:38be3e2c5f61``: the algorithm and the first hex digits, like docker's IDs."""
    algorithm, _, hexpart = str(digest).partition(":")
    return f"{algorithm}:{hexpart[:hex_digits]}"
