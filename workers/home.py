"""App Home jobs: publish a person's Home tab (thin)."""

from __future__ import annotations

from bot import runtime
from bot.services import home


def publish(user: str) -> None:
    home.publish(runtime.current(), user)
