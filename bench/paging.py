"""Paging: from the alert webhook to the first notification received, and a burst of pages.

    .venv/bin/python bench/paging.py [--runs 50] [--people 50] [--alerts 500] [--workers 2]

Starts a private redis-server, the Slack-compatible server, the local phone
servers (ntfy-compatible push, Twilio-compatible, SMTP), the app under
gunicorn and `atbat worker` processes, all on this machine.

1. Latency, one alert at a time with idle workers: webhook sent -> the Slack DM
   is in the workspace, and -> the push is received by the ntfy-compatible
   server (each person's rule is "0m slack, 0m push"). Baseline in the same
   run: a bare RQ job, from enqueue to its start.
2. Burst: ALERTS alerts for PEOPLE people (one team each) at once. Every page
   must be delivered exactly once, by DM and by push; prints the seconds until
   the last one arrived.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
import yaml

HERE = Path(__file__).resolve().parent
ALERT_TOKEN = "bench-alert-token-0123456789"  # the harness's; the worker imports only this module


def stamp(key: str, url: str) -> None:
    """The baseline job: records in Redis when it started."""
    redis.Redis.from_url(url).set(key, repr(time.time()))


def people_config(n: int, push_base: str) -> tuple[dict, dict, list]:
    users, channels, teams, people = {}, [], {}, {}
    for i in range(n):
        user, channel = f"U0P{i:04d}", f"C0T{i:04d}"
        users[user] = {"name": f"person{i}", "tz": "UTC"}
        channels.append({"id": channel, "name": f"team{i}", "members": [user]})
        teams[f"team{i}"] = {"channel": channel, "rotations": [
            {"name": "primary", "members": [user], "start": "2026-01-05T09:00", "shift": "1w"}]}
        people[user] = {"contacts": {"push": f"{push_base}/person{i}"},
                        "notification_rules": {"high": "0m slack, 0m push"}}
    return {"timezone": "UTC", "teams": teams, "people": people}, users, channels


def alert(team: str, name: str) -> dict:
    labels = {"alertname": name, "team": team, "severity": "critical"}
    return {"version": "4", "groupKey": f"{{}}:{{alertname=\"{name}\"}}", "status": "firing",
            "receiver": "atbat", "groupLabels": {"alertname": name}, "commonLabels": labels,
            "commonAnnotations": {"summary": name}, "externalURL": "http://am.example",
            "truncatedAlerts": 0, "alerts": [{"status": "firing", "labels": labels,
                                             "annotations": {"summary": name},
                                             "startsAt": "2026-12-01T03:00:00Z",
                                             "endsAt": "0001-01-01T00:00:00Z",
                                             "generatorURL": "", "fingerprint": name[:16]}]}


def post(url: str, body: dict) -> None:
    answer = requests.post(f"{url}/alerts/alertmanager", data=json.dumps(body), timeout=30,
                           headers={"Authorization": f"Bearer {ALERT_TOKEN}"})
    if answer.status_code != 200:
        raise SystemExit(f"the webhook answered {answer.status_code}: {answer.text[:200]}")


def wait_for(check, timeout: float = 30.0) -> float:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.002)
    raise SystemExit("timed out waiting for a page: is a worker running?")


def main() -> int:  # noqa: PLR0915 - a linear script
    sys.path.insert(0, str(HERE))
    from _harness import Redis, atbat_web, env_for, percentile, slack_server, start_workers, stop_all
    from rq import Queue

    from bot.fakephone.server import start_phone
    from bot.runtime import QUEUE_URGENT

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    store = Redis()
    phone = start_phone()
    work = Path(tempfile.mkdtemp(prefix="atbat-bench-paging-"))
    push_base = f"ntfy://127.0.0.1:{phone.http.server.server_port}"
    config, users, channels = people_config(args.people, push_base)
    (work / "atbat.yml").write_text(yaml.safe_dump(config))
    workspace, slack = slack_server(users, channels)
    env = env_for(store.url, slack.api_url, str(work / "atbat.yml"))
    web, url = atbat_web(env)
    workers = start_workers(env, args.workers)  # registered and warm
    try:
        r = redis.Redis.from_url(store.url)
        queue = Queue(QUEUE_URGENT, connection=r)
        base = []
        for i in range(args.runs):
            key = f"bench:stamp:{i}"
            sent = time.time()
            queue.enqueue("bench.paging.stamp", key, store.url)
            wait_for(lambda key=key: r.exists(key))
            base.append(float(r.get(key)) - sent)

        dm, push = [], []
        for i in range(args.runs):
            name = f"Latency{i:04d}"
            before_push = len(phone.phone.received("push", to="person0"))
            sent = time.time()
            post(url, alert("team0", name))
            dm.append(wait_for(lambda name=name: any(name in m.get("text", "")
                                                     for m in workspace.dms("U0P0000"))) - sent)
            push.append(wait_for(lambda n=before_push: len(phone.phone.received("push", to="person0")) > n)
                        - sent)

        print(f"latency over {args.runs} alerts, {args.workers} idle workers (machine load may vary):")
        for label, values in (("bare RQ job (baseline)", base), ("webhook -> Slack DM", dm),
                              ("webhook -> push received", push)):
            print(f"  {label:26s} p50 {statistics.median(values) * 1000:7.1f} ms   "
                  f"p99 {percentile(values, 99) * 1000:7.1f} ms")

        per_person = args.alerts // args.people
        bodies = [alert(f"team{p}", f"Burst{p:03d}x{a:03d}") for p in range(args.people)
                  for a in range(per_person)]
        pushes_before = {f"person{p}": len(phone.phone.received("push", to=f"person{p}"))
                         for p in range(args.people)}
        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda b: post(url, b), bodies))
        accepted = time.time() - started

        def burst_dms(p: int) -> int:
            return sum("Burst" in m.get("text", "") for m in workspace.dms(f"U0P{p:04d}"))

        def all_delivered() -> bool:
            return all(burst_dms(p) >= per_person and len(phone.phone.received("push", to=f"person{p}"))
                       - pushes_before[f"person{p}"] >= per_person for p in range(args.people))

        done = wait_for(all_delivered, timeout=600) - started
        time.sleep(3)  # anything sent twice would arrive now
        twice = [p for p in range(args.people) if burst_dms(p) != per_person
                 or len(phone.phone.received("push", to=f"person{p}")) - pushes_before[f"person{p}"]
                 != per_person]
        print(f"burst: {len(bodies)} alerts for {args.people} people, {args.workers} workers: "
              f"webhooks answered in {accepted:.1f} s, every DM and push delivered after {done:.1f} s; "
              f"people paged more or less than once per alert: {len(twice)}")
        return 1 if twice else 0
    finally:
        # (stop_process signals a process group: these workers lead none, and outlived it)
        stop_all([*workers, web])
        slack.stop()
        phone.stop()
        store.stop()


if __name__ == "__main__":
    sys.exit(main())
