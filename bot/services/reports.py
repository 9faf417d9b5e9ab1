"""On-call health reports: built from history and the schedule, posted with their chart.

`/oncall report`, `atbat report` and the weekly automatic post all call
`build_report`; posting (message, then the chart through Slack's external
upload flow) happens in an RQ job (`workers.reports.post`). The weekly post is
owed (`bot.services.deliveries`, kind `report`): its message, then its chart in
the message's thread, each retried across Slack outages and worker restarts
until Slack took it, once; a week's report still owed when the next is due is
dropped for the newer one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from bisect import bisect_left
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain import reports as domain
from bot.domain import tallies as tallies_domain
from bot.domain.config import Team
from bot.domain.deliveries import FILE_UPLOAD
from bot.domain.history import Kind
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import deliveries
from bot.slack.render_reports import chart_png, report_message
from bot.store import history as store
from bot.store.base import claim, is_claimed
from bot.store.users import cached_profile

log = logging.getLogger("atbat.reports")

_READ: tuple[Kind, ...] = ("page", "ack", "resolve", "feedback", "selfheal")
# Trends compare pages, time to acknowledge and pages saved by self-healing.
_READ_BEFORE: tuple[Kind, ...] = ("page", "ack", "selfheal")
_TALLIED: tuple[Kind, ...] = ("page", "ack", "resolve")
_TALLIED_BEFORE: tuple[Kind, ...] = ("page", "ack")
# Read from the streams for the whole period: answers (a later click changes one) and
# self-healing outcomes (few).
_UNTALLIED: tuple[Kind, ...] = ("feedback", "selfheal")
_UNTALLIED_BEFORE: tuple[Kind, ...] = ("selfheal",)
# A day is tallied for good once it has been over this long: events are appended at their
# instant (a stream id never goes back), so nothing lands in it afterwards.
SETTLED = timedelta(hours=1)
RECENT_DAYS = 3
# A handoff is recorded when it is announced, which may be up to a shift plus a day late.
SHIFT_LOOKBACK = timedelta(days=2)
AUTO_PERIOD_DAYS = 7
AUTO_CATCH_UP = timedelta(hours=12)  # a weekly post missed for longer than this is skipped
# A queued weekly build not owed by then lost its job (a worker died): the next tick queues it again.
BUILD_LEASE = timedelta(minutes=5)
# Versions before owing claimed a weekly post as `once:report:…` for 8 days and posted it: that
# claim is still read (such a version posted it) and written (such a version beside this one
# then leaves it alone).
POSTED_CLAIM = timedelta(days=8)


def _history(rt: Runtime, team: str, period: domain.Period,
             kinds: tuple[Kind, ...] = _READ) -> domain.History:
    found = store.read_many(rt.redis, team, kinds, period.start, period.end)
    return domain.History(pages=found.get("page", ()), acks=found.get("ack", ()),
                          resolves=found.get("resolve", ()), feedback=found.get("feedback", ()),
                          selfheal=found.get("selfheal", ()))


def _shifts(rt: Runtime, team: Team, period: domain.Period) -> list[domain.ShiftSpan]:
    """Who was on call in the period: the handoffs recorded in history, and today's schedule
    where none were recorded (before recording began)."""
    sched = team_schedule(rt.redis, team)
    planned = {layer.name: [domain.ShiftSpan(s.user, s.start, s.end, layer.name)
                            for s in sched.between(layer, period.start, period.end)]
               for layer in sched.rotations}
    longest = max((layer.shift for layer in sched.rotations), default=timedelta(0))
    events = store.read(rt.redis, team.name, "shift", period.start - longest - SHIFT_LOOKBACK,
                        period.end)
    recorded = [s for e in events if (s := domain.recorded_shift(e)) is not None]
    return [c for s in domain.worked_shifts(recorded, planned)
            if (c := domain.clip_shift(s, period.start, period.end))]


def _view(team: Team) -> str:
    """Day tallies depend on the team's timezone and sleep hours: a change starts new ones."""
    hours = team.sleep_hours
    return hashlib.sha1(f"{team.timezone}|{hours.start}|{hours.end}".encode()).hexdigest()[:10]


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _whole_days(period: domain.Period, tz: str, now: datetime
                ) -> list[tuple[str, datetime, datetime]]:
    """The team-timezone days wholly inside the period and over for SETTLED: (ISO day, start, end)."""
    zone = ZoneInfo(tz)
    day = period.start.astimezone(zone).date()
    if _day_start(day, zone) < period.start:
        day += timedelta(days=1)
    out = []
    while True:
        start, end = _day_start(day, zone), _day_start(day + timedelta(days=1), zone)
        if end > period.end or end > now - SETTLED:
            return out
        out.append((day.isoformat(), start, end))
        day += timedelta(days=1)


