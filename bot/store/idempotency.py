"""Remembers which Slack requests were handled, so retries and replays do nothing twice."""

from __future__ import annotations

from typing import Any

import redis

from bot.store import keys
from bot.store.base import claim_once

# Slack retries within minutes; replayed signatures are refused after 5 minutes.
SEEN_TTL_SECONDS = 3600


def request_id(body: dict[str, Any]) -> str | None:
    """The id Slack repeats on a retry: event_id for events, trigger_id otherwise."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    trigger = body.get("trigger_id")
    if trigger:
        # A click and the view it opens can share a trigger id; keep kinds apart.
        kind = body.get("type") or body.get("command") or "request"
        action = ""
        if body.get("actions"):
            action = ":" + str(body["actions"][0].get("action_ts", ""))
        return f"{kind}:{trigger}{action}"
    return None


def claim(r: redis.Redis, dedup_id: str) -> bool:
    return claim_once(r, keys.seen_request(dedup_id), SEEN_TTL_SECONDS)
