"""Paging on demand: `/oncall page @person|team [sev1..sev4] MESSAGE` from Slack.

Each page opens its own alert group (source `slack`) in the team's channel.
A team is paged through its escalation policy; a person through their own
notification rules alone. Anyone in the workspace may page; each page is
audited, and one person may send at most PAGES_PER_HOUR in an hour.
"""

from __future__ import annotations

import logging
import secrets

from bot.domain.alerts import AlertGroup, apply_event
from bot.domain.config import Team
from bot.domain.paging import PAGES_PER_HOUR, slack_page_event
from bot.runtime import Runtime
from bot.services import alerts
from bot.store import audit
from bot.store import pages as store

log = logging.getLogger("atbat.paging_on_demand")


class PageRefused(Exception):
    """A page from Slack that is not sent; str() says why, for the sender."""


def page_from_slack(rt: Runtime, sender: str, team: Team, target: str | None, severity: str,
                    message: str, channel: str, *, description: str = "",
                    link: str | None = None) -> AlertGroup:
    """Open an alert for `team` (or for one person) sent from Slack, and page it like any alert."""
    now = rt.now()
    if store.count_sent_page(rt.redis, sender, int(now.timestamp()) // 3600) > PAGES_PER_HOUR:
        raise PageRefused(f"You have sent {PAGES_PER_HOUR} pages in the last hour, the most atbat "
                          "sends for one person. Ask in the team channel, or ask a manager.")
    event = slack_page_event(team.name, sender, target, severity, message, channel,
                             dedup_key=f"{sender}:{secrets.token_hex(8)}", description=description,
                             link=link)
    outcome = alerts.transition(rt, event.key, lambda g: apply_event(g, event, now))
    assert outcome.group is not None
    audit.record(rt.redis, actor=sender, action="page.sent", at=now, team=team.name,
                 target=target or team.name, severity=severity, alert=event.key, channel=channel)
    log.info("page sent from slack user=%s team=%s target=%s severity=%s alert=%s", sender, team.name,
             target or "-", severity, event.key)
    return outcome.group
