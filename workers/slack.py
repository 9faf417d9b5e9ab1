"""RQ entry points of jobs queued by older versions of `bot.services.messages`: now owed
(`bot.services.deliveries`)."""

from __future__ import annotations

from typing import Any

from bot import runtime
from bot.services import messages


def call(method: str, args: dict[str, Any]) -> None:
    messages.owe_call(runtime.current(), method, args)


def respond(response_url: str, payload: dict[str, Any]) -> None:
    messages.owe_response(runtime.current(), response_url, payload)
