"""RQ entry points of the incidents feature (`bot.services.incidents`)."""

from __future__ import annotations

from bot import runtime
from bot.services import incidents


def setup(incident_id: str, origin_channel: str = "", origin_ts: str = "") -> None:
    incidents.setup(runtime.current(), incident_id, origin_channel, origin_ts)


def invite(incident_id: str, users: list[str]) -> None:
    incidents.invite(runtime.current(), incident_id, users)


def refresh(incident_id: str) -> None:
    incidents.refresh(runtime.current(), incident_id)


def resolved(incident_id: str) -> None:
    incidents.resolved(runtime.current(), incident_id)
