"""`/oncall heartbeats`: each heartbeat's last beat."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Runtime
from bot.services import heartbeats as service
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.render_heartbeats import heartbeats_list


@command("heartbeats", usage="/oncall heartbeats",
                summary="each heartbeat (dead man's switch) and its last beat", group="Alerts")
def list_heartbeats(ctx: CommandContext) -> Reply:
    if ctx.args:
        raise UserError("`/oncall heartbeats` takes no arguments.")
    text, blocks = heartbeats_list(service.states(ctx.runtime), ctx.now)
    return Reply(text, blocks=blocks)


def register(app: App, runtime: Runtime) -> None:
    """The command only: heartbeats have no buttons."""
