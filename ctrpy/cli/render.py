"""Plain-text formatting shared by the commands: sizes, durations, aligned tables."""

from __future__ import annotations

from collections.abc import Sequence

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: float) -> str:
    """Binary units with one decimal: ``533.0 B``, ``2.5 KiB``, ``1.2 GiB``."""
    value = float(n)
    for unit in _UNITS[:-1]:
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def human_rate(nbytes: int, seconds: float) -> str:
    """``533.0 B/s``; a zero-length interval counts as no time at all."""
    return f"{human_size(nbytes / seconds if seconds > 0 else 0)}/s"


def human_duration(seconds: float) -> str:
    """``4.8 s``, ``2 min 5 s``, ``1 h 2 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def summary_line(elapsed: float, nbytes: int) -> str:
    """The closing line of a pull, ctr style: ``elapsed: 4.8 s   total: 2.5 KiB (533.0 B/s)``."""
    return (
        f"elapsed: {human_duration(elapsed)}   "
        f"total: {human_size(nbytes)} ({human_rate(nbytes, elapsed)})"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], gap: int = 3) -> list[str]:
    """Columns aligned with spaces (like Go's tabwriter); the last column is not padded."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append((" " * gap).join([*cells, row[-1]]).rstrip())
    return lines