def _tally(rt: Runtime, team: Team, start: datetime, end: datetime,
           clock: tallies_domain.LocalClock, kinds: tuple[Kind, ...] = _TALLIED) -> tallies_domain.Tally:
    if end <= start:
        return tallies_domain.Tally()
    history = _history(rt, team.name, domain.Period(start, end), kinds)
    return tallies_domain.tally(history.pages, history.acks, history.resolves, team.sleep_hours,
                                team.timezone, clock)


def _roll_up(rt: Runtime, team: Team, days: list[tuple[str, datetime, datetime]],
             clock: tallies_domain.LocalClock, now: datetime) -> dict[str, tallies_domain.Tally]:
    """Tally each missing day from the streams (one read for the whole span) and store it."""
    if not days:
        return {}
    found = store.read_many(rt.redis, team.name, _TALLIED, days[0][1], days[-1][2])
    stamps = {kind: [e.at for e in events] for kind, events in found.items()}
    tallies: dict[str, tallies_domain.Tally] = {}
    for day, start, end in days:
        part = {kind: events[bisect_left(stamps[kind], start):bisect_left(stamps[kind], end)]
                for kind, events in found.items()}
        tallies[day] = tallies_domain.tally(part["page"], part["ack"], part["resolve"],
                                            team.sleep_hours, team.timezone, clock)
    keep = timedelta(days=rt.config.history_days)
    store.write_days(rt.redis, team.name, _view(team),
                     {day: (tallies[day].as_dict(), end + keep - now) for day, _, end in days})
    return tallies


def tally_period(rt: Runtime, team: Team, period: domain.Period, now: datetime,
                 kinds: tuple[Kind, ...] = _TALLIED,
                 clock: tallies_domain.LocalClock | None = None) -> tallies_domain.Tally:
    """The period's tally: whole past days from their stored tallies (tallied from the
    streams and stored when missing), the ragged ends from the streams."""
    clock = clock or tallies_domain.LocalClock()
    days = _whole_days(period, team.timezone, now)
    if not days:
        return _tally(rt, team, period.start, period.end, clock, kinds)
    stored = store.read_days(rt.redis, team.name, _view(team), [d for d, _, _ in days])
    total = _tally(rt, team, period.start, days[0][1], clock, kinds)
    missing: list[tuple[str, datetime, datetime]] = []
    for entry in days:
        if entry[0] in stored:
            continue
        if missing and missing[-1][2] != entry[1]:
            for tallied in _roll_up(rt, team, missing, clock, now).values():
                total.add(tallied)
            missing = []
        missing.append(entry)
    for tallied in _roll_up(rt, team, missing, clock, now).values():
        total.add(tallied)
    for raw in stored.values():
        total.add_dict(raw)
    total.add(_tally(rt, team, days[-1][2], period.end, clock, kinds))
    if missing or len(stored) < len(days):
        log.info("report days tallied team=%s stored=%d missing=%d", team.name, len(stored),
                 len(days) - len(stored))
    return total


def roll_up_recent(rt: Runtime, team: Team, now: datetime) -> None:
    """Store the tallies of the last days that are over (the hourly history check)."""
    tally_period(rt, team, domain.period_ending(now, RECENT_DAYS), now)


def build_report(rt: Runtime, team: Team, days: int, now: datetime) -> domain.Report:
    """The report from day tallies plus the streams for the ragged ends."""
    period = domain.period_ending(now, days)
    clock = tallies_domain.LocalClock()
    return domain.build_from(team.name, period, tally_period(rt, team, period, now, clock=clock),
                             tally_period(rt, team, period.previous, now, _TALLIED_BEFORE, clock),
                             _history(rt, team.name, period, _UNTALLIED),
                             _history(rt, team.name, period.previous, _UNTALLIED_BEFORE),
                             _shifts(rt, team, period), store.rules(rt.redis, team.name),
                             team.timezone)


def build_report_raw(rt: Runtime, team: Team, days: int, now: datetime) -> domain.Report:
    """The same report computed from every event of the streams, with no day tallies.

    Kept although nothing in production calls it: it is the independent reference the
    tallies are checked against (tests/test_report_days.py compares the two figure for
    figure; `build_report` with no tallies stored would only check the tallying code
    against itself), and the cost the tallies save (bench/report.py's "raw" rows: every
    event through `domain.build`, which `build_report` never does)."""
    period = domain.period_ending(now, days)
    return domain.build(team.name, period, _history(rt, team.name, period),
                        _history(rt, team.name, period.previous, _READ_BEFORE),
                        _shifts(rt, team, period),
                        store.rules(rt.redis, team.name), team.sleep_hours, team.timezone)


