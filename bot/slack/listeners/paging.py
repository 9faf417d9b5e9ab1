"""`/oncall page @person|team [sev1..sev4] MESSAGE`: page on demand from Slack.

Anyone in the workspace may page a team or a person, as with a pager's
"trigger" command; the page opens an alert in the team's channel with the
usual buttons, and is paged through the team's escalation policy or, for a
person, through their own notification rules.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App

from bot.domain.config import Config, Team
from bot.domain.paging import METHODS, SEVERITY_OF_SEV, URGENCIES, PagingPolicy, parse_rule
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import ack_timeouts, messages, paging
from bot.services.paging_on_demand import PageRefused, page_from_slack
from bot.slack.clicks import STORE_DOWN, Click, Handler, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import escape, shown, unescape
from bot.slack.render_alerts import ACTION_ACK_RESOLVE, ACTION_STILL_ON_IT, ACTION_UNACK
from bot.slack.render_paging import (
    ACTION_SEND_TEST,
    ACTION_TEST_ARRIVED,
    NOTIFY_MODAL,
    notify_modal,
    rule_text,
    test_confirmed,
    test_failed,
    test_sent,
)
from bot.slack.sender import SlackCallError
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.paging")

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
            raise UserError(f"`{shown(word, 60)}` is neither a team ({escape(names)}) nor an @mention. "
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


@command("notify", usage="/oncall notify", group="Alerts",
                summary="your contact methods (push, SMS, call, e-mail) and notification rules")
def notify_command(ctx: CommandContext) -> Reply:
    if ctx.args:
        raise UserError("`/oncall notify` takes no arguments: it opens your notification settings.")
    problem = open_settings(ctx.runtime, ctx.user, ctx.trigger_id)
    if problem:
        raise UserError(problem)
    return Reply("Opening your notification settings…")


def open_settings(rt: Runtime, user: str, trigger_id: str | None) -> str | None:
    """Open the notification settings modal (/oncall notify, the Home tab); a problem to tell, or None."""
    who = paging.person(rt, user)
    policy = _home_policy(rt.config, user)
    rules = {u: who.rules.get(u) or policy.rules.get(u, ()) for u in URGENCIES}
    if not trigger_id:
        return "Slack sent no trigger to open the settings with; try again."
    try:
        rt.sender.once().call("views.open", trigger_id=trigger_id, view=notify_modal(who, rules))
    except SlackCallError as exc:
        return f"Could not open your notification settings ({exc.error})."
    return None


def _home_policy(config: Config, user: str) -> PagingPolicy:
    teams = config.teams_of(user)
    return teams[0].paging if teams else PagingPolicy()


def _value(view: dict[str, Any], block: str) -> dict[str, Any]:
    return ((view.get("state") or {}).get("values") or {}).get(block, {}).get("value") or {}


def notify_submitted(rt: Runtime, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Test a new method as it is saved, then keep it and changed rules; or show in the modal
    what is wrong (a bad value, a failed test) with nothing stored."""
    user = str((body.get("user") or {}).get("id", ""))
    method = str((_value(view, "method").get("selected_option") or {}).get("value") or "")
    target = str(_value(view, "target").get("value") or "").strip()
    if bool(method) != bool(target):
        block = "target" if method else "method"
        ack(response_action="errors", errors={block: "Pick a method and give its number, address or URL."})
        return
    added, sent = None, None
    try:
        errors = _check_rules(rt, user, view, method)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if method:
            added = paging.new_contact(method, target)  # type: ignore[arg-type]
            refusal = paging.refused_here(rt, added)
            if refusal:
                ack(response_action="errors", errors={"target": refusal[:2000]})
                return
            sent = paging.try_contact(rt, added, within=paging.TEST_DEADLINE)
            if not sent.accepted:
                ack(response_action="errors", errors={"target": (
                    f"The test to {added.shown()} failed: {sent.detail}. Nothing was saved: "
                    "check it and save again.")[:2000]})
                return
            paging.add_tested_contact(rt, user, added, sent.detail)
        for urgency in URGENCIES:
            text = str(_value(view, f"rules_{urgency}").get("value") or "").strip()
            current = paging.person(rt, user).rules.get(urgency)
            if text and (current is None or rule_text(current) != text):
                paging.set_rules(rt, user, urgency, text)
    except ValueError as exc:
        ack(response_action="errors", errors={"target": str(exc)})
        return
    except UNAVAILABLE:
        ack(response_action="errors", errors={"target": STORE_DOWN})
        return
    ack()
    if added is not None and sent is not None:
        asked = test_sent(added, sent.detail)
        messages.post(rt, user, asked["text"], asked["blocks"])


def _check_rules(rt: Runtime, user: str, view: dict[str, Any], method: str) -> dict[str, str]:
    """Errors per rules block, checked before anything is stored."""
    has = {"slack", method} | {c.method for c in paging.person(rt, user).contacts}
    errors = {}
    for urgency in URGENCIES:
        text = str(_value(view, f"rules_{urgency}").get("value") or "").strip()
        if not text:
            continue
        try:
            steps = parse_rule(text)
        except ValueError as exc:
            errors[f"rules_{urgency}"] = str(exc)
            continue
        missing = [s.method for s in steps if s.method not in has]
        if missing:
            errors[f"rules_{urgency}"] = f"You have no {missing[0]} contact yet: add it first."
    return errors


