"""Shared fixtures: a private redis-server, the Slack-compatible server, the app over real HTTP.

The tests never touch a Redis they did not start: one redis-server per test
session on a free port, flushed before every test.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from werkzeug.serving import make_server

from bot import metrics
from bot import runtime as runtime_module
from bot.config import load_config
from bot.domain import schedule
from bot.domain.config import Config
from bot.fakeslack.client import SlackClient
from bot.fakeslack.server import Workspace, create_app, serve_in_thread
from bot.runtime import QUEUE_NAMES, Runtime
from bot.sandbox.processes import SandboxError, free_port, redis_binary
from bot.settings import Settings
from bot.slack.sender import Sender
from bot.web import create_app as create_web_app

FIXTURES = Path(__file__).parent / "fixtures"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-token"
ALERT_TOKEN = "test-alert-token-abcdefghijklmnop"
METRICS_TOKEN = "test-metrics-token-0123456789"

USERS = {
    "U0ALICE": {"name": "alice", "tz": "Europe/Berlin"},
    "U0BOB": {"name": "bob", "tz": "Europe/Berlin"},
    "U0CAROL": {"name": "carol", "tz": "Europe/London"},
    "U0DAVE": {"name": "dave", "tz": "America/New_York"},
    "U0ERIN": {"name": "erin", "tz": "America/New_York"},
    "U0MANAGER": {"name": "manager", "tz": "Europe/Berlin"},
    "U0FRANK": {"name": "frank", "tz": "America/Los_Angeles"},
    "U0GRACE": {"name": "grace", "tz": "Asia/Tokyo"},
    "U0SMGR": {"name": "smgr", "tz": "America/New_York"},
    "U0OUTSIDER": {"name": "outsider", "tz": "UTC"},
}
CHANNELS = [
    {"id": "C0PAYMENTS", "name": "payments", "members": ["U0ALICE", "U0BOB", "U0MANAGER"]},
    {"id": "C0SEARCH", "name": "search", "members": ["U0FRANK", "U0GRACE"]},
    {"id": "C0GENERAL", "name": "general", "members": list(USERS)},
]


@pytest.fixture(autouse=True)
def fresh_schedule_caches() -> None:
    """Each test computes schedules afresh: no result memoized by an earlier test decides it
    (nor, under mutation testing, one memoized by the unmutated code before the fork)."""
    schedule.zone.cache_clear()
    schedule._localize.cache_clear()
    schedule._window_on.cache_clear()



def _redis_binary() -> str:
    try:
        return redis_binary()
    except SandboxError as exc:
        pytest.exit(str(exc), returncode=3)


class RedisServer:
    """A throwaway redis-server the tests may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="atbat-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [_redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> redis.Redis:
    if redis_server.proc is None:  # a test stopped it
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    metrics.flush()  # figures a previous test buffered must not land in this one
    client.flushall()
    return client


def utc(*args: int) -> datetime:
    """A UTC instant: utc(2026, 11, 4, 10) is 10:00 UTC on 4 November 2026."""
    return datetime(*args, tzinfo=UTC)


