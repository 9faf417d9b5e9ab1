"""Prometheus metrics kept in Redis, so every web and worker process adds to the same figures.

Recording never fails the request it measures: a Redis error is swallowed.
Per-request figures (HTTP requests, `/oncall` latency, alerts received) are added up in the
process and written once a second by a background thread, so the request
path pays no Redis round trip for them; a process that dies loses at most
its last second of them. Other counters are written at once.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping

import redis
from rq import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry

from bot.store import metrics as store
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.metrics")

COMMAND_HISTOGRAM = "oncall_command_seconds"
COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _safely(action: str, fn) -> None:
    try:
        fn()
    except UNAVAILABLE:
        log.debug("metric %s not recorded: store unavailable", action)


FLUSH_SECONDS = 1.0


class _Buffer:
    """Per-process sums of (histogram or counters, field) increments, flushed in one round trip."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # a reader's flush waits for one in flight
        self._pending: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._redis: redis.Redis | None = None
        self._flusher_pid: int | None = None

    def add(self, r: redis.Redis, histogram: str, field: str, amount: float) -> None:
        with self._lock:
            self._pending[(histogram, field)] += amount
            self._redis = r
            if self._flusher_pid != os.getpid():  # first use in this (possibly forked) process
                self._flusher_pid = os.getpid()
                threading.Thread(target=self._run, name="metrics-flush", daemon=True).start()

    def flush(self) -> None:
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, defaultdict(float)
            r = self._redis
        if not pending or r is None:
            return
        try:
            store.add(r, pending)
        except UNAVAILABLE:  # keep the figures for the next try
            with self._lock:
                for item, amount in pending.items():
                    self._pending[item] += amount

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # never let the flusher die; the figures are not worth a crash
                log.exception("metrics flush failed")


_buffer = _Buffer()


def flush() -> None:
    """Write this process's buffered figures now (also done at exit)."""
    _buffer.flush()


atexit.register(flush)


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(r: redis.Redis, route: str, method: str, status: int) -> None:
    # A client chooses the method: anything unusual is one series, not one per word.
    method = method if method in HTTP_METHODS else "OTHER"
    field = f"http_requests_total|route={route},method={method},status={status}"
    _buffer.add(r, store.COUNTERS, field, 1)


def observe_command(r: redis.Redis, seconds: float) -> None:
    # One bucket per observation; buckets are cumulated when rendered.
    bucket = next((f"le={b}" for b in COMMAND_BUCKETS if seconds <= b), "le=+Inf")
    _buffer.add(r, COMMAND_HISTOGRAM, bucket, 1)
    _buffer.add(r, COMMAND_HISTOGRAM, "count", 1)
    _buffer.add(r, COMMAND_HISTOGRAM, "sum", seconds)


def observe_alerts(r: redis.Redis, source: str, team: str, amount: int = 1) -> None:
    """Alerts a webhook took in: summed in the process like the other per-request figures."""
    _buffer.add(r, store.COUNTERS, f"alerts_received_total|source={source},team={team}", amount)


def count(r: redis.Redis, name: str, labels: str = "", amount: int = 1) -> None:
    """A free-form counter, e.g. count(r, "jobs_total", "job=send,outcome=ok")."""
    _safely(name, lambda: store.count(r, f"{name}|{labels}", amount))


def failed_deliveries(r: redis.Redis) -> dict[str, int]:
    """atbat_deliveries_failed_total by kind."""
    found: dict[str, int] = {}
    for field, value in store.counters(r).items():
        name, _, labels = field.partition("|")
        if name == "deliveries_failed_total" and labels.startswith("kind="):
            found[labels[len("kind="):]] = value
    return found


def render(r: redis.Redis, queue_names: Iterable[str], owed: Mapping[str, int] | None = None) -> str:
    """The Prometheus text exposition format (version 0.0.4); `owed` is deliveries not yet
    accepted by Slack or a provider, by kind."""
    flush()  # this process's latest figures; the others' arrive within a second
    lines: list[str] = []
    counters: dict[str, list[tuple[str, int]]] = {}
    for field, value in store.counters(r).items():
        name, _, labels = field.partition("|")
        counters.setdefault(name, []).append((labels, value))
    help_texts = {
        "http_requests_total": "HTTP requests by route, method and status.",
        "jobs_total": "Background jobs by job and outcome.",
        "slack_calls_total": "Web API calls by method and outcome.",
        "alerts_received_total": "Alerts received by source and outcome.",
        "deliveries_total": "Owed Slack calls by kind and outcome (delivered, retrying).",
        "deliveries_failed_total": "Slack calls and pages refused for good or expired before "
                                   "they were accepted, by kind.",
        "self_healing_total": "Alert occurrences a self-healing rule decided on, by rule and "
                              "outcome (healed, paged, refused).",
        "self_healing_runs_total": "Runs of self-healing rules by rule and outcome.",
    }
    for name in sorted(counters):
        metric = f"atbat_{name}"
        lines.append(f"# HELP {metric} {help_texts.get(name, name.replace('_', ' '))}")
        lines.append(f"# TYPE {metric} counter")
        for labels, value in sorted(counters[name]):
            lines.append(f"{metric}{_labels(labels)} {value}")

    hist = store.histogram(r, COMMAND_HISTOGRAM)
    metric = "atbat_oncall_command_seconds"
    lines.append(f"# HELP {metric} Time to handle an /oncall command, until its ack.")
    lines.append(f"# TYPE {metric} histogram")
    cumulative = 0
    for bound in COMMAND_BUCKETS:
        cumulative += int(hist.get(f"le={bound}", "0"))
        lines.append(f'{metric}_bucket{{le="{bound}"}} {cumulative}')
    lines.append(f'{metric}_bucket{{le="+Inf"}} {hist.get("count", "0")}')
    lines.append(f"{metric}_sum {float(hist.get('sum', '0')):.6f}")
    lines.append(f"{metric}_count {hist.get('count', '0')}")

    if owed is not None:
        lines.append("# HELP atbat_deliveries_owed Slack calls and page steps not accepted yet "
                     "(retried with backoff), by kind.")
        lines.append("# TYPE atbat_deliveries_owed gauge")
        for kind, value in sorted(owed.items()):
            lines.append(f'atbat_deliveries_owed{{kind="{kind}"}} {value}')
    lines.append("# HELP atbat_queue_depth Jobs waiting in each queue.")
    lines.append("# TYPE atbat_queue_depth gauge")
    registries: list[tuple[str, str, int]] = []
    for name in queue_names:
        q = Queue(name, connection=r)
        lines.append(f'atbat_queue_depth{{queue="{name}"}} {q.count}')
        registries.append((name, "started", StartedJobRegistry(queue=q).count))
        registries.append((name, "finished", FinishedJobRegistry(queue=q).count))
        registries.append((name, "failed", FailedJobRegistry(queue=q).count))
    lines.append("# HELP atbat_queue_jobs Jobs in each queue's registries (RQ keeps finished "
                 "and failed ones for a while).")
    lines.append("# TYPE atbat_queue_jobs gauge")
    for name, state, value in registries:
        lines.append(f'atbat_queue_jobs{{queue="{name}",state="{state}"}} {value}')
    return "\n".join(lines) + "\n"


def _labels(labels: str) -> str:
    if not labels:
        return ""
    pairs = []
    for part in labels.split(","):
        k, _, v = part.partition("=")
        v = v.replace("\\", "\\\\").replace('"', '\\"')
        pairs.append(f'{k}="{v}"')
    return "{" + ",".join(pairs) + "}"
