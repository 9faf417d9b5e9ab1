"""The periodic tick: runs every registered check, then schedules the next tick."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import bot.features  # noqa: F401  (registers every feature's checks)
from bot import metrics, runtime
from bot.periodic import CHECKS, TICK_SECONDS
from bot.runtime import QUEUE_URGENT, Runtime
from bot.store import keys
from bot.store.base import claim_once

log = logging.getLogger("atbat.tick")


def _slot(now: datetime) -> int:
    return int(now.timestamp()) // TICK_SECONDS


def ensure_ticking(rt: Runtime) -> None:
    """Schedule the next tick (idempotent: one job id per slot). Called at start-up too."""
    next_slot = _slot(rt.now()) + 1
    at = datetime.fromtimestamp(next_slot * TICK_SECONDS, UTC)
    rt.queue(QUEUE_URGENT).enqueue_at(at, "workers.tick.tick", job_id=f"atbat-tick-{next_slot}",
                                       result_ttl=60, failure_ttl=3600)


def run_checks(rt: Runtime, now: datetime) -> None:
    for name, check in CHECKS.items():
        try:
            check(rt, now)
        except Exception:  # one broken check must not stop the others
            log.exception("periodic check failed check=%s", name)
            metrics.count(rt.redis, "jobs_total", f"job=check:{name},outcome=failed")


def tick() -> None:
    rt = runtime.current()
    now = rt.now()
    try:
        if claim_once(rt.redis, keys.once("tick", str(_slot(now))), ttl_seconds=3600):
            run_checks(rt, now)
    finally:
        ensure_ticking(rt)
