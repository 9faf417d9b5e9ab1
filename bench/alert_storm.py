"""Alert storm benchmark: Alertmanager batches into the real app under gunicorn.

Starts its own redis-server, the Slack-compatible server (in this process),
the app under gunicorn and N RQ worker processes, then sends 1,000 distinct
alerts in 50 groups as Alertmanager notifications from a few concurrent
senders (each group's notifications in order, as Alertmanager sends them):
every group grows to its full size in four notifications, then all of it
resolves in one. Reports:

* ingest throughput (distinct alerts per second over the firing phase, and
  alert instances carried per second over the whole run);
* seconds until every group's Slack message shows its final state;
* Web API calls per group (post + updates + thread replies);
* alerts lost (in Redis and in what the messages show), which must be 0.

Baselines measured in the same run: the raw Redis compare-and-set rate for
the same documents (the floor any ingest path pays), and the Web API calls the
same storm would cost without coalescing (one update per change).

Run by hand: `.venv/bin/python bench/alert_storm.py [--workers 2] [--rate-limit 50]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain.alert_payloads import parse_alertmanager  # noqa: E402
from bot.domain.alerts import apply_batch, group_key_for  # noqa: E402
from bot.fakeslack.server import Workspace, create_app, serve_in_thread  # noqa: E402
from bot.store import alerts as store  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _harness import (  # noqa: E402
    Redis,
    atbat_web,
    cpu_seconds,
    env_for,
    load_average,
    post_alerts,
    start_workers,
    stop_all,
)

CHANNEL = "C0STORM"
CONFIG = """\
timezone: UTC
teams:
  storm:
    channel: C0STORM
    managers: [U0BOSS]
    rotations:
      - {name: primary, members: [U0ONE, U0TWO], start: 2026-01-05T09:00, shift: 1w}
    escalation:
      steps:
        - {after: 30m, notify: primary}
"""
USERS = {"U0ONE": {"name": "one"}, "U0TWO": {"name": "two"}, "U0BOSS": {"name": "boss"}}
GROUP_SIZE = 20  # alerts per group: 50 groups make the 1,000 distinct alerts


# ---------------------------------------------------------------- the storm


def notification(group: int, size: int, resolved: bool) -> dict[str, Any]:
    alerts = [{
        "status": "resolved" if resolved else "firing",
        "labels": {"alertname": f"Storm{group}", "team": "storm", "instance": f"host-{i}:9100",
                   "severity": "critical"},
        "annotations": {"summary": f"host-{i} is on fire"},
        "startsAt": "2026-11-04T09:58:00Z",
        "endsAt": "2026-11-04T10:01:00Z" if resolved else "0001-01-01T00:00:00Z",
        "fingerprint": f"{group:04x}{i:012x}",
    } for i in range(size)]
    return {"version": "4", "groupKey": f'{{}}:{{alertname="Storm{group}"}}',
            "status": "resolved" if resolved else "firing", "receiver": "atbat",
            "groupLabels": {"alertname": f"Storm{group}"},
            "commonLabels": {"alertname": f"Storm{group}", "team": "storm"},
            "commonAnnotations": {"summary": f"Storm group {group}"},
            "externalURL": "http://alertmanager.example.com", "alerts": alerts,
            "truncatedAlerts": 0}


def redis_cas_floor(r: redis.Redis, groups: int, senders: int, steps: tuple[int, ...]) -> float:
    """Alert instances/s when every notification is just a WATCH/GET/MULTI/SET/EXEC.

    The same documents and the same concurrency as the storm, without HTTP,
    parsing or the queue: the rate no ingest path through Redis can beat.
    """
    docs: list[tuple[str, bytes, int]] = []
    for g in range(groups):
        group = None
        for size in steps:
            batch = parse_alertmanager(notification(g, size, False))
            group, _ = apply_batch(group, batch, _now())
            docs.append((f"floor:{g}", group.to_json().encode(), size))

    def run(chunk: list[tuple[str, bytes, int]]) -> None:
        for key, doc, _ in chunk:
            with r.pipeline() as pipe:
                pipe.watch(key)
                pipe.get(key)
                pipe.multi()
                pipe.set(key, doc)
                pipe.execute()

    # A group's notifications come from one sender, as in the storm: no lost CAS races.
    chunks = [[d for d in docs if int(d[0].split(":")[1]) % senders == i] for i in range(senders)]
    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(size for *_, size in docs) / (time.perf_counter() - started)


def _reaped_cpu() -> float:
    """CPU seconds of this process's reaped children: here, the sender processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# ---------------------------------------------------------------- checking the result