def send_test_click(rt: Runtime, click: Click) -> str | None:
    method = click.value if click.value in METHODS else ""
    if not method:
        return "This button is not one of atbat's."
    contact, sent = paging.send_test(rt, click.user, method)  # type: ignore[arg-type]
    if sent.accepted and contact is not None:
        messages.replace_clicked(rt, click.response_url, test_sent(contact, sent.detail))
    else:
        messages.replace_clicked(rt, click.response_url, test_failed(contact, sent.detail, method))
    return None


def test_arrived_click(rt: Runtime, click: Click) -> str | None:
    method, _, shown = click.value.partition("|")
    if method not in METHODS or not paging.confirm_contact(rt, click.user, method, shown):  # type: ignore[arg-type]
        return "That contact changed since the test; send a new test from its message."
    messages.replace_clicked(rt, click.response_url, test_confirmed(shown))
    return None


PAGE_SHORTCUT = "page_message"
PAGE_MODAL = "page_message_modal"


def page_modal(config: Config, channel: str, metadata: str) -> dict[str, Any]:
    """Team, urgency and a note for a page about a message."""
    options = [{"text": {"type": "plain_text", "text": name[:75]}, "value": name}
               for name in sorted(config.teams)]
    here = config.team_for_channel(channel)
    team_select: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": options[:100]}
    if here is not None:
        team_select["initial_option"] = next(o for o in options if o["value"] == here.name)
    sev = [{"text": {"type": "plain_text", "text": f"{word} ({severity})"}, "value": word}
           for word, severity in SEVERITY_OF_SEV.items()]
    return {"type": "modal", "callback_id": PAGE_MODAL, "private_metadata": metadata,
            "title": {"type": "plain_text", "text": "Page on-call"},
            "submit": {"type": "plain_text", "text": "Page"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [
                {"type": "input", "block_id": "team", "label": {"type": "plain_text", "text": "Team"},
                 "element": team_select},
                {"type": "input", "block_id": "severity", "label": {"type": "plain_text", "text": "Urgency"},
                 "element": {"type": "static_select", "action_id": "value", "options": sev,
                             "initial_option": sev[1]}},
                {"type": "input", "block_id": "note", "optional": True,
                 "label": {"type": "plain_text", "text": "Note (the page's title; default: the message)"},
                 "element": {"type": "plain_text_input", "action_id": "value", "max_length": 300}}]}


def page_shortcut(rt: Runtime, ack: Ack, body: dict[str, Any]) -> None:
    ack()
    channel = str((body.get("channel") or {}).get("id", ""))
    message = body.get("message") or {}
    metadata = json.dumps({"channel": channel, "ts": str(message.get("ts", "")),
                           "text": unescape(str(message.get("text", "")))[:1500]})
    try:
        rt.sender.once().call("views.open", trigger_id=body.get("trigger_id"),
                              view=page_modal(rt.config, channel, metadata))
    except SlackCallError as exc:
        log.warning("page modal not opened user=%s error=%s", (body.get("user") or {}).get("id"), exc.error)


def page_submitted(rt: Runtime, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    user = str((body.get("user") or {}).get("id", ""))
    team = rt.config.teams.get(str((_value(view, "team").get("selected_option") or {}).get("value", "")))
    word = str((_value(view, "severity").get("selected_option") or {}).get("value", "sev2"))
    note = str(_value(view, "note").get("value") or "").strip()
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if team is None:
        ack(response_action="errors", errors={"team": "Pick one of the teams."})
        return
    text = str(meta.get("text", ""))
    title = note or (text.splitlines()[0] if text.strip() else "Paged about a message")
    link = None
    try:
        answer = rt.sender.once().call("chat.getPermalink", channel=meta.get("channel", ""),
                                       message_ts=meta.get("ts", ""))
        link = (answer or {}).get("permalink")
    except SlackCallError:
        link = None  # the page goes out without the link rather than not at all
    try:
        page_from_slack(rt, user, team, None, SEVERITY_OF_SEV.get(word, "error"), title,
                        str(meta.get("channel", "")), description=text, link=link)
    except PageRefused as exc:
        ack(response_action="errors", errors={"note": str(exc)})
        return
    except UNAVAILABLE:
        ack(response_action="errors", errors={"note": STORE_DOWN})
        return
    ack()


def register(app: App, runtime: Runtime) -> None:
    """The "Still on it?" buttons, the settings modal and its tests; a page's buttons are the alert's."""
    for action_id, choice in ((ACTION_STILL_ON_IT, "still"), (ACTION_ACK_RESOLVE, "resolve"),
                              (ACTION_UNACK, "unack")):
        wire(app, runtime, action_id, _answer(choice), queue=QUEUE_URGENT)
    wire(app, runtime, ACTION_SEND_TEST, send_test_click)
    wire(app, runtime, ACTION_TEST_ARRIVED, test_arrived_click)

    @app.shortcut(PAGE_SHORTCUT)
    def page_message(ack: Ack, body: dict[str, Any]) -> None:
        page_shortcut(runtime, ack, body)

    @app.view(PAGE_MODAL)
    def page_view(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        page_submitted(runtime, ack, body, view)

    @app.view(NOTIFY_MODAL)
    def notify_view(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        notify_submitted(runtime, ack, body, view)


def _answer(choice: str) -> Handler:
    def handle(rt: Runtime, click: Click) -> str | None:
        return ack_timeouts.answer(rt, click.value, click.user, click.response_url, choice)
    return handle
