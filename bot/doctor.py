"""`atbat doctor`: is the Redis at REDIS_URL set up so that atbat can keep its promises?

An alert answered 2xx must survive a restart and a failover, and nothing atbat
stores may be evicted. That needs, on the master:

* `appendonly yes`: a restart without it loses every write since the last snapshot;
* `maxmemory-policy noeviction`: any other policy drops keys (claims, timers,
  alert groups) when memory is full; noeviction refuses the write, and atbat
  answers 503 so Alertmanager retries;
* with `ATBAT_REDIS_MIN_REPLICAS=N`: N replicas connected, and
  `min-replicas-to-write` at least N so an isolated master stops taking writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

from bot.settings import Settings, redact_url
from bot.store import server
from bot.store.base import UNAVAILABLE, connect
from bot.store.connection import is_sentinel_url, parse_sentinel_url


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.what}"


def check_config(config: Mapping[str, str], replication: Mapping[str, object],
                 min_replicas: int) -> list[Finding]:
    """What is right and wrong in CONFIG GET and INFO replication (pure, for tests)."""
    found = []
    aof = config.get("appendonly", "?")
    found.append(Finding(aof == "yes", f"appendonly {aof}" + (
        "" if aof == "yes" else ": a restart loses every write since the last snapshot; "
        "set appendonly yes")))
    policy = config.get("maxmemory-policy", "?")
    found.append(Finding(policy == "noeviction", f"maxmemory-policy {policy}" + (
        "" if policy == "noeviction" else ": a full Redis would evict atbat's state "
        "(claims, timers, alert groups); set maxmemory-policy noeviction")))
    role = str(replication.get("role", "?"))
    found.append(Finding(role == "master", f"role {role}" + (
        "" if role == "master" else ": REDIS_URL must lead to the master")))
    replicas = int(str(replication.get("connected_slaves", 0)))
    to_write = int(config.get("min-replicas-to-write", "0") or 0)
    if min_replicas:
        found.append(Finding(replicas >= min_replicas,
                             f"{replicas} replica(s) connected, ATBAT_REDIS_MIN_REPLICAS="
                             f"{min_replicas}" + ("" if replicas >= min_replicas else
                                                  ": alert webhooks answer 503 until enough "
                                                  "replicas are connected")))
        found.append(Finding(to_write >= min_replicas, f"min-replicas-to-write {to_write}" + (
            "" if to_write >= min_replicas else
            f": set it to {min_replicas} so that a master cut off from its replicas "
            "stops taking writes a failover would lose")))
    else:
        found.append(Finding(True, f"{replicas} replica(s) connected; ATBAT_REDIS_MIN_REPLICAS "
                             "is 0, so alerts are acknowledged before a replica has them "
                             "(see README, Running on several machines)"))
    return found


def _sentinels(settings: Settings) -> list[Finding]:
    if not is_sentinel_url(settings.redis_url):
        return []
    target = parse_sentinel_url(settings.redis_url)
    answering = server.sentinels_answering(target)
    quorum_ok = answering * 2 > len(target.sentinels)
    return [Finding(quorum_ok, f"{answering} of {len(target.sentinels)} sentinel(s) answer"
                    + ("" if quorum_ok else ": fewer than a majority cannot fail over"))]


def diagnose(settings: Settings) -> list[Finding]:
    found = _sentinels(settings)
    r = connect(settings.redis_url)
    try:
        server.ping(r)
    except UNAVAILABLE as exc:
        return [*found, Finding(False, f"Redis does not answer at {redact_url(settings.redis_url)}"
                                f" ({type(exc).__name__})")]
    try:
        config = server.settings(r)
    except redis.exceptions.ResponseError as exc:
        return [*found, Finding(False, f"CONFIG GET is not allowed ({exc}): check appendonly, "
                                "maxmemory-policy and min-replicas-to-write by hand")]
    return [*found, *check_config(config, server.replication(r), settings.redis_min_replicas)]


def run(settings: Settings) -> int:
    """Prints one line per check; 0 when all are fine, 1 otherwise."""
    findings = diagnose(settings)
    print(f"Redis at {redact_url(settings.redis_url)}")
    for finding in findings:
        print(finding.line())
    bad = sum(1 for f in findings if not f.ok)
    print("all good" if not bad else f"{bad} problem(s) found")
    return 0 if not bad else 1
