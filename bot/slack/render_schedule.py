"""Block Kit and text for "who is on call": /oncall who, next, schedule, me, calendar,
and the handoff announcement and reminder. Pure functions: data in, (text, blocks) out.

Every instant is a Slack date token, so each reader sees their own timezone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.schedule import Shift
from bot.slack.format import cut_mrkdwn, date_token, escape, link, mention

Message = tuple[str, list[dict[str, Any]]]

# Slack limits: 3000 characters per section text, 50 blocks per message.
_SECTION_CHARS = 2900
_MAX_BLOCKS = 50


@dataclass(frozen=True)
class LayerStatus:
    """One layer at an instant: who is on, and who comes next."""

    layer: str
    current: Shift | None
    following: Shift | None
    has_members: bool = True
    has_window: bool = False  # the layer is only on call inside active hours


def when(at: datetime) -> str:
    return date_token(at)


def _blocks(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Lines packed into as few mrkdwn sections as Slack's limits allow."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > _SECTION_CHARS and current:
            chunks.append(current)
            current = cut_mrkdwn(line, _SECTION_CHARS)
        else:
            current = cut_mrkdwn(candidate, _SECTION_CHARS)
    if current:
        chunks.append(current)
    if len(chunks) > _MAX_BLOCKS:
        chunks = chunks[: _MAX_BLOCKS - 1] + ["… more than fits in one message; ask for fewer days."]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]


def _message(lines: Sequence[str]) -> Message:
    text = "\n".join(lines)
    # The top-level text is the notification fallback; keep it within Slack's limits too.
    return cut_mrkdwn(text, 3000), _blocks(lines)


def _shift_span(shift: Shift) -> str:
    return f"since {when(shift.start)} until {when(shift.end)}"


def layer_line(status: LayerStatus) -> str:
    name = f"*{status.layer}*"
    if status.current is None and status.following is None and not status.has_members:
        return f"• {name}: :warning: nobody — this layer has no members"
    if status.current is not None:
        line = f"• {name}: {mention(status.current.user)} {_shift_span(status.current)}"
        if status.current.override_id:
            line += " (override)"
        if status.following is not None:
            line += f" · next {mention(status.following.user)}"
        return line
    why = " (outside its active hours)" if status.has_window else ""
    line = f"• {name}: :warning: nobody on call{why}"
    if status.following is not None:
        line += f" · next {mention(status.following.user)} from {when(status.following.start)}"
    else:
        line += " and nobody scheduled ahead"
    return line


def team_who_lines(team: str, statuses: Sequence[LayerStatus]) -> list[str]:
    lines = [f"*{team}*"]
    lines.extend(layer_line(s) for s in statuses)
    if statuses and all(s.current is None for s in statuses):
        lines.append(f":warning: Nobody is on call for {team} at that time.")
    return lines


def who(teams: Sequence[tuple[str, Sequence[LayerStatus]]], at: datetime, now: datetime,
        note: str = "") -> Message:
    """`/oncall who`: every layer of each team, at `at` (now unless the user gave a TIME)."""
    title = "On call now" if at == now else f"On call at {when(at)}"
    lines = [f"{title}:"]
    for team, statuses in teams:
        lines.extend(team_who_lines(team, statuses))
    if note:
        lines.append(f"_{note}_")
    return _message(lines)


def _shift_line(shift: Shift, *, who: bool = True, where: str = "") -> str:
    """One shift; `who` and `where` are left out where a heading already says them."""
    line = f"• {when(shift.start)} → {when(shift.end)}"
    if who:
        line += f" {mention(shift.user)}"
    if where:
        line += f" · {where}"
    return line + (" (override)" if shift.override_id else "")


def next_shifts(team: str, per_layer: Sequence[tuple[str, Sequence[Shift]]], n: int) -> list[str]:
    header = f"*{team}* — next {n} shift{'s' if n != 1 else ''} per layer"
    return _per_layer(header, per_layer, "nobody scheduled")


def schedule(team: str, per_layer: Sequence[tuple[str, Sequence[Shift]]], start: datetime,
             end: datetime) -> list[str]:
    header = f"*{team}* — schedule from {when(start)} to {when(end)}"
    return _per_layer(header, per_layer, "nobody on call in that period")


def _per_layer(header: str, per_layer: Sequence[tuple[str, Sequence[Shift]]],
               empty: str) -> list[str]:
    lines = [header]
    for layer, shifts in per_layer:
        lines.append(f"_{layer}_")
        if not shifts:
            lines.append(f"• :warning: {empty}")
        lines.extend(_shift_line(s) for s in shifts)  # the layer is the heading
    return lines


def messages(lines: Sequence[str]) -> Message:
    return _message(lines)


def me(user: str, now_shifts: Sequence[tuple[str, Shift]], upcoming: Sequence[tuple[str, Shift]],
       horizon_days: int) -> Message:
    """`/oncall me`: am I on call now, and my next shifts across teams."""
    lines = []
    if now_shifts:
        lines.append("You are on call now:")
        lines.extend(f"• *{team}* {s.layer} until {when(s.end)}" for team, s in now_shifts)
    else:
        lines.append("You are not on call right now.")
    if upcoming:
        lines.append("Your next shifts:")
        lines.extend(_shift_line(s, who=False, where=f"*{team}* {s.layer}")
                     for team, s in upcoming)
    else:
        lines.append(f"No shifts for {mention(user)} in the next {horizon_days} days.")
    return _message(lines)


def _url_link(url: str, label: str) -> str:
    """A clickable mrkdwn link (the URL shown as text when it is not http(s))."""
    return link(url, escape(label)) or f"{escape(label)}: {escape(url)}"


def calendar(user_url: str, team_urls: Sequence[tuple[str, str]]) -> Message:
    lines = ["Subscribe to these in your calendar app (keep them private: the link is the key):",
             f"• {_url_link(user_url, 'your shifts, every team')}"]
    lines.extend(f"• {_url_link(url, f'team {team}, every layer')}" for team, url in team_urls)
    return _message(lines)


def handoff(team: str, shift: Shift, previous: str | None, *, late: bool = False) -> Message:
    """The channel announcement when someone comes on call.

    `late` is a catch-up (atbat was down at the handoff): it says since when, so an old
    handoff does not read like a live event.
    """
    taking_over = f", taking over from {mention(previous)}" if previous else ""
    if late:
        text = (f":pager: {mention(shift.user)} is on call for *{team} {shift.layer}* since "
                f"{when(shift.start)} until {when(shift.end)}{taking_over}.")
    else:
        text = (f":pager: {mention(shift.user)} is now on call for *{team} {shift.layer}* "
                f"until {when(shift.end)}{taking_over}.")
    return _message([text])


def reminder(team: str, shift: Shift, previous: str | None) -> Message:
    """The DM to the incoming person before their shift."""
    from_whom = f" You take over from {mention(previous)}." if previous and previous != shift.user else ""
    text = (f":alarm_clock: Reminder: you are on call for *{team} {shift.layer}* from "
            f"{when(shift.start)} until {when(shift.end)}.{from_whom}")
    return _message([text])
