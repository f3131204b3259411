"""``ctrpy image rm`` and ``ctrpy image prune``: the store's maintenance, from the shell."""

from __future__ import annotations

import click

from ctrpy.cli.completion import complete_image_names
from ctrpy.cli.context import app
from ctrpy.errors import NotFound


@click.command(
    epilog="""\b
Examples:
  ctrpy image rm hello-world:linux
  ctrpy image rm $(ctrpy image ls -q 'example.com/*')
  ctrpy image rm hello-world:linux && ctrpy image prune""",
)
@click.argument(
    "refs", nargs=-1, required=True, metavar="REF...", shell_complete=complete_image_names
)
@click.pass_context
def rm(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Remove image names from the store (their content stays until `prune`).

    Prints each name removed. A name that is not stored is reported and the others are still
    removed; the exit code is then 3.
    """
    from ctrpy.cli import errors
    from ctrpy.query import lookup

    store = app(ctx).store()
    missing: NotFound | None = None
    for text in refs:
        try:
            name = lookup(store, text).name
        except NotFound as exc:
            errors.show(exc)
            missing = missing or exc
            continue
        if store.images.remove(name):
            click.echo(name)
    if missing is not None:
        ctx.exit(missing.exit_code)


@click.command(
    epilog="""\b
Examples:
  ctrpy image prune --dry-run
  ctrpy image prune""",
)
@click.option("--dry-run", "-n", is_flag=True, help="Only list what would be removed.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the total.")
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, quiet: bool) -> None:
    """Delete blobs no image name uses, and partial downloads older than a day.

    Lists each file removed (path relative to the store, why, size), then the bytes freed.
    """
    from ctrpy.cli.render import human_size, table

    result = app(ctx).store().gc(dry_run=dry_run)
    if not quiet:
        rows = [(r.path, r.reason, human_size(r.size)) for r in result.removed]
        if rows:
            for line in table(("PATH", "REASON", "SIZE"), rows):
                click.echo(line)
    verb = "would free" if dry_run else "freed"
    count = len(result.removed)
    click.echo(f"{verb} {human_size(result.bytes_freed)} ({count} file{'s' * (count != 1)})")
