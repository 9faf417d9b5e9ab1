"""Slack messages sent on a handler's behalf: owed on the request path, sent by a job.

A handler must ack within three seconds, so it owes the Web API call (`post`,
`update`, `tell`) through `bot.services.deliveries`: stored in Redis and made
by a job through the sender, which retries 429 and 5xx; a call that still
fails because Slack is away stays owed and is tried again later, across
outages and restarts. A newer update of the same message supersedes an older
one still owed. `response_url` answers are owed for the 30 minutes Slack
honours them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from bot.domain.deliveries import RESPONSE_URL
from bot.runtime import QUEUE_DEFAULT, Runtime
from bot.services import deliveries

RESPONSE_URL_LIFETIME = timedelta(minutes=30)


# ---------------------------------------------------------------- owing (request path)


def enqueue_call(rt: Runtime, method: str, args: dict[str, Any], *,
                 queue: str = QUEUE_DEFAULT) -> None:
    deliveries.owe(rt, "message", uuid.uuid4().hex, method, args, keep=False, queue=queue)


def post(rt: Runtime, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
         queue: str = QUEUE_DEFAULT) -> None:
    args: dict[str, Any] = {"channel": channel, "text": text}
    if blocks:
        args["blocks"] = blocks
    enqueue_call(rt, "chat.postMessage", args, queue=queue)


def update(rt: Runtime, channel: str, ts: str, message: dict[str, Any]) -> None:
    """Owed until Slack accepts it; a later update of the same message replaces it."""
    deliveries.owe(rt, "message", f"update-{channel}-{ts}", "chat.update",
                   {"channel": channel, "ts": ts, **message}, replace_owed=True, keep=False)


def _respond(rt: Runtime, response_url: str, payload: dict[str, Any], queue: str) -> None:
    deliveries.owe(rt, "response", uuid.uuid4().hex, RESPONSE_URL,
                   {"url": response_url, "payload": payload},
                   expires_at=rt.now() + RESPONSE_URL_LIFETIME, keep=False, queue=queue)


def replace_clicked(rt: Runtime, response_url: str | None, message: dict[str, Any], *,
                    queue: str = QUEUE_DEFAULT) -> None:
    """Replace the message a click came from (ephemeral ones too), e.g. once its buttons are
    spent, through the click's response_url."""
    if response_url:
        _respond(rt, response_url, {"replace_original": True, **message}, queue)


def tell(rt: Runtime, response_url: str | None, text: str, *, queue: str = QUEUE_DEFAULT) -> None:
    """An ephemeral answer to whoever clicked or typed."""
    if response_url:
        _respond(rt, response_url,
                 {"response_type": "ephemeral", "replace_original": False, "text": text}, queue)

