"""Rotations: announcing the changes that come from an edited config file.

At every start the config's rotations are compared with the snapshot stored
at the previous start (`keys.config_fingerprint(team)`). A layer whose
rotation changed is announced once in the team channel with the next shifts
before and after (a claim makes it exactly once even with several workers),
then the snapshot is updated. "Before" is what was in force: the Slack edit
of the layer if there was one on top of the old file, else the old file.
The check runs from the periodic tick, so it fires on the first tick after
a start and is a cheap no-op afterwards.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.domain import swaps
from bot.domain.schedule import Rotation
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import home, messages
from bot.slack import render_swaps as render
from bot.store import audit
from bot.store.base import claim
from bot.store.schedules import (
    config_snapshot,
    rotation_edit_record,
    rotation_fingerprint,
    rotation_from_dict,
    save_config_snapshot,
)

log = logging.getLogger("atbat.announce")

CLAIM_TTL = 90 * 86400


def _before(runtime: Runtime, team: str, old: dict) -> Rotation:
    edit = rotation_edit_record(runtime.redis, team, old["name"])
    if edit is not None and edit["based_on"] == old["fingerprint"]:
        return rotation_from_dict(edit["rotation"])
    return rotation_from_dict({k: v for k, v in old.items() if k != "fingerprint"})


def announce_config_changes(runtime: Runtime) -> int:
    """Announce each config rotation that changed since the last start; returns how many."""
    r, now, announced = runtime.redis, runtime.now(), 0
    for team in runtime.config.teams.values():
        snapshot = config_snapshot(r, team.name)
        current = {rot.name: rotation_fingerprint(rot) for rot in team.rotations}
        if snapshot is not None and {k: v["fingerprint"] for k, v in snapshot.items()} == current:
            continue
        for rot in team.rotations if snapshot is not None else ():
            old = snapshot.get(rot.name)
            if old is None or old["fingerprint"] == current[rot.name]:
                continue
            change = f"{team.name}:{rot.name}:{old['fingerprint']}:{current[rot.name]}"
            if not claim(r, "config-change", change, CLAIM_TTL):
                continue
            before = _before(runtime, team.name, old)
            preview = swaps.preview(before, rot, team_schedule(r, team).index, now)
            messages.post(runtime, team.channel, render.rotation_announcement(
                None, team.name, rot.name, "edited in the config file", preview))
            audit.record(r, actor="config", action="rotation.config-change", at=now,
                         team=team.name, layer=rot.name, before=old, after=current[rot.name])
            home.shifts_changed(runtime, {*before.members, *rot.members}, "rotation config")
            log.info("config rotation change announced team=%s layer=%s", team.name, rot.name)
            announced += 1
        save_config_snapshot(r, team.name, team.rotations)
    return announced


def check(runtime: Runtime, now: datetime) -> None:
    announce_config_changes(runtime)
