"""``ctrpy image rm`` and ``ctrpy image prune``: the store's maintenance, from the shell."""

from __future__ import annotations

import click

from ctrpy.cli.completion import complete_image_names
from ctrpy.cli.context import app
from ctrpy.cli.options import format_option
from ctrpy.errors import NotFound


@click.command(
    short_help="Remove image names (their content stays until prune).",
    epilog="""\b
Examples:
  ctrpy image rm hello-world:linux
  ctrpy image rm $(ctrpy image ls -q 'example.com/*')
  ctrpy image rm hello-world:linux && ctrpy image prune""",
)
@click.argument(
    "refs", nargs=-1, required=True, metavar="REF...", shell_complete=complete_image_names
)
@format_option("names", "Each name removed, one a line, or a JSON object: removed, notFound.")
@click.pass_context
def rm(ctx: click.Context, refs: tuple[str, ...], fmt: str) -> None:
    """Remove image names from the store (their content stays until `prune`).

    Prints each name removed. A name that is not stored is reported and the others are still
    removed; the exit code is then 3.
    """
    from ctrpy.cli import errors, jsonout
    from ctrpy.query import lookup

    store = app(ctx).store()
    missing: NotFound | None = None
    removed: list[str] = []
    not_found: list[str] = []
    for text in refs:
        try:
            name = lookup(store, text).name
        except NotFound as exc:
            errors.show(exc)
            missing = missing or exc
            not_found.append(text)
            continue
        if store.images.remove(name):
            removed.append(name)
            if fmt != "json":
                click.echo(name)
    if fmt == "json":
        jsonout.echo(jsonout.removed_names(removed, not_found))
    if missing is not None:
        ctx.exit(missing.exit_code)


@click.command(
    short_help="Delete unused blobs and stale partial downloads.",
    epilog="""\b
Examples:
  ctrpy image prune --dry-run
  ctrpy image prune
  ctrpy image prune --format json | jq .bytesFreed""",
)
@click.option("--dry-run", "-n", is_flag=True, help="Only list what would be removed.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the total.")
@format_option(
    "table",
    "A table and the total, or a JSON object: dryRun, removed (path, reason, size, digest), "
    "bytesFreed.",
)
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, quiet: bool, fmt: str) -> None:
    """Delete blobs no image name uses, and partial downloads older than a day.

    Lists each file removed (path relative to the store, why, size), then the bytes freed.
    """
    from ctrpy.cli import jsonout
    from ctrpy.cli.render import human_size, table

    result = app(ctx).store().gc(dry_run=dry_run)
    if fmt == "json":
        jsonout.echo(jsonout.prune(result))
        return
    if not quiet:
        rows = [(r.path, r.reason, human_size(r.size)) for r in result.removed]
        if rows:
            for line in table(("PATH", "REASON", "SIZE"), rows):
                click.echo(line)
    verb = "would free" if dry_run else "freed"
    count = len(result.removed)
    click.echo(f"{verb} {human_size(result.bytes_freed)} ({count} file{'s' * (count != 1)})")
