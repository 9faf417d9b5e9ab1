"""Overrides and Slack-made rotation edits, kept in Redis per team.

Overrides are a hash per team (override id -> JSON). A rotation edited from
Slack is stored with the fingerprint of the config rotation it replaced: when
the config file is edited later, the fingerprints differ and the file wins
again (DESIGN.md: "editing the file later wins again").
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import redis

from bot.domain.schedule import ActiveWindow, Override, Rotation
from bot.store import audit, keys
from bot.store.base import Commit, compare_and_set

# Overrides that ended this long ago are dropped when the hash is read.
OVERRIDE_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class StoredOverride:
    override: Override
    created_by: str
    created_at: datetime
    reason: str = ""

    def to_json(self) -> str:
        o = self.override
        return json.dumps({
            "id": o.id, "layer": o.layer, "user": o.user, "start": o.start.isoformat(),
            "end": o.end.isoformat(), "replaces": o.replaces, "created_by": self.created_by,
            "created_at": self.created_at.isoformat(), "reason": self.reason,
        })

    @classmethod
    def from_json(cls, raw: bytes | str) -> StoredOverride:
        d = json.loads(raw)
        return cls(
            override=Override(layer=d["layer"], user=d["user"],
                              start=datetime.fromisoformat(d["start"]),
                              end=datetime.fromisoformat(d["end"]), id=d["id"],
                              replaces=d.get("replaces")),
            created_by=d["created_by"], created_at=datetime.fromisoformat(d["created_at"]),
            reason=d.get("reason", ""),
        )


def new_override_id() -> str:
    return "ov-" + uuid.uuid4().hex[:12]


def list_overrides(r: redis.Redis, team: str, now: datetime | None = None) -> list[StoredOverride]:
    """All overrides of a team, oldest created first (so later ones win where they overlap)."""
    stored = [StoredOverride.from_json(v) for v in r.hvals(keys.overrides(team))]
    if now is not None:
        expired = [s.override.id for s in stored if s.override.end < now - OVERRIDE_RETENTION]
        if expired:
            r.hdel(keys.overrides(team), *expired)
            stored = [s for s in stored if s.override.id not in expired]
    return sorted(stored, key=lambda s: (s.created_at, s.override.id))


def save_overrides(r: redis.Redis, team: str, overrides: Iterable[StoredOverride],
                   pipe: redis.client.Pipeline | None = None) -> None:
    """Write several overrides at once (atomically when given a MULTI pipeline)."""
    mapping = {s.override.id: s.to_json() for s in overrides}
    if mapping:
        (pipe or r).hset(keys.overrides(team), mapping=mapping)


# ---------------------------------------------------------------- rotation edits


def rotation_fingerprint(rotation: Rotation) -> str:
    return hashlib.sha256(json.dumps(rotation_to_dict(rotation), sort_keys=True).encode()).hexdigest()


def rotation_to_dict(rotation: Rotation) -> dict[str, Any]:
    active = None
    if rotation.active:
        active = {"days": sorted(rotation.active.days), "from": rotation.active.start.isoformat(),
                  "to": rotation.active.end.isoformat()}
    return {"name": rotation.name, "members": list(rotation.members),
            "start": rotation.start.isoformat(), "shift_seconds": rotation.shift.total_seconds(),
            "timezone": rotation.timezone, "active": active}


def rotation_from_dict(d: dict[str, Any]) -> Rotation:
    active = None
    if d.get("active"):
        a = d["active"]
        active = ActiveWindow(days=frozenset(a["days"]), start=time.fromisoformat(a["from"]),
                              end=time.fromisoformat(a["to"]))
    return Rotation(name=d["name"], members=tuple(d["members"]),
                    start=datetime.fromisoformat(d["start"]),
                    shift=timedelta(seconds=d["shift_seconds"]), timezone=d["timezone"],
                    active=active)


def save_rotation_edit(r: redis.Redis, team: str, config_rotation: Rotation, edited: Rotation,
                       pipe: redis.client.Pipeline | None = None) -> None:
    record = {"based_on": rotation_fingerprint(config_rotation), "rotation": rotation_to_dict(edited)}
    (pipe or r).hset(keys.rotation_edits(team), config_rotation.name, json.dumps(record))


def effective_rotations(r: redis.Redis, team: str, config_rotations: Iterable[Rotation]
                        ) -> tuple[Rotation, ...]:
    """The config's rotations with Slack edits applied where the config did not change since."""
    edits = {k.decode(): json.loads(v) for k, v in r.hgetall(keys.rotation_edits(team)).items()}
    result = []
    for rotation in config_rotations:
        edit = edits.get(rotation.name)
        if edit and edit["based_on"] == rotation_fingerprint(rotation):
            result.append(rotation_from_dict(edit["rotation"]))
        else:
            result.append(rotation)
    return tuple(result)


