"""atbat's RQ worker: RQ's own, made to ride out a Redis outage or a Sentinel failover,
and to run short jobs without a fork.

RQ's worker waits for Redis only while it waits for a job: an error anywhere
else in its loop (a heartbeat, a status write after a job) makes it quit, and
its scheduler process exits on the first connection error, to be restarted at
the next maintenance run 10 minutes later. That would hold every escalation
timer and the periodic tick for that long. Here both wait and carry on. The
Procfile passes `-w bot.rq_worker.Worker`; `atbat worker` uses it too.

RQ forks a work horse per job. With atbat's modules preloaded that fork, its
copied pages and its exit cost about 11 ms of CPU per job, ten times the job
itself (a Slack call, an escalation step), and a new connection to Slack each
time. So jobs on the urgent and default queues run in the worker's own
process, as RQ's SimpleWorker runs them: the same timeout (SIGALRM), the same
failure handling, a warm HTTP connection. Runbooks (the runs queue) still get
their own work horse: a run is contained and killed with its process group,
and never shares the worker's memory.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import rq
from rq.scheduler import RQScheduler
from rq.worker.base import SHUTDOWN_SIGNAL

from bot.runtime import QUEUE_RUNS
from bot.store.base import UNAVAILABLE, batch

log = logging.getLogger("atbat.worker")

RETRY_SECONDS = 1.0
HUNG_GRACE = 60  # seconds past a job's timeout before a job run in the worker counts as hung
HUNG_EXIT = 70
BEAT_EVERY = 1.0  # seconds: the worker's key lives worker_ttl + 60 s, a beat a second is plenty
T = TypeVar("T")


def _waiting(what: str, call: Callable[[], T], default: T) -> T:
    """`call()`, or `default` after a pause when Redis is away (the loop then goes round)."""
    try:
        return call()
    except UNAVAILABLE as exc:
        log.warning("worker waits for Redis step=%s error=%s", what, type(exc).__name__)
        time.sleep(RETRY_SECONDS)
        return default


class Scheduler(RQScheduler):
    def work(self) -> None:
        while True:
            try:
                super().work()
                return  # stopped on request
            except UNAVAILABLE as exc:
                log.warning("scheduler waits for Redis error=%s", type(exc).__name__)
                self._connection = None  # reconnect: a Sentinel pool asks for the master again
                time.sleep(RETRY_SECONDS)


class _Watchdog:
    """RQ killed a forked job that outlived its timeout by a minute; a job run in the worker
    that swallows its timeout (or hangs where SIGALRM cannot reach) takes the worker down
    instead, for its process manager to start again, rather than holding it for good.

    One thread for the worker's life, started with its first job: a timer thread per job
    cost more CPU than many of the jobs it watched."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watched: tuple[float, rq.job.Job, float] | None = None  # deadline, job, seconds
        self._thread: threading.Thread | None = None
        self._until = math.inf  # when the thread wakes next by itself

    def watch(self, job: rq.job.Job | None, seconds: float) -> None:
        """Watch `job` for `seconds` from now; None: the job ended. The thread is woken only
        for a deadline before the one it already wakes at (it checks again then)."""
        with self._changed:
            self._watched = None if job is None else (time.monotonic() + seconds, job, seconds)
            if job is None:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hung-job-watchdog",
                                                daemon=True)
                self._thread.start()
            if self._watched[0] < self._until:
                self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                if self._watched is None:
                    self._until = math.inf
                    self._changed.wait()
                    continue
                deadline, job, seconds = self._watched
                left = deadline - time.monotonic()
                if left > 0:
                    self._until = deadline
                    self._changed.wait(left)
                    continue
                log.error("job hung job=%s func=%s: %d s past its start, its timeout did not "
                          "stop it; the worker exits for its process manager to restart it",
                          job.id, job.func_name, seconds)
                os._exit(HUNG_EXIT)


_watchdog = _Watchdog()


class Worker(rq.Worker):
    def check_for_suspension(self, burst: bool) -> None:
        _waiting("suspension", lambda: super(Worker, self).check_for_suspension(burst), None)

    def run_maintenance_tasks(self) -> None:
        _waiting("maintenance", super().run_maintenance_tasks, None)

    in_process = False  # the job now running runs in this process (no work horse)

    def execute_job(self, job: rq.job.Job, queue: rq.Queue) -> Any:
        # A job whose bookkeeping failed is found again: RQ's registries mark it
        # abandoned, and atbat's periodic checks re-queue what is overdue.
        if queue.name == QUEUE_RUNS:
            return _waiting("job", lambda: super(Worker, self).execute_job(job, queue), None)
        self.in_process = True
        if job.timeout is None or job.timeout >= 0:  # a negative timeout: none at all
            _watchdog.watch(job, (job.timeout or rq.Queue.DEFAULT_TIMEOUT) + HUNG_GRACE)
        try:
            return _waiting("job", lambda: rq.SimpleWorker.execute_job(self, job, queue), None)
        finally:
            self.in_process = False
            _watchdog.watch(None, 0)

    def kill_horse(self, sig: signal.Signals = SHUTDOWN_SIGNAL) -> None:
        # RQ kills the horse's process group; with no horse (a job run here: pid 0) that
        # would be this worker's own group, scheduler and neighbours included.
        if not self.horse_pid:
            log.warning("no work horse to stop: the job runs in the worker and goes on")
            return
        super().kill_horse(sig)

    def get_heartbeat_ttl(self, job: rq.job.Job, working_time: float = 0.0) -> int:
        # Without a work horse nobody beats during the job: the first beat lasts it out.
        if self.in_process:
            return rq.SimpleWorker.get_heartbeat_ttl(self, job, working_time)
        return super().get_heartbeat_ttl(job, working_time)

    _beaten_at: float | None = None  # when this worker last set its key's usual TTL

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ beats three times around every job, each beat three round trips of its own.
        Here a beat is one round trip, and a beat that would only set again the TTL set
        less than BEAT_EVERY ago is left out: per job, 1 round trip instead of 9.

        A beat RQ queues on a pipeline of its own goes with that pipeline: with the usual
        TTL (the suspension check's, once a loop) it counts as this worker's last beat;
        with a job's TTL the next usual beat goes out, to set the usual TTL back."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            self._beaten_at = time.monotonic() if timeout is None else None
            return
        if timeout is None and self._beaten_at is not None \
                and time.monotonic() - self._beaten_at < BEAT_EVERY:
            return

        def beat() -> bool:
            with batch(self.connection) as pipe:
                super(Worker, self).heartbeat(timeout, pipeline=pipe)
            return True

        if _waiting("heartbeat", beat, False):
            self._beaten_at = time.monotonic() if timeout is None else None

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = rq.defaults.DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = rq.defaults.DEFAULT_LOGGING_FORMAT) -> None:
        # RQ's own start-up, with the scheduler above.
        self.scheduler = Scheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format, log_format=log_format, serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()
