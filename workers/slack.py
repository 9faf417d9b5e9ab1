"""RQ entry points of jobs queued by older versions of `bot.services.messages`: now owed
(`bot.services.deliveries`)."""

from __future__ import annotations

import uuid
from typing import Any

from bot import runtime
from bot.domain.deliveries import RESPONSE_URL
from bot.services import deliveries
from bot.services.messages import RESPONSE_URL_LIFETIME


def call(method: str, args: dict[str, Any]) -> None:
    deliveries.owe(runtime.current(), "message", uuid.uuid4().hex, method, args, keep=False)


def respond(response_url: str, payload: dict[str, Any]) -> None:
    rt = runtime.current()
    deliveries.owe(rt, "response", uuid.uuid4().hex, RESPONSE_URL,
                   {"url": response_url, "payload": payload},
                   expires_at=rt.now() + RESPONSE_URL_LIFETIME, keep=False)
