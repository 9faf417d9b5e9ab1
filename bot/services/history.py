"""Writing on-call history: pages from escalation, handoff notes; trimming to history_days.

Acknowledgements, resolves and escalations are written by the alert store in
the transition's own transaction, and incidents, runs, swaps, overrides and
covers by the audit; pages are written here, once the DM was accepted.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.domain import history as domain
from bot.domain.alerts import AlertGroup
from bot.domain.config import Team
from bot.runtime import Runtime
from bot.services import feedback, home, reports
from bot.services.profiles import user_zone
from bot.store import history as store
from bot.store.base import claim

log = logging.getLogger("atbat.history")

TRIM_EVERY_SECONDS = 3600


def person_tz(rt: Runtime, team: Team, user: str) -> str:
    """The person's own timezone (Slack profile, cached), else the team's."""
    return user_zone(rt, user, team.timezone).tz


def record_page(rt: Runtime, team: Team, group: AlertGroup, user: str, step: int,
                at: datetime, method: str = domain.PAGE_METHOD) -> None:
    event = domain.page(group, user, person_tz(rt, team, user), at, step, method)
    store.record_page(rt.redis, team.name, event, domain.rule_of(group))
    feedback.remember_page(rt, team, group, user)
    home.refresh(rt, [user], "page")
    log.info("page recorded team=%s user=%s alert=%s local=%s", team.name, user, group.key,
             event.get("local"))


def trim_history(rt: Runtime, now: datetime) -> None:
    """Once an hour, drop history older than `history_days` from every team's streams, and
    store the report tallies of the days just over (so reports read whole days ready-made)."""
    slot = int(now.timestamp()) // TRIM_EVERY_SECONDS
    if not claim(rt.redis, "history-trim", str(slot), TRIM_EVERY_SECONDS * 2):
        return
    for team in rt.config.teams.values():
        dropped = store.trim(rt.redis, team.name, now, rt.config.history_days)
        if dropped:
            log.info("history trimmed team=%s entries=%d days=%d", team.name, dropped,
                     rt.config.history_days)
        reports.roll_up_recent(rt, team, now)
