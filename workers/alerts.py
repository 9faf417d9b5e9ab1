"""RQ entry points of the alerts feature (`bot.services.alerts`)."""

from __future__ import annotations

from bot import runtime
from bot.services import alerts


def sync_message(key: str) -> None:
    alerts.sync_message(runtime.current(), key)


def escalate(key: str, occurrence: int, position: int) -> None:
    alerts.escalate(runtime.current(), key, occurrence, position)
