"""From the Approve click to the runbook's process running, with a forking RQ worker.

    .venv/bin/python bench/remediation_dispatch.py [runs]

Starts a private redis-server, the Slack-compatible server, the app over HTTP
(in this process) and two `rq worker`s laid out as in the Procfile (each run in a forked work horse). Each
run: a two-person request is posted, then a signed Approve click is sent; the
runbook's process (`touch`) creates a file. Latency = the file's mtime - the
moment the click was sent. Baseline in the same run: a bare RQ job that only
writes time.time(), measured from enqueue to its start.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The people and channels of tests/fixtures/atbat.yml, which this benchmark's config extends.
USERS = {user: {"name": user[3:].lower()} for user in (
    "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN", "U0MANAGER", "U0FRANK", "U0GRACE", "U0SMGR")}
CHANNELS = [
    {"id": "C0PAYMENTS", "name": "payments", "members": ["U0ALICE", "U0BOB", "U0MANAGER"]},
    {"id": "C0SEARCH", "name": "search", "members": ["U0FRANK", "U0GRACE"]},
]

# The runbook's process marks its start by creating a file: its mtime is the moment
# the process ran (`touch` starts in a millisecond; a Python interpreter would add
# its own 20-50 ms start-up, which is not atbat's).
RUNBOOK = {
    "description": "Create a file; its mtime says when the process ran",
    "command": ["touch", "{path}"],
    "params": {"path": {"pattern": r"/tmp/[A-Za-z0-9._/-]+"}},
    "teams": ["payments"], "approval": "two-person", "timeout": "30s",
}


def stamp(path: str) -> None:
    """The baseline job: only creates its file, timed by mtime like the runbook's."""
    Path(path).touch()


def _wait_file(path: Path, timeout: float = 20.0) -> float:
    """When the file was created: its mtime (the kernel's coarse clock, same for both)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return path.stat().st_mtime_ns / 1e9
        except OSError:
            pass
        time.sleep(0.001)
    raise TimeoutError(f"{path} was not written")


def _first_update(workspace, ts: str, after: float, timeout: float = 20.0) -> float:
    """When the request's own message was first updated after `after`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with workspace.lock:
            times = [c.at for c in workspace.calls if c.method == "chat.update" and c.ok
                     and c.args.get("ts") == ts and c.at > after]
        if times:
            return min(times)
        time.sleep(0.005)
    return float("nan")


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   "
            f"max {ordered[-1] * 1000:7.1f} ms")


