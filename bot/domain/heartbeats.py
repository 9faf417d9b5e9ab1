"""Heartbeats (dead man's switch): a monitor must beat within its timeout, or its team is paged.

Pure Python, the clock is passed in. The state of one heartbeat moves
ok -> missing when no beat came within the timeout (from the last beat, or
from when atbat started watching), and back to ok at the next beat. Each
move is one compare-and-set in the store, so it happens once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.domain.alerts import AlertEvent
from bot.domain.config import Heartbeat

LABEL = "atbat_heartbeat"  # an Alertmanager alert with this label is a beat, not an alert


@dataclass(frozen=True)
class HeartbeatState:
    name: str
    watching_since: datetime
    last_beat: datetime | None = None
    missing_since: datetime | None = None  # set while missing
    opened: bool = False  # the missing alert was opened for this outage

    @property
    def missing(self) -> bool:
        return self.missing_since is not None

    @property
    def heard_at(self) -> datetime:
        return self.last_beat or self.watching_since

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "watching_since": self.watching_since.isoformat(),
                "last_beat": _iso(self.last_beat), "missing_since": _iso(self.missing_since),
                "opened": self.opened}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeartbeatState:
        return cls(name=data["name"], watching_since=datetime.fromisoformat(data["watching_since"]),
                   last_beat=_from_iso(data.get("last_beat")),
                   missing_since=_from_iso(data.get("missing_since")),
                   opened=bool(data.get("opened")))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def beat(state: HeartbeatState | None, name: str, now: datetime) -> HeartbeatState:
    """A beat arrived: ok again (the caller resolves the missing alert when it was missing)."""
    if state is None:
        return HeartbeatState(name=name, watching_since=now, last_beat=now)
    return replace(state, last_beat=now, missing_since=None, opened=False)


def check(state: HeartbeatState | None, heartbeat: Heartbeat, now: datetime) -> HeartbeatState:
    """Watching starts at the first check; missing once the timeout passes without a beat."""
    if state is None:
        return HeartbeatState(name=heartbeat.name, watching_since=now)
    if state.missing or now - state.heard_at <= heartbeat.timeout:
        return state
    return replace(state, missing_since=state.heard_at + heartbeat.timeout)


def dedup_key(heartbeat: Heartbeat) -> str:
    return f"atbat-heartbeat:{heartbeat.name}"


def missing_alert(heartbeat: Heartbeat, state: HeartbeatState) -> AlertEvent:
    """The alert a missing heartbeat opens, paged like any other alert of its team."""
    since = state.heard_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    heard = "its last beat" if state.last_beat else "atbat started watching"
    return AlertEvent(
        routing_key=heartbeat.team, action="trigger", dedup_key=dedup_key(heartbeat),
        summary=f"Heartbeat {heartbeat.name} missing since {since}",
        source_name="atbat heartbeat", severity="critical", timestamp=state.missing_since,
        component=heartbeat.name,
        custom_details={"heartbeat": heartbeat.name, "timeout": str(heartbeat.timeout),
                        "note": f"No beat within {heartbeat.timeout} of {heard}: the monitor "
                                "itself may be down, so alerts may not be arriving."},
        team=heartbeat.team)


def recovered_alert(heartbeat: Heartbeat) -> AlertEvent:
    return AlertEvent(routing_key=heartbeat.team, action="resolve",
                      dedup_key=dedup_key(heartbeat), team=heartbeat.team)
