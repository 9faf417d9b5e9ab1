"""Report jobs: post a team's on-call report with its chart (thin: the service does the work)."""

from __future__ import annotations

import logging
from datetime import datetime

from bot import metrics, runtime
from bot.services import reports
from bot.slack.sender import SlackCallError

log = logging.getLogger("atbat.jobs.reports")


def post(team_name: str, channel: str, days: int, at: str) -> None:
    rt = runtime.current()
    team = rt.config.teams.get(team_name)
    if team is None:
        log.warning("report dropped: team no longer configured team=%s", team_name)
        return
    try:
        reports.post_report(rt, team, channel, days, datetime.fromisoformat(at))
    except SlackCallError as exc:
        log.error("report not posted team=%s channel=%s error=%s", team_name, channel, exc.error)
        metrics.count(rt.redis, "jobs_total", "job=report,outcome=error")
        return
    metrics.count(rt.redis, "jobs_total", "job=report,outcome=ok")


def post_scheduled(team_name: str, at: str) -> None:
    """Build the weekly report due at `at` and owe its post."""
    rt = runtime.current()
    team = rt.config.teams.get(team_name)
    if team is None:
        log.warning("weekly report dropped: team no longer configured team=%s", team_name)
        return
    reports.owe_scheduled_report(rt, team, datetime.fromisoformat(at))


def chart_posted(team_name: str, days: int, ident: str, expires_at: str, png_base64: str,
                 answer: dict[str, str]) -> None:
    """The weekly report's message was posted: owe its chart in its thread."""
    reports.owe_chart(runtime.current(), team_name, days, ident,
                      datetime.fromisoformat(expires_at), png_base64, answer)
