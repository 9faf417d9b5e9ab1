"""What every button handler does around its store transition.

A click handler parses the button, runs one atomic transition in the store,
then renders and sends. The transition can be refused (a message for the
presser) or the store can be down; in both cases the click is acked and the
handler stops. `transition` does that part so the handlers read straight.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import Ack

from bot.runtime import Runtime
from bot.services import messages
from bot.store.base import UNAVAILABLE

T = TypeVar("T")


def clicker(body: dict[str, Any]) -> str:
    return (body.get("user") or {}).get("id", "")


def tell(runtime: Runtime, response_url: str | None, text: str) -> None:
    """An ephemeral answer to whoever clicked or typed."""
    messages.tell(runtime, response_url, text)


def transition(runtime: Runtime, ack: Ack, body: dict[str, Any], step: Callable[[], T], *,
               refusals: type[Exception] | tuple[type[Exception], ...],
               log: logging.Logger, what: str) -> T | None:
    """Run ``step`` and ack the click; the step's result, or None if the handler should stop.

    A refusal (one of ``refusals``; str() is the reason) is told to the presser; a store
    outage is logged as "``what`` failed" with the presser. Unexpected errors propagate
    unacked, as they would from the handler itself.
    """
    try:
        result = step()
    except refusals as exc:
        ack()
        tell(runtime, body.get("response_url"), str(exc))
        return None
    except UNAVAILABLE:
        ack()
        log.error("%s failed: store unavailable user=%s", what, clicker(body))
        return None
    ack()
    return result
