"""`/oncall maintenance [team] DURATION|until TIME [from TIME] [reason]` and `... end`.

Managers and whoever is on call may open and end a team's window. A TIME is
one word (quote it when it has spaces: `until "tomorrow 9:00"`); every word
left over is the reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_bolt import App

from bot.domain.config import Team
from bot.domain.maintenance import MaintenanceError
from bot.domain.timeparse import TimeParseError, parse_duration
from bot.runtime import Runtime
from bot.services import maintenance as service
from bot.slack import render_maintenance as render
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import unescape
from bot.slack.listeners.schedule import read_time
from bot.store import maintenance as store

USAGE = "/oncall maintenance [team] DURATION|until TIME [from TIME] [reason] | end"


def _team(ctx: CommandContext, words: list[str]) -> tuple[Team, list[str]]:
    teams = ctx.config.teams
    if words and words[0].lower() in teams:
        return teams[words[0].lower()], words[1:]
    team = ctx.config.team_for_channel(ctx.channel)
    mine = [t for t in ctx.config.teams.values()
            if t.is_manager(ctx.user) or ctx.user in t.members]
    if team is None and len(mine) == 1:
        team = mine[0]
    if team is None:
        raise UserError("Which team? Name it first: `/oncall maintenance payments 2h`.")
    return team, words


def _length(word: str) -> timedelta | None:
    try:
        return parse_duration(word)
    except (TimeParseError, ValueError):
        return None


def _parse(ctx: CommandContext, team: Team, words: list[str]
           ) -> tuple[datetime | None, datetime | None, timedelta | None, str]:
    starts_at = ends_at = None
    length = None
    notes: list[str] = []
    rest = list(words)
    while rest:
        word = rest[0].lower()
        if word in ("from", "until") and len(rest) > 1:
            at, _ = read_time(ctx, rest[1], team)
            if word == "from":
                starts_at = at
            else:
                ends_at = at
            rest = rest[2:]
        elif length is None and ends_at is None and _length(rest[0]) is not None:
            length = _length(rest[0])
            rest = rest[1:]
        else:
            break
    notes.extend(rest)
    return starts_at, ends_at, length, unescape(" ".join(notes))


@command("maintenance", usage=USAGE, free_text=True,
                summary="a maintenance window: alerts shown, nobody paged", group="Alerts")
def maintenance(ctx: CommandContext) -> Reply:
    team, words = _team(ctx, ctx.args)
    rt = ctx.runtime
    if not words:
        window = next((w for w in sorted(store.windows(rt.redis, team.name),
                                         key=lambda w: w.starts_at)
                       if not w.over_at(ctx.now)), None)
        if window is None:
            return Reply(f"No maintenance window for {team.name}. Open one: `{USAGE}`.")
        return Reply(render.window_line(window, ctx.now))
    if not service.may_change(rt, team, ctx.user, ctx.now):
        return Reply(f"Only managers of {team.name} and whoever is on call can open or end "
                     "its maintenance windows.")
    try:
        if words[0].lower() == "end" and len(words) == 1:
            service.end_window(rt, team, ctx.user)
            return Reply(f"Maintenance for {team.name} ends now; the channel is told.")
        starts_at, ends_at, length, reason = _parse(ctx, team, words)
        window = service.open_window(rt, team, ctx.user, starts_at=starts_at, ends_at=ends_at,
                                     length=length, reason=reason)
    except MaintenanceError as exc:
        raise UserError(str(exc)) from None
    if window.starts_at > ctx.now:
        return Reply(render.scheduled(window))
    return Reply(f"Maintenance for {team.name} is on until {window.end:%Y-%m-%d %H:%M} UTC; "
                 "the channel is told.")


def register(app: App, runtime: Runtime) -> None:
    """The command only: windows have no buttons."""
