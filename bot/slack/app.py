"""Builds the Bolt app: request checks, de-duplication, the `/oncall` command, listeners."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_sdk import WebClient

from bot import metrics, wiring
from bot.runtime import Runtime
from bot.slack.clicks import STORE_DOWN
from bot.slack.commands import CommandContext, Reply
from bot.store import idempotency
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.slack")


def build_app(runtime: Runtime) -> App:
    settings = runtime.settings
    app = App(
        signing_secret=settings.signing_secret,
        # Bolt's own client is only used for Bolt internals; our calls go through Sender.
        client=WebClient(token=settings.bot_token, base_url=settings.api_url),
        token_verification_enabled=False,
        # Handlers are fast and ack with their answer: run them on the request thread.
        # (Otherwise Bolt hands each one to a thread pool and polls for the ack every 10 ms.)
        process_before_response=True,
        logger=logging.getLogger("atbat.bolt"),
    )

    @app.middleware
    def skip_replays(body: dict[str, Any], next: Any) -> Any:  # noqa: A002
        """A Slack retry or a replayed interaction is acknowledged and otherwise ignored."""
        dedup_id = idempotency.request_id(body)
        if dedup_id is None or (body.get("command") and wiring.ROUTER.only_reads(body.get("text") or "")):
            return next()  # a query answers without a round trip to Redis before the ack
        try:
            first = idempotency.claim(runtime.redis, dedup_id)
        except UNAVAILABLE:
            log.warning("dedup skipped: store unavailable id=%s", dedup_id)
            return next()
        if first:
            return next()
        log.info("duplicate slack request ignored id=%s type=%s", dedup_id, body.get("type") or
                 body.get("command"))
        return BoltResponse(status=200, body="")

    @app.command("/oncall")
    def oncall(ack: Ack, command: dict[str, Any]) -> None:
        started = time.perf_counter()
        reply = handle_command(runtime, command)
        ack(**reply.to_ack())
        metrics.observe_command(runtime.redis, time.perf_counter() - started)

    wiring.register(app, runtime)
    return app


def handle_command(runtime: Runtime, command: dict[str, Any]) -> Reply:
    user = command.get("user_id", "")
    channel = command.get("channel_id", "")
    text = command.get("text", "") or ""

    def make_context(args: list[str]) -> CommandContext:
        return CommandContext(
            runtime=runtime, user=user, channel=channel, args=args, text=text,
            response_url=command.get("response_url"), trigger_id=command.get("trigger_id"),
            now=runtime.now(), router=wiring.ROUTER,
        )

    try:
        reply = wiring.ROUTER.dispatch(make_context, text)
    except UNAVAILABLE:
        log.error("command failed: store unavailable user=%s text=%r", user, text[:80])
        return Reply(STORE_DOWN)
    except Exception:
        log.exception("command crashed user=%s channel=%s", user, channel)
        return Reply(":warning: Something went wrong on atbat's side; it has been logged.")
    log.info("command user=%s channel=%s sub=%s", user, channel, (text.split() or ["who"])[0][:20])
    return reply
