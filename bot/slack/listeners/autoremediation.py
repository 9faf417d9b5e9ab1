"""`/oncall autoremediation [team] status|off|on`: the team's self-healing rules.

Anyone may see the status; managers of the team switch its rules off (matching
alerts then page at once) and on again (which also closes the rules' circuit
breakers). Each switch is audited.
"""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Runtime
from bot.services import autoremediation as service
from bot.slack.arguments import pick_team
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import shown

USAGE = "/oncall autoremediation [team] status|off|on"
ACTIONS = ("status", "off", "on")


@command("autoremediation", usage=USAGE, group="Remediation", aliases=("selfheal",),
         summary="self-healing rules: status, or switch them off and on (managers)")
def autoremediation(ctx: CommandContext) -> Reply:
    team, words = pick_team(ctx, ctx.args)
    action = words[0].lower() if words else "status"
    if action not in ACTIONS or len(words) > 1:
        raise UserError(f"Expected status, off or on, got {shown(' '.join(words), 40)}.")
    if action == "status":
        lines = service.status_lines(ctx.runtime, team, ctx.now)
        return Reply("\n".join(lines) if lines else
                     f"Team {team.name} has no auto_remediation rules in the config.")
    if not team.is_manager(ctx.user):
        raise UserError(f"Only managers of {team.name} can switch its self-healing {action}.")
    if not service.rules_of(ctx.config, team.name):
        return Reply(f"Team {team.name} has no auto_remediation rules in the config.")
    return Reply(service.switch(ctx.runtime, team, action == "on", ctx.user))


def register(app: App, runtime: Runtime) -> None:
    """Nothing to wire beyond the subcommand."""
