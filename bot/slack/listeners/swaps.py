"""`/oncall swap`, `/oncall cover` and `/oncall take`, with the invitee's Accept / Decline.

A swap or cover is a pending request in Redis (bot/store/swap_requests.py); the
invitee gets a DM with Accept / Decline whose value is only the request id.
Accepting re-reads the request and the schedule, checks the presser is the
invitee, that it has not expired and that the shifts still belong to whom
they did, then writes the overrides, the new state and the audit entry in one
MULTI. A take-over needs nobody's consent: it is written at once and the
person relieved is told.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import App

from bot.domain import swaps
from bot.domain.config import Team
from bot.domain.schedule import Override, localize, zone
from bot.domain.timeparse import TimeParseError, parse_range, parse_time
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import home, messages
from bot.slack import render_swaps as render
from bot.slack.arguments import (
    asker_zone,
    pick_layer,
    pick_team,
    pick_user,
    read_time,
    with_note,
)
from bot.slack.clicks import Click, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import done_by, shown
from bot.store import swap_requests as pending
from bot.store.schedules import StoredOverride, create_overrides
from bot.store.swap_requests import PendingRequest, RequestError

log = logging.getLogger("atbat.slack.swaps")

GROUP = "Swaps and overrides"


# ---------------------------------------------------------------- shared helpers


def update_message(runtime: Runtime, click: Click, message: dict[str, Any]) -> None:
    """Replace the clicked message (a DM), e.g. to remove its buttons once answered."""
    if click.channel and click.message_ts:
        messages.update(runtime, click.channel, click.message_ts, message)


def _plan(fn: Any, *args: Any, **kwargs: Any) -> swaps.Plan:
    try:
        return fn(*args, **kwargs)
    except swaps.PlanError as exc:
        raise UserError(str(exc)) from None


def overrides_of(plan_pieces: Sequence[swaps.Piece], source: str) -> list[Override]:
    """Overrides with fresh ids. Overrides written at the same (test) instant are ranked by
    id, so the id starts with the wall-clock nanoseconds: the one written last wins."""
    stamp = f"{time.time_ns():016x}"
    return [p.to_override(f"ov-{stamp}-{source}-{i}") for i, p in enumerate(plan_pieces)]


# ---------------------------------------------------------------- swap and cover


def _ask(ctx: CommandContext, team: Team, plan: swaps.Plan) -> Reply:
    kind = plan.kind
    req_id = pending.new_id(kind)
    req = PendingRequest(
        id=req_id, kind=kind, team=team.name, requester=ctx.user, invitee=plan.invitee,
        created_at=ctx.now, expires_at=plan.expires_at,
        pieces=[pending.piece_dict(o.layer, o.user, o.replaces or "", o.start, o.end, o.id)
                for o in overrides_of(plan.pieces, req_id)],
    )
    try:
        pending.create(ctx.runtime.redis, req, ctx.now)
    except RequestError as exc:
        raise UserError(str(exc)) from None
    ctx.runtime.enqueue("workers.swaps.post_request", req.id)  # the DM, remembered for expiry
    log.info("request created kind=%s id=%s team=%s requester=%s invitee=%s", kind, req_id,
             team.name, ctx.user, plan.invitee)
    return Reply(f"Sent to <@{plan.invitee}>; you will hear back here.\n{render.request_text(req)}")


@command("swap", usage="/oncall swap @user [team] [layer]",
                summary="trade my next shift with @user's next shift", group=GROUP)
def swap(ctx: CommandContext) -> Reply:
    team, words = pick_team(ctx, ctx.args)
    invitee, words = pick_user(words, "the person to swap with")
    layer, words = pick_layer(team, words)
    if words:
        raise UserError(f'Did not understand "{shown(" ".join(words))}".')
    sched = team_schedule(ctx.runtime.redis, team)
    plan = _plan(swaps.plan_swap, sched.rotations, sched.index, ctx.user, invitee, ctx.now, layer)
    return _ask(ctx, team, plan)


def read_when(text: str, now: datetime, tz: str) -> tuple[datetime, datetime] | None:
    """WHEN: nothing (the next shift), a day, or a range FROM..TO."""
    if not text:
        return None
    try:
        if ".." in text:
            return parse_range(text, now, tz)
        day_start = parse_time(text, now, tz)
    except TimeParseError as exc:
        raise UserError(shown(exc.message, 1000)) from None
    local = day_start.astimezone(zone(tz))
    if (local.hour, local.minute, local.second) != (0, 0, 0):
        raise UserError("WHEN is a day (tomorrow, fri, 2026-11-10) or a range FROM..TO "
                        "(e.g. \"tomorrow 9:00..18:00\").")
    next_day = localize(local.replace(tzinfo=None) + timedelta(days=1), tz)
    return day_start, next_day


@command("cover", usage="/oncall cover @user [WHEN] [team] [layer]",
                summary="ask @user to take my on-call for WHEN (a day or FROM..TO; default: "
                        "my next shift)", group=GROUP)
def cover(ctx: CommandContext) -> Reply:
    team, words = pick_team(ctx, ctx.args)
    invitee, words = pick_user(words, "the person to ask")
    layer, words = pick_layer(team, words)
    text = " ".join(words)
    tz, note = asker_zone(ctx, team, text) if words else (team.timezone, "")
    when = read_when(text, ctx.now, tz)
    sched = team_schedule(ctx.runtime.redis, team)
    plan = _plan(swaps.plan_cover, sched.rotations, sched.index, ctx.user, invitee, ctx.now,
                 when, layer)
    reply = _ask(ctx, team, plan)
    return Reply(with_note(reply.text, note), reply.blocks)


# ---------------------------------------------------------------- take


@command("take", usage="/oncall take [team] [layer] [until TIME]",
                summary="take the on-call from now (default: until the current shift ends)",
                group=GROUP)
def take(ctx: CommandContext) -> Reply:
    team, words = pick_team(ctx, ctx.args)
    until, note = None, ""
    if "until" in [w.lower() for w in words]:
        at = [w.lower() for w in words].index("until")
        until_text, words = " ".join(words[at + 1:]), words[:at]
        until, note = read_time(ctx, until_text, team)
    layer, words = pick_layer(team, words)
    if words:
        raise UserError(f'Did not understand "{shown(" ".join(words))}".')
    r = ctx.runtime.redis
    sched = team_schedule(r, team)
    plan = _plan(swaps.plan_take, sched.rotations, sched.index, ctx.user, ctx.now, until, layer)
    written = overrides_of(plan.pieces, pending.new_id("take"))
    create_overrides(r, team.name, [StoredOverride(o, ctx.user, ctx.now, "take") for o in written],
                     actor=ctx.user, at=ctx.now, action="override.take")
    for person in swaps.relieved(plan):
        messages.post(ctx.runtime, person, render.relieved_dm(ctx.user, team.name, written, person))
    messages.post(ctx.runtime, team.channel, render.take_announcement(ctx.user, written))
    home.shifts_changed(ctx.runtime, home.override_people(written), "take")
    log.info("take team=%s user=%s relieved=%s", team.name, ctx.user, ",".join(swaps.relieved(plan)))
    return Reply(with_note(f"You are on call now.\n{render.piece_lines(written)}", note))


# ---------------------------------------------------------------- buttons


def _verify(runtime: Runtime, now: datetime):
    def verify(req: PendingRequest) -> list[Override]:
        team = runtime.config.teams.get(req.team)
        if team is None:
            raise RequestError(f"Team {req.team} no longer exists.")
        sched = team_schedule(runtime.redis, team)
        planned = [o for o in req.overrides() if o.end > now]
        live = swaps.clip_to_now([swaps.Piece(o.layer, o.user, o.replaces or "", o.start, o.end)
                                  for o in planned], now)
        try:
            swaps.verify_still_valid(live, sched.rotations, sched.index, now)
        except swaps.PlanError as exc:
            raise RequestError(str(exc)) from None
        return overrides_of(live, req.id)

    return verify


def accept(runtime: Runtime, click: Click) -> str | None:
    now = runtime.now()
    req, written = pending.accept(runtime.redis, click.value, click.user, now, _verify(runtime, now))
    team = runtime.config.teams[req.team]
    update_message(runtime, click, render.answered_message(req, done_by("Accepted", click.user,
                                                                        now) + "."))
    messages.post(runtime, req.requester, render.accepted_for_requester(req))
    messages.post(runtime, team.channel, render.accepted_announcement(req, written))
    home.shifts_changed(runtime, {req.requester, req.invitee} | home.override_people(written),
                        req.kind)
    log.info("request accepted kind=%s id=%s team=%s by=%s", req.kind, req.id, req.team, click.user)
    return None


def decline(runtime: Runtime, click: Click) -> str | None:
    now = runtime.now()
    req = pending.decline(runtime.redis, click.value, click.user, now)
    update_message(runtime, click, render.answered_message(req, done_by("Declined", click.user,
                                                                        now) + "."))
    messages.post(runtime, req.requester, render.declined_for_requester(req))
    log.info("request declined kind=%s id=%s team=%s by=%s", req.kind, req.id, req.team, click.user)
    return None


def register(app: App, runtime: Runtime) -> None:
    wire(app, runtime, "swap_accept", accept, refusals=RequestError)
    wire(app, runtime, "swap_decline", decline, refusals=RequestError)
