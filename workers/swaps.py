"""RQ entry points of swap and cover requests (`bot.services.swaps`)."""

from __future__ import annotations

from bot import runtime
from bot.services import swaps


def post_request(request_id: str) -> None:
    swaps.post_request(runtime.current(), request_id)


def request_posted(request_id: str, answer: dict[str, str]) -> None:
    swaps.request_posted(runtime.current(), request_id, answer)
