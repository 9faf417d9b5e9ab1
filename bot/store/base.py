"""Redis connection and the atomic building blocks every feature store uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import redis

T = TypeVar("T")

# Every Redis failure that means "the store cannot be reached right now".
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
               redis.exceptions.BusyLoadingError)


class StoreUnavailable(Exception):
    """Redis cannot be reached; callers answer 503 or a clear message."""


class Conflict(Exception):
    """A compare-and-set lost too many times in a row."""


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, decode_responses=False, socket_connect_timeout=2, socket_timeout=5,
        health_check_interval=30,
    )


def claim_once(r: redis.Redis, key: str, ttl_seconds: int) -> bool:
    """True for the first caller only (SET NX): the basis of "exactly once"."""
    return bool(r.set(key, b"1", nx=True, ex=ttl_seconds))


def release_claim(r: redis.Redis, key: str) -> None:
    """Give a claim back, so that the next attempt may take it (the action did not happen)."""
    r.delete(key)


def read_json(r: redis.Redis, key: str) -> Any | None:
    raw = r.get(key)
    return None if raw is None else json.loads(raw)


def update_json(
    r: redis.Redis,
    key: str,
    change: Callable[[Any | None], T],
    *,
    encode: Callable[[T], Any] = lambda v: v,
    ttl_seconds: int | None = None,
    attempts: int = 20,
) -> T:
    """Compare-and-set a JSON document: read, `change(old)`, write if unchanged meanwhile.

    `change` may raise to abort: nothing is written and the exception goes on.
    """
    for _ in range(attempts):
        with r.pipeline() as pipe:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                old = None if raw is None else json.loads(raw)
                new = change(old)
                pipe.multi()
                pipe.set(key, json.dumps(encode(new), separators=(",", ":")), ex=ttl_seconds)
                pipe.execute()
                return new
            except redis.WatchError:
                continue
    raise Conflict(f"too much contention on {key}")
