"""Periodic checks (handoffs, reminders, lost runs) driven by one self-rescheduling RQ job.

A check is a function `check(runtime, now)` of a feature's service, listed by
name in `bot/wiring.py`. `tick` (the job `workers.tick.tick`) runs them all every `TICK_SECONDS` and
schedules the next tick through RQ's scheduler. A tick slot is claimed in
Redis first, so two workers, a restart or a duplicated tick never run a slot
twice; each check must still be idempotent (claim what it announces), which
also makes it catch up once on whatever it missed while everything was down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from rq.job import Job

from bot import metrics
from bot.runtime import QUEUE_URGENT, Runtime
from bot.store.base import claim

log = logging.getLogger("atbat.tick")

TICK_SECONDS = 30

Check = Callable[[Runtime, datetime], None]


def _slot(now: datetime) -> int:
    return int(now.timestamp()) // TICK_SECONDS


def ensure_ticking(rt: Runtime) -> None:
    """Schedule the next tick (idempotent: one job id per slot). Called at start-up too."""
    next_slot = _slot(rt.now()) + 1
    at = datetime.fromtimestamp(next_slot * TICK_SECONDS, UTC)
    rt.enqueue_at(at, "workers.tick.tick", queue=QUEUE_URGENT, job_id=f"atbat-tick-{next_slot}",
                  result_ttl=60, failure_ttl=3600)


def tick_pending(rt: Runtime) -> bool:
    """Is a tick queued or scheduled for this slot or the next (or did this slot's just run)?"""
    slot = _slot(rt.now())
    return any(Job.exists(f"atbat-tick-{s}", connection=rt.redis) for s in (slot, slot + 1))


def reseed_if_missing(rt: Runtime) -> bool:
    """Schedule a tick when none is pending (Redis restarted empty, or failed over to a
    replica that had not received it); returns whether it did. Any number of workers may
    call this at once: the job id is the slot's, so they make one chain."""
    if tick_pending(rt):
        return False
    log.warning("tick missing: re-seeding it")
    ensure_ticking(rt)
    return True


def watch_ticks(rt: Runtime, every: float = TICK_SECONDS) -> threading.Event:
    """In a worker's main process: check every `every` seconds that a tick is pending.
    Returns the event that stops the watch."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                reseed_if_missing(rt)
            except Exception:  # Redis down: the next round tries again
                log.warning("tick watch failed", exc_info=True)

    threading.Thread(target=loop, name="atbat-tick-watch", daemon=True).start()
    return stop


def run_checks(rt: Runtime, now: datetime, checks: Mapping[str, Check]) -> None:
    for name, check in checks.items():
        try:
            check(rt, now)
        except Exception:  # one broken check must not stop the others
            log.exception("periodic check failed check=%s", name)
            metrics.count(rt.redis, "jobs_total", f"job=check:{name},outcome=failed")


def tick(rt: Runtime, checks: Mapping[str, Check]) -> None:
    now = rt.now()
    try:
        if claim(rt.redis, "tick", str(_slot(now)), 3600):
            run_checks(rt, now, checks)
    finally:
        ensure_ticking(rt)
