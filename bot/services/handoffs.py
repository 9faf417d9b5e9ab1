"""Handoff announcements, reminders and user group sync, found by a periodic check.

The check (`check_handoffs`) owes each announcement and reminder through
`bot.services.deliveries`: owing it once per id is its claim, and it stays owed
until Slack accepted it, across outages and worker restarts. The summary
follows the accepted announcement (`announced`); the user group sync is a job.

Every tick (`bot.periodic`), for each team and layer:

* the latest handoff at or before now — an instant where someone comes on call
  in the final schedule (overrides included) — is claimed once in Redis
  (team + layer + instant) by owing its announcement in the team channel. Only
  the most recent handoff per layer is considered, so after a long outage each
  layer gets one announcement (who is on call now), not one per missed
  handoff; one owed through a Slack outage is corrected to say since when. A
  handoff older than the layer's shift length plus a day is never announced
  (it is not news any more).
* each shift starting within the team's `handoff_reminder` is claimed once
  (team + layer + instant + user) by owing its person a DM. A reminder missed
  while everything was down, or owed through a Slack outage, is dropped once
  the shift has started: the announcement says it instead.
* the team's Slack user group is compared with who is on call now (layers
  `usergroup_layers`) and, when it differs from what atbat last wrote, a job
  updates it — claimed once per (change instant, members). An update that
  would leave the group empty is skipped with a log line.

Claims (owing is one) make this exactly once with any number of workers, and after restarts.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import metrics
from bot.domain import handoffs as summaries
from bot.domain import history as history_domain
from bot.domain.config import Team
from bot.domain.schedule import Rotation, Shift
from bot.oncall import TeamSchedule, team_schedule
from bot.runtime import Runtime
from bot.services import deliveries, home, messages
from bot.slack import render_handoffs, render_schedule
from bot.slack.sender import SlackCallError
from bot.store import alerts as alerts_store
from bot.store import handoffs as store
from bot.store import history as history_store
from bot.store import incidents as incidents_store
from bot.store.base import UNAVAILABLE, claim, is_claimed, release_claim

log = logging.getLogger("atbat.handoffs")

_ONE_DAY = timedelta(days=1)
# An announcement this long after its handoff is a catch-up (atbat was down): it says
# "on call since …" rather than "is now on call". Ticks run every 30 s.
CATCH_UP_AFTER = timedelta(minutes=5)
_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class Handoff:
    team: str
    shift: Shift  # the incoming person's whole (merged) shift
    previous: str | None  # who was on call for the layer just before, if anyone

    @property
    def ident(self) -> str:
        return f"{self.team}:{self.shift.layer}:{int(self.shift.start.timestamp())}"

    def to_job(self) -> dict[str, Any]:
        s = self.shift
        return {"team": self.team, "layer": s.layer, "user": s.user, "start": s.start.isoformat(),
                "end": s.end.isoformat(), "override_id": s.override_id, "previous": self.previous}

    @classmethod
    def from_job(cls, data: dict[str, Any]) -> Handoff:
        shift = Shift(layer=data["layer"], user=data["user"],
                      start=datetime.fromisoformat(data["start"]),
                      end=datetime.fromisoformat(data["end"]), override_id=data.get("override_id"))
        return cls(team=data["team"], shift=shift, previous=data.get("previous"))


def lookback(layer: Rotation) -> timedelta:
    """How far back a handoff is still worth announcing."""
    return max(layer.shift, _ONE_DAY) + _ONE_DAY


def _full_shift(sched: TeamSchedule, layer: Rotation, at: datetime, start: datetime) -> Shift | None:
    """The merged final-schedule shift containing `at`, with its real start and end."""
    ahead = sched.next_shifts(layer, at, 1)
    if not ahead or ahead[0].start > at:
        return None
    s = ahead[0]
    return Shift(s.layer, s.user, min(start, s.start), s.end, s.override_id)


def latest_handoff(sched: TeamSchedule, layer: Rotation, now: datetime) -> Handoff | None:
    """The latest instant at or before now where someone came on call on this layer."""
    lo = now - lookback(layer)
    pieces = sched.between(layer, lo, now + _EPSILON)
    if not pieces or pieces[-1].end <= now or pieces[-1].start <= lo:
        return None  # nobody on call now, or the current shift began before the lookback
    incoming = pieces[-1]
    before = pieces[-2] if len(pieces) > 1 and pieces[-2].end == incoming.start else None
    shift = _full_shift(sched, layer, now, incoming.start)
    if shift is None:
        return None
    return Handoff(team=sched.team.name, shift=shift, previous=before.user if before else None)


def upcoming_handoffs(sched: TeamSchedule, layer: Rotation, now: datetime,
                      within: timedelta) -> list[Handoff]:
    """Shifts starting in (now, now + within], with who they take over from."""
    if within <= timedelta(0):
        return []
    found: list[Handoff] = []
    shifts = sched.between(layer, now - _EPSILON, now + within + layer.shift + _ONE_DAY)
    for i, shift in enumerate(shifts):
        if now < shift.start <= now + within:
            before = shifts[i - 1] if i > 0 and shifts[i - 1].end == shift.start else None
            found.append(Handoff(team=sched.team.name, shift=shift,
                                 previous=before.user if before else None))
    return found


def usergroup_target(sched: TeamSchedule, now: datetime) -> tuple[list[str], datetime | None]:
    """Who the user group should hold now, and the latest instant that set changed at."""
    layers = sched.team.usergroup_layers or tuple(r.name for r in sched.rotations)
    users: list[str] = []
    since: datetime | None = None
    for rotation, shift in sched.on_call(now):
        if shift is None or rotation.name not in layers:
            continue
        if shift.user not in users:
            users.append(shift.user)
        since = shift.start if since is None else max(since, shift.start)
    return users, since


def _digest(users: list[str]) -> str:
    return hashlib.sha256(",".join(sorted(users)).encode()).hexdigest()[:12]


def _ttl(span: timedelta) -> int:
    return int((span + _ONE_DAY).total_seconds())


def check_team(rt: Runtime, team: Team, now: datetime) -> None:
    r = rt.redis
    sched = team_schedule(r, team, now)
    for layer in sched.rotations:
        handoff = latest_handoff(sched, layer, now)
        # An older version claimed announcements with `claim`; owing one is the claim now.
        if handoff is not None and not is_claimed(r, "handoff", handoff.ident) \
                and owe_announcement(rt, team, handoff, _ttl(lookback(layer)), recorded_at=now):
            log.info("handoff owed team=%s layer=%s user=%s previous=%s at=%s", team.name,
                     layer.name, handoff.shift.user, handoff.previous, handoff.shift.start.isoformat())
        for coming in upcoming_handoffs(sched, layer, now, team.handoff_reminder):
            ident = f"{coming.ident}:{coming.shift.user}"
            if not is_claimed(r, "handoff-reminder", ident) \
                    and owe_reminder(rt, coming, _ttl(team.handoff_reminder)):
                log.info("handoff reminder owed team=%s layer=%s user=%s at=%s", team.name,
                         layer.name, coming.shift.user, coming.shift.start.isoformat())
    check_usergroup(rt, team, sched, now)


def check_usergroup(rt: Runtime, team: Team, sched: TeamSchedule, now: datetime) -> None:
    if not team.usergroup:
        return
    users, since = usergroup_target(sched, now)
    synced = store.synced_users(rt.redis, team.name)
    if synced is not None and sorted(synced) == sorted(users):
        return
    stamp = int(since.timestamp()) if since else 0
    change = f"{team.name}:{stamp}:{_digest(users)}"
    span = max((lookback(layer) for layer in sched.rotations), default=_ONE_DAY)
    if claim(rt.redis, "usergroup", change, _ttl(span)):
        log.info("usergroup sync claimed team=%s usergroup=%s users=%s", team.name, team.usergroup,
                 ",".join(users) or "-")
        rt.enqueue("workers.handoffs.sync_usergroup", team.name, users, change)


def check_handoffs(rt: Runtime, now: datetime) -> None:
    for team in rt.config.teams.values():
        try:
            check_team(rt, team, now)
        except UNAVAILABLE:
            raise
        except Exception:  # one team's broken data must not silence the others
            log.exception("handoff check failed team=%s", team.name)


# ---------------------------------------------------------------- the jobs


def owe_announcement(rt: Runtime, team: Team, h: Handoff, ttl: int = 0,
                     recorded_at: datetime | None = None) -> bool:
    """Owe "X is now on call for team layer until ..., taking over from Y" in the team channel
    ("X is on call ... since ..." when it comes late), once; False when owed already.
    With `recorded_at`, the shift goes in the team's history in the same transaction as
    the claim (owing it), so neither is ever there without the other."""
    late = rt.now() - h.shift.start > CATCH_UP_AFTER
    text, blocks = render_schedule.handoff(team.name, h.shift, h.previous, late=late)
    follow_up = ("workers.handoffs.announced", h.to_job(), late)
    s = h.shift
    entry = None if recorded_at is None else \
        (team.name, history_domain.shift(s.layer, s.user, s.start, s.end, recorded_at))
    return deliveries.owe(rt, "handoff", h.ident, "chat.postMessage",
                          {"channel": team.channel, "text": text, "blocks": blocks},
                          on_accepted=follow_up, on_failed=follow_up, ttl=ttl, history=entry)


def announce(rt: Runtime, h: Handoff) -> None:
    """A job queued by an older version: the announcement is owed like the others."""
    team = rt.config.teams.get(h.team)
    if team is None:
        log.warning("handoff dropped: team no longer configured team=%s", h.team)
        return
    owe_announcement(rt, team, h)


def announced(rt: Runtime, h: Handoff, rendered_late: bool, outcome: dict[str, Any] | str) -> None:
    """Slack accepted the announcement (`outcome` is where it is) or refused it for good (why):
    then the summary. One that waited out an outage is corrected to say since when."""
    team = rt.config.teams.get(h.team)
    if team is None:
        return
    thread = outcome if isinstance(outcome, dict) and outcome.get("ts") else None
    home.refresh(rt, [h.shift.user, h.previous or ""], "handoff")
    if thread is None:
        log.error("handoff not announced team=%s layer=%s user=%s why=%s", team.name,
                  h.shift.layer, h.shift.user, outcome)
        metrics.count(rt.redis, "jobs_total", "job=handoff_announce,outcome=error")
    else:
        late = rt.now() - h.shift.start > CATCH_UP_AFTER
        log.info("handoff announced team=%s layer=%s user=%s previous=%s late=%s", team.name,
                 h.shift.layer, h.shift.user, h.previous, late)
        metrics.count(rt.redis, "jobs_total", "job=handoff_announce,outcome=ok")
        if late and not rendered_late:
            text, blocks = render_schedule.handoff(team.name, h.shift, h.previous, late=True)
            messages.update(rt, thread["channel"], thread["ts"], {"text": text, "blocks": blocks})
    send_summary(rt, team, h, thread)


def owe_reminder(rt: Runtime, h: Handoff, ttl: int = 0) -> bool:
    """Owe the DM to the incoming person before their shift; not worth sending once it began."""
    text, blocks = render_schedule.reminder(h.team, h.shift, h.previous)
    return deliveries.owe(rt, "handoff_reminder", f"{h.ident}:{h.shift.user}", "chat.postMessage",
                          {"channel": h.shift.user, "text": text, "blocks": blocks},
                          expires_at=h.shift.start, ttl=ttl)


def remind(rt: Runtime, h: Handoff) -> None:
    """A job queued by an older version: the reminder is owed like the others."""
    owe_reminder(rt, h)


def sync_usergroup(rt: Runtime, team_name: str, users: list[str], change: str) -> None:
    """Make the team's Slack user group hold exactly `users` (never empty it)."""
    team = rt.config.teams.get(team_name)
    if team is None or not team.usergroup:
        return
    if not users:
        log.warning("usergroup sync skipped: nobody on call, the group would be empty team=%s "
                    "usergroup=%s", team.name, team.usergroup)
        return
    try:
        rt.sender.call("usergroups.users.update", usergroup=team.usergroup, users=",".join(users))
    except SlackCallError as exc:
        log.error("usergroup sync failed team=%s usergroup=%s error=%s", team.name, team.usergroup,
                  exc.error)
        metrics.count(rt.redis, "jobs_total", "job=usergroup_sync,outcome=error")
        if exc.error.startswith("gave up"):  # Slack was unreachable: let the next check try again
            release_claim(rt.redis, "usergroup", change)
        return
    store.record_synced(rt.redis, team.name, users)
    metrics.count(rt.redis, "jobs_total", "job=usergroup_sync,outcome=ok")
    log.info("usergroup synced team=%s usergroup=%s users=%s", team.name, team.usergroup,
             ",".join(users))


