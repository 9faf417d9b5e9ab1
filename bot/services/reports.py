"""On-call health reports: built from history and the schedule, posted with their chart.

`/oncall report`, `atbat report` and the weekly automatic post all call
`build_report`; posting (message, then the chart through Slack's external
upload flow) happens in an RQ job (`workers.reports.post`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from bot.domain import reports as domain
from bot.domain.config import Team
from bot.domain.history import Kind
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.slack.render_reports import chart_png, report_message
from bot.slack.sender import SlackCallError
from bot.store import history as store
from bot.store.base import claim
from bot.store.users import cached_profile

log = logging.getLogger("atbat.reports")

UPLOAD_TIMEOUT = 15.0
_READ: tuple[Kind, ...] = ("page", "ack", "resolve", "feedback", "selfheal")
# Trends compare pages, time to acknowledge and pages saved by self-healing.
_READ_BEFORE: tuple[Kind, ...] = ("page", "ack", "selfheal")
AUTO_PERIOD_DAYS = 7
AUTO_CATCH_UP = timedelta(hours=12)  # a weekly post missed for longer than this is skipped


def _history(rt: Runtime, team: str, period: domain.Period,
             kinds: tuple[Kind, ...] = _READ) -> domain.History:
    found = store.read_many(rt.redis, team, kinds, period.start, period.end)
    return domain.History(pages=found["page"], acks=found["ack"],
                          resolves=found.get("resolve", ()), feedback=found.get("feedback", ()),
                          selfheal=found.get("selfheal", ()))


def _shifts(rt: Runtime, team: Team, period: domain.Period) -> list[domain.ShiftSpan]:
    sched = team_schedule(rt.redis, team)
    return [domain.ShiftSpan(s.user, s.start, s.end) for layer in sched.rotations
            for s in sched.between(layer, period.start, period.end)]


def build_report(rt: Runtime, team: Team, days: int, now: datetime) -> domain.Report:
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


def upload_png(rt: Runtime, channel: str, filename: str, content: bytes, title: str,
               thread_ts: str | None = None) -> str:
    """Slack's external upload: get a URL, POST the bytes, complete into the channel."""
    target = rt.sender.call("files.getUploadURLExternal", filename=filename, length=len(content))
    response = requests.post(target["upload_url"], data=content, timeout=UPLOAD_TIMEOUT,
                             headers={"Content-Type": "image/png"})
    if response.status_code >= 400:
        raise SlackCallError("upload", f"HTTP {response.status_code}")
    extra = {"thread_ts": thread_ts} if thread_ts else {}
    rt.sender.call("files.completeUploadExternal", files=[{"id": target["file_id"], "title": title}],
                   channel_id=channel, **extra)
    return target["file_id"]


def post_report(rt: Runtime, team: Team, channel: str, days: int, now: datetime) -> None:
    """Post the report in `channel`, with the chart in its thread (no chart when it is empty)."""
    report = build_report(rt, team, days, now)
    answer = rt.sender.call("chat.postMessage", channel=channel, **report_message(report))
    if not report.empty:
        png = chart_png(report, person_names(rt, [p.user for p in report.people]))
        upload_png(rt, answer["channel"], f"oncall-{team.name}-{days}d.png", png,
                   f"{team.name}: pages per day, last {days} days", thread_ts=answer["ts"])
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


def post_scheduled_reports(rt: Runtime, now: datetime) -> None:
    """Each team's weekly report, claimed once per scheduled instant (any number of workers)."""
    for team in rt.config.teams.values():
        at = last_scheduled(team, now)
        if at is None or now - at > AUTO_CATCH_UP:
            continue
        ident = f"{team.name}:{int(at.timestamp())}"
        if claim(rt.redis, "report", ident, int(timedelta(days=8).total_seconds())):
            log.info("scheduled report claimed team=%s at=%s", team.name, at.isoformat())
            rt.enqueue("workers.reports.post", team.name, team.channel, AUTO_PERIOD_DAYS,
                       now.isoformat())
