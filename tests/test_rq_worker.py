"""atbat's RQ worker runs short jobs in its own process and runbooks in a work horse."""

from __future__ import annotations

import os

import redis
from rq import Queue

from bot.rq_worker import Worker
from bot.runtime import QUEUE_DEFAULT, QUEUE_RUNS, QUEUE_URGENT


def test_short_jobs_run_in_the_worker_and_runbook_jobs_in_a_work_horse(
        redis_client: redis.Redis) -> None:
    jobs = {name: Queue(name, connection=redis_client).enqueue("os.getpid", job_timeout=30)
            for name in (QUEUE_URGENT, QUEUE_DEFAULT, QUEUE_RUNS)}
    worker = Worker([Queue(name, connection=redis_client) for name in jobs],
                    connection=redis_client)

    worker.work(burst=True)

    pids = {name: job.latest_result().return_value for name, job in jobs.items()}
    assert pids[QUEUE_URGENT] == os.getpid()
    assert pids[QUEUE_DEFAULT] == os.getpid()
    assert pids[QUEUE_RUNS] != os.getpid()  # forked: a run never shares the worker's memory
    assert not worker.in_process


def test_a_job_that_times_out_in_the_worker_fails_and_the_worker_goes_on(
        redis_client: redis.Redis) -> None:
    queue = Queue(QUEUE_URGENT, connection=redis_client)
    slow = queue.enqueue("time.sleep", 5, job_timeout=1)
    after = queue.enqueue("os.getpid", job_timeout=30)
    worker = Worker([queue], connection=redis_client)

    worker.work(burst=True)

    assert slow.get_status(refresh=True) == "failed"
    assert "JobTimeoutException" in (slow.latest_result().exc_string or "")
    assert after.latest_result().return_value == os.getpid()
