"""Arguments the `/oncall` subcommands share: the team, the layer, a person, a TIME.

One rule chooses the team, everywhere:

1. a team named in the command;
2. else the team whose channel the command is typed in;
3. else the asker's team: their only one for a command about one team, all of
   theirs for a view of several;
4. else a command about one team asks which team, and a view shows every team.

A TIME is read in the asker's timezone (cached `users.info`). When Slack does
not tell it in time, the team's timezone is used and the reply says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.config import Config, Team
from bot.domain.timeparse import TimeParseError, parse_range, parse_time
from bot.services import profiles
from bot.slack.commands import CommandContext, UserError
from bot.slack.format import parse_mention, shown

_SHOWN = str.maketrans("", "", "<>&`*_~")


def team_named(config: Config, word: str) -> Team | None:
    return config.teams.get(word.lower().lstrip("#"))


def pick_team(ctx: CommandContext, words: Sequence[str]) -> tuple[Team, list[str]]:
    """The team a command about one team is for, and the words left."""
    rest = list(words)
    for word in rest:
        if (named := team_named(ctx.config, word)) is not None:
            rest.remove(word)
            return named, rest
    team = ctx.config.team_for(ctx.channel, ctx.user)
    if team is None:
        raise UserError("Which team? Add its name: " + ", ".join(sorted(ctx.config.teams)) + ".")
    return team, rest


def pick_teams(ctx: CommandContext, name: str | None) -> list[Team]:
    """The teams a view shows; `name` must be a team if given."""
    if name is not None:
        named = team_named(ctx.config, name)
        if named is None:
            raise UserError(unknown_team(ctx.config, name))
        return [named]
    here = ctx.config.team_for_channel(ctx.channel)
    if here is not None:
        return [here]
    return ctx.config.teams_of(ctx.user) or list(ctx.config.teams.values())


def unknown_team(config: Config, name: str) -> str:
    shown = "".join(ch for ch in name if ch.isprintable()).translate(_SHOWN)[:40]
    return f'Unknown team "{shown}". Known teams: {", ".join(sorted(config.teams)) or "none"}.'


def pick_layer(team: Team, words: list[str], first_only: bool = False) -> tuple[str | None, list[str]]:
    candidates = words[:1] if first_only else words
    for word in candidates:
        if team.rotation(word.lower()) is not None:
            rest = list(words)
            rest.remove(word)
            return word.lower(), rest
    return None, words


def pick_user(words: list[str], what: str = "the person") -> tuple[str, list[str]]:
    for i, word in enumerate(words):
        user = parse_mention(word)
        if user is not None:
            return user, words[:i] + words[i + 1:]
    raise UserError(f"Name {what} as an @mention.")


# ---------------------------------------------------------------- TIME


def asker_zone(ctx: CommandContext, team: Team | None, text: str) -> tuple[str, str]:
    """The timezone to read the asker's `text` in, and the note a reply adds when it is a
    fallback ("" when it is the asker's own)."""
    fallback = team.timezone if team else ctx.config.timezone
    zone = profiles.user_zone(ctx.runtime, ctx.user, fallback)
    if zone.from_profile:
        return zone.tz, ""
    whose = f"team {team.name}'s" if team else "the default"
    return zone.tz, (f'Slack did not tell your timezone in time, so "{text}" was read in {whose} '
                     f"timezone ({zone.tz}).")


def read_time(ctx: CommandContext, text: str, team: Team | None) -> tuple[datetime, str]:
    """TIME in the asker's timezone; the instant and the fallback note ("" when none)."""
    tz, note = asker_zone(ctx, team, text)
    try:
        return parse_time(text, ctx.now, tz), note
    except TimeParseError as exc:
        raise UserError(shown(exc.message, 1000)) from None


def read_range(ctx: CommandContext, text: str, team: Team) -> tuple[datetime, datetime, str]:
    """FROM..TO in the asker's timezone; start, end and the fallback note."""
    tz, note = asker_zone(ctx, team, text)
    try:
        start, end = parse_range(text, ctx.now, tz)
    except TimeParseError as exc:
        raise UserError(shown(exc.message, 1000)) from None
    return start, end, note


def with_note(text: str, note: str) -> str:
    return f"{text}\n{note}" if note else text
