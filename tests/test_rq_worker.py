"""atbat's RQ worker runs short jobs in its own process and runbooks in a work horse."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.suspension import is_suspended

from bot.rq_worker import HUNG_EXIT, Worker
from bot.runtime import QUEUE_DEFAULT, QUEUE_RUNS, QUEUE_URGENT
from bot.slack.sender import Sender
from tests.web_api import json_api

ROOT = Path(__file__).resolve().parents[1]


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


_sender: list[Sender] = []


def slack_port() -> int:
    """A job: the local port of the connection this process's sender called Slack over."""
    return _sender[0].call("api.test")["port"]


@pytest.fixture
def port_echo() -> Iterator[str]:
    """A keep-alive Web API that answers each call with the caller's port (its connection)."""
    with json_api(lambda request: {"ok": True, "port": request.client_address[1]}) as url:
        yield f"{url}/api/"


def test_a_work_horse_never_calls_slack_over_the_workers_own_connection(
        redis_client: redis.Redis, port_echo: str) -> None:
    # The worker keeps a warm connection from its in-process jobs; a horse forked after it
    # must open its own: one TCP stream written by two processes mixes their answers (a
    # horse killed mid-call leaves its answer for the worker's next call to read).
    _sender[:] = [Sender(port_echo, "xoxb-test")]
    urgent, runs = Queue(QUEUE_URGENT, connection=redis_client), Queue(QUEUE_RUNS, connection=redis_client)
    first = urgent.enqueue("tests.test_rq_worker.slack_port", job_timeout=30)
    Worker([urgent], connection=redis_client).work(burst=True)
    in_horse = runs.enqueue("tests.test_rq_worker.slack_port", job_timeout=30)
    Worker([runs], connection=redis_client).work(burst=True)
    again = slack_port()  # the worker's connection, still its own

    worker_port = first.latest_result().return_value
    assert again == worker_port
    assert in_horse.latest_result().return_value != worker_port


def test_stopping_a_job_that_runs_in_the_worker_signals_no_process(
        redis_client: redis.Redis) -> None:
    # RQ's stop-job and kill-horse commands kill the horse's process group; a job run in
    # the worker has no horse (pid 0), and os.getpgid(0) is the worker's own group: the
    # worker, its scheduler, and whatever else shares the group. Tried in a child that
    # leads a group of its own, with a signal it catches, so a failure harms nothing.
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setpgrp()
            got: list[int] = []
            signal.signal(signal.SIGUSR2, lambda signum, _frame: got.append(signum))
            worker = Worker([Queue(QUEUE_URGENT, connection=redis_client)],
                            connection=redis_client)
            worker.in_process = True
            worker.kill_horse(signal.SIGUSR2)
            os.write(write, b"signalled" if got else b"untouched")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert os.read(read, 64) == b"untouched"


def stubborn(seconds: float) -> None:
    """A job that swallows RQ's timeout, as a broad `except Exception` in a loop would."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(Exception):  # RQ's JobTimeoutException among it
            time.sleep(0.05)


def test_a_job_that_outlives_its_timeout_in_the_worker_takes_the_worker_down(
        redis_server) -> None:
    # RQ killed a forked job a minute past its timeout; a job run in the worker that ignores
    # its timeout must not hold the worker for good: it exits for its process manager.
    # A job with a long timeout goes first: the watch of the next, shorter one must not
    # wait out the first one's deadline.
    queue = Queue(QUEUE_URGENT, connection=redis.Redis.from_url(redis_server.url))
    queue.enqueue("os.getpid", job_timeout=600)
    queue.enqueue("tests.test_rq_worker.stubborn", 30, job_timeout=1)
    code = ("import bot.rq_worker as w, redis, rq; w.HUNG_GRACE = 0.5; "
            f"r = redis.Redis.from_url({redis_server.url!r}); "
            f"w.Worker([rq.Queue({QUEUE_URGENT!r}, connection=r)], connection=r).work(burst=True)")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=20, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == HUNG_EXIT, done.stderr[-2000:]
    assert time.monotonic() - started < 15  # not the job's 30 s
    assert "job hung" in done.stderr


def test_a_worker_beats_once_a_second_at_most_and_restores_its_usual_ttl(
        redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    # "Under a second ago" made sure of, however loaded the machine: the beat left out is
    # left out, and the one after a job's TTL goes out only because of that TTL.
    monkeypatch.setattr("bot.rq_worker.BEAT_EVERY", 3600.0)
    worker = Worker([Queue(QUEUE_URGENT, connection=redis_client)], connection=redis_client)
    worker.register_birth()
    try:
        usual = worker.worker_ttl + 60
        worker.heartbeat()
        first = redis_client.hget(worker.key, "last_heartbeat")
        worker.heartbeat()  # moments later, the same TTL: nothing to send
        assert redis_client.hget(worker.key, "last_heartbeat") == first
        assert usual - 2 <= redis_client.ttl(worker.key) <= usual
        with redis_client.pipeline() as pipe:  # as RQ beats for a job, with its own TTL
            worker.heartbeat(30, pipeline=pipe)
            pipe.execute()
        assert redis_client.ttl(worker.key) <= 30
        worker.heartbeat()  # the job's TTL is not the usual one: this beat goes out at once
        second = redis_client.hget(worker.key, "last_heartbeat")
        assert second != first
        assert usual - 2 <= redis_client.ttl(worker.key) <= usual
        # RQ's suspension check beats with the usual TTL on its own pipeline, once a loop:
        # that beat counts, and the loop's next usual beat is left out.
        is_suspended(redis_client, worker)
        third = redis_client.hget(worker.key, "last_heartbeat")
        assert third != second
        worker.heartbeat()
        assert redis_client.hget(worker.key, "last_heartbeat") == third
    finally:
        worker.register_death()
