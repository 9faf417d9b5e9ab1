"""Block Kit and Markdown for incidents. Pure functions returning dicts and strings.

Buttons carry only the incident id in ``value``; handlers re-read the incident
and re-check the clicker. Severity is changed through a button that opens
``severity_modal`` (one static_select): a modal submission carries the incident
id in ``private_metadata``, so no button or option value ever encodes state.

Action and view ids handlers route on:

- buttons ``incident_update``, ``incident_severity``, ``incident_resolve``
- modals ``incident_update_modal`` (blocks ``update``/``text``, ``status``/``status``),
  ``incident_severity_modal`` (``severity``/``severity``),
  ``incident_resolve_modal`` (``summary``/``text``)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bot.domain.incidents import (
    BOT_AUTHOR,
    OPEN_STATUSES,
    TOPIC_MAX,
    Incident,
    TimelineEntry,
    last_update,
    severity_label,
    truncate,
)
from bot.slack.format import clean_title, cut_mrkdwn, date_token, link
from bot.slack.format import escape as escape_all

ACTION_UPDATE = "incident_update"
ACTION_SEVERITY = "incident_severity"
ACTION_RESOLVE = "incident_resolve"
UPDATE_MODAL = "incident_update_modal"
SEVERITY_MODAL = "incident_severity_modal"
RESOLVE_MODAL = "incident_resolve_modal"

MAX_BLOCKS = 50
SECTION_MAX = 3000
HEADER_MAX = 150
FIELD_MAX = 2000
LIST_MAX = 40  # incidents shown by incidents_list before "and N more"

SEVERITY_EMOJI = {1: "🔴", 2: "🟠", 3: "🟡", 4: "🔵"}
SEVERITY_HINT = {
    1: "critical: customers broadly affected",
    2: "major: a key feature degraded",
    3: "minor: limited impact",
    4: "low: no customer impact yet",
}

# ---------------------------------------------------------------------------
# Text helpers

_MENTION = re.compile(r"<[@#][A-Z0-9]+(?:\|[^<>]*)?>")
_BROADCAST = re.compile(r"<!(\w+)[^>]*>")


def escape(text: str) -> str:
    """Escape mrkdwn control characters but keep user/channel mentions.

    Users may mention people in an update, but ``<!channel>`` or a disguised
    link from a title must not reach Slack as markup.
    """
    out, last = [], 0
    for match in _MENTION.finditer(text):
        out.append(_escape_all(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape_all(text[last:]))
    return "".join(out)


def _escape_all(text: str) -> str:
    return escape_all(text)


def title_text(inc: Incident) -> str:
    """The title for mrkdwn and fallback text: one line, escaped (mentions kept)."""
    return escape(clean_title(inc.title))


def topic(inc: Incident) -> str:
    """``SEV2 · Investigating · Lead: <@U0ALICE> · Payments API errors``, ≤ 250 chars,
    the title escaped as everywhere Slack parses text."""
    head = f"{severity_label(inc.severity)} · {inc.status.capitalize()} · Lead: <@{inc.lead}> · "
    return head + cut_mrkdwn(title_text(inc), TOPIC_MAX - len(head))


def _defuse(text: str) -> str:
    """For Markdown: turn ``<!here>`` and friends into inert ``@here``."""
    return _BROADCAST.sub(lambda m: f"@{m.group(1)}", text)


def duration(delta: timedelta) -> str:
    """``2d 3h``, ``1h 5m``, ``12m``, ``under 1m``."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "under 1m"  # never a raw < of atbat's own: it would swallow what follows
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def _user(user_id: str) -> str:
    return f"<@{user_id}>" if user_id and user_id != BOT_AUTHOR else "atbat"


def _channel(inc: Incident) -> str:
    return f"<#{inc.channel_id}>" if inc.channel_id else f"#{inc.channel_name}"


def _status_label(inc: Incident) -> str:
    return inc.status.capitalize()


def _sev(inc: Incident) -> str:
    return f"{SEVERITY_EMOJI.get(inc.severity, '')} {severity_label(inc.severity)}".strip()


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut_mrkdwn(text, SECTION_MAX)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut_mrkdwn(text, FIELD_MAX)}]}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {
        "type": "button",
        "text": _plain(text, 75),
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text, 75), "value": value}


# ---------------------------------------------------------------------------
# Messages