# ---------------------------------------------------------------- the summary


def outgoing_start(sched: TeamSchedule, layer: Rotation, h: Handoff) -> datetime:
    """When the outgoing person's shift began (their contiguous time on the layer)."""
    at = h.shift.start
    pieces = sched.between(layer, at - layer.shift - _ONE_DAY * 7, at)
    start = at - layer.shift
    for piece in reversed(pieces):
        if piece.end < start or (h.previous and piece.user != h.previous):
            break
        start = piece.start
    return start


def build_summary(rt: Runtime, team: Team, h: Handoff) -> summaries.Summary | None:
    sched = team_schedule(rt.redis, team)
    layer = sched.layer(h.shift.layer)
    if layer is None:
        return None
    start, end = outgoing_start(sched, layer, h), h.shift.start
    found = history_store.read_many(rt.redis, team.name, ("page", "run", "note"), start, end)
    groups = [(g.state, g.title) for g in alerts_store.open_groups(rt.redis, team.name)]
    incidents = [f"{i.channel_name or i.id}: {i.title}" for i in incidents_store.list_open(rt.redis)
                 if i.team == team.name]
    return summaries.summarize(team.name, layer.name, h.previous, h.shift.user, start, end,
                               found["page"], found["run"], found["note"],
                               history_store.rules(rt.redis, team.name), groups, incidents,
                               team.sleep_hours, team.timezone)


