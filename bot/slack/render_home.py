"""The App Home tab view (`views.publish`), pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.alerts import AlertGroup
from bot.slack.format import cut_mrkdwn, date_token, escape
from bot.slack.render_alerts import alerts_list

ACTION_SETTINGS = "home_notify"
ACTION_REPORT = "home_report"
ACTION_COVER = "home_cover_request"
MAX_GROUPS = 10
MAX_PAGES = 15


@dataclass(frozen=True)
class MyShift:
    team: str
    layer: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class HomeData:
    user: str
    now: datetime
    teams: tuple[str, ...]
    shifts: tuple[MyShift, ...]
    groups: tuple[AlertGroup, ...]
    pages: tuple[tuple[datetime, str, bool], ...]  # (when, rule, in sleep hours)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut_mrkdwn(text, 3000)}}


def _oncall(data: HomeData) -> list[dict[str, Any]]:
    now = [s for s in data.shifts if s.start <= data.now < s.end]
    ahead = [s for s in data.shifts if s.start > data.now]
    lines = [f":pager: *On call now* for {escape(s.team)} {escape(s.layer)} until "
             f"{date_token(s.end)}" for s in now] or ["You are not on call now."]
    lines += [f"• Next: {escape(s.team)} {escape(s.layer)}, {date_token(s.start)} → "
              f"{date_token(s.end)}" for s in ahead] or ["• No shifts in the next 60 days."]
    return [{"type": "header", "text": {"type": "plain_text", "text": "My on-call"}},
            _section("\n".join(lines))]


def _pages(data: HomeData) -> list[dict[str, Any]]:
    asleep = sum(1 for _, _, s in data.pages if s)
    head = f"*My pages this week:* {len(data.pages)} ({asleep} in sleep hours)"
    lines = [f"• {date_token(at, '{date_short} {time}')} {escape(rule)}"
             + (" :zzz:" if sleepy else "") for at, rule, sleepy in data.pages[-MAX_PAGES:]]
    return [_section("\n".join([head, *lines]))]


def _buttons(data: HomeData) -> list[dict[str, Any]]:
    """Notification settings; per team (block ids keep the action ids unique): my report, cover."""
    settings = {"type": "actions", "block_id": "home_settings", "elements": [
        {"type": "button", "action_id": ACTION_SETTINGS, "value": "notify",
         "text": {"type": "plain_text", "text": "Notification settings"}}]}
    return [settings, *({"type": "actions", "block_id": f"home_{team}", "elements": [
        {"type": "button", "action_id": ACTION_REPORT, "value": team,
         "text": {"type": "plain_text", "text": f"My report: {team}"[:75]}},
        {"type": "button", "action_id": ACTION_COVER, "value": team,
         "text": {"type": "plain_text", "text": f"Cover my next shift: {team}"[:75]}},
    ]} for team in data.teams[:10])]


def home_view(data: HomeData) -> dict[str, Any]:
    if not data.teams:
        return {"type": "home", "blocks": [_section(
            "You are not in any of atbat's teams. `/oncall who` shows who is on call.")]}
    alerts = alerts_list(sorted(data.groups, key=lambda g: g.created_at)[:MAX_GROUPS], data.now,
                         team=", ".join(data.teams))
    blocks = _oncall(data) + [{"type": "divider"}] + alerts + [{"type": "divider"}] \
        + _pages(data) + _buttons(data)
    return {"type": "home", "blocks": blocks[:100]}
