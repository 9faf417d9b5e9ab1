"""RQ entry points for Web API calls queued by `bot.services.messages`."""

from __future__ import annotations

from typing import Any

from bot import runtime
from bot.services import messages


def call(method: str, args: dict[str, Any]) -> dict[str, Any] | None:
    return messages.call(runtime.current(), method, args)


def respond(response_url: str, payload: dict[str, Any]) -> None:
    messages.respond(runtime.current(), response_url, payload)
