"""The audit stream: who did what, when, with before and after, in one Redis stream."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from bot.domain import history as history_domain
from bot.store import history, keys

MAX_ENTRIES = 100_000


def record(r: redis.Redis | redis.client.Pipeline, *, actor: str, action: str, at: datetime,
           **details: Any) -> None:
    """Append one entry (inside a MULTI pipeline when given one, so it commits with the change)."""
    r.xadd(keys.audit_stream(), {
        "at": at.isoformat(), "actor": actor, "action": action,
        "details": json.dumps(details, default=str, sort_keys=True),
    }, maxlen=MAX_ENTRIES, approximate=True)
    mirrored = history_domain.from_audit(action, actor, at, details)
    if mirrored is not None:  # incidents, runs, swaps, overrides, covers: the team's history too
        history.append(r, *mirrored)


def recent(r: redis.Redis, n: int = 20, action_prefix: str | None = None) -> list[dict[str, Any]]:
    """The newest entries first."""
    out: list[dict[str, Any]] = []
    for entry_id, fields in r.xrevrange(keys.audit_stream(), count=max(n * 5, 50)):
        entry = {k.decode(): v.decode() for k, v in fields.items()}
        if action_prefix and not entry["action"].startswith(action_prefix):
            continue
        entry["details"] = json.loads(entry["details"])
        entry["id"] = entry_id.decode()
        out.append(entry)
        if len(out) == n:
            break
    return out
