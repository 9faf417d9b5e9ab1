"""Open cover requests: ask the team, the first eligible click takes it, expiry at shift start.

Taking is the swap requests' accept transition (`bot.store.swap_requests.accept`):
one compare-and-set writes the overrides and marks the request taken, so of
two simultaneous clicks one wins and the other is told who did.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from bot.domain import covers as domain
from bot.domain import swaps
from bot.domain.config import Team
from bot.domain.schedule import Override
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import deliveries, messages
from bot.slack import render_covers as render
from bot.store import swap_requests as store
from bot.store.swap_requests import PendingRequest, RequestError

log = logging.getLogger("atbat.covers")


def create(rt: Runtime, team: Team, requester: str, when: tuple[datetime, datetime] | None,
           layer: str | None, note: str, now: datetime) -> PendingRequest:
    """Store the request and queue its channel message; swaps.PlanError / RequestError refuse."""
    sched = team_schedule(rt.redis, team)
    plan = domain.plan_open_cover(sched.rotations, sched.index, requester, now, when, layer)
    req_id = store.new_id("open")
    req = PendingRequest(
        id=req_id, kind="open", team=team.name, requester=requester, invitee="",
        created_at=now, expires_at=plan.expires_at,
        pieces=[store.piece_dict(p.layer, "", p.replaces, p.start, p.end, "") for p in plan.pieces],
        data={"note": domain.clean_note(note)} if note.strip() else {},
    )
    store.create(rt.redis, req, now)
    rt.enqueue("workers.covers.announce", req.id)
    log.info("cover request created id=%s team=%s requester=%s until=%s", req.id, team.name,
             requester, plan.expires_at.isoformat())
    return req


def announce(rt: Runtime, request_id: str) -> None:
    """Owe the request's post in the team channel until Slack accepts it (or the request
    expires); `announced` remembers where, for later updates."""
    req = store.get(rt.redis, request_id)
    team = rt.config.teams.get(req.team) if req else None
    if req is None or team is None or req.data.get("ts"):
        return
    message = render.open_message(req) if req.state == "pending" else render.closed_message(req)
    deliveries.owe(rt, "swap_request", req.id, "chat.postMessage",
                   {"channel": team.channel, **message}, expires_at=req.expires_at,
                   on_accepted=("workers.covers.announced", req.id))


def announced(rt: Runtime, request_id: str, answer: dict[str, str]) -> None:
    store.set_data(rt.redis, request_id, rt.now(), channel=answer["channel"], ts=answer["ts"])
    latest = store.get(rt.redis, request_id)
    if latest is not None and latest.state != "pending":  # closed while we were posting
        refresh(rt, latest)


def refresh(rt: Runtime, req: PendingRequest) -> None:
    """Redraw the channel message: the buttons go once the request is over."""
    if req.data.get("ts"):
        message = render.open_message(req) if req.state == "pending" else render.closed_message(req)
        messages.update(rt, req.data["channel"], req.data["ts"], message)


def _eligible(rt: Runtime) -> object:
    def answerable(req: PendingRequest, presser: str, now: datetime) -> None:
        if req.kind != "open":
            raise RequestError("This is not an open cover request.")
        team = rt.config.teams.get(req.team)
        if team is None:
            raise RequestError(f"Team {req.team} no longer exists.")
        layers = [o.layer for o in req.overrides()]
        reason = domain.refusal(team_schedule(rt.redis, team).rotations, layers, req.requester,
                                presser)
        if reason:
            raise RequestError(reason)
        if now >= req.expires_at:
            raise RequestError("This request expired: the shift has already started.")

    return answerable


def _verify(rt: Runtime, presser: str, now: datetime) -> object:
    def verify(req: PendingRequest) -> list[Override]:
        team = rt.config.teams[req.team]
        sched = team_schedule(rt.redis, team)
        live = swaps.clip_to_now(domain.taken_by(
            [swaps.Piece(o.layer, o.user, o.replaces or "", o.start, o.end) for o in req.overrides()
             if o.end > now], presser), now)
        try:
            swaps.verify_still_valid(live, sched.rotations, sched.index, now)
        except swaps.PlanError as exc:
            raise RequestError(str(exc)) from None
        stamp = f"{time.time_ns():016x}"
        return [p.to_override(f"ov-{stamp}-{req.id}-{i}") for i, p in enumerate(live)]

    return verify


def take(rt: Runtime, request_id: str, presser: str) -> tuple[PendingRequest, list[Override]]:
    """The first eligible click wins; a later one gets RequestError naming who took it."""
    now = rt.now()
    try:
        req, written = store.accept(rt.redis, request_id, presser, now, _verify(rt, presser, now),
                                    _eligible(rt))  # type: ignore[arg-type]
    except RequestError:
        current = store.get(rt.redis, request_id)
        if current is not None and current.state == "accepted":
            who = "You" if current.invitee == presser else f"<@{current.invitee}>"
            raise RequestError(f"{who} took this cover already.") from None
        raise
    team = rt.config.teams[req.team]
    refresh(rt, req)
    messages.post(rt, req.requester, render.taken_for_requester(req, written))
    messages.post(rt, presser, render.taken_for_taker(req, written))
    messages.post(rt, team.channel, render.taken_announcement(req, written))
    log.info("cover request taken id=%s team=%s requester=%s taker=%s", req.id, req.team,
             req.requester, presser)
    return req, written


def cancel(rt: Runtime, request_id: str, presser: str) -> PendingRequest:
    """The requester or a manager of the team closes the request."""
    now = rt.now()

    def check(req: PendingRequest) -> None:
        team = rt.config.teams.get(req.team)
        if presser != req.requester and not (team and team.is_manager(presser)):
            raise RequestError("Only the requester or a manager of the team can cancel this.")
        req.data["closed_by"] = presser

    req = store.close_open(rt.redis, request_id, presser, now, "cancelled", check)
    refresh(rt, req)
    if presser != req.requester:
        messages.post(rt, req.requester, render.cancelled_for_requester(req, presser))
    log.info("cover request cancelled id=%s team=%s by=%s", req.id, req.team, presser)
    return req


def expire_open_covers(rt: Runtime, now: datetime) -> None:
    """A request nobody took expires when the shift starts; the requester is told once."""
    for request_id in store.open_due(rt.redis, now):
        def due(req: PendingRequest) -> None:
            if now < req.expires_at:
                raise RequestError("not due")
        try:
            req = store.close_open(rt.redis, request_id, "atbat", now, "expired", due)
        except RequestError:
            current = store.get(rt.redis, request_id)
            if current is None or current.state != "pending":
                store.forget_open(rt.redis, request_id)  # gone, or over without leaving the index
            continue  # taken or cancelled meanwhile, or not due: nothing to say
        refresh(rt, req)
        messages.post(rt, req.requester, render.expired_for_requester(req))
        log.info("cover request expired id=%s team=%s requester=%s", req.id, req.team,
                 req.requester)

