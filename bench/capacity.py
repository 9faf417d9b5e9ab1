"""Redis capacity: what atbat keeps, for how long, and how much of it fits in 1 GB.

    .venv/bin/python bench/capacity.py [--alerts 100000] [--group-size 100] [--teams 200]

Starts its own redis-server, the Slack-compatible server (in this process),
the app under gunicorn and two workers as in the Procfile, then measures with
`MEMORY USAGE` (bytes per key, allocator overhead included):

* per team and per person: the periodic checks' state for `--teams` teams of
  3 layers x 8 people (handoff claims, config fingerprints, user group state)
  and one cached Slack profile per person;
* per alert group: by group size, through the same store code as the webhook;
  and per open group in the storm below (group, open index, message, claims);
* per history event: the history streams the storm wrote, by kind;
* per stored run output: 1 kB, 3 kB and the 1 MB cap;
* how long each kind of key is kept (its TTL as set, or "until trimmed").

Then it fires `--alerts` alerts through `POST /alerts/alertmanager` (groups of
`--group-size`, each fired then resolved), waits for the workers, and checks
that once every key with a lifetime up to the groups' 30 days has expired
(simulated: those keys are deleted, and RQ's registries lose the jobs that
expired, as RQ's own cleanup does), what remains stays within the stated
figure: the history (streams and one rule per alert name), the claims that
outlive the groups by a few days (who was paged, 35 days; feedback questions,
40 days), plus 1 MB. The baseline is the empty Redis of the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import redis
from _harness import (
    Redis,
    atbat_web,
    env_for,
    load_average,
    post_alerts,
    slack_server,
    start_workers,
    stop_all,
)

from bot.config import load_config
from bot.domain.alert_payloads import parse_alertmanager
from bot.domain.alerts import apply_batch
from bot.periodic import run_checks
from bot.runtime import QUEUE_NAMES, Runtime
from bot.settings import load_settings
from bot.slack.sender import Sender
from bot.store import alerts as alert_store
from bot.store import keys
from bot.store.base import connect
from bot.store.remediation import MAX_OUTPUT, RECORD_TTL
from bot.store.users import Profile, save_profile
from bot.wiring import CHECKS

GB = 1_000_000_000
GROUP_DAYS = alert_store.GROUP_TTL.days
FIXED_ALLOWANCE = 1_000_000  # what may remain besides history and later claims
# Kept a little longer than the groups (35 and 40 days), then gone too.
LATER_CLAIMS = ("atbat:paged:", "atbat:once:feedback-ask:")
USERS = {"U0ONE": {"name": "one"}, "U0TWO": {"name": "two"}, "U0BOSS": {"name": "boss"}}
STORM_CONFIG = """\
timezone: UTC
teams:
  storm:
    channel: C0STORM
    managers: [U0BOSS]
    rotations:
      - {name: primary, members: [U0ONE, U0TWO], start: 2026-01-05T09:00, shift: 1w}
    escalation:
      steps:
        - {after: 0m, notify: primary}
"""


# ---------------------------------------------------------------- measuring


def key_bytes(r: redis.Redis, pattern: str = "*") -> dict[str, int]:
    """MEMORY USAGE of every key matching `pattern`."""
    out = {}
    for key in r.scan_iter(match=pattern, count=1000):
        out[key.decode()] = r.memory_usage(key, samples=0) or 0
    return out


def kind_of(key: str) -> str:
    """A key's kind: ids and names replaced, so `atbat:alert:am-3f…` is `atbat:alert:ID`."""
    key = re.sub(r"\b(am|ev)-[0-9a-f]{8,}", "ID", key)
    key = re.sub(r"[0-9a-f]{16,}|[0-9a-f]{8}-[0-9a-f-]{27}", "ID", key)
    key = re.sub(r"\b\d{4,}\b", "N", key)
    key = re.sub(r":team\d+", ":TEAM", key)
    key = re.sub(r":U[0-9A-Z]+", ":USER", key)
    key = re.sub(r"alert-escalation:ID:\d+:\d+", "alert-escalation:ID:OCC:STEP", key)
    key = re.sub(r"(alert-snapshot:ID):\d+", r"\1:OCC", key)
    key = re.sub(r"-v\d+$", "-vN", key)
    return key


