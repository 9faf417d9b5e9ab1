"""RQ entry points of remediation (`bot.services.remediation`)."""

from __future__ import annotations

from bot import runtime
from bot.services import remediation


def post_request(request_id: str) -> None:
    remediation.post_request(runtime.current(), request_id)


def refresh(request_id: str, note: str = "") -> None:
    remediation.refresh(runtime.current(), request_id, note)


def execute(request_id: str) -> None:
    remediation.execute(runtime.current(), request_id)
