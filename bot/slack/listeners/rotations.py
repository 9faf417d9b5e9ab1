"""`/oncall rotation`: show rotations; managers change them after a preview.

A change (add, remove, move, handoff, shift) is computed by the domain and
shown to the manager as a preview (the next shifts before and after) with
Confirm / Cancel. Confirm stores the edited rotation with
`save_rotation_edit` only if the layer did not change since the preview, and
announces the before/after in the team channel, mentioning everyone whose
shifts moved. Config file changes are announced by bot/services/rotations.py.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any

from slack_bolt import App

from bot.domain import swaps
from bot.domain.config import Team
from bot.domain.timeparse import parse_duration
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import home, messages
from bot.slack import render_swaps as render
from bot.slack.arguments import pick_layer, pick_team
from bot.slack.clicks import Click, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import done_by, parse_mention, shown
from bot.slack.listeners.overrides import managers_of
from bot.store import swap_requests as pending
from bot.store.schedules import (
    effective_rotations,
    rotation_fingerprint,
    rotation_from_dict,
    rotation_to_dict,
)
from bot.store.swap_requests import PendingRequest, RequestError

log = logging.getLogger("atbat.slack.rotations")

USAGE = ("/oncall rotation [team] [layer] [add @user [at N] | remove @user | move @user N | "
         "handoff [DAY] HH:MM | shift 12h|1d|1w]")
SHOWN_SHIFTS = 3


@command("rotation", usage=USAGE, summary="show the rotations; managers change them",
                group="Rotations", aliases=("rotations",))
def rotation(ctx: CommandContext) -> Reply:
    team, words = pick_team(ctx, ctx.args)
    layer, words = pick_layer(team, words, first_only=True)
    sched = team_schedule(ctx.runtime.redis, team)
    if not words:
        shown = [r for r in sched.rotations if layer in (None, r.name)]
        upcoming = {r.name: sched.next_shifts(r, ctx.now, SHOWN_SHIFTS) for r in shown}
        return Reply(render.rotation_lines(team.name, shown, upcoming))
    if not team.is_manager(ctx.user):
        raise UserError(f"Only managers of {team.name} ({managers_of(team)}) can change its "
                        "rotations.")
    edit = parse_edit(words)
    before = sched.layer(layer) if layer else sched.rotations[0]
    assert before is not None
    try:
        after = swaps.apply_edit(before, edit, ctx.now)
    except swaps.PlanError as exc:
        raise UserError(str(exc)) from None
    preview = swaps.preview(before, after, sched.index, ctx.now, focus=_focus(edit))
    req = PendingRequest(
        id=pending.new_id("rot"), kind="rot", team=team.name, requester=ctx.user,
        invitee=ctx.user, created_at=ctx.now, expires_at=ctx.now + pending.PREVIEW_TTL,
        data={"layer": before.name, "summary": edit.describe(), "before": rotation_to_dict(before),
              "after": rotation_to_dict(after), "before_fingerprint": rotation_fingerprint(before),
              "focus": _focus(edit)},
    )
    pending.create(ctx.runtime.redis, req, ctx.now)
    text, blocks = render.preview_message(req, preview)
    return Reply(text, blocks)


def _focus(edit: swaps.Edit) -> str | None:
    """Whose shifts the preview must show: the person added or moved."""
    return edit.user if edit.op in ("add", "move") else None


def parse_edit(words: list[str]) -> swaps.Edit:
    op, args = words[0].lower(), words[1:]
    if op in ("add", "remove", "move"):
        user = parse_mention(args[0]) if args else None
        if user is None:
            raise UserError(f"Name the person to {op} as an @mention.")
        rest = [a.lower() for a in args[1:]]
        if op == "add":
            if rest and (len(rest) != 2 or rest[0] != "at"):
                raise UserError("Write `add @user` or `add @user at N`.")
            return swaps.Edit("add", user, _position(rest[1]) if rest else None)
        if op == "remove":
            if rest:
                raise UserError("Write `remove @user`.")
            return swaps.Edit("remove", user)
        if len(rest) != 1:
            raise UserError("Write `move @user N` (N: the new position, 1 is first).")
        return swaps.Edit("move", user, _position(rest[0]))
    if op == "handoff":
        return _handoff(args)
    if op == "shift":
        if len(args) != 1:
            raise UserError("Write `shift 12h`, `shift 1d` or `shift 1w`.")
        try:
            return swaps.Edit("shift", shift=parse_duration(args[0]))
        except ValueError as exc:
            raise UserError(str(exc)) from None
    raise UserError(f'Unknown rotation change "{shown(op, 40)}": use add, remove, move, handoff or shift.')


def _position(word: str) -> int:
    if not word.isdigit() or int(word) < 1:
        raise UserError(f'"{shown(word, 40)}" is not a position: use 1 for first, 2 for second ...')
    return int(word)


def _handoff(args: list[str]) -> swaps.Edit:
    if not 1 <= len(args) <= 2:
        raise UserError("Write `handoff mon 09:00` (weekly rotations) or `handoff 09:00`.")
    weekday = None
    if len(args) == 2:
        weekday = swaps.parse_weekday(args[0])
        if weekday is None:
            raise UserError(f'"{shown(args[0], 40)}" is not a weekday: use mon, tue ... sun.')
    try:
        at = time.fromisoformat(args[-1].zfill(5))
    except ValueError:
        raise UserError(f'"{shown(args[-1], 40)}" is not a time of day like 09:00.') from None
    return swaps.Edit("handoff", weekday=weekday, at=at)


def _current(runtime: Runtime):
    def current(req: PendingRequest) -> tuple[Any, str]:
        team = runtime.config.teams.get(req.team)
        config_rotation = team.rotation(req.data["layer"]) if team else None
        if team is None or config_rotation is None:
            raise RequestError("This rotation no longer exists.")
        effective = effective_rotations(runtime.redis, team.name, team.rotations)
        layer = next(r for r in effective if r.name == config_rotation.name)
        return config_rotation, rotation_fingerprint(layer)

    return current


def _preview_of(runtime: Runtime, team: Team, req: PendingRequest, now: datetime) -> swaps.Preview:
    return swaps.preview(rotation_from_dict(req.data["before"]),
                         rotation_from_dict(req.data["after"]),
                         team_schedule(runtime.redis, team).index, now, focus=req.data.get("focus"))


def confirm(runtime: Runtime, click: Click) -> str:
    now = runtime.now()
    req = pending.get(runtime.redis, click.value)
    team = runtime.config.teams.get(req.team) if req else None
    if team is not None and not team.is_manager(click.user):
        raise RequestError(f"Only managers of {team.name} can change its rotations.")
    req = pending.confirm_preview(runtime.redis, click.value, click.user, now, _current(runtime))
    team = runtime.config.teams[req.team]
    preview = _preview_of(runtime, team, req, now)
    messages.post(runtime, team.channel, render.rotation_announcement(
        click.user, team.name, req.data["layer"], req.data["summary"], preview))
    messages.replace_clicked(runtime, click.response_url, render.preview_answered(
        req, preview, done_by("Confirmed", click.user, now)))
    home.shifts_changed(runtime, _members(req.data["before"]) | _members(req.data["after"]),
                        "rotation edit")
    log.info("rotation edited team=%s layer=%s by=%s change=%r", team.name, req.data["layer"],
             click.user, req.data["summary"])
    return f"Applied: {req.data['summary']} ({team.name}, {req.data['layer']})."


def _members(rotation: dict[str, Any]) -> set[str]:
    return set(rotation_from_dict(rotation).members)


def cancel(runtime: Runtime, click: Click) -> str:
    now = runtime.now()
    req = pending.cancel_preview(runtime.redis, click.value, click.user, now)
    team = runtime.config.teams.get(req.team)
    if team is not None:
        preview = _preview_of(runtime, team, req, now)
        messages.replace_clicked(runtime, click.response_url, render.preview_answered(
            req, preview, done_by("Cancelled", click.user, now) + ": nothing changed."))
    return f"Cancelled: nothing changed in {req.team} {req.data['layer']}."


def register(app: App, runtime: Runtime) -> None:
    wire(app, runtime, "rotation_confirm", confirm, refusals=RequestError)
    wire(app, runtime, "rotation_cancel", cancel, refusals=RequestError)
