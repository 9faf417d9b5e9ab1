"""RQ entry points of remediation (`bot.services.remediation`)."""

from __future__ import annotations

from bot import runtime
from bot.services import remediation


def post_request(request_id: str) -> None:
    remediation.post_request(runtime.current(), request_id)


def request_posted(request_id: str, answer: dict[str, str]) -> None:
    remediation.request_posted(runtime.current(), request_id, answer)


def request_undeliverable(request_id: str, why: str) -> None:
    remediation.request_undeliverable(runtime.current(), request_id, why)


def refresh(request_id: str, note: str = "") -> None:
    remediation.refresh(runtime.current(), request_id, note)


def execute(request_id: str) -> None:
    remediation.execute(runtime.current(), request_id)
