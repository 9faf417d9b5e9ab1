"""Who is on call for a team right now (or at any instant): config + Redis, through the pure domain.

This is the one place features ask; it reads the team's overrides and
rotation edits once and answers from the schedule domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from bot.domain import schedule
from bot.domain.config import Team
from bot.domain.schedule import OverrideIndex, Rotation, Shift
from bot.store import schedules as store


@dataclass(frozen=True)
class TeamSchedule:
    team: Team
    rotations: tuple[Rotation, ...]
    overrides: tuple[store.StoredOverride, ...]
    index: OverrideIndex

    def layer(self, name: str) -> Rotation | None:
        return next((r for r in self.rotations if r.name == name), None)

    def on_call(self, at: datetime) -> list[tuple[Rotation, Shift | None]]:
        """Per layer, the shift covering `at` (None where nobody is on call)."""
        return [(r, schedule.on_call_at(r, self.index, at)) for r in self.rotations]

    def on_call_users(self, at: datetime, layers: tuple[str, ...] | None = None) -> list[str]:
        users = []
        for rotation, shift in self.on_call(at):
            if shift and (layers is None or rotation.name in layers) and shift.user not in users:
                users.append(shift.user)
        return users

    def next_shifts(self, layer: Rotation, at: datetime, n: int) -> list[Shift]:
        return schedule.next_shifts(layer, self.index, at, n)

    def between(self, layer: Rotation, start: datetime, end: datetime) -> list[Shift]:
        return schedule.shifts_between(layer, self.index, start, end)

    def user_shifts(self, user: str, start: datetime, end: datetime) -> list[Shift]:
        return schedule.user_shifts(self.rotations, self.index, user, start, end)


def team_schedule(r: redis.Redis, team: Team, now: datetime | None = None) -> TeamSchedule:
    rotations = store.effective_rotations(r, team.name, team.rotations)
    overrides = tuple(store.list_overrides(r, team.name, now))
    return TeamSchedule(team=team, rotations=rotations, overrides=overrides,
                        index=OverrideIndex(o.override for o in overrides))
