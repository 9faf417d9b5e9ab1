"""`/oncall report [team] [7d|30d|90d]`: the team's on-call health, posted with its chart."""

from __future__ import annotations

from slack_bolt import App

from bot.domain.config import Team
from bot.domain.reports import DEFAULT_PERIOD, PERIODS, ReportError, parse_since
from bot.runtime import Runtime
from bot.slack.arguments import pick_team, unknown_team
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import shown

GROUP = "Reports"


def parse_args(ctx: CommandContext) -> tuple[Team, int]:
    """`[team] [7d|30d|90d]` in either order; the team defaults to the channel's, then to mine."""
    team_name, days = None, PERIODS[DEFAULT_PERIOD]
    for word in ctx.args:
        if word.lower() in PERIODS or word[:1].isdigit():
            try:
                days = parse_since(word)
            except ReportError as exc:
                raise UserError(str(exc)) from None
        elif team_name is None:
            team_name = word
        else:
            raise UserError(f'Too many words: "{shown(word, 40)}".')
    team, unknown = pick_team(ctx, [team_name] if team_name else [])
    if unknown:
        raise UserError(unknown_team(ctx.config, unknown[0]))
    return team, days


@command("report", usage="/oncall report [team] [7d|30d|90d]", group=GROUP,
                summary="on-call health: shifts, pages, sleep-hour pages, noisiest rules, a chart")
def report(ctx: CommandContext) -> Reply:
    team, days = parse_args(ctx)
    ctx.runtime.enqueue("workers.reports.post", team.name, ctx.channel, days, ctx.now.isoformat())
    return Reply(f"Building the {days}-day on-call report for {team.name}: it will be posted here "
                 "with its chart.")


def register(app: App, runtime: Runtime) -> None:
    """Nothing to wire beyond the subcommand (the weekly post is a periodic check)."""