def lifetimes(r: redis.Redis) -> dict[str, tuple[int, int, int]]:
    """Per kind of key: how many, and the smallest and largest TTL (s; -1: none)."""
    seen: dict[str, list[int]] = defaultdict(list)
    for key in r.scan_iter(count=1000):
        seen[kind_of(key.decode())].append(r.ttl(key))
    return {kind: (len(ttls), min(ttls), max(ttls)) for kind, ttls in sorted(seen.items())}


def simulate_days_passing(r: redis.Redis, days: int) -> int:
    """Delete every key that expires within `days` (what Redis will have done by then), and
    drop from RQ's job registries the jobs that expire by then (what RQ's cleanup does)."""
    gone = 0
    horizon = days * 86400 + 3600
    for key in list(r.scan_iter(count=1000)):
        ttl = r.ttl(key)
        if 0 <= ttl <= horizon:
            gone += r.delete(key)
    for pattern in ("rq:finished:*", "rq:failed:*", "rq:canceled:*"):
        for key in r.scan_iter(match=pattern, count=1000):
            r.zremrangebyscore(key, 0, time.time() + horizon)
    return gone


def human(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def ttl_text(seconds: int) -> str:
    if seconds < 0:
        return "no TTL"
    if seconds >= 86400:
        return f"{seconds / 86400:.0f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds} s"


# ---------------------------------------------------------------- teams and people


def teams_config(n: int) -> str:
    lines = ["timezone: UTC", "teams:"]
    for t in range(n):
        lines += [f"  team{t}:", f"    channel: C{t:08d}", f"    managers: [U{t:06d}M]",
                  f"    usergroup: S{t:08d}", "    rotations:"]
        for layer in ("primary", "secondary", "tertiary"):
            members = ", ".join(f"U{t:06d}{layer[0].upper()}{m}" for m in range(8))
            lines.append(f"      - {{name: {layer}, members: [{members}], "
                         f"start: 2026-01-05T09:00, shift: 1w}}")
    return "\n".join(lines) + "\n"


def measure_teams(url: str, api_url: str, n: int) -> tuple[float, float]:
    """Bytes of atbat state per team (periodic checks) and per person (cached profile)."""
    r = connect(url)
    path = Path(tempfile.mkdtemp()) / "teams.yml"
    path.write_text(teams_config(n))
    config = load_config(path)
    settings = load_settings({"REDIS_URL": url, "SLACK_API_URL": api_url,
                              "SLACK_BOT_TOKEN": "xoxb-bench", "ATBAT_CONFIG": str(path)})
    rt = Runtime(settings=settings, config=config, redis=r, sender=Sender(api_url, "xoxb-bench"))
    before = sum(key_bytes(r, "atbat:*").values())
    run_checks(rt, datetime.now(UTC), CHECKS)
    per_team = (sum(key_bytes(r, "atbat:*").values()) - before) / n
    people = [m for team in config.teams.values() for rot in team.rotations for m in rot.members]
    before = sum(key_bytes(r, "atbat:user:*").values())
    for person in people:
        save_profile(r, Profile(person, f"name-{person}", "Europe/Berlin"))
    per_person = (sum(key_bytes(r, "atbat:user:*").values()) - before) / len(people)
    # The RQ jobs the checks queued are work in flight, not state: drop them.
    for key in r.scan_iter(match="rq:*"):
        r.delete(key)
    return per_team, per_person


# ---------------------------------------------------------------- alert groups


def notification(group: int, size: int, resolved: bool) -> dict:
    alerts = [{
        "status": "resolved" if resolved else "firing",
        "labels": {"alertname": f"Cap{group}", "team": "storm", "instance": f"host-{i}:9100",
                   "severity": "critical", "job": "node"},
        "annotations": {"summary": f"host-{i} is on fire",
                        "description": "Disk usage above 95% for 10 minutes."},
        "startsAt": "2026-11-04T09:58:00Z",
        "endsAt": "2026-11-04T10:01:00Z" if resolved else "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example.com/graph?g0.expr=cap{group}",
        "fingerprint": f"{group:06x}{i:010x}",
    } for i in range(size)]
    return {"version": "4", "groupKey": f'{{}}:{{alertname="Cap{group}"}}',
            "status": "resolved" if resolved else "firing", "receiver": "atbat",
            "groupLabels": {"alertname": f"Cap{group}"},
            "commonLabels": {"alertname": f"Cap{group}", "team": "storm"},
            "commonAnnotations": {"summary": f"Capacity group {group}"},
            "externalURL": "http://alertmanager.example.com", "alerts": alerts,
            "truncatedAlerts": 0}


def group_doc_bytes(url: str, size: int, samples: int = 200) -> float:
    """MEMORY USAGE of an alert group document with `size` alerts, written by the store."""
    r = connect(url)
    now = datetime.now(UTC)
    total = 0
    for g in range(samples):
        batch = parse_alertmanager(json.dumps(notification(900_000 + g, size, False)).encode())
        alert_store.ingest(r, batch.key, lambda old, b=batch: apply_batch(old, b, now), now,
                           lambda *_: None)
        total += r.memory_usage(keys.alert_group(batch.key), samples=0)
        r.delete(keys.alert_group(batch.key), keys.alert_open("storm"), keys.alert_render_due())
    return total / samples


def send_all(url: str, bodies: list[bytes], senders: int = 4) -> list[int]:
    """Each body once, as Alertmanager sends it: the HTTP status of each final answer."""
    _, answers = post_alerts(url + "/alerts/alertmanager", [[b] for b in bodies], senders)
    return [a["http"] for a in answers]


def wait_idle(r: redis.Redis, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = sum(r.llen(f"rq:queue:{q}") for q in QUEUE_NAMES)
        busy += sum(r.zcard(f"rq:wip:{q}") for q in QUEUE_NAMES)
        if not busy and not r.zcard(keys.alert_render_due()):
            return
        time.sleep(0.5)
    raise SystemExit("the workers did not catch up")



# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--group-size", type=int, default=100)
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    groups = args.alerts // args.group_size

    server = Redis()
    r = redis.Redis.from_url(server.url)
    workspace, slack = slack_server(USERS, [{"id": "C0STORM", "name": "storm"}])
    config = Path(tempfile.mkdtemp()) / "atbat.yml"
    config.write_text(STORM_CONFIG)
    env = env_for(server.url, slack.api_url, str(config))
    procs: list[subprocess.Popen] = []
    try:
        baseline = r.info("memory")["used_memory"]
        per_team, per_person = measure_teams(server.url, slack.api_url, args.teams)
        docs = {n: group_doc_bytes(server.url, n) for n in (1, 20, args.group_size)}
        outputs = {}
        for size in (1_000, 3_000, MAX_OUTPUT):
            r.set(keys.run_output("bench"), ("x" * 79 + "\n") * (size // 80), ex=RECORD_TTL)
            outputs[size] = r.memory_usage(keys.run_output("bench"), samples=0)
        r.delete(keys.run_output("bench"))
        for key in r.scan_iter(match="atbat:*"):  # a clean slate for the storm
            r.delete(key)

        web, url = atbat_web(env)
        procs.append(web)
        procs += start_workers(env, args.workers)
        before_storm = sum(key_bytes(r, "atbat:*").values())
        started = time.perf_counter()
        firing = [json.dumps(notification(g, args.group_size, False)).encode()
                  for g in range(groups)]
        statuses = send_all(url, firing)
        fired_in = time.perf_counter() - started
        wait_idle(r)
        open_bytes = sum(key_bytes(r, "atbat:*").values()) - before_storm
        per_open_group = open_bytes / groups
        resolving = [json.dumps(notification(g, args.group_size, True)).encode()
                     for g in range(groups)]
        statuses += send_all(url, resolving)
        wait_idle(r)
        storm_seconds = time.perf_counter() - started
        load = load_average()
        after_storm = r.info("memory")["used_memory"]
        kept = lifetimes(r)
        history: dict[str, tuple[int, int]] = {}
        for key in r.scan_iter(match="atbat:history:*"):
            name = key.decode()
            if name.startswith("atbat:history-rules"):
                continue
            kind = name.rsplit(":", 1)[1]
            length, size = r.xlen(key), r.memory_usage(key, samples=0)
            old = history.get(kind, (0, 0))
            history[kind] = (old[0] + length, old[1] + size)
        events = sum(n for n, _ in history.values())
        history_bytes = sum(b for _, b in history.values())
        all_by_kind: dict[str, int] = defaultdict(int)
        for key, size in key_bytes(r).items():
            all_by_kind[kind_of(key)] += size

        gone = simulate_days_passing(r, GROUP_DAYS)
        remaining = key_bytes(r)
        remaining_bytes = sum(remaining.values())
        rules_bytes = sum(v for k, v in remaining.items() if k.startswith("atbat:history-rules"))
        later_bytes = sum(v for k, v in remaining.items() if k.startswith(LATER_CLAIMS))
        paged_groups = sum(1 for k in remaining if k.startswith("atbat:paged:"))
        stated = history_bytes + rules_bytes + later_bytes + FIXED_ALLOWANCE
        ok = remaining_bytes <= stated
    finally:
        stop_all(procs)
        slack.stop()
        server.stop()

    bad = sum(1 for s in statuses if s != 200)
    print(f"\nRedis capacity (MEMORY USAGE per key; baseline: empty Redis, used_memory "
          f"{human(baseline)})\n")
    print(f"per team (3 layers x 8 people, {args.teams} teams)   {per_team:>9,.0f} B")
    print(f"per person (cached Slack profile)            {per_person:>9,.0f} B")
    for size, b in docs.items():
        print(f"alert group document, {size:>3} alert(s)          {b:>9,.0f} B")
    print(f"per open group of {args.group_size} in the storm (all keys)   {per_open_group:>9,.0f} B")
    for kind, (n, b) in sorted(history.items()):
        print(f"history event '{kind}' ({n:,} in the streams){'':<4}{b / max(n, 1):>9,.0f} B")
    for size, b in outputs.items():
        print(f"stored run output of {human(size):<8}               {b:>9,.0f} B")
    print("\none Redis with 1 GB of data holds about")
    print(f"  {GB / per_team:>12,.0f} teams   {GB / per_person:>12,.0f} people   "
          f"{GB / per_open_group:>12,.0f} open groups of {args.group_size} alerts   "
          f"{GB / docs[1]:>12,.0f} open groups of 1 alert (documents only)")
    print("\nkinds of keys after the storm: count, TTL as set (min..max), bytes")
    for kind, (n, low, high) in kept.items():
        span = ttl_text(low) if low == high else f"{ttl_text(low)}..{ttl_text(high)}"
        print(f"  {kind:<58}{n:>7,}  {span:<16}{all_by_kind.get(kind, 0):>12,}")
    print(f"\n{args.alerts:,} alerts in {groups:,} groups of {args.group_size}, fired then resolved "
          f"through the webhook: {storm_seconds:.0f} s ({args.alerts / fired_in:,.0f} alerts/s "
          f"while firing), non-200 answers: {bad}, load average {load}")
    print(f"  used_memory after the storm                  {human(after_storm)}")
    print(f"  keys deleted as if {GROUP_DAYS} days had passed           {gone:,}")
    print(f"  what remains (all keys)                      {remaining_bytes:,} B")
    print(f"  stated: history ({events:,} events, {history_bytes:,} B) + history rules "
          f"({rules_bytes:,} B) + claims kept 35-40 days ({paged_groups:,} paged groups, "
          f"{later_bytes:,} B) + {FIXED_ALLOWANCE:,} B = {stated:,} B")
    for kind in sorted({kind_of(k) for k in remaining}):
        print(f"    {kind:<56}{sum(v for k, v in remaining.items() if kind_of(k) == kind):>12,} B")
    print(f"  {'PASS' if ok else 'FAIL'}: memory after the groups expire is within the stated figure")
    if bad or not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
