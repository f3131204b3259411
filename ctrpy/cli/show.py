"""Rendering of query results: the image table, the inspect tree, JSON rows."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from ctrpy.cli.render import human_size, table
from ctrpy.query import ImageSummary, ImageTree, Node, is_attestation

HEADER = ("REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS")


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


def image_row(row: ImageSummary) -> tuple[str, ...]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(row.labels.items())) or "-"
    return (
        row.name,
        row.kind,
        str(row.target.digest),
        human_size(row.size),
        ",".join(str(p) for p in row.platforms) or "-",
        labels,
    )


def image_table(rows: Sequence[ImageSummary], *, color: bool) -> None:
    """Aligned columns: rich on a terminal, plain text (tabwriter style) in a pipe."""
    cells = [image_row(row) for row in rows]
    if sys.stdout.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for name in HEADER:
            folds = name in ("PLATFORMS", "LABELS")  # names and digests stay whole
            grid.add_column(
                name,
                no_wrap=not folds,
                overflow="fold",
                justify="right" if name == "SIZE" else "left",
            )
        for row_cells in cells:
            # a space after each comma lets long platform lists wrap between entries
            grid.add_row(*row_cells[:4], *(c.replace(",", ", ") for c in row_cells[4:]))
        Console(no_color=not color, highlight=False).print(grid)
        return
    for line in table(HEADER, cells):
        click.echo(line)


def tree_lines(result: ImageTree) -> Iterator[str]:
    """``name`` then the objects, indented with box-drawing branches."""
    yield result.name
    yield from _branch(result.root, "", last=True)


def _label(node: Node) -> str:
    desc = node.descriptor
    kind = "layer" if desc.kind == "unknown" else desc.kind
    parts: list[str] = [kind]
    if desc.platform is not None:
        parts.append(desc.platform.describe())
    if is_attestation(desc):
        parts.append("(attestation)")
    parts += [str(desc.digest), human_size(desc.size), desc.media_type]
    if not node.present:
        parts.append("(missing)")
    return "  ".join(parts)


def _branch(node: Node, prefix: str, *, last: bool) -> Iterator[str]:
    yield f"{prefix}{'└── ' if last else '├── '}{_label(node)}"
    inner = prefix + ("    " if last else "│   ")
    for i, child in enumerate(node.children):
        yield from _branch(child, inner, last=i == len(node.children) - 1)
