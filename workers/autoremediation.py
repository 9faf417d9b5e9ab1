"""RQ entry points of self-healing (`bot.services.autoremediation`)."""

from __future__ import annotations

from bot import runtime
from bot.services import autoremediation


def run_ended(run_id: str) -> None:
    autoremediation.run_ended(runtime.current(), run_id)


def alert_resolved(key: str, occurrence: int) -> None:
    autoremediation.alert_resolved(runtime.current(), key, occurrence)
