"""RQ entry points of the alerts feature (`bot.services.alerts`)."""

from __future__ import annotations

from bot import runtime
from bot.services import alerts


def sync_message(key: str) -> None:
    alerts.sync_message(runtime.current(), key)


def escalate(key: str, occurrence: int, position: int) -> None:
    alerts.escalate(runtime.current(), key, occurrence, position)


def page_posted(key: str, occurrence: int, kind: str, notify: str, targets: str, digest: str,
                answer: dict[str, str]) -> None:
    alerts.page_posted(runtime.current(), key, occurrence, kind, notify, targets, digest, answer)


def channel_posted(key: str, occurrence: int, kind: str, notify: str, targets: str, digest: str,
                   position: int, ident: str, answer: dict[str, str]) -> None:
    alerts.channel_posted(runtime.current(), key, occurrence, kind, notify, targets, digest,
                          position, ident, answer)


def channel_unreachable(key: str, occurrence: int, position: int, why: str) -> None:
    alerts.channel_unreachable(runtime.current(), key, occurrence, position, why)