def shows_final(message: dict[str, Any], size: int) -> bool:
    text = json.dumps(message.get("blocks", []), ensure_ascii=False)
    return "*RESOLVED*" in text and f"0 firing · {size} resolved" in text


def final_state_reached(workspace: Workspace, groups: int, size: int) -> bool:
    messages = workspace.messages(CHANNEL)
    return len(messages) >= groups and sum(shows_final(m, size) for m in messages) == groups


def calls_per_group(workspace: Workspace) -> list[int]:
    counts: dict[str, int] = {}
    with workspace.lock:
        for call in workspace.calls:
            if not call.ok or call.args.get("channel") != CHANNEL:
                continue
            ts = call.args.get("thread_ts") or call.response.get("ts")
            counts[ts] = counts.get(ts, 0) + 1
    return sorted(counts.values())


def lost_alerts(r: redis.Redis, workspace: Workspace, groups: int, size: int) -> tuple[int, int]:
    stored = 0
    for g in range(groups):
        group = store.get_group(r, group_key_for("alertmanager", "storm",
                                                 f'{{}}:{{alertname="Storm{g}"}}'))
        stored += 0 if group is None else sum(1 for a in group.alerts.values()
                                              if a.status == "resolved")
    shown = 0
    for message in workspace.messages(CHANNEL):
        found = re.search(r"(\d+) firing · (\d+) resolved", json.dumps(message["blocks"],
                                                                       ensure_ascii=False))
        shown += int(found.group(2)) if found else 0
    return groups * size - stored, groups * size - shown


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--web-workers", type=int, default=2,
                        help="gunicorn workers of `atbat web` (WEB_CONCURRENCY)")
    parser.add_argument("--rate-limit", type=float, default=None,
                        help="Web API calls per second per method before 429 (default: none)")
    parser.add_argument("--batches", type=int, default=4,
                        help="firing notifications per group, growing to all its alerts as "
                             "Alertmanager re-sends a group (1: each group in one batch)")
    args = parser.parse_args()
    size = GROUP_SIZE
    steps = tuple(size * (i + 1) // args.batches for i in range(args.batches))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per Web API call

    redis_server = Redis()
    workspace = Workspace.from_config(USERS, [{"id": CHANNEL, "name": "storm",
                                               "members": list(USERS)}])
    if args.rate_limit:
        workspace.rate_limit(per_second=args.rate_limit)
    slack = serve_in_thread(create_app(workspace))
    tmp = tempfile.mkdtemp(prefix="atbat-storm-")
    config = Path(tmp) / "atbat.yml"
    config.write_text(CONFIG)
    env = env_for(redis_server.url, slack.api_url, str(config))
    processes: list[subprocess.Popen] = []
    try:
        web, url = atbat_web(env, workers=args.web_workers)
        processes.append(web)
        processes.extend(start_workers(env, args.workers))
        r = redis.Redis.from_url(redis_server.url)

        firing = [[json.dumps(notification(g, n, False)).encode() for n in steps]
                  for g in range(args.groups)]
        resolving = [[json.dumps(notification(g, size, True)).encode()]
                     for g in range(args.groups)]
        endpoint = f"{url}/alerts/alertmanager"
        # The baseline once before the storm and twice after: the median of the three.
        floors = [redis_cas_floor(r, args.groups, args.senders, steps)]
        parts = {"web (gunicorn)": [web.pid], "RQ workers": [p.pid for p in processes[1:]],
                 "redis-server": [redis_server.proc.pid]}
        cpu_before = {k: sum(cpu_seconds(p) for p in pids) for k, pids in parts.items()}
        own_before = time.process_time()
        senders_before = _reaped_cpu()
        fire_s, fire_answers = post_alerts(endpoint, firing, args.senders)
        resolve_s, resolve_answers = post_alerts(endpoint, resolving, args.senders)
        ingest_end = time.perf_counter()
        cpu = {k: sum(cpu_seconds(p) for p in pids) - cpu_before[k] for k, pids in parts.items()}
        cpu["Slack server (this process)"] = time.process_time() - own_before
        cpu["senders (their own process)"] = _reaped_cpu() - senders_before
        load = load_average()
        answers = fire_answers + resolve_answers
        deadline = time.monotonic() + 120
        while not final_state_reached(workspace, args.groups, size) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        settle_s = time.perf_counter() - ingest_end
        reached = final_state_reached(workspace, args.groups, size)
        time.sleep(1.0)  # let stragglers (thread replies) land before counting calls

        per_group = calls_per_group(workspace)
        lost_redis, lost_shown = lost_alerts(r, workspace, args.groups, size)
        distinct = args.groups * size
        instances = args.groups * (sum(steps) + size)
        changes = sum(1 for a in answers if a.get("change") not in (None, "none"))
        non_2xx = sum(1 for a in answers if a["http"] >= 300)
        floors += [redis_cas_floor(r, args.groups, args.senders, steps) for _ in range(2)]
        floor = statistics.median(floors)
        ratelimited = sum(1 for c in workspace.calls if c.status == 429)

        rows = [
            ("notifications sent (non-2xx)", f"{len(answers)} ({non_2xx})"),
            ("distinct alerts / groups", f"{distinct} / {args.groups}"),
            ("ingest, firing phase: distinct alerts/s", f"{distinct / fire_s:,.0f}"),
            ("ingest, whole run: alert instances/s",
             f"{instances / (fire_s + resolve_s):,.0f}"),
            ("  baseline: raw Redis CAS floor, instances/s",
             f"{floor:,.0f} (median of {' / '.join(f'{f:,.0f}' for f in floors)})"),
            ("ingest, notifications/s", f"{len(answers) / (fire_s + resolve_s):,.0f}"),
            ("seconds from last send to every message final",
             f"{settle_s:.2f}" + ("" if reached else " (NOT REACHED)")),
            ("Web API calls per group min/median/max",
             f"{per_group[0]}/{statistics.median(per_group):g}/{per_group[-1]}"
             if per_group else "-"),
            ("Web API calls total (429 answers)", f"{sum(per_group)} ({ratelimited})"),
            ("  baseline: calls without coalescing", f"{changes + args.groups}"),
            ("alerts lost (Redis / shown in Slack)", f"{lost_redis} / {lost_shown}"),
            ("ratio: whole-run instances/s to the baseline",
             f"{instances / (fire_s + resolve_s) / floor:.1%}"),
            ("CPU seconds while ingesting (wall)", f"{sum(cpu.values()):.2f} "
                                                   f"({fire_s + resolve_s:.2f})"),
            *((f"  {name}", f"{seconds:.2f}") for name, seconds in cpu.items()),
            ("load average (1 / 5 / 15 min) after ingest", load),
        ]
        width = max(len(k) for k, _ in rows)
        print(f"\nalert storm: {args.groups} groups, {args.senders} senders, `atbat web` "
              f"({args.web_workers} gunicorn workers), {args.workers} RQ workers, {os.cpu_count()} CPUs, "
              f"rate limit {args.rate_limit or 'none'}, firing batches per group {steps}")
        for key, value in rows:
            print(f"  {key:<{width}}  {value}")
        return 0 if reached and lost_redis == 0 and lost_shown == 0 else 1
    finally:
        stop_all(processes)
        slack.stop()
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
