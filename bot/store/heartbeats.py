"""Heartbeat states in Redis: one JSON document per heartbeat, changed by compare-and-set
with the audit entry of a transition (missing, recovered) in the same MULTI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import redis

from bot.domain.heartbeats import HeartbeatState
from bot.store import audit, keys
from bot.store.base import Commit, compare_and_set

Change = Callable[[HeartbeatState | None], HeartbeatState]


def get(r: redis.Redis, name: str) -> HeartbeatState | None:
    raw = r.get(keys.heartbeat(name))
    return None if raw is None else HeartbeatState.from_dict(json.loads(raw))


def change(r: redis.Redis, name: str, apply: Change, now: datetime,
           team: str) -> tuple[HeartbeatState | None, HeartbeatState]:
    """Compare-and-set; returns (before, after). Writes nothing when nothing changed."""
    key = keys.heartbeat(name)

    def decide(pipe: redis.client.Pipeline
               ) -> Commit[tuple[HeartbeatState | None, HeartbeatState]]:
        raw = pipe.get(key)
        before = None if raw is None else HeartbeatState.from_dict(json.loads(raw))
        after = apply(before)
        if after == before:
            return Commit((before, after))

        def writes(tx: redis.client.Pipeline) -> None:
            tx.set(key, json.dumps(after.to_dict()))
            action = _transition(before, after)
            if action:
                audit.record(tx, actor="atbat", action=action, at=now, heartbeat=name,
                             team=team, last_beat=after.last_beat,
                             missing_since=after.missing_since
                             or (before.missing_since if before else None))

        return Commit((before, after), writes)

    return compare_and_set(r, [key], decide, what=f"heartbeat {name}")


def _transition(before: HeartbeatState | None, after: HeartbeatState) -> str | None:
    was = before is not None and before.missing
    if after.missing and not was:
        return "heartbeat.missing"
    if was and not after.missing:
        return "heartbeat.recovered"
    return None
