"""The page feedback question and its note form, pure Block Kit."""

from __future__ import annotations

from typing import Any

from bot.domain.feedback import ANSWERS, LABELS, FeedbackTarget
from bot.slack.format import escape

ACTION_PREFIX = "feedback_"  # + the answer: feedback_actionable, feedback_noise, feedback_morning
ACTION_NOTE = "feedback_note"
NOTE_MODAL = "feedback_note_modal"
NOTE_BLOCK, NOTE_INPUT = "note", "text"


def question(target: FeedbackTarget, title: str, chosen: str | None = None,
             note: str = "") -> dict[str, Any]:
    """The DM: the question, three answers (the chosen one highlighted) and "Add a note"."""
    asked = f"Was this page worth it? *{escape(title)}* (resolved)"
    if chosen is None:
        text = f"Was this page worth it? {escape(title)}"
        status = "One click answers; you can change it later."
    else:
        text = f"You answered {LABELS[chosen]} for {escape(title)}"  # type: ignore[index]
        status = f"Your answer: *{LABELS[chosen]}*. Click another to change it."  # type: ignore[index]
        if note:
            status += f"\nYour note: {escape(note)}"
    buttons: list[dict[str, Any]] = []
    for answer in ANSWERS:
        button = {"type": "button", "action_id": ACTION_PREFIX + answer, "value": target.value,
                  "text": {"type": "plain_text", "text": LABELS[answer]}}
        if answer == chosen:
            button["style"] = "primary"
        buttons.append(button)
    if chosen is not None:
        buttons.append({"type": "button", "action_id": ACTION_NOTE, "value": target.value,
                        "text": {"type": "plain_text", "text": "Add a note"}})
    return {"text": text, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": asked}},
        {"type": "actions", "block_id": "feedback", "elements": buttons},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": status}]},
    ]}


def note_modal(target: FeedbackTarget, title: str) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": NOTE_MODAL, "private_metadata": target.value,
        "title": {"type": "plain_text", "text": "Page feedback"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}},
            {"type": "input", "block_id": NOTE_BLOCK, "label": {"type": "plain_text", "text": "Note"},
             "element": {"type": "plain_text_input", "action_id": NOTE_INPUT, "multiline": True,
                         "max_length": 500}},
        ],
    }
