"""Block Kit for alerts: the channel message, the escalation DM, `/oncall alerts`.

Pure functions returning dicts. Everything an alert source sent is escaped
(it must not ping `<!channel>` or forge links) and cut to Slack's limits.
Buttons carry only the group's opaque key: the handler re-reads the group
and re-checks who may press on every click.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.alerts import AlertGroup, Link
from bot.domain.escalation import PAGED_USER_LABEL
from bot.domain.timefmt import human_duration
from bot.slack.format import clean_title, cut_mrkdwn, date_token, escape
from bot.slack.format import link as mrkdwn_link

# Slack's limits (https://api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 300  # notifications show little; keep the fallback short
MAX_LABEL_VALUE = 200
MAX_INSTANCES_SHOWN = 5

SEVERITY_EMOJI = {
    "critical": ":rotating_light:",
    "error": ":red_circle:",
    "warning": ":warning:",
    "info": ":information_source:",
}
STATE_EMOJI = {
    "triggered": ":red_circle:",
    "acknowledged": ":large_yellow_circle:",
    "resolved": ":white_check_mark:",
}

ACTION_ACK = "alert_ack"
ACTION_RESOLVE = "alert_resolve"
ACTION_ESCALATE = "alert_escalate"
ACTION_INCIDENT = "alert_incident"
ACTION_RUNBOOK = "alert_runbook"
LIST_BLOCK = "alerts-list:"
ACTION_SILENCE = "alert_silence"
ACTION_SNOOZE = "alert_snooze"
SNOOZE_MINUTES = (15, 30, 60, 240)


# ---------------------------------------------------------------- small pieces


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn_cut(text: str, limit: int) -> str:
    return cut_mrkdwn(text, limit)


def _link(link: Link) -> str | None:
    return mrkdwn_link(link.url, escape(truncate(link.text, 80)))


def _actor(actor: str | None) -> str:
    if not actor or actor == "source":
        return "the source"
    return f"<@{actor}>"


def state_line(group: AlertGroup, now: datetime | None = None) -> str:
    """The group's state; "since" is a date token so it never goes stale in Slack."""
    emoji = STATE_EMOJI[group.state]
    if group.state == "acknowledged" and group.acked_at:
        return (f"{emoji} *ACKNOWLEDGED* by {_actor(group.acked_by)} "
                f"{date_token(group.acked_at)}")
    if group.state == "resolved" and group.resolved_at:
        took = human_duration(group.resolved_at - group.created_at)
        return (f"{emoji} *RESOLVED* by {_actor(group.resolved_by)} "
                f"{date_token(group.resolved_at)} (after {took})")
    return (f"{emoji} *FIRING* since {date_token(group.created_at)} "
            f"({date_token(group.created_at, '{ago}')})")


def counts_line(group: AlertGroup) -> str:
    text = f"{group.firing} firing · {group.resolved_count} resolved"
    if group.truncated:
        text += f" (+{group.truncated} truncated)"
    return text


def _button(text: str, action_id: str, key: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
        "value": key,
    }
    if style:
        button["style"] = style
    return button


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn_cut(text,
                                                                            MAX_SECTION_TEXT)}}


def _context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [
        {"type": "mrkdwn", "text": _mrkdwn_cut(t, MAX_SECTION_TEXT)}
        for t in texts[:MAX_CONTEXT_ELEMENTS]]}


# A page sent from Slack names people and a channel by ID: shown as Slack shows them.
_SLACK_PAGE_FIELDS = {PAGED_USER_LABEL: ("Paged", "@"), "sent_by": ("Sent by", "@"),
                      "sent_from": ("Sent from", "#")}
_SLACK_ID = re.compile(r"[UWC][A-Z0-9]{2,20}")


def _label_fields(labels: Mapping[str, str], from_slack: bool = False) -> list[dict[str, Any]]:
    fields = []
    for name, value in list(labels.items())[:MAX_FIELDS]:
        named = _SLACK_PAGE_FIELDS.get(name) if from_slack else None
        if named and _SLACK_ID.fullmatch(value):
            fields.append({"type": "mrkdwn", "text": f"*{named[0]}*\n<{named[1]}{value}>"})
            continue
        text = f"*{escape(truncate(name, 60))}*\n{escape(truncate(value, MAX_LABEL_VALUE))}"
        fields.append({"type": "mrkdwn", "text": _mrkdwn_cut(text, MAX_FIELD_TEXT)})
    return fields


