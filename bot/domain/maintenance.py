"""Maintenance windows: while one is on, the team's alerts are stored and shown but page nobody.

Pure Python, the clock is passed in. A window has a planned end and may be
ended early; it may also be scheduled ahead (`from TIME`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

MAX_LENGTH = timedelta(days=7)
MAX_REASON = 300


class MaintenanceError(Exception):
    """A window that may not be opened or ended; str() is the message for the user."""


@dataclass(frozen=True)
class Window:
    id: str
    team: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    ended_by: str | None = None
    ended_at: datetime | None = None

    @property
    def end(self) -> datetime:
        """When it ends (or ended): early by hand, else as planned."""
        return self.ended_at if self.ended_at is not None else self.ends_at

    def active_at(self, at: datetime) -> bool:
        return self.starts_at <= at < self.end

    def over_at(self, at: datetime) -> bool:
        return self.end <= at

    @property
    def started(self) -> bool:
        """False for a scheduled window called off before its start."""
        return self.starts_at <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "team": self.team, "starts_at": self.starts_at.isoformat(),
                "ends_at": self.ends_at.isoformat(), "reason": self.reason,
                "created_by": self.created_by, "created_at": self.created_at.isoformat(),
                "ended_by": self.ended_by,
                "ended_at": self.ended_at.isoformat() if self.ended_at else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        return cls(id=data["id"], team=data["team"],
                   starts_at=datetime.fromisoformat(data["starts_at"]),
                   ends_at=datetime.fromisoformat(data["ends_at"]), reason=data["reason"],
                   created_by=data["created_by"],
                   created_at=datetime.fromisoformat(data["created_at"]),
                   ended_by=data.get("ended_by"),
                   ended_at=datetime.fromisoformat(data["ended_at"]) if data.get("ended_at")
                   else None)


def plan(team: str, user: str, now: datetime, *, starts_at: datetime | None,
         ends_at: datetime | None, length: timedelta | None, reason: str,
         existing: Iterable[Window]) -> Window:
    """A new window from `starts_at` (default now) for `length` or until `ends_at`."""
    start = starts_at or now
    if start < now - timedelta(minutes=1):
        raise MaintenanceError("The window would start in the past.")
    if (length is None) == (ends_at is None):
        raise MaintenanceError("Say how long (e.g. 2h) or until when (until 18:00).")
    end = ends_at if ends_at is not None else start + (length or timedelta(0))
    if end <= start:
        raise MaintenanceError("The window must end after it starts.")
    if end - start > MAX_LENGTH:
        raise MaintenanceError("A maintenance window may last at most 7 days.")
    for other in existing:
        if not other.over_at(now) and other.starts_at < end and start < other.end:
            raise MaintenanceError(
                f"It would overlap the window {other.starts_at:%Y-%m-%d %H:%M}–"
                f"{other.end:%H:%M} UTC; end that one first (`/oncall maintenance end`).")
    return Window(id=secrets.token_hex(6), team=team, starts_at=start, ends_at=end,
                  reason=reason.strip()[:MAX_REASON], created_by=user, created_at=now)


def current_or_next(windows: Iterable[Window], now: datetime) -> Window | None:
    """The window on now, else the next one ahead."""
    live = sorted((w for w in windows if not w.over_at(now)), key=lambda w: w.starts_at)
    return live[0] if live else None


def end_now(window: Window, user: str, now: datetime) -> Window:
    if window.over_at(now):
        raise MaintenanceError("That window has already ended.")
    return replace(window, ended_by=user, ended_at=now)  # a scheduled one never starts
