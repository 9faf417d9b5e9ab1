"""Heartbeats: the service the beat route, the Alertmanager webhook, the periodic check and
`/oncall heartbeats` call.

A missing heartbeat opens an Events-style alert group for its team
("Heartbeat NAME missing since …"), paged like any alert; the next beat
resolves it. The state move is a compare-and-set and opening the group is
idempotent (a repeated trigger of an open group changes nothing), so with
any number of workers, and across restarts, it pages once per outage.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import replace
from datetime import datetime

from bot.domain import heartbeats as domain
from bot.domain.alerts import AlertBatch, apply_event, group_key_for
from bot.domain.config import Heartbeat
from bot.domain.heartbeats import HeartbeatState
from bot.runtime import Runtime
from bot.services import alerts
from bot.store import heartbeats as store

log = logging.getLogger("atbat.heartbeats")


def token_ok(rt: Runtime, heartbeat: Heartbeat, presented: str) -> bool:
    expected = rt.settings.env.get(heartbeat.token_env, "")
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def beat(rt: Runtime, heartbeat: Heartbeat) -> HeartbeatState:
    """Record a beat; a missing heartbeat recovers and its alert is resolved."""
    now = rt.now()
    before, after = store.change(rt.redis, heartbeat.name,
                                 lambda s: domain.beat(s, heartbeat.name, now), now,
                                 heartbeat.team)
    if before is not None and before.missing:
        _resolve(rt, heartbeat, now)
        log.info("heartbeat recovered heartbeat=%s team=%s", heartbeat.name, heartbeat.team)
    return after


def _resolve(rt: Runtime, heartbeat: Heartbeat, now: datetime) -> None:
    event = domain.recovered_alert(heartbeat)
    alerts.transition(rt, event.key, lambda g: apply_event(g, event, now))


def check(rt: Runtime, now: datetime) -> None:
    for heartbeat in rt.config.heartbeats.values():
        check_one(rt, heartbeat, now)


def check_one(rt: Runtime, heartbeat: Heartbeat, now: datetime) -> None:
    _, state = store.change(rt.redis, heartbeat.name,
                            lambda s: domain.check(s, heartbeat, now), now, heartbeat.team)
    if state.missing and not state.opened:
        _open(rt, heartbeat, state, now)


def _open(rt: Runtime, heartbeat: Heartbeat, state: HeartbeatState, now: datetime) -> None:
    """Open the missing alert (a second worker's trigger finds it open: no change), then
    note it was opened, so a person resolving it by hand is not paged again this outage."""
    event = domain.missing_alert(heartbeat, state)
    outcome = alerts.transition(rt, event.key, lambda g: apply_event(g, event, now))
    store.change(rt.redis, heartbeat.name,
                 lambda s: replace(s, opened=True) if s and s.missing_since == state.missing_since
                 else s, now, heartbeat.team)
    if outcome.changed:
        log.info("heartbeat missing heartbeat=%s team=%s alert=%s", heartbeat.name,
                 heartbeat.team, event.key)


def states(rt: Runtime) -> list[tuple[Heartbeat, HeartbeatState | None]]:
    return [(hb, store.get(rt.redis, hb.name)) for hb in rt.config.heartbeats.values()]


def alert_key(heartbeat: Heartbeat) -> str:
    return group_key_for("events", heartbeat.team, domain.dedup_key(heartbeat))


def take_beats(rt: Runtime, batch: AlertBatch) -> tuple[AlertBatch | None, list[str]]:
    """Alertmanager alerts labelled `atbat_heartbeat` are beats (while firing), not alerts.

    Returns the batch without them (None when nothing else is left) and the names beaten.
    """
    marked = [a for a in batch.alerts if domain.LABEL in a.labels]
    if not marked:
        return batch, []
    beaten: list[str] = []
    for alert in marked:
        heartbeat = rt.config.heartbeats.get(alert.labels[domain.LABEL])
        if heartbeat is None:
            log.warning("heartbeat alert for an undeclared heartbeat name=%.80s",
                        alert.labels[domain.LABEL])
            continue
        if alert.status == "firing" and heartbeat.name not in beaten:
            beat(rt, heartbeat)
            beaten.append(heartbeat.name)
    rest = tuple(a for a in batch.alerts if domain.LABEL not in a.labels)
    return (replace(batch, alerts=rest) if rest else None), beaten
