"""iCalendar (RFC 5545) feeds of the on-call schedule, for calendar apps to subscribe to.

* ``GET /calendar/<team>.ics?token=T`` — every layer of a team.
* ``GET /calendar/user/<USER_ID>.ics?token=T`` — one person's shifts in every team.

A feed is guarded by a token in its URL (calendar apps cannot send headers):
``hex(HMAC-SHA256(SLACK_SIGNING_SECRET, "calendar:team:<name>"))[:32]``, or
``"calendar:user:<USER_ID>"`` for a person. A wrong or missing token gets 404,
like an unknown team, so the feeds do not reveal which teams exist. Changing
the signing secret revokes every feed URL.

Each feed holds one event per shift of the final schedule (overrides applied,
touching shifts of one person merged) from the shift in progress to
``FEED_DAYS`` ahead. The UID is stable per shift (team, layer, start), so a
calendar app updates an event in place when an override changes who covers it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import flask
import redis
from icalendar import Calendar, Event

from bot.domain.config import Config
from bot.domain.schedule import Rotation, Shift
from bot.oncall import TeamSchedule, team_schedule
from bot.runtime import Runtime
from bot.services import profiles
from bot.settings import Settings
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.calendar")

FEED_DAYS = 90
PRODID = "-//atbat//on-call schedule//EN"


def feed_token(secret: str, kind: str, ident: str) -> str:
    """The URL token of a feed: kind is "team" or "user"."""
    message = f"calendar:{kind}:{ident}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def token_ok(secret: str | None, kind: str, ident: str, given: str | None) -> bool:
    if not secret:
        return False  # no secret configured: no feed can be authorized
    return hmac.compare_digest(feed_token(secret, kind, ident), given or "")


def team_feed_url(settings: Settings, team: str) -> str | None:
    if not settings.signing_secret:
        return None
    token = feed_token(settings.signing_secret, "team", team)
    return f"{settings.public_url}/calendar/{team}.ics?token={token}"


def user_feed_url(settings: Settings, user: str) -> str | None:
    if not settings.signing_secret:
        return None
    token = feed_token(settings.signing_secret, "user", user)
    return f"{settings.public_url}/calendar/user/{user}.ics?token={token}"


# ---------------------------------------------------------------- events


def shifts_ahead(sched: TeamSchedule, layer: Rotation, now: datetime, days: int = FEED_DAYS) -> list[Shift]:
    """The layer's final shifts from the one in progress (with its real start) to `days` ahead."""
    current = sched.next_shifts(layer, now, 1)
    start = current[0].start if current and current[0].start <= now else now
    return sched.between(layer, start, now + timedelta(days=days))


def team_events(sched: TeamSchedule, now: datetime) -> list[tuple[str, Shift]]:
    return [(sched.team.name, s) for layer in sched.rotations for s in shifts_ahead(sched, layer, now)]


def user_events(r: redis.Redis, config: Config, user: str, now: datetime) -> list[tuple[str, Shift]]:
    events = []
    for team in config.teams.values():
        events.extend(e for e in team_events(team_schedule(r, team, now), now) if e[1].user == user)
    return sorted(events, key=lambda e: (e[1].start, e[0], e[1].layer))


def shift_uid(team: str, shift: Shift) -> str:
    return f"{team}-{shift.layer}-{int(shift.start.timestamp())}@atbat"


def render_ics(name: str, events: Iterable[tuple[str, Shift]], now: datetime,
               names: dict[str, str] | None = None, show_who: bool = True) -> bytes:
    """An RFC 5545 calendar. Each SUMMARY says who is on call (unless `show_who` is off: a
    person's own feed), by name where `names` has one, else by user ID."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for team, shift in events:
        event = Event()
        event.add("uid", shift_uid(team, shift))
        name = (names or {}).get(shift.user)
        summary = f"On call: {team} {shift.layer}"
        if show_who:
            summary += f" ({name or shift.user})"
        event.add("summary", summary)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("dtstamp", now)
        description = f"{name} (Slack user {shift.user})" if name else f"Slack user {shift.user}"
        if shift.override_id:
            description += " (override)"
        event.add("description", description)
        cal.add_component(event)
    return cal.to_ical()


def _names(runtime: Runtime, users: Iterable[str]) -> dict[str, str]:
    """Names from the profile cache only (a feed never waits on Slack); the people it has no
    name for are looked up by a job, for the next fetch."""
    wanted = set(users)
    profiles.request_names(runtime, wanted)
    return profiles.cached_names(runtime, wanted)


# ---------------------------------------------------------------- HTTP


def _not_found() -> flask.Response:
    return flask.Response("not found\n", status=404, mimetype="text/plain")


def _ics(body: bytes, filename: str) -> flask.Response:
    response = flask.Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def blueprint(runtime: Runtime) -> flask.Blueprint:
    bp = flask.Blueprint("calendar", __name__)
    secret = runtime.settings.signing_secret

    @bp.get("/calendar/<team>.ics")
    def team_feed(team: str) -> flask.Response:
        allowed = token_ok(secret, "team", team, flask.request.args.get("token"))
        found = runtime.config.teams.get(team)
        if not allowed or found is None:
            return _not_found()
        now = runtime.now()
        try:
            events = team_events(team_schedule(runtime.redis, found, now), now)
            body = render_ics(f"On call: {team}", events, now,
                              names=_names(runtime, (s.user for _, s in events)))
        except UNAVAILABLE:
            return flask.Response("store unavailable\n", status=503, mimetype="text/plain")
        log.info("calendar feed served team=%s events=%d", team, len(events))
        return _ics(body, f"{team}.ics")

    @bp.get("/calendar/user/<user>.ics")
    def user_feed(user: str) -> flask.Response:
        if not token_ok(secret, "user", user, flask.request.args.get("token")):
            return _not_found()
        now = runtime.now()
        try:
            events = user_events(runtime.redis, runtime.config, user, now)
            body = render_ics("My on-call shifts", events, now, names=_names(runtime, [user]),
                              show_who=False)
        except UNAVAILABLE:
            return flask.Response("store unavailable\n", status=503, mimetype="text/plain")
        log.info("calendar feed served user=%s events=%d", user, len(events))
        return _ics(body, f"{user}.ics")

    return bp
