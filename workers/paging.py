"""RQ entry points of paging (`bot.services.paging`)."""

from __future__ import annotations

from bot import runtime
from bot.services import ack_timeouts, paging


def send_step(page_id: str, index: int) -> None:
    paging.send_step(runtime.current(), page_id, index)


def unreachable(page_id: str, why: str) -> None:
    paging.unreachable_later(runtime.current(), page_id, why)


def ack_ask(key: str, occurrence: int, acked_at: str) -> None:
    ack_timeouts.ask(runtime.current(), key, occurrence, acked_at)


def ack_expire(key: str, occurrence: int, acked_at: str) -> None:
    ack_timeouts.expire(runtime.current(), key, occurrence, acked_at)
