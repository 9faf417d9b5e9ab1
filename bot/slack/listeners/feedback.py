"""Page feedback buttons (Actionable / Noise / Could have waited till morning) and the note form.

Every click goes through the click pipeline: the handler re-reads who the
occurrence paged (only they may answer, once each; a second click changes the
answer) and redraws the question in place with the answer highlighted.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.domain.feedback import ANSWERS, Answer, FeedbackError, FeedbackTarget
from bot.runtime import Runtime
from bot.services import feedback, messages
from bot.slack import clicks
from bot.slack.clicks import Click
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

log = logging.getLogger("atbat.slack.feedback")


def _answer(choice: Answer) -> clicks.Handler:
    def handle(rt: Runtime, click: Click) -> str | None:
        message = feedback.answer(rt, click.value, click.user, choice)
        messages.replace_clicked(rt, click.response_url, message)
        return None

    return handle


def open_note_form(rt: Runtime, click: Click) -> str | None:
    title = feedback.paged_title(rt, click.value, click.user)
    try:
        # Within the click: the trigger_id expires three seconds after it.
        rt.sender.call("views.open", trigger_id=click.trigger_id,
                       view=note_modal(FeedbackTarget.parse(click.value), title))
    except SlackCallError as exc:
        log.warning("feedback note form not opened user=%s error=%s", click.user, exc.error)
        return "Could not open the note form; try again."
    return None


def on_note_submit(rt: Runtime, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    user = str((body.get("user") or {}).get("id", ""))
    values = ((view.get("state") or {}).get("values") or {}).get(NOTE_BLOCK, {})
    text = str((values.get(NOTE_INPUT) or {}).get("value") or "")
    try:
        feedback.add_note(rt, str(view.get("private_metadata", "")), user, text)
    except FeedbackError as exc:
        ack(response_action="errors", errors={NOTE_BLOCK: str(exc)})
        return
    except (*UNAVAILABLE, Conflict):
        ack(response_action="errors", errors={NOTE_BLOCK: clicks.STORE_DOWN})
        return
    ack()


def register(app: App, runtime: Runtime) -> None:
    for choice in ANSWERS:
        clicks.wire(app, runtime, ACTION_PREFIX + choice, _answer(choice), refusals=FeedbackError)
    clicks.wire(app, runtime, ACTION_NOTE, open_note_form, refusals=FeedbackError)
    app.view(NOTE_MODAL)(lambda ack, body, view: on_note_submit(runtime, ack, body, view))
