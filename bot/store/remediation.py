"""Remediation run requests in Redis.

Every state change is a compare-and-set (WATCH the record, apply the pure
`bot.domain.remediation.transition`, MULTI) that writes its audit entry, the open
index, the one-run lock and the heartbeat in the same transaction, so of two
concurrent clicks exactly one wins and the audit stream never disagrees with
the record.

Keys (see `bot.store.keys`): the record `run:<id>` (JSON, kept 90 days), the
lock `run-lock:<runbook?params>` holding the id of the request that owns it,
the heartbeat `run-heartbeat:<id>` (EX 60 s, refreshed by the running worker),
the output `run-output:<id>` (last megabyte) and the indexes `runs-open` and
`runs-recent`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import redis

from bot.domain import remediation as domain
from bot.domain.remediation import RunRequest
from bot.store import audit, keys
from bot.store.base import Commit, compare_and_set

log = logging.getLogger("atbat.store.runs")

RECORD_TTL = 90 * 86400
HEARTBEAT_TTL = 60
POLICY = "policy"  # the actor of what a runbook's approval policy decides by itself
LOCK_MARGIN = 120  # seconds a lock outlives the longest the run may take
MAX_OUTPUT = 1_000_000
RECENT_MAX = 500
_ID = re.compile(r"^r[0-9a-f]{10}$")

# Take or keep the lock for ARGV[1]; answer 1, or the id of whoever holds it.
_TAKE_LOCK = """
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 1
end
return holder
"""


class RunNotFound(Exception):
    """No request with that id (expired, or a forged button value)."""


class RunLocked(Exception):
    """Another request for the same runbook and parameters is not finished yet."""

    def __init__(self, holder: RunRequest) -> None:
        super().__init__(holder.id)
        self.holder = holder


def new_id() -> str:
    return "r" + secrets.token_hex(5)


def valid_id(ident: str) -> bool:
    return bool(_ID.match(ident or ""))


def get_run(r: redis.Redis | redis.client.Pipeline, ident: str) -> RunRequest | None:
    """The request, or None when unknown (also for any string that is not a request id)."""
    if not valid_id(ident):
        return None
    raw = r.get(keys.run_request(ident))
    if raw is None:
        return None
    try:
        return RunRequest.from_json(raw)
    except ValueError:
        log.error("malformed run record run=%s", ident)
        return None


def audit_details(req: RunRequest, **more: Any) -> dict[str, Any]:
    return {"run": req.id, "runbook": req.runbook, "params": req.param_dict,
            "requester": req.requester, "state": req.state, "team": req.team or "", **more}


def create(r: redis.Redis, req: RunRequest, *, lock_ttl: int) -> RunRequest:
    """Store a new request and take its one-run lock; raises RunLocked with the holder.

    A lock whose holder is finished (or gone) is stale and taken over.
    """
    lock = keys.run_lock(req.lock_key)

    def decide(pipe: redis.client.Pipeline) -> Commit[RunRequest]:
        holder = lock_holder(pipe, req)
        if holder is not None:
            raise RunLocked(holder)
        return Commit(req, lambda pipe: create_writes(pipe, req, lock_ttl))

    return compare_and_set(r, [lock], decide, what=lock)


def lock_holder(pipe: redis.client.Pipeline, req: RunRequest) -> RunRequest | None:
    """The unfinished request holding `req`'s one-run lock (WATCHed by the caller), or None."""
    raw = pipe.get(keys.run_lock(req.lock_key))
    holder = get_run(pipe, raw.decode()) if raw else None
    if holder is not None and not holder.terminal and holder.id != req.id:
        return holder
    return None


def create_writes(pipe: redis.client.Pipeline, req: RunRequest, lock_ttl: int) -> None:
    """The writes of a new request (in the caller's MULTI): record, lock, indexes, audit.

    A request made by an automatic remediation rule starts approved by that rule; its
    audit says "requested by rule NAME (config sha256 ...)" and who approved the rule.
    """
    pipe.set(keys.run_lock(req.lock_key), req.id, ex=lock_ttl)
    pipe.set(keys.run_request(req.id), req.to_json(), ex=RECORD_TTL)
    pipe.sadd(keys.runs_open(), req.id)
    pipe.lpush(keys.runs_recent(), req.id)
    pipe.ltrim(keys.runs_recent(), 0, RECENT_MAX - 1)
    rule = req.extra.get("rule")
    by_rule = {}
    if rule:
        by_rule = {"requested": f"requested by rule {rule} (config sha256 "
                                f"{req.extra.get('config_sha256', '')})",
                   "rule": rule, "alert": req.extra.get("alert", ""),
                   "approved_by": req.extra.get("approved_by", "")}
    elif req.extra.get("from_alert"):  # a person's run from an alert's Run button
        by_rule = {"alert": req.extra["from_alert"], "alertname": req.extra.get("alertname", "")}
    audit.record(pipe, actor=req.requester, action="run.request", at=req.created_at,
                 **audit_details(req, argv=list(req.argv), **by_rule))
    if req.state == "approved":
        audit.record(pipe, actor=req.approver or POLICY, action="run.approve", at=req.created_at,
                     **audit_details(req, approval="rule" if rule else "none", **by_rule))


def _audit_action(event: str) -> str:
    return "run.result" if event in domain.FINISH_EVENTS else f"run.{event}"


