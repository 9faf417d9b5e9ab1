"""Open cover request jobs: post the request in the team channel (thin)."""

from __future__ import annotations

from bot import runtime
from bot.services import covers


def announce(request_id: str) -> None:
    covers.announce(runtime.current(), request_id)


def announced(request_id: str, answer: dict[str, str]) -> None:
    covers.announced(runtime.current(), request_id, answer)
