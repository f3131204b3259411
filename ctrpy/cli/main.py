"""``ctrpy`` entry point: global options, the ``image`` group, error rendering."""

from __future__ import annotations

import sys
from typing import Any

import click

from ctrpy import __version__
from ctrpy.errors import CtrpyError, NotImplementedYet


class AliasedGroup(click.Group):
    """A group whose commands also answer to aliases (``images``/``i``, ``ls``)."""

    aliases: dict[str, str] = {"images": "image", "i": "image", "ls": "list"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        _, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else None), cmd, rest


@click.group(cls=AliasedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ctrpy")
@click.option("--root", envvar="CTRPY_ROOT", type=click.Path(file_okay=False),
              help="Store directory (an OCI image layout). Env: CTRPY_ROOT.")
@click.option("--hosts-dir", envvar="CTRPY_HOSTS_DIR", type=click.Path(file_okay=False),
              help="containerd-style hosts directory for mirrors. Env: CTRPY_HOSTS_DIR.")
@click.option("--debug", is_flag=True, envvar="CTRPY_DEBUG",
              help="Trace every request and show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, root: str | None, hosts_dir: str | None, debug: bool) -> None:
    """Pull container images like `ctr image pull`, without re-fetching what you have."""
    ctx.obj = {"root": root, "hosts_dir": hosts_dir, "debug": debug}


@cli.group(cls=AliasedGroup)
def image() -> None:
    """Pull, list, inspect and resolve images (aliases: images, i)."""


def _not_built(what: str) -> None:
    raise NotImplementedYet(f"{what}: not implemented yet", hint="see the issue tracker")


@image.command()
@click.argument("refs", nargs=-1, required=True)
def pull(refs: tuple[str, ...]) -> None:
    """Pull images into the local store."""
    _not_built("image pull")


@image.command("list")
def list_() -> None:
    """List images in the local store (alias: ls)."""
    _not_built("image list")


@image.command()
@click.argument("ref")
def inspect(ref: str) -> None:
    """Show what the store holds for an image."""
    _not_built("image inspect")


@image.command()
@click.argument("ref")
def digest(ref: str) -> None:
    """Print the current remote digest of a tag (HEAD only)."""
    _not_built("image digest")


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; turn ctrpy errors into `error:`/`hint:` lines and exit codes."""
    try:
        return cli.main(args=argv, prog_name="ctrpy", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CtrpyError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
