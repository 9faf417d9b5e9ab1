"""Cached Slack user profiles (name and timezone), one JSON value per user, kept for
`PROFILE_TTL` (`bot.services.profiles` asks Slack when the cache has none)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import redis

from bot.store import keys

PROFILE_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Profile:
    user: str
    name: str
    tz: str


def cached_profile(r: redis.Redis, user: str) -> Profile | None:
    raw = r.get(keys.user_profile(user))
    if raw is None:
        return None
    data = json.loads(raw)
    return Profile(user=user, name=data.get("name", ""), tz=data["tz"])


def save_profile(r: redis.Redis, profile: Profile) -> None:
    r.set(keys.user_profile(profile.user), json.dumps({"name": profile.name, "tz": profile.tz}),
          ex=int(PROFILE_TTL.total_seconds()))
