"""``ctrpy image ls``: the image table, for a pipe and for a terminal of any width, and JSON.

In a pipe: one line per image, every value whole (full digests), columns aligned with
spaces, no escape codes.  On a terminal the table fits the width, in this order of giving way:
full digests if everything fits; else 12-hex digests with PLATFORMS and LABELS folded between
their entries; else (narrow) REF TYPE DIGEST SIZE with the platforms and labels on an indented
line under each image, and REF on a line of its own if it is that long.  REF is never cut;
sizes always carry their unit.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from typing import Any

import click

from ctrpy.cli.render import columns, human_size, short_digest, table, wrap_items
from ctrpy.query import ImageSummary

HEADER = ("REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS")
GAP = 3
_SIZE = HEADER.index("SIZE")


def summary_json(row: ImageSummary) -> dict[str, Any]:
    return {
        "name": row.name,
        "type": row.kind,
        "mediaType": row.target.media_type,
        "digest": str(row.target.digest),
        "size": row.size,
        "platforms": [str(p) for p in row.platforms],
        "labels": dict(row.labels),
    }


def _platforms(row: ImageSummary) -> list[str]:
    return [str(p) for p in row.platforms] or ["-"]


def _labels(row: ImageSummary) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(row.labels.items())] or ["-"]


def _fixed(row: ImageSummary, *, short: bool) -> tuple[str, str, str, str]:
    digest = short_digest(row.target.digest) if short else str(row.target.digest)
    return (row.name, row.kind, digest, human_size(row.size))


def image_row(row: ImageSummary) -> tuple[str, ...]:
    """The plain row: every value whole, lists joined by commas."""
    return (*_fixed(row, short=False), ",".join(_platforms(row)), ",".join(_labels(row)))


def image_lines(rows: Sequence[ImageSummary], *, width: int | None, color: bool) -> list[str]:
    """The table as lines: plain for a pipe (``width`` None), else fitted to ``width``."""
    if width is None:
        return table(HEADER, [image_row(row) for row in rows], gap=GAP)
    style = _header_style if color else None
    whole = [HEADER, *map(image_row, rows)]
    if max(map(len, columns(whole, gap=GAP))) <= width:
        return columns(whole, gap=GAP, right={_SIZE}, style=style)
    fixed = [_fixed(row, short=True) for row in rows]
    used = sum(max(len(c) for c in col) for col in zip(HEADER[:4], *fixed, strict=True))
    room = width - used - GAP * 5  # for PLATFORMS and LABELS
    plat_min = max([len(HEADER[4])] + [len(p) + 1 for row in rows for p in _platforms(row)])
    label_min = max([len(HEADER[5])] + [len(x) + 1 for row in rows for x in _labels(row)])
    if room >= plat_min + label_min:
        plat_need = max([len(HEADER[4])] + [len(", ".join(_platforms(row))) for row in rows])
        plat_width = min(plat_need, room - label_min)
        label_width = room - plat_width
        cells = [
            (*f, wrap_items(_platforms(row), plat_width), wrap_items(_labels(row), label_width))
            for f, row in zip(fixed, rows, strict=True)
        ]
        return columns([HEADER, *cells], gap=GAP, right={_SIZE}, style=style)
    return _narrow(rows, fixed, width=width, color=color)


def _narrow(
    rows: Sequence[ImageSummary],
    fixed: Sequence[tuple[str, ...]],
    *,
    width: int,
    color: bool,
) -> list[str]:
    """REF TYPE DIGEST SIZE, and under each image its platforms (and labels, if any); when
    even that is too wide, REF on a line of its own above the other three."""
    bold = _bold if color else _same
    dim = _dim if color else _same
    for gap in (GAP, 2):
        head = columns([HEADER[:4], *fixed], gap=gap, right={_SIZE})
        if max(map(len, head)) <= width:
            firsts: list[list[str]] = [[line] for line in head[1:]]
            lines = [bold(head[0])]
            break
    else:  # a reference too long to share its line
        cells = [HEADER[1:4], *(f[1:] for f in fixed)]
        head = ["  " + line for line in columns(cells, gap=2, right={_SIZE - 1})]
        firsts = [[f[0], line] for f, line in zip(fixed, head[1:], strict=True)]
        lines = [bold(HEADER[0]), bold(head[0])]
    for first, row in zip(firsts, rows, strict=True):
        lines += first
        details = [("platforms: ", _platforms(row))]
        if row.labels:
            details.append(("labels: ", _labels(row)))
        for name, items in details:
            indent = "  " + " " * len(name)
            wrapped = wrap_items(items, max(20, width - len(indent)))
            for i, text in enumerate(wrapped):
                lines.append(dim(f"  {name}{text}" if i == 0 else indent + text))
    return lines


def _bold(text: str) -> str:
    return click.style(text, bold=True)


def _dim(text: str) -> str:
    return click.style(text, dim=True)


def _same(text: str) -> str:
    return text


def _header_style(row: int, column: int, text: str) -> str:
    return click.style(text, bold=True) if row == 0 else text


def image_table(rows: Sequence[ImageSummary], *, color: bool) -> None:
    """Print the table: fitted to the terminal, or plain in a pipe."""
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    for line in image_lines(rows, width=width, color=color):
        click.echo(line)
