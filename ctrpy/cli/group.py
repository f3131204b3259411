"""A click group whose commands also answer to aliases, like ctr's."""

from __future__ import annotations

from collections.abc import Mapping

import click


class AliasedGroup(click.Group):
    """``images``/``i`` for ``image``, ``ls`` for ``list``; help lists each command once."""

    aliases: Mapping[str, str] = {"images": "image", "i": "image", "ls": "list"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        _, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else None), cmd, rest
