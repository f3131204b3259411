"""The ``image`` group (aliases ``images``, ``i``) and its commands."""

from __future__ import annotations

import click

from ctrpy.cli.cmd_pull import pull
from ctrpy.cli.cmd_query import digest, inspect, list_
from ctrpy.cli.cmd_store import prune, rm
from ctrpy.cli.group import AliasedGroup


@click.group(cls=AliasedGroup)
def image() -> None:
    """Pull, list, inspect and resolve images (aliases: images, i).

    \b
    Examples:
      ctrpy image pull hello-world:linux
      ctrpy i ls
    """


for command in (pull, list_, inspect, digest, rm, prune):
    image.add_command(command)