def _instances_text(group: AlertGroup) -> str | None:
    """The firing alerts of a multi-alert group, by the labels that tell them apart."""
    firing = [a for a in group.alerts.values() if a.status == "firing"]
    if len(group.alerts) < 2 or not firing:
        return None
    common = set(group.labels.items())
    lines = []
    for alert in firing[:MAX_INSTANCES_SHOWN]:
        own = [f"{k}={v}" for k, v in alert.labels.items()
               if (k, v) not in common and k not in ("alertname", "team")]
        lines.append("• " + escape(truncate(", ".join(own) or alert.fingerprint, 300)))
    if len(firing) > MAX_INSTANCES_SHOWN:
        lines.append(f"… and {len(firing) - MAX_INSTANCES_SHOWN} more firing")
    return "\n".join(lines)


def fallback_text(group: AlertGroup) -> str:
    label = {"triggered": "FIRING", "acknowledged": "ACKNOWLEDGED",
             "resolved": "RESOLVED"}[group.state]
    team = f" ({group.team})" if group.team else ""
    text = f"[{label}] {group.severity}: {group.title}{team}"
    if group.summary and group.summary != group.title:
        text += f" — {group.summary}"
    return escape(truncate(text, MAX_FALLBACK_TEXT))


# ---------------------------------------------------------------- the channel message


def alert_actions(group: AlertGroup, *, incident_enabled: bool = True,
                  runbook_enabled: bool = True,
                  silence_enabled: bool = False) -> dict[str, Any] | None:
    if group.state == "resolved":
        return None
    key = group.key
    buttons = []
    if group.state == "triggered":
        buttons.append(_button("Acknowledge", ACTION_ACK, key, "primary"))
    buttons.append(_button("Resolve", ACTION_RESOLVE, key))
    buttons.append(_button("Escalate", ACTION_ESCALATE, key))
    if silence_enabled:
        buttons.append(_button("Silence", ACTION_SILENCE, key))
    elif group.source != "alertmanager" and group.state == "triggered":
        buttons.append(snooze_select(key))
    if incident_enabled:
        buttons.append(_button("Declare incident", ACTION_INCIDENT, key, "danger"))
    if runbook_enabled and group.runbook is not None:
        buttons.append(_button(f"Run {group.runbook.name}", ACTION_RUNBOOK, key))
    return {"type": "actions", "block_id": "alert_actions", "elements": buttons}


def snooze_select(key: str) -> dict[str, Any]:
    """Snooze for N minutes: each option's value is the minutes and the group's opaque key."""
    options = [{"text": {"type": "plain_text", "text": f"{m} min" if m < 60 else f"{m // 60} h"},
                "value": f"{m}:{key}"} for m in SNOOZE_MINUTES]
    return {"type": "static_select", "action_id": ACTION_SNOOZE, "options": options,
            "placeholder": {"type": "plain_text", "text": "Snooze…"}}


def alert_message(group: AlertGroup, now: datetime, *, incident_enabled: bool = True,
                  runbook_enabled: bool = True, silence_enabled: bool = False,
                  incident_channel: str | None = None) -> dict[str, Any]:
    """The one channel message of an alert group, re-rendered on every change.

    `incident_channel` is set while an incident declared from this alert is open (its
    channel id, or "" until the channel exists): the message links it instead of
    offering Declare incident again.
    """
    header = f"{SEVERITY_EMOJI[group.severity]} {group.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": truncate(clean_title(header), MAX_HEADER_TEXT)}},
    ]
    status = f"{state_line(group, now)} · *{group.severity}*"
    if group.team:
        status += f" · {escape(group.team)}"
    if group.summary and group.summary != group.title:
        status += "\n" + escape(group.summary)
    blocks.append(_section(status))
    fields = _label_fields(group.labels, from_slack=group.source == "slack")
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if group.description:
        blocks.append(_section(escape(group.description)))
    instances = _instances_text(group)
    if instances:
        blocks.append(_section(instances))
    links = [text for text in (_link(link) for link in group.links) if text]
    if links:
        blocks.append(_section(" · ".join(links)))
    texts = _context_texts(group)
    if incident_channel is not None:
        texts.insert(0, f":rotating_light: Incident: <#{incident_channel}>" if incident_channel
                     else ":rotating_light: Incident being opened")
        incident_enabled = False
    blocks.append(_context(" · ".join(texts)))
    actions = alert_actions(group, incident_enabled=incident_enabled,
                            runbook_enabled=runbook_enabled, silence_enabled=silence_enabled)
    if actions:
        blocks.append(actions)
    return {"text": fallback_text(group), "blocks": blocks[:MAX_BLOCKS]}


