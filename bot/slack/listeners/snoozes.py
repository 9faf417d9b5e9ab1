"""Snooze, for alert groups Alertmanager does not own: page nobody for N minutes.

When the snooze ends and the group is still open, paging resumes from its
current escalation step (the escalation job does that, see workers.alerts).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App

from bot.domain.alerts import AlertGroup, AlertTransitionError, Change
from bot.domain.escalation import snooze
from bot.runtime import Runtime
from bot.services import alerts
from bot.slack.clicks import clicker, tell
from bot.slack.listeners.alerts import may_act
from bot.slack.render_alerts import ACTION_SNOOZE, SNOOZE_MINUTES
from bot.store import alerts as store
from bot.store import audit
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.snoozes")

STORE_DOWN = ("atbat cannot reach its store (Redis) right now, so nothing was changed. "
              "Try again in a minute.")


def handle(rt: Runtime, value: str, user: str) -> str:
    minutes_text, _, key = value.partition(":")
    if not minutes_text.isdigit() or int(minutes_text) not in SNOOZE_MINUTES:
        return "Pick one of the offered snooze lengths."
    now = rt.now()
    group = store.get_group(rt.redis, key[:64])
    if group is None:
        return "This alert is no longer known to atbat."
    team = rt.config.teams.get(group.team or "")
    if not may_act(rt, team, user, now):
        return f"Only members, managers and the on-call of {group.team} can snooze this alert."
    until = now + timedelta(minutes=int(minutes_text))

    def apply(current: AlertGroup | None) -> tuple[AlertGroup, Change]:
        if current is None:
            raise AlertTransitionError("This alert is no longer known to atbat.")
        return snooze(current, user, until, now)

    try:
        outcome = alerts.transition(rt, group.key, apply)
    except AlertTransitionError as exc:
        return str(exc)
    audit.record(rt.redis, actor=user, action="alert.snooze", at=now, alert=group.key,
                 team=group.team, until=until)
    log.info("alert snoozed user=%s team=%s alert=%s until=%s", user, group.team, group.key,
             until.isoformat())
    return outcome.change.text or "Snoozed."


def register(app: App, runtime: Runtime) -> None:
    rt = runtime

    @app.action(ACTION_SNOOZE)
    def snooze_picked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        value = str((action.get("selected_option") or {}).get("value", ""))[:100]
        try:
            text = handle(rt, value, clicker(body))
        except UNAVAILABLE:
            log.error("snooze failed: store unavailable user=%s", clicker(body))
            text = STORE_DOWN
        ack()
        tell(rt, body.get("response_url"), text)
