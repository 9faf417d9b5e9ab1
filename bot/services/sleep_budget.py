"""Sleep budget: at the end of a night with at least `sleep_budget` sleep-hour pages, DM the
on-call person a one-click cover request for the rest of their morning (once per night)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain import sleep_budget as domain
from bot.domain.config import Team
from bot.domain.swaps import PlanError
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import covers, messages
from bot.services.profiles import user_zone
from bot.slack.render_covers import sleep_offer
from bot.store import history as history_store
from bot.store.base import claim
from bot.store.swap_requests import RequestError

log = logging.getLogger("atbat.sleep")


def check_team(rt: Runtime, team: Team, now: datetime) -> None:
    users = team_schedule(rt.redis, team).on_call_users(now)
    if not users:
        return
    pages = None
    for user in users:
        tz = user_zone(rt, user, team.timezone).tz
        if not domain.offer_due(now, tz, team.sleep_hours):
            continue
        if pages is None:
            pages = history_store.read(rt.redis, team.name, "page", now - timedelta(hours=24), now)
        count = domain.night_pages(pages, user, tz, team.sleep_hours, now)
        if count < team.sleep_budget:
            continue
        day = now.astimezone(ZoneInfo(tz)).date().isoformat()
        if not claim(rt.redis, "sleep-offer", f"{team.name}:{user}:{day}", 2 * 86400):
            continue
        message = sleep_offer(team.name, count)
        messages.post(rt, user, message["text"], message["blocks"])
        log.info("sleep budget offer team=%s user=%s pages=%d", team.name, user, count)


def offer_cover_after_rough_nights(rt: Runtime, now: datetime) -> None:
    for team in rt.config.teams.values():
        check_team(rt, team, now)


def take_offer(rt: Runtime, user: str, team_name: str) -> str:
    """The offer's button: an open cover request for [now, noon) their time."""
    team = rt.config.teams.get(team_name)
    if team is None:
        return "That team no longer exists."
    when = domain.rest_of_morning(rt.now(), user_zone(rt, user, team.timezone).tz)
    if when is None:
        return "The morning is over; use /oncall cover-request for another time."
    try:
        covers.create(rt, team, user, when, None, "after a rough night", rt.now())
    except (PlanError, RequestError) as exc:
        return str(exc)
    return f"Asked {team.name} who can cover the rest of your morning; you will hear back here."
