"""What the handoff checks remember: the user group members atbat last wrote."""

from __future__ import annotations

import json

import redis

from bot.store import keys
from bot.store.base import read_json


def synced_users(r: redis.Redis, team: str) -> list[str] | None:
    return read_json(r, keys.usergroup_synced(team))


def record_synced(r: redis.Redis, team: str, users: list[str]) -> None:
    r.set(keys.usergroup_synced(team), json.dumps(users))