def _audit_actor(event: str, actor: str, req: RunRequest) -> str:
    """Who a run entry is by: a person or a named rule, never the worker that ran it.

    A run starts and ends on its approval (the approver, or the runbook's "policy" when
    it needs none); one cancelled while running ends on whoever pressed Cancel.
    """
    if event == "cancelled" and req.cancelled_by:
        return req.cancelled_by
    if event == "start" or event in ("succeeded", "failed", "timed_out", "cancelled"):
        return req.approver or POLICY
    return actor


def apply(
    r: redis.Redis, ident: str, event: str, actor: str, now: datetime, *,
    reason: str = "", exit_code: int | None = None, output_tail: str = "",
    output: str | None = None, details: Mapping[str, Any] | None = None,
) -> RunRequest:
    """Compare-and-set `event` on the request; returns the new request.

    Raises RunNotFound, or the domain's TransitionError (nothing written). The
    audit entry, the heartbeat (on start), the output, the open index and the
    lock release (on a final state) commit with the record.
    """
    key = keys.run_request(ident)
    if not valid_id(ident):
        raise RunNotFound(ident)

    def decide(pipe: redis.client.Pipeline) -> Commit[RunRequest]:
        old = get_run(pipe, ident)
        if old is None:
            raise RunNotFound(ident)
        new = domain.transition(old, event, actor, now, reason=reason,
                                exit_code=exit_code, output_tail=output_tail)
        lock = keys.run_lock(old.lock_key)
        release = False
        if new.terminal:
            pipe.watch(lock)
            release = pipe.get(lock) == ident.encode()
        extra = dict(details or {})
        if event in domain.FINISH_EVENTS:
            extra.update(outcome=event, exit_code=exit_code)
        if reason:
            extra["reason"] = reason
        if new.worker and (event == "start" or event in domain.FINISH_EVENTS):
            extra["worker"] = new.worker  # where it ran is a detail, not who did it

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, new.to_json(), ex=RECORD_TTL)
            if event == "start":
                pipe.set(keys.run_heartbeat(ident), now.isoformat(), ex=HEARTBEAT_TTL)
            if output is not None:
                pipe.set(keys.run_output(ident), output[-MAX_OUTPUT:], ex=RECORD_TTL)
            if new.terminal:
                pipe.srem(keys.runs_open(), ident)
                pipe.delete(keys.run_heartbeat(ident))
                if release:
                    pipe.delete(lock)
            audit.record(pipe, actor=_audit_actor(event, actor, new), action=_audit_action(event),
                         at=now, **audit_details(new, **extra))

        return Commit(new, writes)

    return compare_and_set(r, [key], decide, what=key)


def set_extra(r: redis.Redis, ident: str, **values: str) -> RunRequest | None:
    """Remember where the request's messages are (channel, ts, progress ts)."""
    return _update(r, ident, lambda req: replace(req, extra={**req.extra, **values}))


def _update(r: redis.Redis, ident: str,
            change: Callable[[RunRequest], RunRequest]) -> RunRequest | None:
    key = keys.run_request(ident)

    def decide(pipe: redis.client.Pipeline) -> Commit[RunRequest | None]:
        old = get_run(pipe, ident)
        if old is None:
            return Commit(None)
        new = change(old)
        return Commit(new, lambda pipe: pipe.set(key, new.to_json(), ex=RECORD_TTL))

    return compare_and_set(r, [key], decide, what=key)


# ---------------------------------------------------------------- worker side


def take_lock(r: redis.Redis, req: RunRequest, ttl: int) -> str | None:
    """Hold (or keep holding) the one-run lock for `req`; returns the other holder's id if taken."""
    answer = r.eval(_TAKE_LOCK, 1, keys.run_lock(req.lock_key), req.id, ttl)
    if answer == 1:
        return None
    return answer.decode() if isinstance(answer, bytes) else str(answer)


def beat(r: redis.Redis, req: RunRequest, now: datetime, lock_ttl: int) -> None:
    """The running worker's heartbeat: keeps the heartbeat key and the lock alive."""
    with r.pipeline(transaction=False) as pipe:
        pipe.set(keys.run_heartbeat(req.id), now.isoformat(), ex=HEARTBEAT_TTL)
        pipe.eval(_TAKE_LOCK, 1, keys.run_lock(req.lock_key), req.id, lock_ttl)
        pipe.execute()


def heartbeat_alive(r: redis.Redis, ident: str) -> bool:
    return bool(r.exists(keys.run_heartbeat(ident)))


def cancel_requested(r: redis.Redis, ident: str) -> bool:
    req = get_run(r, ident)
    return req is None or req.cancelled_by is not None or req.state != "running"


def get_output(r: redis.Redis, ident: str) -> str:
    raw = r.get(keys.run_output(ident))
    return raw.decode("utf-8", errors="replace") if raw else ""


# ---------------------------------------------------------------- listings


def open_runs(r: redis.Redis) -> list[RunRequest]:
    """Pending, approved and running requests, oldest first."""
    ids = sorted(m.decode() for m in r.smembers(keys.runs_open()))
    found = _many(r, ids)
    return sorted(found, key=lambda q: q.created_at)


def recent_runs(r: redis.Redis, n: int = 20) -> list[RunRequest]:
    ids = [m.decode() for m in r.lrange(keys.runs_recent(), 0, max(n, 1) - 1)]
    return _many(r, ids)


def _many(r: redis.Redis, ids: list[str]) -> list[RunRequest]:
    if not ids:
        return []
    raws = r.mget([keys.run_request(i) for i in ids])
    out = []
    for ident, raw in zip(ids, raws, strict=True):
        if raw is None:
            continue
        try:
            out.append(RunRequest.from_json(raw))
        except ValueError:
            log.error("malformed run record run=%s", ident)
    return out
