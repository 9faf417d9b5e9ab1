"""What a process needs to do its work: settings, config, Redis, queues, sender, clock.

Web and worker processes build one `Runtime` from the environment at start;
tests build their own and install it. Handlers and jobs receive or fetch it;
nothing else reads the environment.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from redis.client import Pipeline
from rq import Queue
from rq.job import Job

from bot.config import load_config
from bot.domain.config import Config
from bot.settings import Settings, load_settings
from bot.slack.sender import Sender
from bot.store import base as store_base
from bot.store.base import connect

# Queues, most urgent first; workers listen on all three in this order.
QUEUE_URGENT = "atbat-urgent"  # escalations, alert messages
QUEUE_DEFAULT = "atbat-default"  # other Slack messages, handoffs
QUEUE_RUNS = "atbat-runs"  # remediation runs
QUEUE_NAMES = (QUEUE_URGENT, QUEUE_DEFAULT, QUEUE_RUNS)
# How long RQ keeps a job after it ran: an hour when it succeeded, a week when it failed.
JOB_KEPT = {"result_ttl": 3600, "failure_ttl": 7 * 86400}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    config: Config
    redis: redis.Redis
    sender: Sender
    clock: Callable[[], datetime] = utcnow
    providers: Any = None  # bot.providers.Providers, built on first page outside Slack
    _queues: dict[str, Queue] = field(default_factory=dict)

    def queue(self, name: str = QUEUE_DEFAULT) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.redis)
        return self._queues[name]

    def now(self) -> datetime:
        return self.clock()

    def batch(self) -> AbstractContextManager[Pipeline]:
        """Queue several jobs in one round trip: pass the pipeline as `pipeline=` to each."""
        return store_base.batch(self.redis)

    def enqueue(self, func: str, *args: Any, queue: str = QUEUE_DEFAULT, **options: Any) -> Job:
        """Hand work to the workers; `func` is a dotted path like "workers.slack.call"."""
        return self.queue(queue).enqueue_call(func, args=args, **{**JOB_KEPT, **options})

    def enqueue_at(self, at: datetime, func: str, *args: Any, queue: str = QUEUE_DEFAULT,
                   **options: Any) -> Job:
        """`enqueue` for a job RQ's scheduler queues at `at` (a real-clock instant)."""
        return self.queue(queue).enqueue_at(at, func, *args, **{**JOB_KEPT, **options})


def build_runtime(settings: Settings | None = None, config: Config | None = None) -> Runtime:
    settings = settings or load_settings()
    config = config or load_config(settings.config_path)
    return Runtime(
        settings=settings,
        config=config,
        redis=connect(settings.redis_url),
        sender=Sender(settings.api_url, settings.bot_token or ""),
    )


_current: Runtime | None = None
_lock = threading.Lock()


def freeze_startup_objects() -> None:
    """Keep what start-up loaded (modules, config, the app) out of later garbage collections.

    A full collection would otherwise walk those ~130,000 objects, holding every thread
    of the process for 100 ms or more on a busy machine, and a forked work horse's
    collections would copy the memory pages they live on."""
    gc.collect()
    gc.freeze()


def install(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    """The process's runtime, built from the environment on first use (worker processes)."""
    global _current
    with _lock:
        if _current is None:
            _current = build_runtime()
        return _current
