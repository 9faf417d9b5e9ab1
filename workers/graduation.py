"""RQ entry points of graduation suggestions (`bot.services.graduation`)."""

from __future__ import annotations

from bot import runtime
from bot.services import graduation


def settle(run_id: str) -> None:
    graduation.settle(runtime.current(), run_id)


def posted(ident: str, manager: str, answer: dict[str, str]) -> None:
    graduation.posted(runtime.current(), ident, manager, answer)
