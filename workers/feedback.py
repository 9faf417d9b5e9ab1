"""Feedback jobs: ask the people a resolved alert paged whether it was worth it (thin)."""

from __future__ import annotations

from bot import runtime
from bot.domain.feedback import FeedbackTarget
from bot.services import feedback


def ask(group_key: str, occurrence: int) -> None:
    feedback.ask(runtime.current(), FeedbackTarget(group_key, occurrence))
