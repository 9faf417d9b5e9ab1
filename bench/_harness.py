"""Shared pieces of the benchmarks: a private redis-server, the Slack-compatible server, gunicorn."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlsplit

import redis
import requests
from rq import Worker

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


def gunicorn(app: str, env: dict[str, str], workers: int = 2, threads: int = 8,
             reuse_port: bool = False) -> tuple[subprocess.Popen, str]:
    """Plain gunicorn serving `app` (the baselines; atbat itself runs as `atbat_web`)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
         "-k", "gthread", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         *(["--reuse-port"] if reuse_port else []), app],
        env=env, cwd=ROOT)
    return proc, _wait_for_health(proc, f"http://127.0.0.1:{port}", f"gunicorn {app}")


def _wait_for_health(proc: subprocess.Popen, url: str, what: str) -> str:
    for _ in range(200):
        if proc.poll() is not None:
            break
        try:
            requests.get(url + "/healthz", timeout=2)
            return url
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not start")


def atbat_web(env: dict[str, str], workers: int = 2) -> tuple[subprocess.Popen, str]:
    """`atbat web` on a free port: the server settings users get (threads, a socket per
    worker), not the benchmark's own choice of them."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web", "--host", "127.0.0.1"],
                            env={**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)},
                            cwd=ROOT)
    return proc, _wait_for_health(proc, f"http://127.0.0.1:{port}", "atbat web")


def start_workers(env: dict[str, str], n: int) -> list[subprocess.Popen]:
    """`n` `atbat worker`s (all queues): each imports every job module and builds the runtime
    before it takes jobs. Returns once all `n` have registered with RQ, so their start-up
    (about a second of imports each) is not measured as part of the work that follows."""
    procs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(n)]
    connection = redis.Redis.from_url(env["REDIS_URL"])
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=connection)) < n:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_all(procs)
            raise RuntimeError(f"{n} RQ workers did not start within 60 s")
        time.sleep(0.05)
    time.sleep(0.5)  # each worker's scheduler process starts just after it registers
    return procs


def stop_all(procs: Sequence[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def post_alerts(url: str, plans: Sequence[Sequence[bytes]], senders: int
                ) -> tuple[float, list[dict]]:
    """POST Alertmanager notifications to `url` as Alertmanager does: each plan (one group's
    notifications) in order from one sender, plans spread over `senders` threads, 5xx and
    connection errors retried. Returns the seconds taken and each final answer's JSON plus
    its status as "http".

    The senders run in a process of their own, on `http.client` with one kept-alive
    connection each: Alertmanager is a Go program that costs the machine little, so the
    load generator must not take the CPU (or the GIL of the Slack server in this process)
    that the measured app needs."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_send_all, args=(url, plans, senders, sending), daemon=True)
    child.start()
    sending.close()
    elapsed, answers, failures = receiving.recv()
    child.join()
    if failures:
        print(f"  (retried {len(failures)} failed requests)")
    return elapsed, answers


def _send_all(url: str, plans: Sequence[Sequence[bytes]], senders: int, out: Connection) -> None:
    parts = urlsplit(url)
    headers = {"Authorization": f"Bearer {ALERT_TOKEN}", "Content-Type": "application/json"}
    answers: list[dict] = []
    failures: list[str] = []
    lock = threading.Lock()

    def run(groups: Sequence[Sequence[bytes]]) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for sequence in groups:
            for body in sequence:
                for _ in range(20):
                    try:
                        connection.request("POST", parts.path, body, headers)
                        answer = connection.getresponse()
                        status, text = answer.status, answer.read()
                    except (OSError, http.client.HTTPException) as exc:
                        failures.append(type(exc).__name__)
                        connection.close()
                        continue
                    if status < 500:
                        break
                with lock:
                    answers.append({**json.loads(text), "http": status})
        connection.close()

    threads = [threading.Thread(target=run, args=(plans[i::senders],)) for i in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.send((time.perf_counter() - started, answers, failures))
    out.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, its live descendants and the children it reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, IndexError):
            continue
        todo.extend(int(c) for c in children)
    return total


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes, to print beside each figure."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())