def summary_message(inc: Incident, now: datetime) -> dict[str, Any]:
    """The pinned summary, updated in place on every change."""
    # While it is ongoing, how long is a date token: the pinned message never shows a
    # duration frozen at its last update.
    took = (f"*Duration*\n{duration(inc.resolved_at - inc.created_at)}" if inc.resolved_at
            else f"*Ongoing since*\n{date_token(inc.created_at, '{ago}')}")
    fields = [
        f"*Severity*\n{_sev(inc)}",
        f"*Status*\n{_status_label(inc)}",
        f"*Lead*\n{_user(inc.lead)}",
        f"*Started*\n{date_token(inc.created_at)}",
        took,
        f"*Team*\n{escape(inc.team) or '—'}",
    ]
    header = _plain(f"{_sev(inc)} · {clean_title(inc.title)}", HEADER_MAX)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": header}]
    if not header["text"].endswith(clean_title(inc.title)):  # the header cut it: show it whole once
        blocks.append(_section(f"*{title_text(inc)}*"))
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})
    update = last_update(inc)
    if update is not None:
        blocks.append(
            _section(
                f"*Last update* {date_token(update.at)} by {_user(update.author)}\n{escape(update.text)}"
            )
        )
    if inc.resolved_at is not None:
        blocks.append(_section(f"✅ *Resolved* {date_token(inc.resolved_at)}\n{escape(inc.summary) or '—'}"))
    else:
        blocks.append(
            {
                "type": "actions",
                "block_id": "incident_actions",
                "elements": [
                    _button("Post update", ACTION_UPDATE, inc.id, "primary"),
                    _button("Change severity", ACTION_SEVERITY, inc.id),
                    _button("Resolve", ACTION_RESOLVE, inc.id, "danger"),
                ],
            }
        )
    state = "resolved" if inc.resolved_at else _status_label(inc).lower()
    text = f"{severity_label(inc.severity)} incident ({state}): {title_text(inc)}"
    return {"text": cut_mrkdwn(text, SECTION_MAX), "blocks": blocks}


def announcement(inc: Incident, permalink_or_channel: str) -> dict[str, Any]:
    """Posted in the team channel when an incident is declared."""
    target = permalink_or_channel
    if target.startswith("http"):
        where = link(target, f"#{inc.channel_name}") or _channel(inc)
    elif target.startswith(("C", "G")):
        where = f"<#{target}>"
    else:
        where = _channel(inc)
    line = (
        f"🚨 {severity_label(inc.severity)} incident declared: {where} — "
        f"{title_text(inc)}, lead {_user(inc.lead)}"
    )
    blocks = [
        _section(line),
        _context(
            f"Declared by {_user(inc.requester)} {date_token(inc.created_at)} · "
            "join the channel to follow and help"
        ),
    ]
    plain = f"🚨 {severity_label(inc.severity)} incident declared: {title_text(inc)}"
    return {"text": cut_mrkdwn(plain, SECTION_MAX), "blocks": blocks}


def resolve_announcement(inc: Incident) -> dict[str, Any]:
    """Posted in the incident channel (and the team channel) on resolve."""
    took = duration(inc.resolved_at - inc.created_at) if inc.resolved_at else "?"
    line = (
        f"✅ {severity_label(inc.severity)} incident resolved: {_channel(inc)} — "
        f"{title_text(inc)} (lasted {took}, lead {_user(inc.lead)})"
    )
    blocks = [_section(line)]
    if inc.summary:
        blocks.append(_section(f"*Summary*\n{escape(inc.summary)}"))
    blocks.append(_context("A postmortem draft follows in the incident channel."))
    plain = f"✅ {severity_label(inc.severity)} incident resolved: {title_text(inc)}"
    return {"text": cut_mrkdwn(plain, SECTION_MAX), "blocks": blocks}


def reminder_message(inc: Incident, now: datetime) -> dict[str, Any]:
    """Nudge the lead of a SEV1/SEV2 that has gone quiet."""
    quiet = duration(now - (inc.last_update_at or inc.created_at))
    text = (
        f"⏰ {_user(inc.lead)}, no update for {quiet} on this "
        f"{severity_label(inc.severity)}. Post one so people know where things stand."
    )
    return {
        "text": text,
        "blocks": [
            _section(text),
            {
                "type": "actions",
                "elements": [_button("Post update", ACTION_UPDATE, inc.id, "primary")],
            },
        ],
    }