def person_names(rt: Runtime, users: list[str]) -> dict[str, str]:
    names = {}
    for user in users:
        profile = cached_profile(rt.redis, user)
        names[user] = profile.name if profile and profile.name else user
    return names


def _chart_file(team_name: str, days: int) -> tuple[str, str]:
    """The chart's file name and title."""
    return f"oncall-{team_name}-{days}d.png", f"{team_name}: pages per day, last {days} days"


def _chart(rt: Runtime, report: domain.Report) -> bytes:
    return chart_png(report, person_names(rt, [p.user for p in report.people]))


def post_report(rt: Runtime, team: Team, channel: str, days: int, now: datetime) -> None:
    """Post the report in `channel`, with the chart in its thread (no chart when it is empty)."""
    report = build_report(rt, team, days, now)
    answer = rt.sender.call("chat.postMessage", channel=channel, **report_message(report))
    if not report.empty:
        filename, title = _chart_file(team.name, days)
        rt.sender.upload_file(answer["channel"], filename, _chart(rt, report), title,
                              thread_ts=answer["ts"])
    log.info("report posted team=%s channel=%s days=%d pages=%d", team.name, channel, days,
             report.pages)


def last_scheduled(team: Team, now: datetime) -> datetime | None:
    """The latest `report.every` instant at or before now, in the team's timezone."""
    every = team.report_every
    if every is None:
        return None
    local = now.astimezone(ZoneInfo(team.timezone))
    back = (local.weekday() - every.weekday) % 7
    day = local.date() - timedelta(days=back)
    at = datetime.combine(day, every.at, ZoneInfo(team.timezone))
    if at > now:
        at -= timedelta(days=7)
        at = datetime.combine(at.date(), every.at, ZoneInfo(team.timezone))
    return at


def next_scheduled(team: Team, at: datetime) -> datetime:
    """The weekly instant after `at`: a week later on the team's clock."""
    zone = ZoneInfo(team.timezone)
    local = at.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=7), local.time(), zone).astimezone(UTC)


def _scheduled_ident(team_name: str, at: datetime) -> str:
    return f"{team_name}:{int(at.timestamp())}"


def post_scheduled_reports(rt: Runtime, now: datetime) -> None:
    """Queue each team's weekly report to be built, until it is owed (any number of workers:
    owing it is its claim, and one build is queued per `BUILD_LEASE`)."""
    for team in rt.config.teams.values():
        at = last_scheduled(team, now)
        if at is None or now - at > AUTO_CATCH_UP:
            continue
        ident = _scheduled_ident(team.name, at)
        if deliveries.owed_or_done(rt, "report", ident) or is_claimed(rt.redis, "report", ident):
            continue  # owed already, or posted by a version before owing
        if claim(rt.redis, "report-build", ident, int(BUILD_LEASE.total_seconds())):
            log.info("scheduled report due team=%s at=%s", team.name, at.isoformat())
            rt.enqueue("workers.reports.post_scheduled", team.name, at.isoformat())


def owe_scheduled_report(rt: Runtime, team: Team, at: datetime) -> None:
    """Owe the weekly report due at `at` (once): its message now, its chart once Slack took
    the message (`owe_chart`). Both expire when the next week's report is due."""
    ident = _scheduled_ident(team.name, at)
    if deliveries.owed_or_done(rt, "report", ident):
        return
    report = build_report(rt, team, AUTO_PERIOD_DAYS, at)
    expires_at = next_scheduled(team, at)
    chart = () if report.empty else (
        "workers.reports.chart_posted", team.name, AUTO_PERIOD_DAYS, ident,
        expires_at.isoformat(), base64.b64encode(_chart(rt, report)).decode())
    if deliveries.owe(rt, "report", ident, "chat.postMessage",
                      {"channel": team.channel, **report_message(report)},
                      expires_at=expires_at, on_accepted=chart):
        log.info("scheduled report owed team=%s at=%s pages=%d", team.name, at.isoformat(),
                 report.pages)
    claim(rt.redis, "report", ident, int(POSTED_CLAIM.total_seconds()))  # older versions skip it


def owe_chart(rt: Runtime, team_name: str, days: int, ident: str, expires_at: datetime,
              png_base64: str, answer: dict[str, str]) -> None:
    """The weekly report's message was posted (`answer`): owe its chart in its thread."""
    filename, title = _chart_file(team_name, days)
    deliveries.owe(rt, "report", f"{ident}:chart", FILE_UPLOAD,
                   {"channel": answer["channel"], "thread_ts": answer["ts"], "filename": filename,
                    "title": title, "content": png_base64}, expires_at=expires_at)
