"""How fast is an on-call report over a year of history? Run by hand:

    .venv/bin/python bench/report.py

One team of 20 people (a weekly rotation) with a year of history in a private
redis-server: 50,000 pages, each acknowledged, one resolve per group of two
pages, and an answer for every fifth page. Times (median of 3, perf_counter):
reading the raw page stream (XRANGE, no decoding: the floor), and the report
with its PNG chart for 7, 30, 90 and 365 days (the report reads the period and
the one before it), three ways: computed from every event of the streams (raw),
with no day tallies stored (the first report after they were lost: it tallies
the streams and stores them), and from the stored day tallies (the usual case).
Prints Redis bytes per history entry and per stored day tally (MEMORY USAGE).
Target: the report, chart included, in <= 2 s.
"""

from __future__ import annotations

import random
import statistics
import sys
import time as clock
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from bench._harness import Redis  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.domain.history import Event, Rule, local_time  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.services.reports import build_report, build_report_raw, person_names  # noqa: E402
from bot.slack.render_reports import chart_png  # noqa: E402
from bot.store import history as store  # noqa: E402
from bot.store import keys  # noqa: E402

PAGES = 50_000
PEOPLE = [f"U0PERSON{i:02d}" for i in range(20)]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/London"]
RULES = [Rule("bench", f"Rule{i}", f"http://prometheus:9090/graph?g0.expr=rule{i}") for i in range(60)]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TARGET_S = 2.0
RUNS = 3


def config():
    return parse_config({"teams": {"bench": {
        "channel": "C0BENCH", "timezone": "Europe/Berlin",
        "rotations": [{"name": "primary", "members": PEOPLE, "start": "2025-11-03T09:00",
                       "shift": "1w"}]}}}, "bench.yml")


def seed(r: redis.Redis) -> None:
    rng = random.Random(7)
    start = NOW - timedelta(days=365)
    instants = sorted(start + timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(PAGES))
    answers = ("actionable", "noise", "morning")
    with r.pipeline(transaction=False) as pipe:
        for rule in RULES:
            store.remember_rule(pipe, rule)
        for i, at in enumerate(instants):
            user, tz, rule = PEOPLE[i % 20], ZONES[i % 4], RULES[int(rng.paretovariate(1.2)) % 60]
            group = f"am-{i // 2:024x}"
            fields = {"user": user, "method": "slack", "tz": tz,
                      "local": local_time(at, tz).isoformat(timespec="minutes"),
                      "rule": rule.ident, "group": group, "occ": "1", "step": "0"}
            store.append(pipe, "bench", Event("page", at, fields))
            tta = rng.randint(20, 900)
            store.append(pipe, "bench", Event("ack", at + timedelta(seconds=tta), {
                "rule": rule.ident, "group": group, "occ": "1", "user": user, "tta": str(tta)}))
            if i % 2:
                ttr = tta + rng.randint(60, 7200)
                store.append(pipe, "bench", Event("resolve", at + timedelta(seconds=ttr), {
                    "rule": rule.ident, "group": group, "occ": "1", "user": user, "ttr": str(ttr)}))
            if i % 5 == 0:
                store.append(pipe, "bench", Event("feedback", at + timedelta(hours=8), {
                    "rule": rule.ident, "group": group, "occ": "1", "user": user,
                    "answer": answers[i % 3]}))
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()


def median_seconds(fn) -> float:
    times = []
    for _ in range(RUNS):
        t0 = clock.perf_counter()
        fn()
        times.append(clock.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    server = Redis()
    try:
        r = redis.Redis.from_url(server.url)
        t0 = clock.perf_counter()
        seed(r)
        print(f"seeded {PAGES:,} pages in {clock.perf_counter() - t0:.1f} s")
        for kind in ("page", "ack", "resolve", "feedback"):
            n = store.entries(r, "bench", kind)
            print(f"{kind:9} {n:7,} entries, {store.memory_bytes(r, 'bench', kind) / n:6.1f} bytes each")
        cfg = config()
        rt = Runtime(settings=None, config=cfg, redis=r, sender=None)  # type: ignore[arg-type]
        team = cfg.teams["bench"]
        raw_key = keys.history("bench", "page")
        print(f"\n{'measure':58} {'median s':>9}")
        raw = median_seconds(lambda: r.xrange(raw_key))
        print(f"{'baseline: XRANGE of the whole page stream (a year)':58} {raw:9.3f}")

        def drop_days() -> None:
            found = list(r.scan_iter(keys.history_day("bench", "*", "*"), count=1000))
            if found:
                r.delete(*found)

        for days in (7, 30, 90, 365):
            def chart(report) -> None:  # noqa: ANN001
                chart_png(report, person_names(rt, [p.user for p in report.people]))

            def cold(days: int = days) -> float:
                drop_days()
                t0 = clock.perf_counter()
                chart(build_report(rt, team, days, NOW))
                return clock.perf_counter() - t0

            report = build_report_raw(rt, team, days, NOW)
            assert build_report(rt, team, days, NOW) == report, "tallies and streams disagree"
            raw_full = median_seconds(lambda days=days: chart(build_report_raw(rt, team, days, NOW)))
            cold_times = [cold() for _ in range(RUNS)]
            only = median_seconds(lambda days=days: build_report(rt, team, days, NOW))
            total = median_seconds(lambda days=days: chart(build_report(rt, team, days, NOW)))
            flag = "ok" if total <= TARGET_S else "OVER TARGET"
            label = f"report {days}d ({report.pages:,} pages)"
            print(f"{label + ', from every event (raw), chart included':58} {raw_full:9.3f}")
            print(f"{label + ', no day tallies stored yet, chart incl.':58} "
                  f"{statistics.median(cold_times):9.3f}")
            print(f"{label + ', from day tallies, figures only':58} {only:9.3f}")
            print(f"{label + ', from day tallies, chart included':58} {total:9.3f}  {flag}")
        day_keys = list(r.scan_iter(keys.history_day("bench", "*", "*"), count=1000))
        sizes = [int(r.memory_usage(k, samples=0) or 0) for k in day_keys]
        print(f"\nday tallies: {len(day_keys)} stored, {statistics.mean(sizes):.0f} bytes each "
              f"(MEMORY USAGE; {sum(sizes) / PAGES:.1f} bytes per page of the year)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
