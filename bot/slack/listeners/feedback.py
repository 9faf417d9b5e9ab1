"""Page feedback buttons (Actionable / Noise / Could have waited till morning) and the note form.

A click re-reads who the occurrence paged: only they may answer, once each,
and a second click changes their answer. The question is redrawn in place
with the answer highlighted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.domain.feedback import ANSWERS, Answer, FeedbackError, FeedbackTarget
from bot.runtime import Runtime
from bot.services import feedback
from bot.slack.clicks import clicker, tell
from bot.slack.render_feedback import (
    ACTION_NOTE,
    ACTION_PREFIX,
    NOTE_BLOCK,
    NOTE_INPUT,
    NOTE_MODAL,
    note_modal,
)
from bot.slack.sender import SlackCallError
from bot.store.base import UNAVAILABLE, Conflict

log = logging.getLogger("atbat.feedback")

STORE_DOWN = "atbat cannot reach its store (Redis) right now, so your answer was not saved."


def _replace(runtime: Runtime, body: dict[str, Any], message: dict[str, Any]) -> None:
    url = body.get("response_url")
    if url:
        runtime.enqueue("workers.slack.respond", url, {"replace_original": True, **message})


def _on_answer(runtime: Runtime, choice: Answer) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        user = clicker(body)
        try:
            message = feedback.answer(runtime, str(action.get("value", "")), user, choice)
        except FeedbackError as exc:
            ack()
            tell(runtime, body.get("response_url"), str(exc))
            return
        except (*UNAVAILABLE, Conflict):
            ack()
            log.error("feedback click failed: store unavailable user=%s", user)
            tell(runtime, body.get("response_url"), STORE_DOWN)
            return
        ack()
        _replace(runtime, body, message)

    listener.__name__ = f"on_feedback_{choice}"
    return listener


def on_note_click(runtime: Runtime, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    value, user = str(action.get("value", "")), clicker(body)
    try:
        title = feedback.paged_title(runtime, value, user)
        # Within the click: the trigger_id expires three seconds after it.
        runtime.sender.call("views.open", trigger_id=body.get("trigger_id"),
                            view=note_modal(FeedbackTarget.parse(value), title))
    except FeedbackError as exc:
        ack()
        tell(runtime, body.get("response_url"), str(exc))
        return
    except (SlackCallError, *UNAVAILABLE) as exc:
        ack()
        log.warning("feedback note form not opened user=%s error=%s", user, exc)
        tell(runtime, body.get("response_url"), "Could not open the note form; try again.")
        return
    ack()


def on_note_submit(runtime: Runtime, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    user = clicker(body)
    values = ((view.get("state") or {}).get("values") or {}).get(NOTE_BLOCK, {})
    text = str((values.get(NOTE_INPUT) or {}).get("value") or "")
    try:
        feedback.add_note(runtime, str(view.get("private_metadata", "")), user, text)
    except FeedbackError as exc:
        ack(response_action="errors", errors={NOTE_BLOCK: str(exc)})
        return
    except (*UNAVAILABLE, Conflict):
        ack(response_action="errors", errors={NOTE_BLOCK: STORE_DOWN})
        return
    ack()


def register(app: App, runtime: Runtime) -> None:
    for choice in ANSWERS:
        app.action(ACTION_PREFIX + choice)(_on_answer(runtime, choice))
    app.action(ACTION_NOTE)(lambda ack, body, action: on_note_click(runtime, ack, body, action))
    app.view(NOTE_MODAL)(lambda ack, body, view: on_note_submit(runtime, ack, body, view))
