"""What every command needs from the global options: the store root, hosts dir, debug, colour."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ctrpy.registry.client import ClientOptions
    from ctrpy.store import Store


@dataclass(frozen=True, slots=True)
class AppContext:
    """The global options, resolved (``--root`` falls back to the user data dir)."""

    root: Path
    #: ``--hosts-dir`` / ``CTRPY_HOSTS_DIR`` when given; None -> the default lookup
    hosts_dir: Path | None
    debug: bool = False
    color: bool = True

    def store(self) -> Store:
        from ctrpy.store import Store

        return Store(self.root)

    def effective_hosts_dir(self) -> Path | None:
        """The hosts directory to read: the explicit one, else the default lookup."""
        if self.hosts_dir is not None:
            return self.hosts_dir
        import platformdirs

        from ctrpy.registry.hosts import default_hosts_dir

        return default_hosts_dir(Path(platformdirs.user_config_dir("ctrpy")))

    def client_options(
        self,
        *,
        plain_http: bool = False,
        skip_verify: bool = False,
        user: str | None = None,
        mirrors: tuple[str, ...] = (),
    ) -> ClientOptions:
        """Registry client options; ``user`` is ``NAME[:PASSWORD]`` (prompted when missing)."""
        from ctrpy.registry.client import ClientOptions

        name, password = split_user(user)
        return ClientOptions(
            plain_http=plain_http,
            skip_verify=skip_verify,
            user=name,
            password=password,
            hosts_dir=self.effective_hosts_dir(),
            mirrors=mirrors,
        )


def split_user(user: str | None) -> tuple[str | None, str | None]:
    """``name:secret`` -> (name, secret); ``name`` alone asks for the password, hidden."""
    if user is None:
        return None, None
    name, sep, password = user.partition(":")
    if not name:
        raise click.BadParameter("expected USER or USER:PASSWORD", param_hint="'--user'")
    if not sep:
        password = click.prompt(f"Password for {name}", hide_input=True, err=True)
    return name, password


def color_enabled(no_color: bool) -> bool:
    """Colour unless ``--no-color`` or a non-empty ``NO_COLOR`` (https://no-color.org)."""
    return not no_color and not os.environ.get("NO_COLOR")


def default_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("ctrpy"))


def app(ctx: click.Context) -> AppContext:
    """The AppContext the root group stored on the click context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # pragma: no cover - only if wired wrong
        raise RuntimeError("ctrpy: the root command did not set up its context")
    return obj
