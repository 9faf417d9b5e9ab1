"""Incidents in Redis: one JSON document per incident, plus indexes and Slack-side progress.

Every change goes through `update`, a compare-and-set on the incident's
``version`` (WATCH/MULTI), so two people typing at once, a double click or
two workers never lose or repeat a timeline entry. The indexes (channel → id,
open set, resolved set) are written in the same transaction as the document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import redis

from bot.domain.incidents import Incident, IncidentError
from bot.store import audit, keys
from bot.store.base import Commit, compare_and_set

RESOLVED_SHOWN = 10
REFRESH_PENDING_TTL = 300  # a lost refresh job must not block re-renders for long
SETUP_LOCK_TTL = 120


class IncidentGone(IncidentError):
    """The incident a button or modal points at no longer exists."""


Change = Callable[[Incident], Incident]


def _encode(inc: Incident) -> str:
    return json.dumps(inc.to_dict(), separators=(",", ":"))


def _decode(raw: bytes | str | None) -> Incident | None:
    return None if raw is None else Incident.from_dict(json.loads(raw))


def next_id(r: redis.Redis) -> str:
    return str(r.incr(keys.incident_seq()))


def get(r: redis.Redis, incident_id: str) -> Incident | None:
    return _decode(r.get(keys.incident(incident_id)))


def by_channel(r: redis.Redis, channel: str) -> Incident | None:
    incident_id = r.get(keys.incident_by_channel(channel))
    return None if incident_id is None else get(r, incident_id.decode())


def list_open(r: redis.Redis) -> list[Incident]:
    ids = sorted(i.decode() for i in r.smembers(keys.incidents_open()))
    return _many(r, ids)


def recently_resolved(r: redis.Redis, n: int = RESOLVED_SHOWN) -> list[Incident]:
    ids = [i.decode() for i in r.zrevrange(keys.incidents_resolved(), 0, n - 1)]
    return _many(r, ids)


def _many(r: redis.Redis, ids: list[str]) -> list[Incident]:
    if not ids:
        return []
    raws = r.mget([keys.incident(i) for i in ids])
    return [inc for inc in (_decode(raw) for raw in raws) if inc is not None]


def open_for_alert(r: redis.Redis, alert_key: str) -> Incident | None:
    """The open incident declared from the alert group, if any."""
    raw = r.get(keys.incident_for_alert(alert_key))
    inc = get(r, raw.decode()) if raw else None
    return inc if inc is not None and inc.is_open else None


def create(r: redis.Redis, inc: Incident, at: datetime, alert_key: str | None = None) -> Incident:
    """Store a newly declared incident and return the incident that owns the declaration.

    With ``alert_key`` the declaration is claimed per alert group: while an
    incident declared from that alert is open, a second Declare (a double
    click, a retry) gets that incident back instead of a new one.
    """
    claim = keys.incident_for_alert(alert_key) if alert_key else None

    def decide(pipe: redis.client.Pipeline) -> Commit[Incident]:
        existing = pipe.get(claim) if claim else None
        if existing is not None:
            owner = get(r, existing.decode())
            if owner is not None and owner.is_open:
                return Commit(owner)
        return Commit(inc, writes)

    def writes(pipe: redis.client.Pipeline) -> None:
        if claim:
            pipe.set(claim, inc.id)
        pipe.set(keys.incident(inc.id), _encode(inc))
        pipe.sadd(keys.incidents_open(), inc.id)
        audit.record(pipe, actor=inc.requester, action="incident.declare", at=at,
                     incident=inc.id, team=inc.team, severity=inc.severity,
                     alert=alert_key or "")

    return compare_and_set(r, [claim] if claim else [], decide,
                           what=f"declaring from alert {alert_key}")


def update(r: redis.Redis, incident_id: str, change: Change, *, actor: str, action: str,
           at: datetime) -> tuple[Incident, Incident]:
    """Compare-and-set: apply ``change`` to the latest incident; returns (before, after).

    ``change`` raises (IncidentError, NoChange) to refuse; nothing is written then.
    """
    key = keys.incident(incident_id)

    def decide(pipe: redis.client.Pipeline) -> Commit[tuple[Incident, Incident]]:
        old = _decode(pipe.get(key))
        if old is None:
            raise IncidentGone("That incident no longer exists.")
        new = change(old)
        if new.version <= old.version:
            raise ValueError("an incident change must bump its version")

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, _encode(new))
            _index(pipe, old, new, at)
            audit.record(pipe, actor=actor, action=f"incident.{action}", at=at,
                         incident=incident_id, team=new.team, version=new.version)

        return Commit((old, new), writes)

    return compare_and_set(r, [key], decide, what=f"incident {incident_id}")


def _index(pipe: redis.client.Pipeline, old: Incident, new: Incident, at: datetime) -> None:
    if new.channel_id and new.channel_id != old.channel_id:
        pipe.set(keys.incident_by_channel(new.channel_id), new.id)
    if old.is_open and not new.is_open:
        pipe.srem(keys.incidents_open(), new.id)
        pipe.zadd(keys.incidents_resolved(), {new.id: at.timestamp()})


# ---------------------------------------------------------------------------
# Slack-side progress: which setup steps are done, where the summary is pinned


def slack_state(r: redis.Redis, incident_id: str) -> dict[str, str]:
    raw = r.hgetall(keys.incident_slack(incident_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


def mark(r: redis.Redis, incident_id: str, **fields: str) -> None:
    r.hset(keys.incident_slack(incident_id), mapping=fields)


def lock_setup(r: redis.Redis, incident_id: str) -> bool:
    """One setup job at a time per incident; expires in case its worker dies."""
    return bool(r.set(keys.once("incident-setup", incident_id), b"1", nx=True, ex=SETUP_LOCK_TTL))


def unlock_setup(r: redis.Redis, incident_id: str) -> None:
    r.delete(keys.once("incident-setup", incident_id))


def request_refresh(r: redis.Redis, incident_id: str) -> bool:
    """True when the caller should enqueue a re-render (none is pending yet)."""
    return bool(r.set(keys.incident_refresh_pending(incident_id), b"1", nx=True,
                      ex=REFRESH_PENDING_TTL))


def refresh_started(r: redis.Redis, incident_id: str) -> None:
    """Clear the flag before rendering, so a change made meanwhile queues another render."""
    r.delete(keys.incident_refresh_pending(incident_id))
