"""Maintenance windows: the service the command, the jobs and the periodic check call.

Starting and ending are each claimed once per window in Redis, so the
announcements and the re-paging happen once with any number of workers and
after any restart; the periodic check catches a window whose job was lost.
Each announcement is then owed until Slack takes it (`deliveries.owe`, once
per window and edge), so one made during a Slack outage arrives once after it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain import maintenance as domain
from bot.domain.alerts import NO_CHANGE, AlertGroup, Change
from bot.domain.config import Team
from bot.domain.escalation import resume
from bot.domain.maintenance import Window
from bot.oncall import team_schedule
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import alerts, deliveries
from bot.slack import render_maintenance as render
from bot.store import alerts as alert_store
from bot.store import audit
from bot.store import maintenance as store

log = logging.getLogger("atbat.maintenance")


def may_change(rt: Runtime, team: Team, user: str, now: datetime) -> bool:
    """Managers and whoever is on call now."""
    return team.is_manager(user) or user in team_schedule(rt.redis, team, now).on_call_users(now)


def open_window(rt: Runtime, team: Team, user: str, *, starts_at: datetime | None,
                ends_at: datetime | None, length: timedelta | None, reason: str) -> Window:
    now = rt.now()
    window = store.add(rt.redis, team.name, lambda current: domain.plan(
        team.name, user, now, starts_at=starts_at, ends_at=ends_at, length=length,
        reason=reason, existing=current), now, user)
    _schedule(rt, window)
    log.info("maintenance planned team=%s window=%s user=%s from=%s to=%s", team.name,
             window.id, user, window.starts_at.isoformat(), window.end.isoformat())
    return window


def end_window(rt: Runtime, team: Team, user: str) -> Window:
    now = rt.now()

    def finish(current: list[Window]) -> Window:
        window = domain.current_or_next(current, now)
        if window is None:
            raise domain.MaintenanceError(f"{team.name} has no maintenance window to end.")
        return domain.end_now(window, user, now)

    window = store.end(rt.redis, team.name, finish, now, user)
    assert window is not None
    rt.enqueue("workers.maintenance.edge", team.name, window.id, queue=QUEUE_URGENT)
    log.info("maintenance ended team=%s window=%s user=%s", team.name, window.id, user)
    return window


def _schedule(rt: Runtime, window: Window) -> None:
    for at, tag in ((window.starts_at, "start"), (window.end, "end")):
        job_id = f"maintenance-{window.id}-{tag}"
        if at <= rt.now():
            rt.enqueue("workers.maintenance.edge", window.team, window.id, queue=QUEUE_URGENT,
                       job_id=job_id)
        else:
            rt.enqueue_at(at, "workers.maintenance.edge", window.team, window.id,
                          queue=QUEUE_URGENT, job_id=job_id)


def edge(rt: Runtime, team_name: str, window_id: str) -> None:
    """Announce the start or the end of a window that is due, once each."""
    team = rt.config.teams.get(team_name)
    window = next((w for w in store.windows(rt.redis, team_name) if w.id == window_id), None)
    if team is None or window is None:
        return
    now = rt.now()
    if window.active_at(now) and store.claim_announcement(rt.redis, window, "start", now):
        # A start still owed when the window is over would only mislead: it expires then.
        _announce(rt, team, window, "start", render.started(window), expires_at=window.end)
    if window.over_at(now) and window.started and \
            store.claim_announcement(rt.redis, window, "end", now):
        repaged = repage(rt, team, now)  # a compare-and-set per group: never twice
        _announce(rt, team, window, "end", render.ended(window, repaged))


def repage(rt: Runtime, team: Team, now: datetime) -> int:
    """Groups held back by the window page again from their current step (CAS: once)."""
    count = 0
    for group in alert_store.open_groups(rt.redis, team.name):
        if group.paused != "maintenance" or store.active(rt.redis, team.name, now):
            continue
        outcome = alerts.transition(rt, group.key, lambda g: _resume(g, team, now))
        if outcome.changed:
            count += 1
            audit.record(rt.redis, actor="atbat", action="alert.resumed", at=now,
                         alert=group.key, team=team.name, reason="maintenance")
    return count


def _resume(group: AlertGroup | None, team: Team, now: datetime) -> tuple[AlertGroup | None, Change]:
    if group is None or group.paused != "maintenance":
        return group, NO_CHANGE
    return resume(group, alerts.policy_for(team, group), now, "Maintenance over")


def _announce(rt: Runtime, team: Team, window: Window, tag: str, text: str,
              expires_at: datetime | None = None) -> None:
    """Owed until Slack took it: retried across an outage, once per window and edge."""
    if deliveries.owe(rt, "maintenance", f"{window.id}:{tag}", "chat.postMessage",
                      {"channel": team.channel, "text": text}, expires_at=expires_at):
        log.info("maintenance announcement owed team=%s window=%s edge=%s", team.name, window.id,
                 tag)


def check(rt: Runtime, now: datetime) -> None:
    """Start and end windows whose jobs were lost (a restart, Redis losing the queue)."""
    for team in rt.config.teams.values():
        for window in store.windows(rt.redis, team.name):
            if window.starts_at <= now and (window.active_at(now) or window.over_at(now)):
                edge(rt, team.name, window.id)
