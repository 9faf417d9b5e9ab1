"""`/oncall help`: the usage of every subcommand that exists."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Runtime
from bot.slack.commands import CommandContext, Reply, command


@command("help", usage="/oncall help", summary="this help", aliases=("?", "-h", "--help"))
def show_help(ctx: CommandContext) -> Reply:
    assert ctx.router is not None
    return Reply(ctx.router.usage())


def register(app: App, runtime: Runtime) -> None:
    """Nothing to wire beyond the subcommand."""
