"""App Home tabs: who opened theirs lately, and a "redraw owed" mark per person.

A change marks each affected person's tab (SET NX with a TTL): only the first
mark of a burst queues a redraw, and the redraw clears the mark before it reads,
so it shows every change up to then and a later change queues the next one. A
mark whose job was lost expires, and the next change queues again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import redis

from bot.store import keys
from bot.store.base import claim_once

FORGET_AFTER = timedelta(days=30)


def opened(r: redis.Redis, user: str, now: datetime) -> None:
    """Remember that `user` opened their tab now (and forget those gone for a month)."""
    with r.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.home_opened(), {user: now.timestamp()})
        pipe.zremrangebyscore(keys.home_opened(), "-inf", (now - FORGET_AFTER).timestamp())
        pipe.execute()


def opened_since(r: redis.Redis, users: Sequence[str], since: datetime) -> list[str]:
    """Those of `users` who opened their tab at or after `since`."""
    if not users:
        return []
    scores = r.zmscore(keys.home_opened(), list(users))
    return [u for u, s in zip(users, scores, strict=True) if s is not None and s >= since.timestamp()]


def mark_due(r: redis.Redis, user: str, ttl: timedelta) -> bool:
    """True when this call marked the tab out of date (the caller then queues the redraw)."""
    return claim_once(r, keys.home_due(user), max(int(ttl.total_seconds()), 1))


def take_due(r: redis.Redis, user: str) -> None:
    r.delete(keys.home_due(user))
