"""Slack messages sent on a handler's behalf: queued on the request path, sent by a job.

A handler must ack within three seconds, so it queues the Web API call
(`post`, `update`, `tell`); the job (`workers.slack`) makes it through the
sender, which retries 429 and 5xx.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import metrics
from bot.runtime import QUEUE_DEFAULT, Runtime
from bot.slack.sender import SlackCallError

log = logging.getLogger("atbat.messages")


# ---------------------------------------------------------------- queueing (request path)


def enqueue_call(rt: Runtime, method: str, args: dict[str, Any], *,
                 queue: str = QUEUE_DEFAULT) -> None:
    rt.enqueue("workers.slack.call", method, args, queue=queue)


def post(rt: Runtime, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
         queue: str = QUEUE_DEFAULT) -> None:
    args: dict[str, Any] = {"channel": channel, "text": text}
    if blocks:
        args["blocks"] = blocks
    enqueue_call(rt, "chat.postMessage", args, queue=queue)


def update(rt: Runtime, channel: str, ts: str, message: dict[str, Any]) -> None:
    enqueue_call(rt, "chat.update", {"channel": channel, "ts": ts, **message})


def replace_clicked(rt: Runtime, response_url: str | None, message: dict[str, Any], *,
                    queue: str = QUEUE_DEFAULT) -> None:
    """Replace the message a click came from (ephemeral ones too), e.g. once its buttons are
    spent, through the click's response_url."""
    if response_url:
        rt.enqueue("workers.slack.respond", response_url, {"replace_original": True, **message},
                   queue=queue)


def tell(rt: Runtime, response_url: str | None, text: str, *, queue: str = QUEUE_DEFAULT) -> None:
    """An ephemeral answer to whoever clicked or typed."""
    if response_url:
        rt.enqueue("workers.slack.respond", response_url,
                   {"response_type": "ephemeral", "replace_original": False, "text": text},
                   queue=queue)


# ---------------------------------------------------------------- sending (the jobs)


def call(rt: Runtime, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Make one Web API call through the sender; refusals are logged, not retried."""
    try:
        result = rt.sender.call(method, **args)
    except SlackCallError as exc:
        log.error("slack call failed method=%s error=%s channel=%s", method, exc.error,
                  args.get("channel"))
        metrics.count(rt.redis, "slack_calls_total", f"method={method},outcome=error")
        return None
    metrics.count(rt.redis, "slack_calls_total", f"method={method},outcome=ok")
    return result


def respond(rt: Runtime, response_url: str, payload: dict[str, Any]) -> None:
    """Answer through a slash command's or a click's response_url."""
    try:
        rt.sender.respond(response_url, payload)
    except SlackCallError as exc:
        log.error("response_url post failed error=%s", exc.error)
