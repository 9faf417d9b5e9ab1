"""What a Redis server says about itself: its settings, its replication, its sentinels."""

from __future__ import annotations

from typing import Any

import redis

from bot.store.base import UNAVAILABLE
from bot.store.connection import SentinelTarget, sentinel_for


def ping(r: redis.Redis) -> bool:
    return bool(r.ping())


def settings(r: redis.Redis) -> dict[str, str]:
    """CONFIG GET * as text (ResponseError where CONFIG is not allowed, e.g. managed Redis)."""
    return {_text(k): _text(v) for k, v in r.config_get("*").items()}


def replication(r: redis.Redis) -> dict[str, Any]:
    return r.info("replication")


def sentinels_answering(target: SentinelTarget) -> int:
    answering = 0
    for client in sentinel_for(target).sentinels:
        try:
            client.ping()
            answering += 1
        except UNAVAILABLE:
            pass
    return answering


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