def main(runs: int = 100) -> int:  # noqa: PLR0915 - a linear script
    import redis
    import yaml
    from rq.job import Job
    from werkzeug.serving import make_server

    from bench._harness import Redis, load_average, stop_all
    from bot import runtime as runtime_module
    from bot.config import load_config
    from bot.domain.remediation import new_request
    from bot.fakeslack.client import SlackClient
    from bot.fakeslack.server import Workspace, create_app, serve_in_thread
    from bot.runtime import QUEUE_RUNS, Runtime
    from bot.services import remediation
    from bot.settings import Settings
    from bot.slack.sender import Sender
    from bot.store import remediation as store
    from bot.web import create_app as create_web_app

    work = Path(tempfile.mkdtemp(prefix="atbat-bench-", dir="/tmp"))
    work.chmod(0o777)  # runbooks run as `runbook_user` (nobody) when the worker is root
    config_data = yaml.safe_load((ROOT / "tests/fixtures/atbat.yml").read_text())
    config_data.setdefault("runbooks", {})["stamp"] = RUNBOOK
    config_path = work / "atbat.yml"
    config_path.write_text(yaml.safe_dump(config_data, sort_keys=False))

    redis_server = Redis()
    workspace = Workspace.from_config(USERS, CHANNELS)
    slack_server = serve_in_thread(create_app(workspace))
    secret, token = "bench-signing-secret", "xoxb-test-token"
    settings = Settings(bot_token=token, signing_secret=secret, app_token=None,
                        api_url=slack_server.api_url, redis_url=redis_server.url,
                        config_path=str(config_path), alert_token="bench-alert-token-0123",
                        port=0, public_url=None)
    r = redis.Redis.from_url(redis_server.url)
    rt = Runtime(settings=settings, config=load_config(config_path), redis=r,
                 sender=Sender(settings.api_url, token))
    runtime_module.install(rt)
    web = make_server("127.0.0.1", 0, create_web_app(rt), threaded=True)
    import threading

    threading.Thread(target=web.serve_forever, daemon=True).start()
    slack = SlackClient(workspace, f"http://127.0.0.1:{web.server_port}", secret)

    env = {**os.environ, "SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": secret,
           "SLACK_API_URL": settings.api_url, "REDIS_URL": redis_server.url,
           "ATBAT_CONFIG": str(config_path), "PYTHONPATH": str(ROOT)}
    # The Procfile's layout: `rq worker`s preloaded through bot.rq_settings, with atbat's
    # worker class (Slack work and timers in the worker, each run in a forked work horse),
    # one for Slack work and timers, one for runs.
    rq = str(Path(sys.executable).parent / "rq")
    workers = [subprocess.Popen(
        [rq, "worker", "--with-scheduler", "-w", "bot.rq_worker.Worker", "-c", "bot.rq_settings",
         *queues],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for queues in (("atbat-urgent", "atbat-default"), ("atbat-runs",))]
    try:
        baseline, approve = [], []
        steps: dict[str, list[float]] = {name: [] for name in (
            "HTTP ack (click answered)", "job enqueued (inside the click)",
            "work horse started (as RQ records it)", "runbook process running",
            "request message refreshed (other worker)")}
        runbook = rt.config.runbooks["stamp"]
        for i in range(-5, runs):  # five warm-up rounds, not counted
            path = work / f"base-{i}"
            sent = time.time()
            rt.enqueue("bench.remediation_dispatch.stamp", str(path), queue=QUEUE_RUNS)
            started = _wait_file(path)
            if i >= 0:
                baseline.append(started - sent)

            req = new_request(store.new_id(), runbook, {"path": str(work / f"run-{i}")},
                              "U0ALICE", "payments", rt.now(), {"channel": "C0PAYMENTS"})
            store.create(r, req, lock_ttl=300)
            remediation.post_request(rt, req.id)  # owed: a worker posts it, then records its ts
            deadline = time.monotonic() + 20
            while not (req := store.get_run(r, req.id)).extra.get("ts"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the request message of {req.id} was not posted")
                time.sleep(0.005)
            message = workspace.find_message("C0PAYMENTS", req.extra["ts"])
            sent = time.time()
            answer = slack.click(message, "run_approve", user="U0BOB", channel="C0PAYMENTS")
            acked = time.time()
            assert answer.status_code == 200
            started = _wait_file(work / f"run-{i}")
            if i >= 0:
                approve.append(started - sent)
                job = Job.fetch(req.id, connection=r)
                steps["HTTP ack (click answered)"].append(acked - sent)
                steps["job enqueued (inside the click)"].append(job.enqueued_at.timestamp() - sent)
                steps["work horse started (as RQ records it)"].append(
                    job.started_at.timestamp() - sent if job.started_at else float("nan"))
                steps["runbook process running"].append(started - sent)
                refreshed = _first_update(workspace, req.extra["ts"], sent)
                steps["request message refreshed (other worker)"].append(refreshed - sent)
            deadline = time.monotonic() + 20
            while store.get_run(r, req.id).state == "running" or (
                    store.get_run(r, req.id).state == "approved"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"run {req.id} did not finish")
                time.sleep(0.005)
        print(f"{runs} runs, rq workers as in the Procfile (worker + runs; each run in a forked work horse)")
        print(f"baseline  enqueue -> bare job starts       {_percentiles(baseline)}")
        print(f"approve   click -> runbook process runs    {_percentiles(approve)}")
        print(f"ratio of the p50s: {statistics.median(approve) / statistics.median(baseline):.2f}x "
              f"(target <= 3x); load average {load_average()}")
        print("where the time goes, from the click (p50 of each moment):")
        for name, values in steps.items():
            print(f"  {name:<44}{statistics.median(values) * 1000:7.1f} ms")
    finally:
        stop_all(workers)
        web.shutdown()
        slack_server.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
