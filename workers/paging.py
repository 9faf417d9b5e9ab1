"""RQ entry points of paging (`bot.services.paging`)."""

from __future__ import annotations

from bot import runtime
from bot.services import paging


def send_step(page_id: str, index: int) -> None:
    paging.send_step(runtime.current(), page_id, index)
