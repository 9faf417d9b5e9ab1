"""Jobs that talk to Slack on behalf of a handler."""

from __future__ import annotations

import logging
from typing import Any

from bot import metrics, runtime
from bot.slack.sender import SlackCallError

log = logging.getLogger("atbat.jobs.slack")


def call(method: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Make one Web API call through the sender; refusals are logged, not retried."""
    rt = runtime.current()
    try:
        result = rt.sender.call(method, **args)
    except SlackCallError as exc:
        log.error("slack call failed method=%s error=%s channel=%s", method, exc.error,
                  args.get("channel"))
        metrics.count(rt.redis, "slack_calls_total", f"method={method},outcome=error")
        return None
    metrics.count(rt.redis, "slack_calls_total", f"method={method},outcome=ok")
    return result


def respond(response_url: str, payload: dict[str, Any]) -> None:
    """Answer through a slash command's or a click's response_url."""
    rt = runtime.current()
    try:
        rt.sender.respond(response_url, payload)
    except SlackCallError as exc:
        log.error("response_url post failed error=%s", exc.error)
