"""Snooze, for alert groups Alertmanager does not own: page nobody for N minutes.

The listener and anything else that snoozes call this. When the snooze ends
and the group is still open, paging resumes from its current escalation step
(the escalation job does that: `bot.services.alerts`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.domain.alerts import AlertGroup, AlertTransitionError, Change
from bot.domain.escalation import snooze as snooze_group
from bot.runtime import Runtime
from bot.services import alerts
from bot.slack.render_alerts import SNOOZE_MINUTES
from bot.store import audit

log = logging.getLogger("atbat.snoozes")


def parse_choice(value: str) -> tuple[int, str] | None:
    """The menu's option value `MINUTES:KEY`, or None when it is not one atbat offered."""
    minutes, _, key = value.partition(":")
    if not minutes.isdigit() or int(minutes) not in SNOOZE_MINUTES or not key:
        return None
    return int(minutes), key[:64]


def snooze(rt: Runtime, group: AlertGroup, minutes: int, user: str) -> str:
    """Snooze the group (the caller has checked who may); the answer for the person."""
    now = rt.now()
    key = group.key
    until = now + timedelta(minutes=minutes)

    def apply(current: AlertGroup | None) -> tuple[AlertGroup, Change]:
        if current is None:
            raise AlertTransitionError("This alert is no longer known to atbat.")
        return snooze_group(current, user, until, now)

    try:
        outcome = alerts.transition(rt, key, apply)
    except AlertTransitionError as exc:
        return str(exc)
    audit.record(rt.redis, actor=user, action="alert.snooze", at=now, alert=key,
                 team=group.team, until=until)
    log.info("alert snoozed user=%s team=%s alert=%s until=%s", user, group.team, key,
             until.isoformat())
    return outcome.change.text or "Snoozed."
