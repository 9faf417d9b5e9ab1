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
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.worker")

RETRY_SECONDS = 1.0
HUNG_GRACE = 60  # seconds past a job's timeout before a job run in the worker counts as hung
HUNG_EXIT = 70
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
        watchdog = self._watch(job)
        try:
            return _waiting("job", lambda: rq.SimpleWorker.execute_job(self, job, queue), None)
        finally:
            self.in_process = False
            if watchdog is not None:
                watchdog.cancel()

    def _watch(self, job: rq.job.Job) -> threading.Timer | None:
        """RQ killed a forked job that outlived its timeout by a minute; a job run here that
        swallows its timeout (or hangs where SIGALRM cannot reach) takes the worker down
        instead, for its process manager to start again, rather than holding it for good."""
        if job.timeout is not None and job.timeout < 0:
            return None  # a job without a timeout
        seconds = (job.timeout or rq.Queue.DEFAULT_TIMEOUT) + HUNG_GRACE

        def hung() -> None:
            log.error("job hung job=%s func=%s: %d s past its start, its timeout did not stop "
                      "it; the worker exits for its process manager to restart it", job.id,
                      job.func_name, seconds)
            os._exit(HUNG_EXIT)

        timer = threading.Timer(seconds, hung)
        timer.daemon = True
        timer.start()
        return timer

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

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        _waiting("heartbeat", lambda: super(Worker, self).heartbeat(*args, **kwargs), None)

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
