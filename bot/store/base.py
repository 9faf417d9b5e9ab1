"""Redis connection and the atomic building blocks every feature store uses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import redis
from redis._parsers.base import BaseParser

from bot.store import connection, keys

T = TypeVar("T")

ATTEMPTS = 50  # lost races before a compare-and-set gives up with Conflict


class NotReplicated(redis.exceptions.ConnectionError):
    """WAIT: fewer replicas than required confirmed a write in time; it must not be acknowledged.

    A ConnectionError so that it counts as "store unavailable" everywhere."""


class NoReplicasError(redis.exceptions.ResponseError):
    """NOREPLICAS: the master refuses writes, too few replicas (`min-replicas-to-write`)."""


# redis-py has no class of its own for this answer; name it so it can be caught.
BaseParser.EXCEPTION_CLASSES.setdefault("NOREPLICAS", NoReplicasError)

# Every Redis failure that means "the store cannot take this right now". Around a
# Sentinel failover that includes a demoted master refusing writes (READONLY), a
# master short of replicas (NOREPLICAS) and a replica still syncing (MASTERDOWN);
# a full Redis under `noeviction` (OOM) refuses writes too.
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
               redis.exceptions.BusyLoadingError, redis.exceptions.ReadOnlyError,
               redis.exceptions.MasterDownError, NoReplicasError,
               redis.exceptions.OutOfMemoryError)


class Conflict(Exception):
    """A compare-and-set lost too many times in a row."""


def connect(url: str) -> redis.Redis:
    """A client for REDIS_URL, a plain server's or a Sentinel-watched master's."""
    return connection.connect(url)


def claim_once(r: redis.Redis, key: str, ttl_seconds: int) -> bool:
    """True for the first caller only (SET NX): the basis of "exactly once"."""
    return bool(r.set(key, b"1", nx=True, ex=ttl_seconds))


def claim(r: redis.Redis, purpose: str, ident: str, ttl_seconds: int) -> bool:
    """Claim a one-time action (a handoff announcement, an escalation step): True once only."""
    return claim_once(r, keys.once(purpose, ident), ttl_seconds)


def is_claimed(r: redis.Redis, purpose: str, ident: str) -> bool:
    return bool(r.exists(keys.once(purpose, ident)))


def release_claim(r: redis.Redis, purpose: str, ident: str) -> None:
    """Give a claim back, so that the next attempt may take it (the action did not happen)."""
    r.delete(keys.once(purpose, ident))


@contextmanager
def batch(r: redis.Redis) -> Iterator[redis.client.Pipeline]:
    """Several commands (RQ enqueues too, with `pipeline=`) sent in one round trip at the end."""
    with r.pipeline() as pipe:
        yield pipe
        pipe.execute()


def ping(r: redis.Redis) -> bool:
    return bool(r.ping())


def read_json(r: redis.Redis, key: str) -> Any | None:
    raw = r.get(key)
    return None if raw is None else json.loads(raw)


Writes = Callable[[redis.client.Pipeline], None]


@dataclass(frozen=True)
class Commit(Generic[T]):
    """What a compare-and-set decided: its result, and the writes that go with it (None: none)."""

    result: T
    writes: Writes | None = None


def compare_and_set(r: redis.Redis, watch: Sequence[str],
                    decide: Callable[[redis.client.Pipeline], Commit[T]], *,
                    what: str, attempts: int = ATTEMPTS) -> T:
    """The one compare-and-set: WATCH `watch`, read and decide, write in one MULTI, or retry.

    `decide(pipe)` reads through `pipe` (it may WATCH more keys once it knows
    them) and returns a Commit. Its writes (the document, its audit entry,
    index keys) run in one MULTI that only lands if no watched key changed
    meanwhile; otherwise everything is read and decided again. `decide` raises
    to refuse: nothing is written then. Conflict after `attempts` lost races.
    """
    for _ in range(attempts):
        with r.pipeline() as pipe:
            try:
                if watch:
                    pipe.watch(*watch)
                decision = decide(pipe)
                if decision.writes is None:
                    return decision.result
                pipe.multi()
                decision.writes(pipe)
                pipe.execute()
                return decision.result
            except redis.WatchError:
                continue
    raise Conflict(f"too much contention on {what}")
