"""Periodic checks (handoffs, reminders, lost runs) driven by one self-rescheduling RQ job.

Features register a function `check(runtime, now)` with `@periodic("name")`.
`workers.tick.tick` runs them all every `TICK_SECONDS` and schedules the next
tick through RQ's scheduler. A tick slot is claimed in Redis first, so two
workers, a restart or a duplicated tick never run a slot twice; each check
must still be idempotent (claim what it announces), which also makes it
catch up once on whatever it missed while everything was down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.runtime import Runtime

TICK_SECONDS = 30

Check = Callable[[Runtime, datetime], None]
CHECKS: dict[str, Check] = {}


def periodic(name: str) -> Callable[[Check], Check]:
    def decorate(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn

    return decorate