def _context_texts(group: AlertGroup) -> list[str]:
    texts = [counts_line(group)]
    if group.occurrence > 1:
        text = f"Occurrence #{group.occurrence}"
        previous = group.previous_occurrence or {}
        if previous.get("resolved_at"):
            resolved_at = datetime.fromisoformat(previous["resolved_at"])
            text += f" (previous resolved {date_token(resolved_at)})"
        texts.append(text)
    if group.state == "resolved":
        texts.append("No more actions: a new firing opens a new occurrence.")
    elif group.paused == "maintenance":
        texts.append(":construction: *In maintenance*: shown here, paging nobody until the "
                     "window ends.")
    elif group.paused == "snoozed" and group.snoozed_until:
        texts.append(f":zzz: *Snoozed* by {_actor(group.snoozed_by)} until "
                     f"{date_token(group.snoozed_until)}: paging nobody until then.")
    if group.self_healing:
        texts.append(_self_healing(group))
    return texts


def _self_healing(group: AlertGroup) -> str:
    # The line keeps its date tokens; everything else in it is escaped.
    parts = re.split(r"(<!date\^\d+\^[^|>]*\|[^>]*>)", truncate(group.self_healing, 600))
    return ":wrench: " + "".join(p if i % 2 else escape(p) for i, p in enumerate(parts))


# ---------------------------------------------------------------- pages


def state_words(group: AlertGroup) -> str:
    """The state in a few words, for one-line notices: "acknowledged by <@U0ALICE>"."""
    if group.state == "acknowledged":
        return f"acknowledged by {_actor(group.acked_by)}"
    if group.state == "resolved":
        return f"resolved by {_actor(group.resolved_by)}"
    return "firing"


def _fired_again(group: AlertGroup, reopened: AlertGroup | None) -> str | None:
    if reopened is None or reopened.occurrence <= group.occurrence:
        return None
    return (f":repeat: Firing again since {date_token(reopened.created_at)} "
            f"(occurrence #{reopened.occurrence})")


def escalation_dm(group: AlertGroup, step_notify: str, now: datetime | None = None, *,
                  reopened: AlertGroup | None = None) -> dict[str, Any]:
    """The page sent to a person at an escalation step, kept showing the group's state.

    The Acknowledge button is there only while the group is firing. `reopened` is the
    group's newer occurrence, when this page belongs to one that has ended.
    """
    team = group.team or "your team"
    paged = "You are paged" if group.state == "triggered" else "You were paged"
    head = f"{SEVERITY_EMOJI[group.severity]} *{paged} for {escape(team)}:* " \
           f"{escape(truncate(group.title, 500))}"
    lines = [head, state_line(group, now)]
    if group.summary and group.summary != group.title:
        lines.append(escape(truncate(group.summary, 1000)))
    step = "a page to you alone" if step_notify.startswith("@") else escape(step_notify)
    lines.append(f"Escalation step: {step} · {counts_line(group)}")
    if group.self_healing:
        lines.append(_self_healing(group))
    blocks: list[dict[str, Any]] = [_section("\n".join(lines))]
    links = [text for text in (_link(link) for link in group.links) if text]
    if links:
        blocks.append(_context(" · ".join(links)))
    again = _fired_again(group, reopened)
    if again:
        blocks.append(_context(again))
    if group.state == "triggered":
        blocks.append({"type": "actions", "block_id": "alert_dm_actions", "elements": [
            _button("Acknowledge", ACTION_ACK, group.key, "primary")]})
    text = f"Paged ({escape(step_notify)}): {fallback_text(group)}"
    return {"text": _mrkdwn_cut(text, MAX_FALLBACK_TEXT), "blocks": blocks}


def _alert_words(group: AlertGroup) -> str:
    return f"*{group.severity}* {escape(truncate(group.title, 200))}, {state_words(group)}"


def channel_page(group: AlertGroup, team: str) -> dict[str, Any]:
    """The post of a `channel` escalation step (kept showing the group's state)."""
    return {"text": f"<!channel> Alert for {escape(team)}: {_alert_words(group)}."}


