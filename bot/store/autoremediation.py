"""Self-healing in Redis: one record per alert occurrence, the rules' run counts, circuit
breakers and the teams' kill switches.

The record of an occurrence is created once (compare-and-set on its key): with it, in
the same transaction, the rule's run request and its one-run lock (`max_runs` counted
from `healing_runs`), so of any number of workers deciding for the same alert exactly
one run is created. Later changes (the run's outcome with the breaker, paging
starting, a page saved with its history entry) are compare-and-sets too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from bot.domain import autoremediation as domain
from bot.domain.autoremediation import Breaker, Healing
from bot.domain.config import RunLimit
from bot.domain.history import Event
from bot.domain.remediation import RunRequest
from bot.store import audit, history, keys
from bot.store import remediation as runs
from bot.store.base import Commit, compare_and_set

RECORD_TTL = 30 * 86400


def _member(group: str, occurrence: int) -> str:
    return f"{group} {occurrence}"


def get(r: redis.Redis | redis.client.Pipeline, group: str, occurrence: int) -> Healing | None:
    raw = r.get(keys.healing(group, occurrence))
    return None if raw is None else Healing.from_json(raw)


def _write(pipe: redis.client.Pipeline, h: Healing) -> None:
    pipe.set(keys.healing(h.group, h.occurrence), h.to_json(), ex=RECORD_TTL)
    if h.open:
        pipe.zadd(keys.healing_open(), {_member(h.group, h.occurrence): h.page_at.timestamp()})
    else:
        pipe.zrem(keys.healing_open(), _member(h.group, h.occurrence))


def start(r: redis.Redis, h: Healing, req: RunRequest | None, *, limit: RunLimit,
          lock_ttl: int, now: datetime, event: Event | None = None) -> tuple[Healing, bool]:
    """Record the decision for an occurrence once; returns (the record, whether this call made it).

    With `req` (the rule's run), `max_runs` and the one-run lock are checked in the same
    transaction: when either refuses, the record says why and no run is created.
    `event` (a refusal's history entry) is written when the record is refused.
    """
    key = keys.healing(h.group, h.occurrence)
    count_key = keys.healing_runs(h.rule)
    watch = [key, count_key] + ([keys.run_lock(req.lock_key)] if req else [])

    def decide(pipe: redis.client.Pipeline) -> Commit[tuple[Healing, bool]]:
        existing = get(pipe, h.group, h.occurrence)
        if existing is not None:
            return Commit((existing, False))
        record, run = h, req
        if run is not None:
            since = (now - limit.window).timestamp()
            done = int(pipe.zcount(count_key, f"({since}", "+inf"))
            holder = runs.lock_holder(pipe, run)
            if done >= limit.count:
                record, run = domain.refused(h, domain.max_runs_reason(h.rule, done, limit)), None
            elif holder is not None:
                record, run = domain.refused(h, domain.locked_reason(holder)), None

        def writes(pipe: redis.client.Pipeline) -> None:
            _write(pipe, record)
            if run is not None:
                runs.create_writes(pipe, run, lock_ttl)
                pipe.zadd(count_key, {run.id: now.timestamp()})
                pipe.zremrangebyscore(count_key, "-inf", (now - limit.window).timestamp())
                pipe.expire(count_key, int(limit.window.total_seconds()) + 60)
            if record.state == "refused" and event is not None:
                history.append(pipe, record.team, event_for(event, record))

        return Commit((record, True), writes)

    return compare_and_set(r, watch, decide, what=key)


def event_for(event: Event, h: Healing) -> Event:
    """The history entry with the record's final outcome and run."""
    return Event(event.kind, event.at, {**event.fields, "outcome": h.state, "run": h.run})


def update(r: redis.Redis, group: str, occurrence: int,
           change: Callable[[Healing], Healing | None], event: Event | None = None) -> Healing | None:
    """Compare-and-set one record; None when there is none or `change` declines.

    `event` (the occurrence's history entry, its outcome taken from the new state) is
    written with the change when it settles the record as paged or healed.
    """
    key = keys.healing(group, occurrence)

    def decide(pipe: redis.client.Pipeline) -> Commit[Healing | None]:
        old = get(pipe, group, occurrence)
        new = None if old is None else change(old)
        if old is None or new is None:
            return Commit(None)

        def writes(pipe: redis.client.Pipeline) -> None:
            _write(pipe, new)
            if event is not None and old.state != new.state and new.state in ("paged", "healed"):
                history.append(pipe, new.team, event_for(event, new))

        return Commit(new, writes)

    return compare_and_set(r, [key], decide, what=key)


def settle_run(r: redis.Redis, group: str, occurrence: int, outcome: str, exit_code: int | None,
               seconds: float | None, threshold: int,
               now: datetime) -> tuple[Healing | None, Breaker, bool]:
    """Record the run's outcome once, and count it on the rule's breaker in the same
    transaction. Returns (the record, or None when already recorded; the breaker; whether
    this run opened it)."""
    key = keys.healing(group, occurrence)

    def decide(pipe: redis.client.Pipeline) -> Commit[tuple[Healing | None, Breaker, bool]]:
        old = get(pipe, group, occurrence)
        new = None if old is None else domain.ran(old, outcome, exit_code, seconds)
        if old is None or new is None:
            return Commit((None, Breaker(), False))
        breaker_key = keys.healing_breaker(old.rule)
        pipe.watch(breaker_key)
        breaker, opened = domain.after_run(Breaker.from_json(pipe.get(breaker_key)),
                                           outcome == "succeeded", threshold, now)

        def writes(pipe: redis.client.Pipeline) -> None:
            _write(pipe, new)
            pipe.set(breaker_key, breaker.to_json())

        return Commit((new, breaker, opened), writes)

    return compare_and_set(r, [key], decide, what=key)


def open_records(r: redis.Redis) -> list[tuple[str, int]]:
    """(group, occurrence) of every record whose run or paging is not settled yet."""
    found = []
    for member in r.zrange(keys.healing_open(), 0, -1):
        group, _, occurrence = member.decode().rpartition(" ")
        if occurrence.isdigit():
            found.append((group, int(occurrence)))
    return found


def forget(r: redis.Redis, group: str, occurrence: int) -> None:
    """Drop an index entry whose record or alert is gone (data loss, expiry)."""
    r.zrem(keys.healing_open(), _member(group, occurrence))


# ---------------------------------------------------------------- guard rails


def breaker(r: redis.Redis, rule: str) -> Breaker:
    return Breaker.from_json(r.get(keys.healing_breaker(rule)))


def runs_in_window(r: redis.Redis, rule: str, limit: RunLimit, now: datetime) -> int:
    return int(r.zcount(keys.healing_runs(rule), f"({(now - limit.window).timestamp()}", "+inf"))


def switched_off(r: redis.Redis, team: str) -> dict[str, Any] | None:
    """{by, at} while a manager has switched the team's self-healing off, else None."""
    raw = r.get(keys.healing_off(team))
    return None if raw is None else json.loads(raw)


def switch(r: redis.Redis, team: str, on: bool, by: str, now: datetime,
           rules: list[str]) -> bool:
    """Switch a team's self-healing off, or on again (which also closes its rules' breakers).

    Audited in the same transaction. Returns False when nothing changed.
    """
    off_key = keys.healing_off(team)
    breaker_keys = [keys.healing_breaker(rule) for rule in rules]

    def decide(pipe: redis.client.Pipeline) -> Commit[bool]:
        was_off = pipe.exists(off_key)
        opened = [rule for rule, k in zip(rules, breaker_keys, strict=True)
                  if Breaker.from_json(pipe.get(k)).open]
        if (not on and was_off) or (on and not was_off and not opened):
            return Commit(False)

        def writes(pipe: redis.client.Pipeline) -> None:
            if on:
                pipe.delete(off_key, *breaker_keys)
            else:
                pipe.set(off_key, json.dumps({"by": by, "at": now.isoformat()}))
            audit.record(pipe, actor=by, action="autoremediation." + ("on" if on else "off"),
                         at=now, team=team, rules=rules, breakers_closed=opened if on else [])

        return Commit(True, writes)

    return compare_and_set(r, [off_key, *breaker_keys], decide, what=off_key)
