"""What people set up for being paged in Slack: contact methods (tested or not) and rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import redis

from bot.domain.paging import Person, person_from_dict, person_to_dict
from bot.store import audit, keys
from bot.store.base import Commit, compare_and_set


def get(r: redis.Redis, user: str) -> Person | None:
    raw = r.get(keys.person_paging(user))
    return None if raw is None else person_from_dict(user, json.loads(raw))


def update(r: redis.Redis, user: str, change: Callable[[Person], Person], *, action: str,
           at: datetime, **details: str) -> Person:
    """Compare-and-set the person's settings with `change`, audited in the same transaction."""
    key = keys.person_paging(user)

    def decide(pipe: redis.client.Pipeline) -> Commit[Person]:
        raw = pipe.get(key)
        before = Person(user) if raw is None else person_from_dict(user, json.loads(raw))
        after = change(before)

        def writes(p: redis.client.Pipeline) -> None:
            p.set(key, json.dumps(person_to_dict(after)))
            audit.record(p, actor=user, action=action, at=at, **details)
        return Commit(after, writes)

    return compare_and_set(r, [key], decide, what=f"paging settings of {user}")
