"""`/oncall page @person|team [sev1..sev4] MESSAGE`: page on demand from Slack.

Anyone in the workspace may page a team or a person, as with a pager's
"trigger" command; the page opens an alert in the team's channel with the
usual buttons, and is paged through the team's escalation policy or, for a
person, through their own notification rules.
"""

from __future__ import annotations

import re

from slack_bolt import App

from bot.config import Config, Team
from bot.domain.paging import SEVERITY_OF_SEV
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import ack_timeouts
from bot.services.paging_on_demand import PageRefused, page_from_slack
from bot.slack.clicks import Click, Handler, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import escape, unescape
from bot.slack.render_alerts import ACTION_ACK_RESOLVE, ACTION_STILL_ON_IT, ACTION_UNACK

USAGE = "/oncall page @person|team [sev1..sev4] MESSAGE"
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")


@command("page", free_text=True, usage=USAGE, group="Alerts",
                summary="page a team (its escalation policy) or a person (their own rules) now")
def page_command(ctx: CommandContext) -> Reply:
    parts = ctx.text.strip().split(None, 1)
    words = parts[1].split(None, 2) if len(parts) > 1 else []
    if not words:
        raise UserError(f"Whom should atbat page? Usage: `{USAGE}`")
    target, team = _target(ctx, words[0])
    rest = words[1:]
    severity = "critical"
    if rest and rest[0].lower() in SEVERITY_OF_SEV:
        severity = SEVERITY_OF_SEV[rest[0].lower()]
        rest = rest[1:]
    message = unescape(" ".join(rest)).strip()
    if not message:
        raise UserError(f"Say what the page is about: `{USAGE}`")
    try:
        group = page_from_slack(ctx.runtime, ctx.user, team, target, severity, message, ctx.channel)
    except PageRefused as exc:
        raise UserError(str(exc)) from None
    whom = f"<@{target}>" if target else f"team {escape(team.name)}"
    return Reply(f"Paging {whom} ({severity}): {escape(group.title)}. "
                 f"The alert is in <#{team.channel}>, with its buttons and thread.")


def _target(ctx: CommandContext, word: str) -> tuple[str | None, Team]:
    """The person (or None) and the team whose channel the page goes to."""
    config: Config = ctx.config
    mention = _MENTION.fullmatch(word)
    if mention is None:
        team = config.teams.get(word.lower())
        if team is None:
            names = ", ".join(sorted(config.teams)) or "none configured"
            raise UserError(f"`{escape(word)}` is neither a team ({escape(names)}) nor an @mention. "
                            f"Usage: `{USAGE}`")
        return None, team
    user = mention[1]
    here = config.team_for_channel(ctx.channel)
    theirs = config.teams_of(user)
    team = here if here is not None and here in theirs else (theirs[0] if theirs else here)
    if team is None:
        raise UserError(f"<@{user}> is in no team, so atbat has no channel for the page. "
                        "Page from a team's channel, or page their team.")
    return user, team


def register(app: App, runtime: Runtime) -> None:
    """The "Still on it?" buttons; a page's own buttons are the alert's."""
    for action_id, choice in ((ACTION_STILL_ON_IT, "still"), (ACTION_ACK_RESOLVE, "resolve"),
                              (ACTION_UNACK, "unack")):
        wire(app, runtime, action_id, _answer(choice), queue=QUEUE_URGENT)


def _answer(choice: str) -> Handler:
    def handle(rt: Runtime, click: Click) -> str | None:
        return ack_timeouts.answer(rt, click.value, click.user, click.response_url, choice)
    return handle
