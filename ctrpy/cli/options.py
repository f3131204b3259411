"""Options shared by the commands that talk to a registry (pull, digest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def registry_options(func: F) -> F:
    """--plain-http, --skip-verify, --user, --mirror."""
    decorators = [
        click.option(
            "--plain-http",
            is_flag=True,
            help="Talk HTTP, not HTTPS, to the registry (loopback registries use HTTP anyway).",
        ),
        click.option(
            "--skip-verify",
            "-k",
            is_flag=True,
            help="Do not verify the registry's TLS certificate (insecure).",
        ),
        click.option(
            "--user",
            "-u",
            metavar="USER[:PASSWORD]",
            help="Credentials for the registry; the password is asked for (hidden) when "
            "left out. Default: Docker's config.json, then anonymous.",
        ),
        click.option(
            "--mirror",
            "mirrors",
            metavar="URL",
            multiple=True,
            help="Try this mirror (e.g. a pull-through cache, http://127.0.0.1:5000) before "
            "the hosts.toml hosts and the registry itself; repeatable.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def platform_option(*, multiple: bool) -> Callable[[F], F]:
    """--platform P: one (inspect, digest) or repeatable (pull)."""
    more = " Repeatable." if multiple else ""
    return click.option(
        "--platform",
        "platform_specs",
        metavar="PLATFORM",
        multiple=multiple,
        help="Platform from a multi-platform image, as os/arch[/variant] (linux/arm64/v8, "
        f"windows/amd64). Default: this machine's.{more}",
    )


def format_option(text: str, help: str) -> Callable[[F], F]:
    """--format TEXT|json (TEXT is the human format's name: table, names, ...)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice([text, "json"]),
        default=text,
        show_default=True,
        help=help,
    )
