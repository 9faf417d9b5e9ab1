"""App Home jobs: publish a person's Home tab; redraw the tabs a change touched (thin)."""

from __future__ import annotations

from bot import runtime
from bot.services import home


def publish(user: str) -> None:
    home.publish(runtime.current(), user)


def refresh(users: list[str], why: str) -> None:
    home.refresh(runtime.current(), users, why)
