"""Owed deliveries: Slack calls kept in Redis until Slack accepted them.

A delivery is stored under its id with SET NX, so owing the same thing twice
(two workers, a retried job) owes it once; the record stays after it is done
(without what was sent), as the claim, unless it has nothing to claim. While
owed, its id is in its kind's sorted set, scored by when its next attempt is
due: that set is what the periodic check re-queues and what `/metrics` counts.
One worker sends at a time (a short sending lock).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

import redis

from bot.domain.deliveries import Delivery
from bot.domain.history import Event
from bot.store import history as history_store
from bot.store import keys
from bot.store.base import Commit, compare_and_set

DELIVERY_TTL = 14 * 86400
SENDING_LOCK_SECONDS = 120  # longer than the sender may take with all its retries (~76 s)

# SET NX the record; list it as owed only when it was new.
_OWE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  return 1
end
return 0
"""


def owe(r: redis.Redis, delivery: Delivery, *, ttl: int = DELIVERY_TTL,
        replace_owed: bool = False, history: tuple[str, Event] | None = None) -> Delivery | None:
    """Store a new owed delivery, due now; None when it was owed (or done) already.

    `replace_owed` stores it even so, with a fresh nonce: the newer call supersedes
    the older (a later chat.update of the same message). `history` (team, event) is
    appended to the team's history in the same transaction, only when the delivery is new."""
    delivery = replace(delivery, nonce=uuid.uuid4().hex[:12], state="owed", attempts=0)
    raw = json.dumps(delivery.to_dict())
    ttl = max(ttl, DELIVERY_TTL)
    score = delivery.created_at.timestamp()
    owed = keys.deliveries_owed(delivery.kind)
    if history is not None:
        assert not replace_owed, "a history entry goes with a new delivery only"
        return _owe_recording(r, delivery, raw, ttl, score, history)
    if replace_owed:
        with r.pipeline() as pipe:
            pipe.set(keys.delivery(delivery.id), raw, ex=ttl)
            pipe.zadd(owed, {delivery.id: score})
            pipe.execute()
        return delivery
    created = r.eval(_OWE, 2, keys.delivery(delivery.id), owed, raw, ttl, score, delivery.id)
    return delivery if created else None


def _owe_recording(r: redis.Redis, delivery: Delivery, raw: str, ttl: int, score: float,
                   history: tuple[str, Event]) -> Delivery | None:
    """`owe` and its history entry in one MULTI: a crash leaves both or neither."""
    key = keys.delivery(delivery.id)

    def decide(pipe: redis.client.Pipeline) -> Commit[Delivery | None]:
        if pipe.exists(key):
            return Commit(None)

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, raw, ex=ttl)
            pipe.zadd(keys.deliveries_owed(delivery.kind), {delivery.id: score})
            history_store.append(pipe, *history)

        return Commit(delivery, writes)

    return compare_and_set(r, [key], decide, what=key)


def get(r: redis.Redis, delivery_id: str) -> Delivery | None:
    raw = r.get(keys.delivery(delivery_id))
    return None if raw is None else Delivery.from_dict(json.loads(raw))


def due_at(r: redis.Redis, delivery: Delivery) -> datetime | None:
    """When the owed delivery's next attempt is due (None once it is not owed)."""
    score = r.zscore(keys.deliveries_owed(delivery.kind), delivery.id)
    return None if score is None else datetime.fromtimestamp(float(score), UTC)


def start_sending(r: redis.Redis, delivery_id: str, seconds: int = SENDING_LOCK_SECONDS) -> bool:
    return bool(r.set(keys.delivery_sending(delivery_id), b"1", nx=True, ex=seconds))


def stop_sending(r: redis.Redis, delivery_id: str) -> None:
    r.delete(keys.delivery_sending(delivery_id))


def finish(r: redis.Redis, sent: Delivery, state: str, next_at: datetime | None = None) -> bool:
    """Record the outcome of sending `sent`: done, failed or expired, or (state "owed") one
    more attempt due at `next_at`. False when a newer version replaced it meanwhile (that
    one stays owed, and its own job sends it)."""
    key = keys.delivery(sent.id)
    owed = keys.deliveries_owed(sent.kind)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                current = None if raw is None else Delivery.from_dict(json.loads(raw))
                ttl = max(int(pipe.ttl(key)), 60)
                pipe.multi()
                if current is None or current.nonce != sent.nonce:
                    pipe.delete(keys.delivery_sending(sent.id))
                    pipe.execute()
                    return False
                if state == "owed":
                    assert next_at is not None
                    new = replace(current, attempts=current.attempts + 1)
                    pipe.zadd(owed, {sent.id: next_at.timestamp()})
                else:  # what was sent and its follow-ups are not kept with the claim
                    new = replace(current, state=state, args={}, on_accepted=(), on_failed=())
                    pipe.zrem(owed, sent.id)
                if new.state != "owed" and not new.keep:
                    pipe.delete(key)
                else:
                    pipe.set(key, json.dumps(new.to_dict()), ex=ttl)
                pipe.delete(keys.delivery_sending(sent.id))
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def due(r: redis.Redis, kinds: Iterable[str], before: datetime, limit: int = 500) -> list[str]:
    """Ids of owed deliveries whose attempt was due before `before`."""
    found: list[str] = []
    for kind in kinds:
        ids = r.zrangebyscore(keys.deliveries_owed(kind), "-inf", before.timestamp(), start=0,
                              num=limit)
        found.extend(i.decode() for i in ids)
    return found


def requeued(r: redis.Redis, kind: str, delivery_id: str, at: datetime) -> None:
    """An overdue delivery was queued again at `at`: not overdue again for a while."""
    r.zadd(keys.deliveries_owed(kind), {delivery_id: at.timestamp()}, xx=True)


def forget(r: redis.Redis, kind: str, delivery_id: str) -> None:
    """Drop an id from the owed set whose record is gone (expired with its TTL)."""
    r.zrem(keys.deliveries_owed(kind), delivery_id)


def owed_counts(r: redis.Redis, kinds: Iterable[str]) -> dict[str, int]:
    kinds = list(kinds)
    with r.pipeline(transaction=False) as pipe:
        for kind in kinds:
            pipe.zcard(keys.deliveries_owed(kind))
        counts = pipe.execute()
    return {kind: int(n) for kind, n in zip(kinds, counts, strict=True)}
