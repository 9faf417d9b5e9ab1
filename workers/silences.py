"""Silence jobs: Expire / Extend clicks, the thread message, the expiry warning (entry points)."""

from __future__ import annotations

import contextlib

from bot import runtime
from bot.services import silences as service
from bot.slack.sender import SlackCallError


def click(verb: str, team: str, silence_id: str, user: str, response_url: str | None,
          replace_original: bool) -> None:
    rt = runtime.current()
    text = service.click(rt, verb, team, silence_id, user)
    if response_url:
        # A lost answer is no loss: the thread message and the audit say what happened.
        with contextlib.suppress(SlackCallError):
            rt.sender.respond(response_url, {"response_type": "ephemeral", "text": text,
                                             "replace_original": replace_original})


def show(silence_id: str) -> None:
    service.show(runtime.current(), silence_id)


def shown(silence_id: str, digest: str, answer: dict[str, str]) -> None:
    service.shown(runtime.current(), silence_id, digest, answer)


def warn(silence_id: str) -> None:
    service.warn(runtime.current(), silence_id)


def close(silence_id: str) -> None:
    service.close(runtime.current(), silence_id)
