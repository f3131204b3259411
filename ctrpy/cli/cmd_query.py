"""``ctrpy image list``, ``inspect`` and ``digest``."""

from __future__ import annotations

import json
import shutil
import sys
from typing import TYPE_CHECKING

import click

from ctrpy.cli.completion import complete_image_names
from ctrpy.cli.context import app
from ctrpy.cli.options import format_option, platform_option, registry_options

if TYPE_CHECKING:
    from ctrpy.oci.descriptor import Platform


def _platform(spec: str | None) -> Platform | None:
    if spec is None:
        return None
    from ctrpy.oci import platforms

    return platforms.parse(spec)


@click.command(
    "list",
    epilog="""\b
Examples:
  ctrpy image ls
  ctrpy image ls 'hello-world*'
  ctrpy image ls -q 'docker.io/library/*'
  ctrpy image ls --format json""",
)
@click.argument("patterns", nargs=-1, metavar="[FILTER]...")
@click.option("--quiet", "-q", is_flag=True, help="Print only the image names, one a line.")
@format_option("table", "A table (REF, TYPE, DIGEST, SIZE, PLATFORMS, LABELS) or a JSON array.")
@click.pass_context
def list_(ctx: click.Context, patterns: tuple[str, ...], quiet: bool, fmt: str) -> None:
    """List the images in the local store (alias: ls).

    FILTER is a shell-style glob matched against the full name
    (docker.io/library/hello-world:linux) and the short one (hello-world:linux). SIZE is what
    the store holds for the image, in binary units.

    On a terminal the table fits its width: digests are cut to 12 hex digits (sha256:38be3e2c5f61)
    unless it is wide enough for whole ones, and platforms and labels fold (or go on a line
    under each image). In a pipe: one line per image, every value whole, columns aligned with
    spaces.
    """
    from ctrpy.cli import show
    from ctrpy.query import list_images

    rows = list_images(app(ctx).store(), patterns)
    if quiet:
        for row in rows:
            click.echo(row.name)
    elif fmt == "json":
        click.echo(json.dumps([show.summary_json(row) for row in rows], indent=2))
    else:
        show.image_table(rows, color=app(ctx).color)


@click.command(
    epilog="""\b
Examples:
  ctrpy image inspect hello-world:linux
  ctrpy image inspect --platform linux/arm64/v8 alpine:3.20
  ctrpy image inspect --format json hello-world:linux | jq .document""",
)
@click.argument("ref", shell_complete=complete_image_names)
@platform_option(multiple=False)
@format_option(
    "tree",
    "A tree of digests, sizes and media types, or the stored documents as JSON "
    "(whole digests, the full tree).",
)
@click.pass_context
def inspect(ctx: click.Context, ref: str, platform_specs: str | None, fmt: str) -> None:
    """Show what the local store holds for an image (no network).

    The tree goes index -> manifests (with their platform; `missing` when not pulled) ->
    config and layers, one line each: digest, size, media type. REF may be the short name
    (hello-world:linux). Not stored: exit 3.

    On a terminal the lines fit its width: digests are cut to 12 hex digits and media types
    are shortened, or left out on a narrow one. In a pipe every digest and media type is
    whole; --format json has all of it, with the stored documents.
    """
    from ctrpy.cli.tree import tree_lines
    from ctrpy.query import lookup, tree

    store = app(ctx).store()
    result = tree(store, lookup(store, ref), _platform(platform_specs))
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    for line in tree_lines(result, width=width, color=app(ctx).color):
        click.echo(line)


@click.command(
    short_help="Print a tag's remote digest, by HEAD only (not a counted pull).",
    epilog="""\b
Examples:
  ctrpy image digest hello-world:linux
  ctrpy image pull "hello-world@$(ctrpy image digest hello-world:linux)"
  ctrpy image digest --platform linux/arm64/v8 alpine:3.20
  ctrpy image digest --check hello-world:linux || ctrpy image pull hello-world:linux
  ctrpy image digest --format json hello-world:linux | jq -r .digest""",
)
@click.argument("ref", shell_complete=complete_image_names)
@platform_option(multiple=False)
@click.option(
    "--check",
    is_flag=True,
    help="Compare with the stored image: print `up to date` (exit 0) or "
    "`stale (stored ..., remote ...)` (exit 1).",
)
@format_option(
    "text",
    "The digest alone, or a JSON object: reference, digest, mediaType, size (platform, "
    "index, fetchedIndex with --platform), rateLimit; with --check: reference, upToDate, "
    "stored, remote, rateLimit.",
)
@registry_options
@click.pass_context
def digest(
    ctx: click.Context,
    ref: str,
    platform_specs: str | None,
    check: bool,
    fmt: str,
    plain_http: bool,
    skip_verify: bool,
    user: str | None,
    mirrors: tuple[str, ...],
) -> None:
    """Print the current remote digest of a tag, by HEAD only (not a counted pull).

    Only the digest goes to stdout, so $(ctrpy image digest REF) works; the registry's rate
    limit, when it sends one, goes to stderr. With --platform the index is needed: the stored
    copy when its digest matches, otherwise it is fetched (which counts as a pull, and is
    said on stderr).
    """
    from ctrpy import query
    from ctrpy.cli import jsonout
    from ctrpy.oci import reference
    from ctrpy.registry.client import Client

    parsed = reference.parse(ref)
    platform = _platform(platform_specs)
    if check and platform is not None:
        raise click.UsageError(
            "--check compares the tag's top digest with the stored one; --platform does not "
            "apply to it",
            ctx,
        )
    state = app(ctx)
    options = state.client_options(
        plain_http=plain_http, skip_verify=skip_verify, user=user, mirrors=mirrors
    )
    store = state.store()
    with Client(options) as client:
        if check:
            result = query.check(client, store, parsed)
            _rate_limit(result.rate_limit)
            if fmt == "json":
                jsonout.echo(jsonout.check(result))
            else:
                click.echo(result.describe())
            ctx.exit(0 if result.up_to_date else 1)
        found = query.remote_digest(client, store, parsed, platform)
    _rate_limit(found.rate_limit)
    if found.fetched_index:
        click.echo(
            f"note: fetched the index {found.target.digest} to find the {platform} manifest; "
            "this counts as a pull against registry rate limits (it is stored now, so the "
            "next time is free while the tag does not change)",
            err=True,
        )
    if fmt == "json":
        jsonout.echo(jsonout.digest(found, platform))
    else:
        click.echo(str(found.digest))
    sys.stdout.flush()


def _rate_limit(rate_limit: object) -> None:
    describe = getattr(rate_limit, "describe", None)
    if describe is not None:
        click.echo(f"ratelimit: {describe()}", err=True)
