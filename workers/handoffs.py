"""Jobs for handoffs: the channel announcement, the DM reminder, the user group update.

They are enqueued by the periodic check in `bot.handoffs`, which has already
claimed each event once; a job only renders and sends.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import handoffs, metrics, runtime
from bot.slack import render_schedule
from bot.slack.sender import SlackCallError

log = logging.getLogger("atbat.handoffs")


def _post(channel: str, text: str, blocks: list[dict[str, Any]], what: str, team: str) -> bool:
    rt = runtime.current()
    try:
        rt.sender.call("chat.postMessage", channel=channel, text=text, blocks=blocks)
    except SlackCallError as exc:
        log.error("%s not posted team=%s channel=%s error=%s", what, team, channel, exc.error)
        metrics.count(rt.redis, "jobs_total", f"job={what},outcome=error")
        return False
    metrics.count(rt.redis, "jobs_total", f"job={what},outcome=ok")
    return True


def announce(data: dict[str, Any]) -> None:
    """Post "X is now on call for team layer until ..., taking over from Y" in the team channel."""
    rt = runtime.current()
    h = handoffs.Handoff.from_job(data)
    team = rt.config.teams.get(h.team)
    if team is None:
        log.warning("handoff dropped: team no longer configured team=%s", h.team)
        return
    text, blocks = render_schedule.handoff(team.name, h.shift, h.previous)
    if _post(team.channel, text, blocks, "handoff_announce", team.name):
        log.info("handoff announced team=%s layer=%s user=%s previous=%s", team.name, h.shift.layer,
                 h.shift.user, h.previous)


def remind(data: dict[str, Any]) -> None:
    """DM the incoming person before their shift."""
    h = handoffs.Handoff.from_job(data)
    text, blocks = render_schedule.reminder(h.team, h.shift, h.previous)
    if _post(h.shift.user, text, blocks, "handoff_reminder", h.team):
        log.info("handoff reminder sent team=%s layer=%s user=%s", h.team, h.shift.layer, h.shift.user)


def sync_usergroup(team_name: str, users: list[str], claim_key: str) -> None:
    """Make the team's Slack user group hold exactly `users` (never empty it)."""
    rt = runtime.current()
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
        if exc.error.startswith("gave up"):
            rt.redis.delete(claim_key)  # Slack was unreachable: let the next check try again
        return
    handoffs.record_synced(rt.redis, team.name, users)
    metrics.count(rt.redis, "jobs_total", "job=usergroup_sync,outcome=ok")
    log.info("usergroup synced team=%s usergroup=%s users=%s", team.name, team.usergroup,
             ",".join(users))
