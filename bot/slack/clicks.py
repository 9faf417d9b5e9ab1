"""The one click pipeline every button goes through.

A button carries only an opaque id in its `value`. Each feature's handler
takes the parsed `Click`, re-reads the state behind the id, re-checks who
pressed, runs one compare-and-set transition in the store, and queues the
renders and messages that follow (`bot.services.messages`); it returns the
ephemeral answer for the presser, or None.

Around the handler, the pipeline is the same for all:

* a refusal (one of the handler's `refusals`, str() is the reason) is told
  to the presser; nothing was written;
* the store down (Redis unreachable, or a compare-and-set losing every
  race): the click is acked, logged, and the presser gets `STORE_DOWN`
  through the click's response_url with one quick attempt, after the ack,
  since no job can be queued without Redis (an answer that finds the store
  down when it is queued goes the same way);
* anything else is logged and the presser is told something went wrong.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App

from bot.runtime import QUEUE_DEFAULT, Runtime
from bot.services import messages
from bot.slack.sender import SlackCallError
from bot.store.base import UNAVAILABLE, Conflict

log = logging.getLogger("atbat.clicks")

STORE_DOWN = (":warning: atbat cannot reach its store (Redis) right now, so nothing was changed. "
              "Try again in a minute.")
CRASHED = ":warning: Something went wrong on atbat's side; it has been logged."
MAX_VALUE = 200  # ids are short; a longer value is not ours


@dataclass(frozen=True)
class Click:
    """What a button press says: who, which id, and where the clicked message is."""

    user: str
    value: str
    channel: str = ""
    message_ts: str = ""
    response_url: str | None = None
    trigger_id: str | None = None
    block_id: str = ""
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, body: dict[str, Any], action: dict[str, Any]) -> Click:
        container = body.get("container") or {}
        picked = action.get("selected_option") or {}  # a menu's choice stands for a value
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
        return cls(user=str((body.get("user") or {}).get("id", "")),
                   value=str(action.get("value") or picked.get("value") or "")[:MAX_VALUE],
                   channel=channel, message_ts=str(container.get("message_ts") or ""),
                   response_url=body.get("response_url"), trigger_id=body.get("trigger_id"),
                   block_id=str(action.get("block_id") or ""), body=body)


Handler = Callable[[Runtime, Click], str | None]


def wire(app: App, runtime: Runtime, action_id: str, handle: Handler, *,
         refusals: type[Exception] | tuple[type[Exception], ...] = (),
         queue: str = QUEUE_DEFAULT) -> None:
    """Route the button `action_id` through the pipeline to `handle`."""

    @app.action(action_id)
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        click = Click.parse(body, action)
        answer = run(runtime, ack, click, handle, refusals=refusals, what=action_id)
        if answer:
            try:
                messages.tell(runtime, click.response_url, answer, queue=queue)
            except UNAVAILABLE:  # refused without the store, and no job can carry the answer
                tell_now(runtime, click.response_url, answer)

    listener.__name__ = f"on_{action_id}"


def run(runtime: Runtime, ack: Ack, click: Click, handle: Handler, *,
        refusals: type[Exception] | tuple[type[Exception], ...], what: str) -> str | None:
    """Handle the click and ack it; the answer for the presser (None when already told)."""
    try:
        answer = handle(runtime, click)
    except refusals as exc:
        answer = getattr(exc, "message", None) or str(exc)
        log.info("click refused action=%s user=%s value=%s reason=%s", what, click.user,
                 click.value, answer)
    except (*UNAVAILABLE, Conflict):
        ack()
        log.error("click failed: store unavailable action=%s user=%s value=%s", what,
                  click.user, click.value)
        tell_now(runtime, click.response_url, STORE_DOWN)
        return None
    except Exception:
        log.exception("click crashed action=%s user=%s value=%s", what, click.user, click.value)
        answer = CRASHED
    ack()
    return answer


def tell_now(runtime: Runtime, response_url: str | None, text: str) -> None:
    """Answer the presser without a job (Redis is down): one quick attempt, after the ack."""
    if not response_url:
        return
    payload = {"response_type": "ephemeral", "replace_original": False, "text": text}

    def send() -> None:
        try:
            runtime.sender.once().respond(response_url, payload)
        except SlackCallError as exc:
            log.warning("store-down answer not sent error=%s", exc.error)

    threading.Thread(target=send, name="click-answer", daemon=True).start()
