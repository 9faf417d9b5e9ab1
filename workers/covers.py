"""Open cover request jobs: post the request in the team channel (thin)."""

from __future__ import annotations

import logging

from bot import runtime
from bot.services import covers
from bot.slack.sender import SlackCallError

log = logging.getLogger("atbat.covers")


def announce(request_id: str) -> None:
    try:
        covers.announce(runtime.current(), request_id)
    except SlackCallError as exc:
        log.error("cover request not posted id=%s error=%s", request_id, exc.error)
        raise
