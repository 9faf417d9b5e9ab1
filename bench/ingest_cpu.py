"""What one Alertmanager notification costs the web process, in CPU. Run by hand:

    .venv/bin/python bench/ingest_cpu.py [--groups 200] [--passes 5] [--profile 40]

Starts a private redis-server, builds the real app (bot.wsgi) with the alert
storm's config and posts, through Flask's test client in this process, the
storm's notifications: each group grows to 20 alerts in four notifications,
then resolves in one. Each pass sends fresh groups; the figure is CPU time
(user + system) per notification, best pass and median pass.

Baselines measured in the same run, on the same bodies:
* the floor: `json.loads` of the body plus one EVALSHA round trip carrying it
  (a script that only answers): what any ingest path through Redis pays;
* the framework: the same POSTs answered 401 (wrong token) by the app, which
  is Flask and the test client with nothing of atbat's ingest.
`--profile N` adds a cProfile of one more pass (N lines by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _harness import ALERT_TOKEN, Redis, env_for  # noqa: E402
from alert_storm import CONFIG, notification  # noqa: E402

STEPS = (5, 10, 15, 20)
AUTH = {"Authorization": f"Bearer {ALERT_TOKEN}", "Content-Type": "application/json"}
REFUSED = {"Authorization": "Bearer not-the-token", "Content-Type": "application/json"}


def bodies(first: int, groups: int) -> list[bytes]:
    """Groups first..first+groups, each in order: growing four times, then resolved."""
    out = []
    for g in range(first, first + groups):
        out += [json.dumps(notification(g, n, False)).encode() for n in STEPS]
        out.append(json.dumps(notification(g, STEPS[-1], True)).encode())
    return out


def cpu_ms_each(send: Callable[[bytes], object], sent: list[bytes]) -> float:
    started = time.process_time()
    for body in sent:
        send(body)
    return (time.process_time() - started) / len(sent) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()

    server = Redis()
    config = Path(tempfile.mkdtemp(prefix="atbat-bench-")) / "atbat.yml"
    config.write_text(CONFIG)
    os.environ.update(env_for(server.url, "http://127.0.0.1:9/api/", str(config)))
    try:
        from bot.wsgi import app, runtime

        client = app.test_client()

        def post(body: bytes) -> None:
            answer = client.post("/alerts/alertmanager", data=body, headers=AUTH)
            assert answer.status_code == 200, answer.data

        def refused(body: bytes) -> None:
            client.post("/alerts/alertmanager", data=body, headers=REFUSED)

        r = runtime.redis
        answer_only = r.script_load("return {1, 0}")

        def floor(body: bytes) -> None:
            json.loads(body)
            r.evalsha(answer_only, 1, "bench:floor", body)

        for body in bodies(10 ** 6, 10):  # warm up: imports, the script, connections
            post(body)
        atbat, floors, framework = [], [], []
        for n in range(args.passes):
            sent = bodies(n * args.groups, args.groups)
            floors.append(cpu_ms_each(floor, sent))
            framework.append(cpu_ms_each(refused, sent))
            atbat.append(cpu_ms_each(post, sent))
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(cpu_ms_each, post, bodies(args.passes * args.groups, args.groups))
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    finally:
        server.stop()

    count = args.groups * (len(STEPS) + 1)
    print(f"\nAlertmanager ingest CPU: {args.passes} passes of {count:,} notifications "
          f"({args.groups} groups x {len(STEPS)} growing to {STEPS[-1]} alerts + 1 resolving), "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  {'ms CPU per notification':<46}{'best':>8}{'median':>8}")
    for name, runs in (("atbat POST /alerts/alertmanager (200)", atbat),
                       ("framework: the same POSTs answered 401", framework),
                       ("floor: json.loads + one EVALSHA with the body", floors)):
        print(f"  {name:<46}{min(runs):>8.3f}{statistics.median(runs):>8.3f}")
    best = min(atbat)
    print(f"  atbat's own part (best minus framework): {best - min(framework):.3f} ms, "
          f"{best / min(floors):.1f}x the floor")


if __name__ == "__main__":
    main()