def send_summary(rt: Runtime, team: Team, h: Handoff, thread: dict[str, Any] | None) -> None:
    """DM the incoming person the summary and post it under the announcement, once."""
    if not claim(rt.redis, "handoff-summary", h.ident, _ttl(lookback(team.rotations[0]))):
        return
    summary = build_summary(rt, team, h)
    if summary is None:
        return
    message = render_handoffs.summary_message(summary)
    deliveries.owe(rt, "handoff_summary", f"{h.ident}:dm", "chat.postMessage",
                   {"channel": h.shift.user, **message})
    if thread:
        deliveries.owe(rt, "handoff_summary", f"{h.ident}:thread", "chat.postMessage",
                       {"channel": thread["channel"], "thread_ts": thread["ts"], **message})
    log.info("handoff summary owed team=%s layer=%s user=%s previous=%s pages=%d", team.name,
             h.shift.layer, h.shift.user, h.previous, len(summary.pages))


def leave_note(rt: Runtime, user: str, text: str, now: datetime) -> list[str]:
    """Keep a note in the history of each team the user is on call for now; those teams."""
    teams = [t for t in rt.config.teams.values()
             if user in team_schedule(rt.redis, t, now).on_call_users(now)]
    for team in teams:
        history_store.append(rt.redis, team.name, history_domain.note(user, " ".join(text.split())[:1000],
                                                                      now))
    log.info("handoff note user=%s teams=%s", user, ",".join(t.name for t in teams) or "-")
    return [t.name for t in teams]
