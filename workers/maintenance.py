"""Maintenance jobs: a window's start or end came due (entry point only)."""

from __future__ import annotations

from bot import runtime
from bot.services import maintenance as service


def edge(team: str, window_id: str) -> None:
    service.edge(runtime.current(), team, window_id)