class Clock:
    """The runtime's clock, set and advanced by tests."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@pytest.fixture
def clock() -> Clock:
    # Wednesday 2026-11-04 10:00 UTC: alice (primary) and dave (secondary) are on call.
    return Clock(datetime(2026, 11, 4, 10, 0, tzinfo=UTC))


@pytest.fixture
def config() -> Config:
    return load_config(FIXTURES / "atbat.yml")


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    ws = Workspace.from_config(USERS, CHANNELS, usergroups={"S0PAYONCALL": {"handle": "pay-oncall"}})
    yield ws
    # Every test that drives the bot is a check of its escaping (bot/fakeslack/markup.py),
    # even where the bot only logs the failed call.
    assert ws.markup_violations == [], "unescaped markup sent to Slack:\n" + "\n".join(
        f"{where}: {errors}" for where, errors in ws.markup_violations)


@pytest.fixture
def slack_server(workspace: Workspace):
    server = serve_in_thread(create_app(workspace))
    yield server
    server.stop()


@pytest.fixture
def runtime(redis_client: redis.Redis, redis_server: RedisServer, slack_server, config: Config,
            clock: Clock) -> Iterator[Runtime]:
    settings = Settings(
        bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=None,
        api_url=slack_server.api_url, redis_url=redis_server.url, config_path=config.path,
        alert_token=ALERT_TOKEN, port=0, public_url="https://atbat.example.org",
        metrics_token=METRICS_TOKEN,
        message_update_ms=0,  # every change shows at the next run_jobs() (a test may set it)
    )
    rt = Runtime(settings=settings, config=config, redis=redis.Redis.from_url(redis_server.url),
                 sender=Sender(settings.api_url, BOT_TOKEN, backoff=0.05, max_backoff=0.5),
                 clock=clock)
    runtime_module.install(rt)
    yield rt
    runtime_module.install(None)


@dataclass
class AppServer:
    url: str
    stop: Callable[[], None]


@pytest.fixture
def app_server(runtime: Runtime) -> Iterator[AppServer]:
    web = create_web_app(runtime)
    server = make_server("127.0.0.1", 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield AppServer(url=f"http://127.0.0.1:{server.server_port}", stop=server.shutdown)
    server.shutdown()


@pytest.fixture
def slack(workspace: Workspace, app_server: AppServer) -> SlackClient:
    """Sends signed slash commands and clicks to the app, as Slack does."""
    return SlackClient(workspace, app_server.url, SIGNING_SECRET)


def run_queued_jobs(runtime: Runtime, allow_failures: bool = False) -> int:
    """Run every queued job, and the jobs they queue, in this process; returns how many ran.

    A job that raised fails the test unless `allow_failures=True`.
    """
    queues = [runtime.queue(name) for name in QUEUE_NAMES]
    failures: list[str] = []

    def record(job: Job, exc_type: type, exc_value: BaseException, tb: object) -> bool:
        failures.append(f"{job.func_name}: {exc_type.__name__}: {exc_value}")
        return True  # and on to RQ's own handling (retry, or the failed registry)

    # RQ's public pieces: dequeue, then the worker's execute_job, until the queues are
    # empty (jobs a job enqueues run too). No worker is started, so no pub/sub listener.
    worker = SimpleWorker(queues, connection=runtime.redis, exception_handlers=[record])
    done = 0
    while (found := Queue.dequeue_any(queues, None, connection=runtime.redis)) is not None:
        job, queue = found
        worker.execute_job(job, queue)
        done += 1
    if failures and not allow_failures:
        raise AssertionError("jobs failed:\n" + "\n".join(failures))
    return done


@pytest.fixture
def run_jobs(runtime: Runtime) -> Callable[..., int]:
    """Run every queued job through RQ's worker code (`run_queued_jobs`); returns how many ran."""

    def run(allow_failures: bool = False) -> int:
        return run_queued_jobs(runtime, allow_failures)

    return run


@pytest.fixture
def run_scheduled(runtime: Runtime) -> Callable[[datetime | None], int]:
    """Move scheduled jobs due by `until` (default: the test clock) to their queues.

    RQ's scheduler compares with the real time; tests run on the test clock.
    Returns how many jobs were moved; run them with `run_jobs()`.
    """

    def move(until: datetime | None = None) -> int:
        until = until or runtime.now()
        moved = 0
        for name in QUEUE_NAMES:
            queue = runtime.queue(name)
            registry = queue.scheduled_job_registry
            for job_id in registry.get_jobs_to_schedule(int(until.timestamp())):
                job = queue.fetch_job(job_id)
                registry.remove(job_id)
                if job is not None:
                    queue.enqueue_job(job)
                    moved += 1
        return moved

    return move
