"""Maintenance windows in Redis: one hash per team; every change commits with its audit entry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import redis

from bot.domain.maintenance import Window
from bot.store import audit, keys
from bot.store.base import Commit, claim_once, compare_and_set

KEEP_AFTER_END = timedelta(days=2)


def windows(r: redis.Redis, team: str) -> list[Window]:
    return [Window.from_dict(json.loads(raw)) for raw in r.hvals(keys.maintenance(team))]


def active(r: redis.Redis, team: str, now: datetime) -> Window | None:
    return next((w for w in windows(r, team) if w.active_at(now)), None)


def _change(r: redis.Redis, team: str, make: Callable[[list[Window]], Window | None],
            now: datetime, actor: str, action: str) -> Window | None:
    """Compare-and-set on the team's windows: `make(current)` returns the window to write."""
    key = keys.maintenance(team)

    def decide(pipe: redis.client.Pipeline) -> Commit[Window | None]:
        current = [Window.from_dict(json.loads(raw)) for raw in pipe.hvals(key)]
        window = make(current)
        if window is None:
            return Commit(None)
        stale = [w.id for w in current if w.end < now - KEEP_AFTER_END]

        def writes(tx: redis.client.Pipeline) -> None:
            tx.hset(key, window.id, json.dumps(window.to_dict()))
            if stale:
                tx.hdel(key, *stale)
            audit.record(tx, actor=actor, action=action, at=now, team=team, window=window.id,
                         starts_at=window.starts_at, ends_at=window.end, reason=window.reason)

        return Commit(window, writes)

    return compare_and_set(r, [key], decide, what=f"maintenance windows of {team}")


def add(r: redis.Redis, team: str, make: Callable[[list[Window]], Window], now: datetime,
        actor: str) -> Window:
    """`make` sees the current windows (to refuse an overlap) and may raise to write nothing."""
    window = _change(r, team, make, now, actor, "maintenance.create")
    assert window is not None
    return window


def end(r: redis.Redis, team: str, make: Callable[[list[Window]], Window | None], now: datetime,
        actor: str) -> Window | None:
    return _change(r, team, make, now, actor, "maintenance.end")


def claim_announcement(r: redis.Redis, window: Window, edge: str, now: datetime) -> bool:
    """True once per window and edge (start or end), with its audit entry."""
    if not claim_once(r, keys.once(f"maintenance-{edge}", window.id), 14 * 86400):
        return False
    action = "maintenance.started" if edge == "start" else "maintenance.ended"
    audit.record(r, actor="atbat", action=action, at=now, team=window.team, window=window.id)
    return True
