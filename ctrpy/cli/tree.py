"""``ctrpy image inspect``: the tree index -> manifests -> config and layers, in columns.

Each object is one line: the branch, its kind and platform, digest, size, ``missing`` when the
store lacks it, and its media type last.  In a pipe every value is whole.  On a terminal the
lines fit the width, giving way in this order: full digests and media types; 12-hex digests;
media types without their ``application/vnd.`` prefix; no media type (``--format json`` has
everything).
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from ctrpy.cli.render import Cell, columns, human_size, short_digest
from ctrpy.query import ImageTree, Node

GAP = 2
_SIZE = 2
#: the (short digest, short media type) steps tried on a terminal, widest first
_STEPS = ((False, False), (True, False), (True, True))


def _branches(node: Node, prefix: str, *, last: bool) -> Iterator[tuple[str, Node]]:
    yield f"{prefix}{'└── ' if last else '├── '}", node
    inner = prefix + ("    " if last else "│   ")
    for i, child in enumerate(node.children):
        yield from _branches(child, inner, last=i == len(node.children) - 1)


def _label(branch: str, node: Node) -> str:
    desc = node.descriptor
    kind = "layer" if desc.kind == "unknown" else desc.kind
    if desc.is_attestation:
        return f"{branch}{kind}  (attestation)"
    if desc.platform is not None:
        return f"{branch}{kind}  {desc.platform.describe()}"
    return f"{branch}{kind}"


def short_media_type(media_type: str) -> str:
    """``oci.image.manifest.v1+json`` for ``application/vnd.oci.image.manifest.v1+json``."""
    return media_type.removeprefix("application/").removeprefix("vnd.")


def _rows(result: ImageTree, *, short: bool, short_type: bool) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for branch, node in _branches(result.root, "", last=True):
        desc = node.descriptor
        rows.append(
            [
                _label(branch, node),
                short_digest(desc.digest) if short else str(desc.digest),
                human_size(desc.size),
                "" if node.present else "missing",
                short_media_type(desc.media_type) if short_type else desc.media_type,
            ]
        )
    if not any(row[3] for row in rows):  # nothing missing: no empty column
        rows = [[*row[:3], row[4]] for row in rows]
    return rows


def tree_lines(result: ImageTree, *, width: int | None = None, color: bool = False) -> list[str]:
    """The name, then one aligned line per object; fitted to ``width`` when given."""
    style = _style if color else None
    name = click.style(result.name, bold=True) if color else result.name
    if width is None:
        return [name, *columns(_rows(result, short=False, short_type=False), gap=GAP)]
    for short, short_type in _STEPS:
        rows = _rows(result, short=short, short_type=short_type)
        if max(map(len, columns(rows, gap=GAP, right={_SIZE}))) <= width:
            return [name, *columns(rows, gap=GAP, right={_SIZE}, style=style)]
    rows = [row[:-1] for row in _rows(result, short=True, short_type=True)]
    return [name, *columns(rows, gap=GAP, right={_SIZE}, style=style)]


def _style(row: int, column: int, text: str) -> str:
    if text.strip() == "missing":
        return click.style(text, fg="yellow")
    if column >= 3 and text.strip() != "missing":  # the media type, last
        return click.style(text, dim=True)
    return text
