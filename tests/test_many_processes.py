"""Three web processes and four workers on one Redis: every side effect happens exactly once.

The web processes are gunicorn (`bot.wsgi:app`), the workers the Procfile's
`rq worker -w bot.rq_worker.Worker -c bot.rq_settings`. Alertmanager delivers
every notification twice, to two different web processes at once; Slack
retries every slash command on another web process; every worker runs the
handoff check at the same moment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from rq import Queue, Worker

from bot import runtime
from bot.fakeslack.client import SlackClient
from bot.runtime import QUEUE_DEFAULT, QUEUE_NAMES
from bot.sandbox.processes import free_port
from bot.services.handoffs import check_handoffs
from tests.conftest import ALERT_TOKEN, BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[1]
WEBS, WORKERS = 3, 4
GROUPS, ALERTS_PER_GROUP = 50, 4  # 200 alerts
INCIDENTS = 10

CONFIG = """\
timezone: UTC
teams:
  payments:
    channel: C0PAYMENTS
    managers: [U0MANAGER]
    usergroup: S0PAYONCALL
    handoff_reminder: 1h
    rotations:
      - {name: primary, members: [U0ALICE, U0BOB], start: 2026-01-05T09:00, shift: 1w}
    escalation:
      steps:
        - {after: 0m, notify: primary}
"""


def run_handoff_check() -> None:
    """A job: the periodic handoff check, as a tick runs it."""
    rt = runtime.current()
    check_handoffs(rt, rt.now())


def notification(group: int) -> bytes:
    alerts = [{"status": "firing",
               "labels": {"alertname": f"Many{group}", "team": "payments", "instance": f"h{i}"},
               "annotations": {"summary": f"Many{group} is failing"},
               "startsAt": "2026-11-04T09:58:00Z", "endsAt": "0001-01-01T00:00:00Z",
               "fingerprint": f"{group:04x}{i:04x}"} for i in range(ALERTS_PER_GROUP)]
    return json.dumps({
        "version": "4", "groupKey": f'{{}}:{{alertname="Many{group}"}}', "status": "firing",
        "receiver": "atbat", "groupLabels": {"alertname": f"Many{group}"},
        "commonLabels": {"alertname": f"Many{group}", "team": "payments"},
        "commonAnnotations": {"summary": f"Many{group} is failing"}, "externalURL": "",
        "alerts": alerts, "truncatedAlerts": 0}).encode()


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def processes(tmp_path: Path, redis_client, redis_server, slack_server
              ) -> Iterator[list[str]]:  # noqa: ANN001
    """Starts the web processes and workers; yields the web URLs."""
    config = tmp_path / "atbat.yml"
    config.write_text(CONFIG)
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack_server.api_url, "REDIS_URL": redis_server.url,
           "ATBAT_CONFIG": str(config), "ATBAT_ALERT_TOKEN": ALERT_TOKEN,
           "ATBAT_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "processes.log").open("ab")
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    for _ in range(WEBS):
        port = free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-k", "gthread",
             "-b", f"127.0.0.1:{port}", "bot.wsgi:app"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{port}")
    rq = str(Path(sys.executable).with_name("rq"))
    for _ in range(WORKERS):
        procs.append(subprocess.Popen(
            [rq, "worker", "--with-scheduler", "-w", "bot.rq_worker.Worker",
             "-c", "bot.rq_settings", *QUEUE_NAMES],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    try:
        wait_until(lambda: len(Worker.all(connection=redis_client)) == WORKERS, "the workers")
        for url in urls:
            wait_until(lambda url=url: _answers(url), f"web process {url}")
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def deliver_twice(urls: list[str]) -> list[int]:
    """Every notification to two web processes at once, as two Alertmanagers in a cluster do."""
    statuses: list[int] = []

    def send(url: str, groups: range) -> None:
        session = requests.Session()
        for g in groups:
            answer = session.post(f"{url}/alerts/alertmanager", data=notification(g),
                                  headers={"Authorization": f"Bearer {ALERT_TOKEN}"}, timeout=30)
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=send, args=(urls[i % len(urls)], range(GROUPS)))
               for i in range(2)] + [
               threading.Thread(target=send, args=(urls[2], range(GROUPS - 1, -1, -1)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_three_webs_four_workers_every_side_effect_once(processes: list[str], workspace,
                                                        redis_client) -> None:  # noqa: ANN001
    urls = processes
    statuses = deliver_twice(urls)
    assert statuses == [200] * len(statuses)

    slack = [SlackClient(workspace, url, SIGNING_SECRET) for url in urls]
    for i in range(INCIDENTS):
        trigger = workspace.new_trigger_id("U0ALICE")
        first = slack[i % WEBS].slash(f'incident "Outage {i}" sev3 payments', "U0ALICE",
                                      "C0PAYMENTS", trigger_id=trigger)
        again = slack[(i + 1) % WEBS].slash(f'incident "Outage {i}" sev3 payments', "U0ALICE",
                                            "C0PAYMENTS", trigger_id=trigger, retry_num=1)
        assert first.status_code == again.status_code == 200

    queue = Queue(QUEUE_DEFAULT, connection=redis_client)
    for _ in range(WORKERS * 2):  # every worker at once, twice over
        queue.enqueue("tests.test_many_processes.run_handoff_check")

    def posted() -> list[str]:
        return [c.args.get("text", "") for c in workspace.calls
                if c.ok and c.method == "chat.postMessage" and not c.args.get("thread_ts")
                and c.args.get("channel") == "C0PAYMENTS"]

    def created() -> list[str]:
        return [c.args["name"] for c in workspace.calls
                if c.ok and c.method == "conversations.create"]

    wait_until(lambda: sum("on call for *payments primary*" in t for t in posted()) >= 1
               and len(created()) >= INCIDENTS
               and sum(" is failing" in t for t in posted()) >= GROUPS
               and sum("Outage" in t for t in posted()) >= INCIDENTS, "the side effects", 90)
    wait_until(lambda: not any(Queue(n, connection=redis_client).count for n in QUEUE_NAMES),
               "the queues to drain")
    time.sleep(2)  # a duplicate would land now

    texts = posted()
    alerts = Counter(t for t in texts if " is failing" in t)
    assert len(alerts) == GROUPS and set(alerts.values()) == {1}, alerts
    assert sorted(created()) == sorted(set(created())) and len(created()) == INCIDENTS
    announced = Counter(t for t in texts if "Outage" in t)
    assert len(announced) == INCIDENTS and set(announced.values()) == {1}, announced
    assert sum("on call for *payments primary*" in t for t in texts) == 1
    assert len(texts) == GROUPS + INCIDENTS + 1, texts
    paged = Counter(c.args.get("text", "") for c in workspace.calls
                    if c.ok and c.method == "chat.postMessage" and "Paged" in c.args.get("text", ""))
    assert len(paged) == GROUPS and set(paged.values()) == {1}
    synced = [c for c in workspace.calls if c.ok and c.method == "usergroups.users.update"]
    assert len(synced) == 1
    pins = [c for c in workspace.calls if c.ok and c.method == "pins.add"]
    assert len(pins) == INCIDENTS
