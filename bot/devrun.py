"""`atbat run` with Slack tokens: Redis (yours, or a local one), the web (or socket) process and a worker.

Like `honcho start` with the Procfile, plus starting a private, persistent
redis-server under `.atbat/` when REDIS_URL is not set and nothing answers
on the default address.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from bot.sandbox.processes import SandboxError, start_atbat, start_redis, stop_process
from bot.settings import Settings, redact_url
from bot.store.base import UNAVAILABLE, connect

STATE_DIR = Path(".atbat")


def _answers(url: str) -> bool:
    try:
        return bool(connect(url).ping())
    except UNAVAILABLE:
        return False


def run_connected(settings: Settings) -> int:
    env: dict[str, str] = {}
    redis_proc = None
    if not _answers(settings.redis_url):
        if os.environ.get("REDIS_URL", "").strip() or os.environ.get("REDIS_SENTINELS", "").strip():
            print(f"atbat: REDIS_URL: Redis does not answer at {redact_url(settings.redis_url)}",
                  flush=True)
            return 2
        (STATE_DIR / "logs").mkdir(parents=True, exist_ok=True)
        try:
            redis_proc, url = start_redis(STATE_DIR / "redis", STATE_DIR / "logs" / "redis.log",
                                          persist=True)
        except SandboxError as exc:
            print(f"atbat: {exc}", flush=True)
            return 2
        env["REDIS_URL"] = url
        print(f"atbat: started a local redis-server at {redact_url(url)} "
              f"(data in {STATE_DIR / 'redis'})")
    front = "socket" if settings.app_token else "web"
    children = [start_atbat(front, env), start_atbat("worker", env)]
    where = "Socket Mode" if front == "socket" else f"http://0.0.0.0:{settings.port}/slack/events"
    print(f"atbat: running ({where}) with a worker; Ctrl-C stops everything", flush=True)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("atbat: a process stopped; stopping the others", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave orphans behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children:
            stop_process(child)
        stop_process(redis_proc)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
