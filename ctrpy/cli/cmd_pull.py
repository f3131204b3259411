"""``ctrpy image pull``."""

from __future__ import annotations

import click

from ctrpy.cli import errors
from ctrpy.cli.context import app
from ctrpy.cli.options import platform_option, registry_options
from ctrpy.errors import CtrpyError


@click.command(
    epilog="""\b
Examples:
  ctrpy image pull hello-world:linux
  ctrpy image pull --platform linux/arm64/v8 --platform linux/amd64 alpine:3.20
  ctrpy image pull --mirror http://cache.internal:5000 nginx:1.27
  ctrpy image pull docker.io/library/busybox@sha256:<digest>""",
)
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@platform_option(multiple=True)
@click.option(
    "--all-platforms",
    is_flag=True,
    help="Pull every manifest of a multi-platform image (attestations included).",
)
@registry_options
@click.option(
    "--max-concurrent-downloads",
    type=click.IntRange(min=1, max=64),
    default=3,
    show_default=True,
    metavar="N",
    help="Config and layer downloads running at once.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def pull(
    ctx: click.Context,
    refs: tuple[str, ...],
    platform_specs: tuple[str, ...],
    all_platforms: bool,
    plain_http: bool,
    skip_verify: bool,
    user: str | None,
    mirrors: tuple[str, ...],
    max_concurrent_downloads: int,
    quiet: bool,
) -> None:
    """Pull images into the local store, fetching only what it lacks.

    REF is an image reference as docker takes it: `hello-world:linux` means
    `docker.io/library/hello-world:linux`; no tag means `latest`; `NAME@sha256:...` pulls by
    digest. A tag already pulled costs one HEAD request; content already stored is never
    downloaded again; an interrupted download resumes where it stopped.

    Progress goes to stderr: live on a terminal, one line per finished object otherwise.
    """
    from ctrpy.oci import platforms, reference
    from ctrpy.pull import PullOptions

    parsed = [reference.parse(text) for text in refs]
    options = PullOptions(
        platforms=tuple(platforms.parse(spec) for spec in platform_specs),
        all_platforms=all_platforms,
        max_concurrent_downloads=max_concurrent_downloads,
    )
    state = app(ctx)
    client_options = state.client_options(
        plain_http=plain_http, skip_verify=skip_verify, user=user, mirrors=mirrors
    )

    from ctrpy.cli.progress import open_view
    from ctrpy.pull import pull as run_pull
    from ctrpy.registry.client import Client

    store = state.store()
    errors.state.downloading = True
    failure: CtrpyError | None = None
    with Client(client_options) as client:
        for ref in parsed:
            view = open_view(quiet=quiet, color=state.color)
            try:
                result = run_pull(ref, client, store, options, view.report)
            except CtrpyError as exc:
                view.close(False)
                if len(parsed) == 1:
                    raise
                errors.show(exc)  # say it now, and go on with the other references
                failure = failure or exc
                continue
            except BaseException:  # Ctrl-C included: leave the last frame on screen
                view.close(False)
                raise
            view.close(True)
            if not quiet and result.rate_limit is not None:
                click.echo(f"ratelimit: {result.rate_limit.describe()}", err=True)
    if failure is not None:
        ctx.exit(failure.exit_code)