def nobody_on_call_notice(group: AlertGroup, step_notify: str, team: str,
                          paged: str) -> dict[str, Any]:
    """The channel notice when a step found nobody on call; `paged` is who was paged instead."""
    return {"text": f":rotating_light: Nobody is on call for *{escape(step_notify)}* of "
                    f"{escape(team)}, so atbat paged {paged}: {_alert_words(group)}."}


# ---------------------------------------------------------------- /oncall alerts


def alerts_list(groups: Iterable[AlertGroup], now: datetime, *, team: str = "your team",
                teams: Sequence[str] = (), done: str | None = None) -> list[dict[str, Any]]:
    """Open alert groups, most severe then oldest first, each with Ack / Resolve.

    `teams` (the listed teams) go in the buttons' block ids, so a click can re-render
    this very list; `done` says what that click did.
    """
    open_groups = sorted((g for g in groups if g.is_open),
                         key=lambda g: (_severity_rank(g.severity), g.created_at))
    blocks: list[dict[str, Any]] = [_section(done)] if done else []
    if not open_groups:
        return [*blocks, _section(f"No open alerts for {escape(team)}.")]
    blocks.append(_section(f"*Open alerts for {escape(team)}* ({len(open_groups)})"))
    room = (MAX_BLOCKS - 3) // 2  # two blocks per group; header, "done" and "more" aside
    list_id = f"{LIST_BLOCK}{','.join(teams)}"[:200]
    for i, group in enumerate(open_groups[:room]):
        blocks.extend(_list_item(group, now, f"{list_id}:{i}"))
    if len(open_groups) > room:
        blocks.append(_context(f"… and {len(open_groups) - room} more open alerts"))
    return blocks


def list_teams(block_id: str) -> list[str] | None:
    """The teams of the `/oncall alerts` list a button was on, or None for another message."""
    if not block_id.startswith(LIST_BLOCK):
        return None
    return [t for t in block_id[len(LIST_BLOCK):].rsplit(":", 1)[0].split(",") if t]


def _severity_rank(severity: str) -> int:
    return list(SEVERITY_EMOJI).index(severity) if severity in SEVERITY_EMOJI else 99


def _list_item(group: AlertGroup, now: datetime, block_id: str) -> Sequence[dict[str, Any]]:
    text = (f"{SEVERITY_EMOJI[group.severity]} *{escape(truncate(group.title, 200))}*\n"
            f"{state_line(group, now)} · {counts_line(group)}")
    buttons = []
    if group.state == "triggered":
        buttons.append(_button("Acknowledge", ACTION_ACK, group.key, "primary"))
    buttons.append(_button("Resolve", ACTION_RESOLVE, group.key))
    return [_section(text), {"type": "actions", "block_id": block_id, "elements": buttons}]


def payload_digest(payload: dict[str, Any]) -> str:
    """A short fingerprint of a message, to skip updates that would change nothing."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- "Still on it?"

ACTION_STILL_ON_IT = "ack_still_on_it"
ACTION_ACK_RESOLVE = "ack_timeout_resolve"
ACTION_UNACK = "ack_unacknowledge"


def still_on_it_question(group: AlertGroup, value: str, wait_minutes: int) -> dict[str, Any]:
    """The DM asking the acknowledger whether they are still on an alert they acknowledged."""
    since = date_token(group.acked_at) if group.acked_at else "a while ago"
    text = (f"Still on it? You acknowledged *{escape(truncate(group.title, 300))}* "
            f"({escape(group.team or 'no team')}) at {since} and it is not resolved. "
            f"Without an answer within {wait_minutes} minutes it re-opens and paging starts again.")
    buttons = [_button("Still on it", ACTION_STILL_ON_IT, value, "primary"),
               _button("Resolve", ACTION_ACK_RESOLVE, value),
               _button("Unacknowledge", ACTION_UNACK, value, "danger")]
    return {"text": cut_mrkdwn(f"Still on it? {fallback_text(group)}", MAX_FALLBACK_TEXT),
            "blocks": [_section(text), {"type": "actions", "block_id": "ack_timeout", "elements": buttons}]}


def still_on_it_answered(group_title: str, outcome: str) -> dict[str, Any]:
    """The question once answered (or no longer needed): what happened, no buttons."""
    text = f"{outcome} · *{escape(truncate(group_title, 300))}*"
    return {"text": f"{outcome}: {escape(truncate(group_title, 200))}", "blocks": [_section(text)]}
