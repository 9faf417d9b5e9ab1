"""Slack calls that must arrive: owed in Redis until Slack accepted them.

`owe` stores the call (once per id) and queues a job that makes it. A call
that fails because Slack is away (the sender gave up on 429, 5xx or the
network) stays owed and is tried again after 15 s, 30 s, 1, 2 then every 5
minutes, for as long as the outage lasts; the periodic check re-queues any
whose job was lost (a worker restart, Redis failing over). A call Slack
refuses for good (channel_not_found, account_inactive ...) is counted in
`atbat_deliveries_failed_total` and its `on_failed` job is told why; an
accepted one runs its `on_accepted` job with Slack's answer. A file (a report's
chart) is owed the same way: each attempt makes the whole external upload, whose
last step alone shows the file. A delivery with an expiry that Slack did not
accept in time is given up the same way (`on_failed`, "expired"); a page's
channel post is dropped once its alert was acknowledged or resolved. Pages to
people are owed by `bot.services.paging`.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot import metrics
from bot.domain.deliveries import FILE_UPLOAD, OVERDUE, RESPONSE_URL, Delivery, retryable
from bot.domain.history import Event
from bot.runtime import QUEUE_DEFAULT, QUEUE_URGENT, Runtime
from bot.services import paging
from bot.slack.sender import SlackCallError
from bot.store import alerts as alert_store
from bot.store import deliveries as store

log = logging.getLogger("atbat.deliveries")

# RQ's scheduler keeps whole seconds: a retry's job may start a little before its time.
# (A first attempt is never held back: the process that owed it may run another clock.)
EARLY = timedelta(seconds=5)

# Every kind owed here (the gauge shows each, zero included), plus "page" from paging.
KINDS = ("message", "response", "alert_page", "handoff", "handoff_reminder", "handoff_summary",
         "run_request", "swap_request", "notice", "feedback",
         "maintenance", "silence_warning", "home", "report")
# Kinds whose attempts go to the urgent queue, with the pages: someone waits for them.
URGENT_KINDS = frozenset({"alert_page", "run_request"})
# An upload is three calls (each with the sender's retries): its sending lock lasts as long.
UPLOAD_LOCK_SECONDS = 3 * store.SENDING_LOCK_SECONDS


def _queue(kind: str) -> str:
    return QUEUE_URGENT if kind in URGENT_KINDS else QUEUE_DEFAULT


def owe(rt: Runtime, kind: str, ident: str, method: str, args: dict[str, Any], *,
        expires_at: datetime | None = None, on_accepted: Sequence[Any] = (),
        on_failed: Sequence[Any] = (), replace_owed: bool = False, ttl: int = store.DELIVERY_TTL,
        keep: bool = True, for_alert: tuple[str, int] | None = None,
        queue: str | None = None, history: tuple[str, Event] | None = None) -> bool:
    """Owe one Slack call; False when `kind:ident` was owed (or delivered) already. `keep`
    keeps its record once done, so that owing it again does nothing (an announcement);
    `for_alert` (group key, occurrence) drops it once that alert is acknowledged or resolved;
    `history` (team, event) is recorded in the same transaction as owing it, once."""
    assert kind in KINDS, kind
    delivery = Delivery(id=f"{kind}:{ident}", kind=kind, method=method, args=args,
                        created_at=rt.now(), expires_at=expires_at,
                        on_accepted=tuple(on_accepted), on_failed=tuple(on_failed), keep=keep,
                        for_alert=for_alert)
    if store.owe(rt.redis, delivery, ttl=ttl, replace_owed=replace_owed, history=history) is None:
        return False
    rt.enqueue("workers.deliveries.send", delivery.id, queue=queue or _queue(kind))
    return True


def call_or_owe(rt: Runtime, method: str, args: dict[str, Any], *,
                kind: str = "message") -> dict[str, Any] | None:
    """Make the call now (a job that needs Slack's answer, e.g. a ts to edit later); if Slack
    is away, owe it and answer None, as for a call refused for good (logged and counted)."""
    try:
        answer = rt.sender.call(method, **args)
    except SlackCallError as exc:
        if retryable(exc.error):
            owe(rt, kind, uuid.uuid4().hex, method, args, keep=False)
        else:
            metrics.count(rt.redis, "deliveries_failed_total", f"kind={kind}")
            log.error("delivery failed kind=%s method=%s channel=%s why=Slack answered %s", kind,
                      method, args.get("channel"), exc.error)
        return None
    metrics.count(rt.redis, "slack_calls_total", f"method={method},outcome=ok")
    return answer


def owed_or_done(rt: Runtime, kind: str, ident: str) -> bool:
    """Was `kind:ident` owed already (and is its record kept, as for an announcement)?"""
    return store.get(rt.redis, f"{kind}:{ident}") is not None


def deliver_now(rt: Runtime, kind: str, ident: str) -> bool:
    """Make an owed call's first attempt in this job (not waiting for its own); True once
    Slack accepted it. Otherwise it stays owed, retried as any other."""
    delivery_id = f"{kind}:{ident}"
    send(rt, delivery_id)
    delivery = store.get(rt.redis, delivery_id)
    return delivery is not None and delivery.state == "done"


def send(rt: Runtime, delivery_id: str) -> None:
    """Make the owed call once, if it is still owed and due; reschedule it if Slack is away."""
    delivery = store.get(rt.redis, delivery_id)
    if delivery is None or delivery.state != "owed":
        return
    now = rt.now()
    if delivery.expired(now):
        if store.start_sending(rt.redis, delivery_id):
            _give_up(rt, delivery, "expired", "it expired before Slack accepted it")
        return
    if not _still_wanted(rt, delivery):
        if store.start_sending(rt.redis, delivery_id) and store.finish(rt.redis, delivery, "superseded"):
            log.info("delivery superseded id=%s kind=%s", delivery.id, delivery.kind)
        return
    due_at = store.due_at(rt.redis, delivery) if delivery.attempts else None
    if due_at is not None and due_at > now + EARLY:
        return  # a retry is scheduled for then: this is a duplicate job
    lock = UPLOAD_LOCK_SECONDS if delivery.method == FILE_UPLOAD else store.SENDING_LOCK_SECONDS
    if not store.start_sending(rt.redis, delivery_id, lock):
        return  # another worker is on it
    try:
        answer = _call(rt, delivery)
    except SlackCallError as exc:
        metrics.count(rt.redis, "slack_calls_total", f"method={delivery.method},outcome=error")
        if retryable(exc.error):
            _later(rt, delivery, exc.error)
        else:
            _give_up(rt, delivery, "failed", f"Slack answered {exc.error}")
        return
    except Exception:
        store.stop_sending(rt.redis, delivery_id)  # owed still: the periodic check tries again
        raise
    metrics.count(rt.redis, "slack_calls_total", f"method={delivery.method},outcome=ok")
    if not store.finish(rt.redis, delivery, "done"):
        return  # replaced by a newer version while this one was on its way
    metrics.count(rt.redis, "deliveries_total", f"kind={delivery.kind},outcome=delivered")
    if delivery.attempts:
        log.info("delivery made after retries id=%s kind=%s method=%s attempts=%d", delivery.id,
                 delivery.kind, delivery.method, delivery.attempts + 1)
    if delivery.on_accepted:
        job, *args = delivery.on_accepted
        rt.enqueue(job, *args, {"channel": answer.get("channel"), "ts": answer.get("ts")},
                   queue=QUEUE_URGENT)


def _still_wanted(rt: Runtime, delivery: Delivery) -> bool:
    """A page's channel post is not wanted once its alert was acknowledged or resolved."""
    if delivery.for_alert is None:
        return True
    key, occurrence = delivery.for_alert
    group = alert_store.get_group(rt.redis, key)
    return group is not None and group.occurrence == occurrence and group.state == "triggered"


def _call(rt: Runtime, delivery: Delivery) -> dict[str, Any]:
    if delivery.method == RESPONSE_URL:
        rt.sender.respond(delivery.args["url"], delivery.args["payload"])
        return {}
    if delivery.method == FILE_UPLOAD:
        args = delivery.args
        rt.sender.upload_file(args["channel"], args["filename"], base64.b64decode(args["content"]),
                              args["title"], thread_ts=args.get("thread_ts"))
        return {"channel": args["channel"], "ts": args.get("thread_ts")}
    return rt.sender.call(delivery.method, **delivery.args)


def _later(rt: Runtime, delivery: Delivery, error: str) -> None:
    at = delivery.next_attempt(rt.now())
    if not store.finish(rt.redis, delivery, "owed", next_at=at):
        return
    rt.enqueue_at(at, "workers.deliveries.send", delivery.id, queue=_queue(delivery.kind))
    metrics.count(rt.redis, "deliveries_total", f"kind={delivery.kind},outcome=retrying")
    log.warning("delivery owed id=%s kind=%s method=%s attempt=%d retry_at=%s error=%s",
                delivery.id, delivery.kind, delivery.method, delivery.attempts + 1, at.isoformat(),
                error)


def _give_up(rt: Runtime, delivery: Delivery, state: str, why: str) -> None:
    if not store.finish(rt.redis, delivery, state):
        return
    metrics.count(rt.redis, "deliveries_failed_total", f"kind={delivery.kind}")
    log.error("delivery failed id=%s kind=%s method=%s outcome=%s why=%s", delivery.id,
              delivery.kind, delivery.method, state, why)
    if delivery.on_failed:
        job, *args = delivery.on_failed
        rt.enqueue(job, *args, why, queue=QUEUE_URGENT)


def check_owed(rt: Runtime, now: datetime) -> None:
    """Re-queue owed deliveries whose attempt is overdue: their job was lost."""
    for delivery_id in store.due(rt.redis, KINDS, now - OVERDUE):
        kind = delivery_id.partition(":")[0]
        if store.get(rt.redis, delivery_id) is None:
            store.forget(rt.redis, kind, delivery_id)
            continue
        store.requeued(rt.redis, kind, delivery_id, now)  # one job per minute, not per tick
        rt.enqueue("workers.deliveries.send", delivery_id, queue=_queue(kind))


def owed(rt: Runtime) -> dict[str, int]:
    """Deliveries not accepted yet, by kind (pages included), from Redis: every process agrees."""
    counts = store.owed_counts(rt.redis, KINDS)
    counts["page"] = paging.owed_count(rt)
    return counts


def failed(rt: Runtime) -> dict[str, int]:
    """Deliveries given up on so far (refused for good or expired), by kind."""
    return metrics.failed_deliveries(rt.redis)
