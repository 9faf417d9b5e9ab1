"""Shared pieces of the benchmarks: a private redis-server, the Slack-compatible server, gunicorn."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.fakeslack.server import Workspace, create_app, serve_in_thread  # noqa: E402
from bot.sandbox.processes import free_port, start_redis, stop_process  # noqa: E402, F401

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test-token"
ALERT_TOKEN = "bench-alert-token-0123456789"


class Redis:
    """A throwaway redis-server on a free port (the sandbox's starter), removed on stop()."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="atbat-bench-redis-"))
        self.proc, self.url = start_redis(self.dir, self.dir / "redis.log")

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def slack_server(users: dict, channels: list):
    workspace = Workspace.from_config(users, channels)
    return workspace, serve_in_thread(create_app(workspace))


def env_for(redis_url: str, api_url: str, config: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
               SLACK_API_URL=api_url, REDIS_URL=redis_url, ATBAT_CONFIG=config,
               ATBAT_ALERT_TOKEN=ALERT_TOKEN, ATBAT_LOG_LEVEL="WARNING",
               PYTHONPATH=str(ROOT))
    return env


def gunicorn(app: str, env: dict[str, str], workers: int = 2, threads: int = 8
             ) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
         "-k", "gthread", "-b", f"127.0.0.1:{port}", "--log-level", "warning", app],
        env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url + "/healthz", timeout=2)
            return proc, url
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"gunicorn {app} did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
