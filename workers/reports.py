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
