"""RQ entry point of the periodic tick (`bot.periodic`; the checks are listed in `bot.wiring`)."""

from __future__ import annotations

from bot import periodic, runtime, wiring


def tick() -> None:
    periodic.tick(runtime.current(), wiring.CHECKS)
