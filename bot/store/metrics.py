"""Metric figures in Redis, so every web and worker process adds to the same ones.

Counters live in one hash (field "name|labels"); each histogram in a hash of
its own (fields "le=BOUND", "count", "sum").
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from bot.store import keys

COUNTERS = ""  # the `histogram` of an increment that goes to the counters


def _key(histogram: str) -> str:
    return keys.metrics_histogram(histogram) if histogram else keys.metrics_counters()


def add(r: redis.Redis, increments: Mapping[tuple[str, str], float]) -> None:
    """Add (histogram or COUNTERS, field) -> amount in one round trip."""
    pipe = r.pipeline(transaction=False)
    for (histogram, field), amount in increments.items():
        if field == "sum":
            pipe.hincrbyfloat(_key(histogram), field, amount)
        else:
            pipe.hincrby(_key(histogram), field, int(amount))
    pipe.execute()


def count(r: redis.Redis, field: str, amount: int = 1) -> None:
    r.hincrby(keys.metrics_counters(), field, amount)


def counters(r: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in r.hgetall(keys.metrics_counters()).items()}


def histogram(r: redis.Redis, name: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in r.hgetall(keys.metrics_histogram(name)).items()}
