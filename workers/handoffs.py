"""RQ entry points of the handoffs feature (`bot.services.handoffs`)."""

from __future__ import annotations

from typing import Any

from bot import runtime
from bot.services import handoffs


def announce(data: dict[str, Any]) -> None:
    handoffs.announce(runtime.current(), handoffs.Handoff.from_job(data))


def announced(data: dict[str, Any], rendered_late: bool, outcome: dict[str, Any] | str) -> None:
    handoffs.announced(runtime.current(), handoffs.Handoff.from_job(data), rendered_late, outcome)


def remind(data: dict[str, Any]) -> None:
    handoffs.remind(runtime.current(), handoffs.Handoff.from_job(data))


def sync_usergroup(team_name: str, users: list[str], change: str) -> None:
    handoffs.sync_usergroup(runtime.current(), team_name, users, change)
