"""RQ entry points of owed deliveries (`bot.services.deliveries`)."""

from __future__ import annotations

from bot import runtime
from bot.services import deliveries


def send(delivery_id: str) -> None:
    deliveries.send(runtime.current(), delivery_id)
