"""RQ entry point of the periodic tick (`bot.periodic`)."""

from __future__ import annotations

import bot.features  # noqa: F401  (registers every feature's checks)
from bot import periodic, runtime


def tick() -> None:
    periodic.tick(runtime.current())
