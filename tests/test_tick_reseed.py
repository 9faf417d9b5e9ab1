"""The periodic tick heals itself when Redis loses it, with one chain for any number of workers."""

from __future__ import annotations

import threading

from bot import periodic
from bot.runtime import QUEUE_URGENT


def tick_jobs(runtime) -> list[str]:
    queue = runtime.queue(QUEUE_URGENT)
    ids = list(queue.scheduled_job_registry.get_job_ids()) + list(queue.get_job_ids())
    return sorted(i for i in ids if i.startswith("atbat-tick-"))


def test_a_tick_lost_with_redis_is_reseeded_once_by_many_workers(runtime, run_scheduled,
                                                                 run_jobs, clock) -> None:
    periodic.ensure_ticking(runtime)
    assert len(tick_jobs(runtime)) == 1
    assert periodic.reseed_if_missing(runtime) is False  # healthy: nothing to do

    runtime.redis.flushall()  # Redis restarted empty
    assert tick_jobs(runtime) == []
    # Five workers notice at once.
    workers = [threading.Thread(target=periodic.reseed_if_missing, args=(runtime,))
               for _ in range(5)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(tick_jobs(runtime)) == 1

    # The chain runs on: each tick schedules exactly the next one.
    for _ in range(3):
        clock.advance(seconds=periodic.TICK_SECONDS)
        assert run_scheduled() == 1
        run_jobs()
        assert periodic.reseed_if_missing(runtime) is False
        pending = [j for j in tick_jobs(runtime)
                   if runtime.queue(QUEUE_URGENT).fetch_job(j).get_status() != "finished"]
        assert len(pending) == 1


def test_the_worker_watch_reseeds_within_its_period(runtime, clock) -> None:
    runtime.redis.flushall()
    stop = periodic.watch_ticks(runtime, every=0.05)
    try:
        for _ in range(100):
            if tick_jobs(runtime):
                break
            stop.wait(0.02)
        stop.wait(0.2)  # several more rounds: still one
    finally:
        stop.set()
    assert len(tick_jobs(runtime)) == 1
