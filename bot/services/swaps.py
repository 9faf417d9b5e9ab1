"""Swap and cover requests: the invitee's DM, and what it says once the request expired.

The DM with Accept / Decline is posted by a job that remembers where it is.
Answering replaces it (bot/slack/listeners/swaps.py); a request nobody answered
before its shift started is expired by the periodic check, which says so in the
DM and takes its buttons away, once with any number of workers.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.runtime import Runtime
from bot.services import deliveries, messages
from bot.slack import render_swaps as render
from bot.slack.format import date_token
from bot.store import swap_requests as store

log = logging.getLogger("atbat.swaps")


def post_request(rt: Runtime, request_id: str) -> None:
    """Owe the invitee a DM with Accept / Decline until Slack accepts it (or the request
    expires); where the DM is, is remembered then."""
    req = store.get(rt.redis, request_id)
    if req is None or req.state != "pending":
        return
    message = render.request_message(req)
    deliveries.owe(rt, "swap_request", req.id, "chat.postMessage",
                   {"channel": req.invitee, **message}, expires_at=req.expires_at,
                   on_accepted=("workers.swaps.request_posted", req.id))


def request_posted(rt: Runtime, request_id: str, answer: dict[str, str]) -> None:
    """Slack accepted the DM (owed until then): remember it, so expiry and answers update it."""
    store.remember_message(rt.redis, request_id, answer["channel"], answer["ts"])


def expire_requests(rt: Runtime, now: datetime) -> None:
    """Requests past their answer time: expired, and their DM says so, without buttons."""
    for request_id in store.expired_ids(rt.redis, now):
        req = store.expire(rt.redis, request_id, now)
        where = (req.data.get("message") or {}) if req else {}
        if req is None or not where:
            continue
        outcome = (f"*Expired* {date_token(req.expires_at)}: nobody answered before the "
                   "shift started, so nothing changed.")
        messages.update(rt, where["channel"], where["ts"], render.answered_message(req, outcome))
        log.info("request expired kind=%s id=%s team=%s invitee=%s", req.kind, req.id, req.team,
                 req.invitee)
