"""Who is on call: `/oncall who`, `next`, `schedule`, `me` and `calendar`.

Handlers read the schedule (config + Redis) through `bot.oncall` and render
with `bot.slack.render_schedule`. A TIME is read in the asking user's
timezone (cached `users.info`); when Slack cannot tell it fast, the team's
timezone is used and the reply says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_bolt import App

from bot import calendar
from bot.domain.config import Team
from bot.domain.maintenance import current_or_next
from bot.domain.schedule import Rotation, Shift
from bot.oncall import TeamSchedule, team_schedule
from bot.runtime import Runtime
from bot.services import autoremediation, profiles
from bot.slack import arguments, render_maintenance
from bot.slack import render_schedule as render
from bot.slack.arguments import pick_teams
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import cut_mrkdwn, shown
from bot.store import maintenance as maintenance_store

GROUP = "On call"
NEXT_DEFAULT, NEXT_MAX = 5, 50
DAYS_DEFAULT, DAYS_MAX = 7, 90
ME_HORIZON_DAYS, ME_MAX_SHIFTS = 90, 10


# ---------------------------------------------------------------- argument helpers


def team_and_number(ctx: CommandContext, what: str, default: int, maximum: int) -> tuple[list[Team], int]:
    """`[team] [n]` in either order."""
    team_name: str | None = None
    number: int | None = None
    for word in ctx.args:
        if word.isdigit():
            if number is not None:
                raise UserError(f"Give the number of {what} once.")
            number = int(word)
        elif team_name is None:
            team_name = word
        else:
            raise UserError(f'Too many words: "{shown(word, 40)}".')
    if number is not None and not 1 <= number <= maximum:
        raise UserError(f"The number of {what} must be from 1 to {maximum}.")
    return pick_teams(ctx, team_name), number or default


def split_at(args: list[str]) -> tuple[list[str], str | None]:
    """`[team] at TIME...`: the words before `at`, and everything after it joined back."""
    lowered = [a.lower() for a in args]
    if "at" not in lowered:
        return args, None
    i = lowered.index("at")
    return args[:i], " ".join(args[i + 1:]).strip()


def read_time(ctx: CommandContext, text: str, team: Team | None) -> tuple[datetime, str]:
    """TIME in the asker's timezone (or the team's); the instant and a note for the reply."""
    at, fallback_note = arguments.read_time(ctx, text, team)
    if fallback_note:
        return at, fallback_note
    tz, _ = arguments.asker_zone(ctx, team, text)
    return at, f'"{text}" read in your timezone ({tz}).'


# ---------------------------------------------------------------- schedule helpers


def layer_status(sched: TeamSchedule, layer: Rotation, at: datetime) -> render.LayerStatus:
    ahead = sched.next_shifts(layer, at, 2)
    current = ahead[0] if ahead and ahead[0].start <= at else None
    following = (ahead[1] if len(ahead) > 1 else None) if current else (ahead[0] if ahead else None)
    return render.LayerStatus(layer=layer.name, current=current, following=following,
                              has_members=bool(layer.members), has_window=layer.active is not None)


def current_shift(sched: TeamSchedule, layer: Rotation, at: datetime) -> Shift | None:
    ahead = sched.next_shifts(layer, at, 1)
    return ahead[0] if ahead and ahead[0].start <= at else None


# ---------------------------------------------------------------- subcommands


@command("who", usage="/oncall who [team] [at TIME]", summary="who is on call, every layer",
                group=GROUP)
def who(ctx: CommandContext) -> Reply:
    before, time_text = split_at(ctx.args)
    if len(before) > 1:
        raise UserError("Put a time after `at`, e.g. `/oncall who payments at tomorrow 9:00`.")
    teams = pick_teams(ctx, before[0] if before else None)
    at, note = ctx.now, ""
    if time_text is not None:
        if not time_text:
            raise UserError("Say when after `at`, e.g. `at tomorrow 9:00`, `at fri 14:00` or `at +3d`.")
        at, note = read_time(ctx, time_text, teams[0] if len(teams) == 1 else None)
    summary = []
    for team in teams:
        sched = team_schedule(ctx.runtime.redis, team, ctx.now)
        summary.append((team.name, [layer_status(sched, layer, at) for layer in sched.rotations]))
    text, blocks = render.who(summary, at, ctx.now, note)
    windows = [w for team in teams
               if (w := current_or_next(maintenance_store.windows(ctx.runtime.redis, team.name),
                                        at)) is not None]
    lines = [render_maintenance.window_line(w, at) for w in windows]
    lines += [line for team in teams
              if (line := autoremediation.who_line(ctx.runtime, team)) is not None]
    if lines:
        text += "\n" + "\n".join(lines)
        blocks = [*blocks, {"type": "context", "elements": [
            {"type": "mrkdwn", "text": cut_mrkdwn(line, 3000)} for line in lines[:10]]}][:50]
    return Reply(text, blocks)


@command("next", usage="/oncall next [team] [n]",
                summary=f"the next n shifts per layer (default {NEXT_DEFAULT}, max {NEXT_MAX})",
                group=GROUP)
def next_(ctx: CommandContext) -> Reply:
    teams, n = team_and_number(ctx, "shifts", NEXT_DEFAULT, NEXT_MAX)
    lines: list[str] = []
    for team in teams:
        sched = team_schedule(ctx.runtime.redis, team, ctx.now)
        per_layer = [(layer.name, sched.next_shifts(layer, ctx.now, n)) for layer in sched.rotations]
        lines.extend(render.next_shifts(team.name, per_layer, n))
    return Reply(*render.messages(lines))


@command("me", usage="/oncall me", summary="am I on call, and my next shifts", group=GROUP)
def me(ctx: CommandContext) -> Reply:
    if ctx.args:
        raise UserError("`/oncall me` takes no arguments.")
    now_shifts: list[tuple[str, Shift]] = []
    upcoming: list[tuple[str, Shift]] = []
    for team in ctx.config.teams.values():
        sched = team_schedule(ctx.runtime.redis, team, ctx.now)
        for layer in sched.rotations:
            for shift in calendar.shifts_ahead(sched, layer, ctx.now, ME_HORIZON_DAYS):
                if shift.user != ctx.user:
                    continue
                (now_shifts if shift.start <= ctx.now else upcoming).append((team.name, shift))
    upcoming.sort(key=lambda e: (e[1].start, e[0], e[1].layer))
    text, blocks = render.me(ctx.user, now_shifts, upcoming[:ME_MAX_SHIFTS], ME_HORIZON_DAYS)
    return Reply(text, blocks)


@command("schedule", usage="/oncall schedule [team] [days]",
                summary=f"the final schedule for the next days (default {DAYS_DEFAULT}, max {DAYS_MAX})",
                group=GROUP)
def schedule(ctx: CommandContext) -> Reply:
    teams, days = team_and_number(ctx, "days", DAYS_DEFAULT, DAYS_MAX)
    end = ctx.now + timedelta(days=days)
    lines: list[str] = []
    for team in teams:
        sched = team_schedule(ctx.runtime.redis, team, ctx.now)
        per_layer = [(layer.name, calendar.shifts_ahead(sched, layer, ctx.now, days))
                     for layer in sched.rotations]
        lines.extend(render.schedule(team.name, per_layer, ctx.now, end))
    return Reply(*render.messages(lines))


@command("calendar", usage="/oncall calendar [team]",
                summary="calendar feed links (.ics) for you and a team", group=GROUP)
def calendar_links(ctx: CommandContext) -> Reply:
    if len(ctx.args) > 1:
        raise UserError("Name at most one team.")
    settings = ctx.runtime.settings
    user_url = calendar.user_feed_url(settings, ctx.user)
    if user_url is None:
        return Reply("Calendar feeds are off: atbat has no SLACK_SIGNING_SECRET to sign their links.")
    teams = pick_teams(ctx, ctx.args[0] if ctx.args else None)
    team_urls = [(t.name, calendar.team_feed_url(settings, t.name) or "") for t in teams]
    # The feeds show names from the profile cache: have the people's names looked up now.
    people = {ctx.user, *(u for t in teams for r in t.rotations for u in r.members)}
    profiles.request_names(ctx.runtime, people)
    return Reply(*render.calendar(user_url, team_urls))


def register(app: App, runtime: Runtime) -> None:
    """Nothing to wire beyond the subcommands (and the periodic check imported above)."""