# ---------------------------------------------------------------- audited changes


def create_overrides(r: redis.Redis, team: str, overrides: Iterable[StoredOverride], *,
                     actor: str, at: datetime, action: str = "override.create") -> None:
    """Write overrides and their audit entry in one MULTI."""
    stored = list(overrides)
    with r.pipeline(transaction=True) as pipe:
        save_overrides(r, team, stored, pipe=pipe)
        audit.record(pipe, actor=actor, action=action, at=at, team=team, before=None,
                     after=[json.loads(s.to_json()) for s in stored])
        pipe.execute()


def find_override(r: redis.Redis, teams: Iterable[str], override_id: str
                  ) -> tuple[str, StoredOverride] | None:
    """The team and override with this id (a Cancel button carries only the id)."""
    for team in teams:
        raw = r.hget(keys.overrides(team), override_id)
        if raw is not None:
            return team, StoredOverride.from_json(raw)
    return None


def cancel_override(r: redis.Redis, team: str, override_id: str, *, actor: str, at: datetime,
                    refuse: Callable[[StoredOverride], str | None]) -> StoredOverride | None:
    """Remove an override and audit it in one MULTI; None if it was already gone.

    ``refuse(override)`` returns a reason to keep it (the presser may not cancel
    it), raised as PermissionError with that reason.
    """
    key = keys.overrides(team)

    def decide(pipe: redis.client.Pipeline) -> Commit[StoredOverride | None]:
        raw = pipe.hget(key, override_id)
        if raw is None:
            return Commit(None)
        stored = StoredOverride.from_json(raw)
        reason = refuse(stored)
        if reason:
            raise PermissionError(reason)

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.hdel(key, override_id)
            audit.record(pipe, actor=actor, action="override.cancel", at=at, team=team,
                         before=json.loads(raw), after=None)

        return Commit(stored, writes)

    return compare_and_set(r, [key], decide, what=f"override {override_id}")


# ---------------------------------------------------------------- config snapshots


def config_snapshot(r: redis.Redis, team: str) -> dict[str, dict[str, Any]] | None:
    """The team's config rotations as stored at the last start: layer -> rotation dict."""
    raw = r.get(keys.config_fingerprint(team))
    return None if raw is None else json.loads(raw)


def save_config_snapshot(r: redis.Redis, team: str, rotations: Iterable[Rotation]) -> None:
    snapshot = {rot.name: {**rotation_to_dict(rot), "fingerprint": rotation_fingerprint(rot)}
                for rot in rotations}
    r.set(keys.config_fingerprint(team), json.dumps(snapshot, sort_keys=True))


def rotation_edit_record(r: redis.Redis, team: str, layer: str) -> dict[str, Any] | None:
    """The stored Slack edit of a layer: {"based_on": fingerprint, "rotation": dict}."""
    raw = r.hget(keys.rotation_edits(team), layer)
    return None if raw is None else json.loads(raw)
