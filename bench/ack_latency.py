"""How fast does atbat ack a slash command under load, next to a bare Bolt app?

    .venv/bin/python bench/ack_latency.py [--requests 2000] [--concurrency 50]

Both apps run under gunicorn (2 workers x 8 threads, gthread) and receive the
same signed `/oncall help` requests over HTTP. Target: p99 < 100 ms at 50
concurrent requests, and within 2x of the bare Bolt app.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests
from _harness import (
    ROOT,
    SIGNING_SECRET,
    Redis,
    env_for,
    gunicorn,
    percentile,
    slack_server,
)

from bot.fakeslack.client import sign


def signed_help(i: int) -> tuple[bytes, dict[str, str]]:
    body = urlencode({
        "token": "x", "team_id": "T0ATBAT", "team_domain": "atbat", "channel_id": "C0PAYMENTS",
        "channel_name": "payments", "user_id": "U0ALICE", "user_name": "alice",
        "command": "/oncall", "text": "help", "api_app_id": "A0ATBAT",
        "response_url": "http://127.0.0.1:9/response", "trigger_id": f"bench.{i}.{time.time_ns()}",
    }).encode()
    ts = int(time.time())
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Slack-Request-Timestamp": str(ts),
                  "X-Slack-Signature": sign(SIGNING_SECRET, ts, body)}


def load(url: str, total: int, concurrency: int) -> dict[str, float]:
    sessions = [requests.Session() for _ in range(concurrency)]
    prepared = [signed_help(i) for i in range(total)]
    latencies: list[float] = []
    errors = 0

    def one(i: int) -> None:
        nonlocal errors
        body, headers = prepared[i]
        started = time.perf_counter()
        response = sessions[i % concurrency].post(url + "/slack/events", data=body, headers=headers,
                                                  timeout=10)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            errors += 1

    for i in range(min(100, total)):  # warm up connections and imports
        one(i)
    latencies.clear()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - started
    return {"p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "rps": total / elapsed, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()

    store = Redis()
    _, slack = slack_server({"U0ALICE": {"name": "alice"}},
                            [{"id": "C0PAYMENTS", "name": "payments"}])
    env = env_for(store.url, slack.api_url, str(ROOT / "tests" / "fixtures" / "atbat.yml"))
    results = {}
    procs = []
    try:
        for name, app in (("bare Bolt (ack only)", "bench.bare_bolt:app"),
                          ("atbat /oncall help", "bot.wsgi:app")):
            proc, url = gunicorn(app, env)
            procs.append(proc)
            results[name] = load(url, args.requests, args.concurrency)
            proc.terminate()
            proc.wait(10)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        slack.stop()
        store.stop()

    print(f"\n{args.requests} signed /oncall requests, {args.concurrency} concurrent, "
          "gunicorn 2 workers x 8 threads\n")
    print(f"{'app':<24}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:<24}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}{r['rps']:>10.0f}{r['errors']:>8}")
    bare, ours = results["bare Bolt (ack only)"], results["atbat /oncall help"]
    ratio = ours["p99_ms"] / bare["p99_ms"]
    print(f"\np99 ratio atbat/bare: {ratio:.2f}x  (target < 2x)   "
          f"p99 {'PASS' if ours['p99_ms'] < 100 else 'FAIL'} (target < 100 ms)")


if __name__ == "__main__":
    main()
