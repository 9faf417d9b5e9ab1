"""Block Kit for silences: the Silence modal, the thread message, `/oncall silences`, the
expiry warning. Pure functions returning dicts; everything from Alertmanager or a
label is escaped. Buttons carry `team:silence-id`, never state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.domain.alerts import AlertGroup
from bot.domain.silences import DURATIONS, Matcher, SilenceRecord
from bot.slack.format import date_token, escape, link

SILENCE_MODAL = "silence_modal"
ACTION_SILENCE = "alert_silence"
ACTION_EXPIRE = "silence_expire"
ACTION_EXTEND = "silence_extend"
MAX_MATCHERS_TEXT = 3000
MAX_TEXT = 3000


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text)}]}


def button_value(team: str, silence_id: str) -> str:
    return f"{team}:{silence_id}"


def parse_value(value: str) -> tuple[str, str]:
    team, _, silence_id = value.partition(":")
    return team, silence_id


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "text": _plain(text), "action_id": action_id,
                              "value": value}
    if style:
        button["style"] = style
    return button


def matchers_line(matchers: Iterable[Matcher], limit: int = 1500) -> str:
    text = ", ".join(m.to_text() for m in matchers)
    return "`" + escape(text if len(text) <= limit else text[: limit - 1] + "…").replace(
        "`", "'") + "`"


def _link(url: str, text: str) -> str:
    return link(url, escape(text)) or escape(text)


# ---------------------------------------------------------------- the modal


def silence_modal(group: AlertGroup, matchers_text: str) -> dict[str, Any]:
    """The Silence form: duration, until, matchers (prefilled, editable), comment."""
    options = [{"text": _plain(label), "value": label} for label in DURATIONS]
    options.append({"text": _plain("until a time"), "value": "until"})
    matchers_input: dict[str, Any] = {"type": "plain_text_input", "action_id": "matchers",
                                      "multiline": True, "max_length": MAX_MATCHERS_TEXT}
    if matchers_text:
        matchers_input["initial_value"] = matchers_text
    return {
        "type": "modal", "callback_id": SILENCE_MODAL, "private_metadata": group.key,
        "title": _plain("Silence alert", 24), "submit": _plain("Silence", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            _context(f"Creates a silence in Alertmanager for *{escape(group.title[:500])}*."),
            {"type": "input", "block_id": "duration", "label": _plain("For"),
             "element": {"type": "radio_buttons", "action_id": "duration", "options": options,
                         "initial_option": options[0]}},
            {"type": "input", "block_id": "until", "optional": True,
             "label": _plain("Until (when \"until a time\" is picked)"),
             "element": {"type": "datetimepicker", "action_id": "until"}},
            {"type": "input", "block_id": "matchers", "label": _plain("Matchers"),
             "hint": _plain('One per line: name="value", name=~"regex", name!="value". '
                            "Taken from the alert's labels; narrow or widen them.", 150),
             "element": matchers_input},
            {"type": "input", "block_id": "comment", "optional": True,
             "label": _plain("Comment"),
             "element": {"type": "plain_text_input", "action_id": "comment",
                         "max_length": 1000}},
        ],
    }


# ---------------------------------------------------------------- the thread message


def silence_message(record: SilenceRecord) -> dict[str, Any]:
    """Who silenced, until when, the link; Expire silence while it lasts."""
    link = _link(record.url, f"silence {record.id[:8]}")
    if record.state == "active":
        head = (f":no_bell: Silenced by <@{record.created_by}> until "
                f"{date_token(record.ends_at)} · {link}")
    elif record.expired_by:
        head = f":bell: Silence {link} was expired by <@{record.expired_by}>."
    else:
        head = f":bell: Silence {link} has ended."
    blocks: list[dict[str, Any]] = [_section(head), _context(matchers_line(record.matchers))]
    if record.state == "active":
        blocks.append({"type": "actions", "block_id": "silence_actions", "elements": [
            _button("Expire silence", ACTION_EXPIRE, button_value(record.team, record.id),
                    "danger"),
            _button("Extend 1h", ACTION_EXTEND, button_value(record.team, record.id))]})
    text = ("Silenced until " + record.ends_at.strftime("%Y-%m-%d %H:%M UTC")
            if record.state == "active" else "Silence expired")
    return {"text": text, "blocks": blocks}


# ---------------------------------------------------------------- /oncall silences


def silences_list(team: str, silences: Iterable[Any], now: datetime) -> list[dict[str, Any]]:
    """Active and pending silences of one Alertmanager, each with Expire and Extend 1h."""
    shown = [s for s in silences if s.state in ("active", "pending")]
    shown.sort(key=lambda s: s.ends_at)
    if not shown:
        return [_section(f"No active silences in Alertmanager for {escape(team)}.")]
    blocks: list[dict[str, Any]] = [
        _section(f"*Active silences for {escape(team)}* ({len(shown)})")]
    room = (50 - 2) // 2
    for s in shown[:room]:
        state = "" if s.state == "active" else f" (starts {date_token(s.starts_at)})"
        text = (f"{matchers_line(s.matchers, 800)}\nuntil {date_token(s.ends_at)}{state} · by "
                f"{escape(s.created_by[:100])}")
        if s.comment:
            text += f" · {escape(s.comment[:300])}"
        blocks.append(_section(text))
        blocks.append({"type": "actions", "elements": [
            _button("Expire", ACTION_EXPIRE, button_value(team, s.id), "danger"),
            _button("Extend 1h", ACTION_EXTEND, button_value(team, s.id))]})
    if len(shown) > room:
        blocks.append(_context(f"… and {len(shown) - room} more"))
    return blocks


# ---------------------------------------------------------------- the warning


def expiry_warning(record: SilenceRecord, creator_on_shift: bool) -> dict[str, Any]:
    whose = "Your silence" if creator_on_shift else f"A silence by <@{record.created_by}>"
    text = (f":hourglass: {whose} for {escape(record.team)} ends {date_token(record.ends_at)}: "
            f"{matchers_line(record.matchers, 600)}. When it ends, these alerts page again.")
    if not creator_on_shift:
        text += " Its creator is off shift, so you, the on-call, are told."
    blocks = [_section(text), {"type": "actions", "block_id": "silence_warning", "elements": [
        _button("Extend 1h", ACTION_EXTEND, button_value(record.team, record.id), "primary")]}]
    return {"text": "A silence ends in 15 minutes", "blocks": blocks}