def incidents_list(incidents: Iterable[Incident], now: datetime) -> dict[str, Any]:
    """``/oncall incidents``: open ones by severity, then resolved ones, newest first."""
    items = list(incidents)
    open_ = sorted((i for i in items if i.is_open), key=lambda i: (i.severity, i.created_at))
    done = sorted((i for i in items if not i.is_open), key=lambda i: i.resolved_at or now, reverse=True)
    if not items:
        return {"text": "No incidents.", "blocks": [_section("No incidents. 🎉")]}
    blocks: list[dict[str, Any]] = []
    shown = 0
    for heading, group in (("Open incidents", open_), ("Recently resolved", done)):
        if not group:
            continue
        blocks.append(_section(f"*{heading}* ({len(group)})"))
        for inc in group:
            if shown >= LIST_MAX:
                break
            blocks.append(_section(_list_line(inc, now)))
            shown += 1
    if shown < len(items):
        blocks.append(_context(f"… and {len(items) - shown} more."))
    text = f"{len(open_)} open incident(s), {len(done)} resolved"
    return {"text": text, "blocks": blocks[:MAX_BLOCKS]}


def _list_line(inc: Incident, now: datetime) -> str:
    if inc.resolved_at:
        took = duration(inc.resolved_at - inc.created_at)
        when = f"resolved {date_token(inc.resolved_at)} after {took}"
    else:
        when = f"started {date_token(inc.created_at)}, {duration(now - inc.created_at)} ago"
    return (
        f"{_sev(inc)} {_channel(inc)} — {title_text(inc)}\n"
        f"{_status_label(inc)} · lead {_user(inc.lead)} · {when}"
    )


# ---------------------------------------------------------------------------
# Modals


def _modal(
    inc: Incident, callback_id: str, title: str, submit: str, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": inc.id,
        "title": _plain(title, 24),
        "submit": _plain(submit, 24),
        "close": _plain("Cancel", 24),
        "blocks": [_context(f"{_sev(inc)} · {title_text(inc)}"), *blocks],
    }


def update_modal(inc: Incident) -> dict[str, Any]:
    """``views.open`` payload for posting an update (and optionally a new status)."""
    statuses = [_option(s.capitalize(), s) for s in OPEN_STATUSES]
    current = next((o for o in statuses if o["value"] == inc.status), None)
    select: dict[str, Any] = {"type": "static_select", "action_id": "status", "options": statuses}
    if current is not None:
        select["initial_option"] = current
    return _modal(
        inc,
        UPDATE_MODAL,
        "Incident update",
        "Post",
        [
            {
                "type": "input",
                "block_id": "update",
                "label": _plain("What changed?", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": SECTION_MAX,
                },
            },
            {
                "type": "input",
                "block_id": "status",
                "optional": True,
                "label": _plain("Status", 2000),
                "element": select,
            },
        ],
    )


def severity_modal(inc: Incident) -> dict[str, Any]:
    options = [_option(f"SEV{n} — {SEVERITY_HINT[n]}", f"sev{n}") for n in range(1, 5)]
    return _modal(
        inc,
        SEVERITY_MODAL,
        "Change severity",
        "Change",
        [
            {
                "type": "input",
                "block_id": "severity",
                "label": _plain("Severity", 2000),
                "element": {
                    "type": "static_select",
                    "action_id": "severity",
                    "options": options,
                    "initial_option": options[inc.severity - 1],
                },
            }
        ],
    )


def resolve_modal(inc: Incident) -> dict[str, Any]:
    return _modal(
        inc,
        RESOLVE_MODAL,
        "Resolve incident",
        "Resolve",
        [
            {
                "type": "input",
                "block_id": "summary",
                "optional": True,
                "label": _plain("Summary: what happened, what fixed it", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": SECTION_MAX,
                },
            }
        ],
    )


# ---------------------------------------------------------------------------
# Timeline and postmortem


def timeline_text(inc: Incident) -> str:
    """The timeline as mrkdwn lines, oldest first, cut to one section's size."""
    # Entries are cut so one long update cannot push every other entry out.
    lines = [
        f"• {date_token(e.at, '{time}')} — {_user(e.author)} — {escape(truncate(e.text, 500))}"
        for e in inc.timeline
    ]
    text = "\n".join(lines)
    if len(text) <= SECTION_MAX:
        return text
    # Keep the newest entries: they are what people open the timeline for.
    kept: list[str] = []
    room = SECTION_MAX - 40
    for line in reversed(lines):
        if len(line) + 1 > room:
            break
        kept.insert(0, line)
        room -= len(line) + 1
    return f"_… {len(lines) - len(kept)} earlier entries_\n" + "\n".join(kept)


def timeline_entry_line(entry: TimelineEntry) -> str:
    """One timeline entry as posted in the incident channel when it happens."""
    return f"{date_token(entry.at, '{time}')} {_user(entry.author)} — {escape(entry.text)}"
