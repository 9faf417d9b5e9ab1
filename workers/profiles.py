"""RQ entry point of user profile look-ups (`bot.services.profiles`)."""

from __future__ import annotations

from bot import runtime
from bot.services import profiles


def look_up(users: list[str]) -> None:
    profiles.look_up(runtime.current(), users)
