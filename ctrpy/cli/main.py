"""``ctrpy`` entry point: global options, error rendering, logging, the ``image`` group.

Commands import the core (registry client, store, pull) inside their functions, so
``ctrpy --help`` or ``ctrpy image ls`` pay only for what they use.
"""

from __future__ import annotations

from pathlib import Path

import click

from ctrpy import __version__
from ctrpy.cli import errors, logs
from ctrpy.cli.context import AppContext, color_enabled, default_root
from ctrpy.cli.group import AliasedGroup
from ctrpy.cli.image import image


class RootGroup(AliasedGroup):
    """The root command: every run goes through :meth:`main`, which renders failures."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: object,
    ) -> None:
        errors.run(
            lambda: super(RootGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )
        )


@click.group(
    cls=RootGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  ctrpy image pull hello-world:linux
  ctrpy image ls
  ctrpy --root ./store image pull --platform linux/arm64/v8 alpine:3.20""",
)
@click.version_option(__version__, "--version", prog_name="ctrpy")
@click.option(
    "--root",
    envvar="CTRPY_ROOT",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store directory, an OCI image layout [env: CTRPY_ROOT; default: the user data dir].",
)
@click.option(
    "--hosts-dir",
    envvar="CTRPY_HOSTS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="containerd-style hosts directory (<registry>/hosts.toml) for mirrors "
    "[env: CTRPY_HOSTS_DIR; default: the user config dir's certs.d, else "
    "/etc/containerd/certs.d].",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="CTRPY_DEBUG",
    help="Log every request (credentials redacted) and show tracebacks [env: CTRPY_DEBUG].",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="Plain output without colours (also when NO_COLOR is set).",
)
@click.pass_context
def cli(
    ctx: click.Context, root: Path | None, hosts_dir: Path | None, debug: bool, no_color: bool
) -> None:
    """Pull container images like `ctr image pull`, without re-fetching what you have.

    Every index, manifest, config and layer is stored by digest: a tag already pulled costs
    one HEAD request (which registries do not count as a pull) and nothing else.
    """
    errors.state.debug = debug
    logs.configure(debug=debug)
    ctx.call_on_close(logs.reset)
    ctx.obj = AppContext(
        root=root if root is not None else default_root(),
        hosts_dir=hosts_dir,
        debug=debug,
        color=color_enabled(no_color),
    )


cli.add_command(image)


def main() -> None:
    """The console script."""
    cli.main(prog_name="ctrpy")
