"""Silences made from atbat: the record, its thread message, and the expiry-warning index.

Each write commits in one MULTI with its audit entry.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import redis

from bot.domain.silences import SilenceRecord
from bot.store import audit, keys
from bot.store.base import Commit, claim_once, compare_and_set

# A record outlives its silence a while so late clicks on its buttons find it.
KEEP_AFTER_END = timedelta(days=8)


def _ttl(record: SilenceRecord, now: datetime) -> int:
    return max(60, int((record.ends_at - now + KEEP_AFTER_END).total_seconds()))


def get(r: redis.Redis, ident: str) -> SilenceRecord | None:
    raw = r.get(keys.silence(ident))
    return None if raw is None else SilenceRecord.from_dict(json.loads(raw))


def save(r: redis.Redis, record: SilenceRecord, *, actor: str, action: str, now: datetime,
         replaces: str | None = None, **details: object) -> None:
    """Store a new or extended silence (dropping the one it `replaces`) with its audit entry."""
    carry = bool(replaces and replaces != record.id and r.exists(keys.silence_message(replaces)))
    with r.pipeline() as pipe:
        if replaces and replaces != record.id:
            pipe.delete(keys.silence(replaces))
            pipe.zrem(keys.silences_warn_due(), replaces)
            pipe.zrem(keys.silences_end_due(), replaces)
            if carry:
                pipe.rename(keys.silence_message(replaces), keys.silence_message(record.id))
        pipe.set(keys.silence(record.id), json.dumps(record.to_dict()), ex=_ttl(record, now))
        pipe.zadd(keys.silences_warn_due(), {record.id: record.warn_at().timestamp()})
        pipe.zadd(keys.silences_end_due(), {record.id: record.ends_at.timestamp()})
        audit.record(pipe, actor=actor, action=action, at=now, silence=record.id,
                     team=record.team, alert=record.alert_key, ends_at=record.ends_at,
                     matchers=[m.to_text() for m in record.matchers], **details)
        pipe.execute()


def mark_expired(r: redis.Redis, ident: str, by: str, now: datetime) -> SilenceRecord | None:
    """Expired now by `by`; None when it was expired already (a second click)."""
    return _finish(r, ident, by, now, actor=by, action="silence.expire")


def _finish(r: redis.Redis, ident: str, by: str | None, now: datetime, *, actor: str,
            action: str) -> SilenceRecord | None:
    """An active silence marked over (by a person, or by running out), with its audit entry."""
    key = keys.silence(ident)

    def decide(pipe: redis.client.Pipeline) -> Commit[SilenceRecord | None]:
        raw = pipe.get(key)
        record = None if raw is None else SilenceRecord.from_dict(json.loads(raw))
        if record is None or record.state != "active":
            return Commit(None)
        done = record.expired(by)

        def writes(tx: redis.client.Pipeline) -> None:
            tx.set(key, json.dumps(done.to_dict()), ex=_ttl(done, now))
            tx.zrem(keys.silences_warn_due(), ident)
            tx.zrem(keys.silences_end_due(), ident)
            audit.record(tx, actor=actor, action=action, at=now, silence=ident,
                         team=record.team, alert=record.alert_key)

        return Commit(done, writes)

    return compare_and_set(r, [key], decide, what=f"silence {ident}")


def save_message(r: redis.Redis, ident: str, channel: str, ts: str) -> None:
    r.set(keys.silence_message(ident), json.dumps({"channel": channel, "ts": ts}),
          ex=int(KEEP_AFTER_END.total_seconds()) * 2)


def get_message(r: redis.Redis, ident: str) -> tuple[str, str] | None:
    raw = r.get(keys.silence_message(ident))
    if raw is None:
        return None
    data = json.loads(raw)
    return data["channel"], data["ts"]


def warnings_due(r: redis.Redis, now: datetime) -> list[str]:
    return [m.decode() for m in r.zrangebyscore(keys.silences_warn_due(), "-inf", now.timestamp())]


def claim_warning(r: redis.Redis, record: SilenceRecord, now: datetime) -> bool:
    """True once per silence and end time (an extended silence warns again)."""
    ident = f"{record.id}:{int(record.ends_at.timestamp())}"
    if not claim_once(r, keys.once("silence-warn", ident), 8 * 86400):
        return False
    with r.pipeline() as pipe:
        pipe.zrem(keys.silences_warn_due(), record.id)
        audit.record(pipe, actor="atbat", action="silence.warn", at=now, silence=record.id,
                     team=record.team, ends_at=record.ends_at)
        pipe.execute()
    return True


def forget_warning(r: redis.Redis, ident: str) -> None:
    r.zrem(keys.silences_warn_due(), ident)


def audit_only(r: redis.Redis, *, actor: str, action: str, now: datetime, **details: object) -> None:
    """An audit entry for a silence atbat keeps no record of (made in Alertmanager's UI)."""
    audit.record(r, actor=actor, action=action, at=now, **details)


def ends_due(r: redis.Redis, now: datetime) -> list[str]:
    return [m.decode() for m in r.zrangebyscore(keys.silences_end_due(), "-inf", now.timestamp())]


def forget_end(r: redis.Redis, ident: str) -> None:
    r.zrem(keys.silences_end_due(), ident)


def mark_ended(r: redis.Redis, ident: str, now: datetime) -> SilenceRecord | None:
    """It ran out by itself; None when it was already expired or ended (another worker)."""
    return _finish(r, ident, None, now, actor="alertmanager", action="silence.ended")


