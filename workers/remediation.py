"""RQ jobs and periodic checks of approved remediation runs.

`execute(request_id)` is the run itself (queue `atbat-runs`, job id = request
id): re-check the request against the config (`check_runnable`), take the
one-run lock, move to `running`, run the argv with `workers.runner.run_process`
while a heartbeat thread keeps `run-heartbeat:<id>` (EX 60 s) and the lock
alive, then record the result. Every Slack message about a run goes in the
request's thread.

Lost runs: a worker that dies stops its heartbeat; `check_lost_runs` (every
tick, 30 s) marks a `running` request whose heartbeat key is gone as `lost`
and releases its lock, so a dead worker is reported within about 90 s.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from rq.job import Job

from bot import metrics, runtime
from bot.config import Runbook
from bot.domain.run_requests import RunRequest, TransitionError, check_runnable
from bot.periodic import periodic
from bot.runtime import QUEUE_DEFAULT, QUEUE_RUNS, Runtime
from bot.slack import render_runs as render
from bot.slack.format import escape
from bot.slack.sender import SlackCallError
from bot.store import runs as store
from workers.runner import RunResult, run_process, tail

log = logging.getLogger("atbat.runs")

PROGRESS_EVERY = 5.0  # seconds between "running, 12 s" edits
HEARTBEAT_EVERY = 5.0  # well under store.HEARTBEAT_TTL
LOST_AFTER = timedelta(seconds=store.HEARTBEAT_TTL)  # never call a run lost before this
QUEUED_LOST_AFTER = timedelta(minutes=10)  # approved, but the job vanished from the queue
KILL_GRACE = 5.0
ATBAT = "atbat"


def lock_ttl(runbook: Runbook) -> int:
    return int(runbook.timeout.total_seconds()) + store.LOCK_MARGIN


def job_timeout(runbook: Runbook) -> int:
    """RQ's own limit on `execute`: the run's timeout plus the kill grace and reporting."""
    return int(runbook.timeout.total_seconds() + KILL_GRACE) + 60


def enqueue_run(rt: Runtime, req: RunRequest) -> None:
    """Queue the run once: the job id is the request id."""
    runbook = rt.config.runbooks.get(req.runbook)
    timeout = job_timeout(runbook) if runbook else 300
    rt.enqueue("workers.remediation.execute", req.id, queue=QUEUE_RUNS, job_id=req.id,
               timeout=timeout)


def thread_of(req: RunRequest) -> str | None:
    """Replies go in the thread the request message lives in (the alert's, or its own)."""
    return req.extra.get("thread_ts") or req.extra.get("ts")


# ---------------------------------------------------------------- Slack messages


def _post(rt: Runtime, req: RunRequest, text: str) -> str | None:
    channel = req.extra.get("channel")
    if not channel:
        return None
    try:
        answer = rt.sender.call("chat.postMessage", channel=channel, text=text,
                                thread_ts=thread_of(req))
    except SlackCallError as exc:
        log.error("run message failed run=%s error=%s", req.id, exc.error)
        return None
    return answer.get("ts")


def _update(rt: Runtime, channel: str | None, ts: str | None, **args: object) -> None:
    if not channel or not ts:
        return
    try:
        rt.sender.call("chat.update", channel=channel, ts=ts, **args)
    except SlackCallError as exc:
        log.error("run message update failed ts=%s error=%s", ts, exc.error)


def post_request(request_id: str) -> None:
    """Post the request message (Approve / Deny / Cancel); queue the run if no approval is needed."""
    rt = runtime.current()
    req = store.get_run(rt.redis, request_id)
    if req is None:
        return
    if not req.extra.get("ts"):
        message = render.request_message(req, rt.config.runbooks.get(req.runbook))
        try:
            answer = rt.sender.call("chat.postMessage", channel=req.extra.get("channel"),
                                    thread_ts=req.extra.get("thread_ts"), **message)
        except SlackCallError as exc:
            log.error("run request message failed run=%s error=%s", req.id, exc.error)
            answer = {}
        if answer.get("ts"):
            req = store.set_extra(rt.redis, req.id, ts=answer["ts"],
                                  channel=answer.get("channel") or req.extra["channel"]) or req
    if req.state == "approved" and req.approver is None:
        enqueue_run(rt, req)


def refresh(request_id: str, note: str = "") -> None:
    """Redraw the request message from the stored state; optionally say `note` in its thread."""
    rt = runtime.current()
    req = store.get_run(rt.redis, request_id)
    if req is None:
        return
    message = render.request_message(req, rt.config.runbooks.get(req.runbook))
    _update(rt, req.extra.get("channel"), req.extra.get("ts"), **message)
    if note:
        _post(rt, req, note)


# ---------------------------------------------------------------- the run


def _refuse(rt: Runtime, req: RunRequest, why: str) -> None:
    """An approved request that must not run: cancel it, say why."""
    try:
        req = store.apply(rt.redis, req.id, "cancel", ATBAT, rt.now(), reason=why)
    except (TransitionError, store.RunNotFound):
        return
    log.warning("run refused run=%s runbook=%s reason=%s", req.id, req.runbook, why)
    refresh(req.id, f":no_entry: `{req.id}` will not run: {escape(why)}")


class _Heartbeat(threading.Thread):
    """Keeps the heartbeat key and the lock alive while the process runs."""

    def __init__(self, rt: Runtime, req: RunRequest, ttl: int) -> None:
        super().__init__(daemon=True, name=f"run-heartbeat-{req.id}")
        self.rt, self.req, self.ttl = rt, req, ttl
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_EVERY):
            try:
                store.beat(self.rt.redis, self.req, self.rt.now(), self.ttl)
            except Exception:  # Redis blip: the next beat retries; 60 s of slack
                log.warning("heartbeat failed run=%s", self.req.id, exc_info=True)


def _outcome(result: RunResult) -> str:
    if result.cancelled:
        return "cancelled"
    if result.timed_out:
        return "timed_out"
    return "succeeded" if result.succeeded else "failed"


def execute(request_id: str) -> None:
    """Run an approved request (the RQ job on QUEUE_RUNS)."""
    rt = runtime.current()
    req = store.get_run(rt.redis, request_id)
    if req is None or req.state != "approved":
        # Cancelled before it started, or a duplicate job: nothing to run.
        log.info("run skipped run=%s state=%s", request_id, req.state if req else "missing")
        return
    runbook = rt.config.runbooks.get(req.runbook)
    try:
        if runbook is None:
            raise TransitionError(f"runbook {req.runbook} is no longer in the config.")
        argv = check_runnable(req, runbook)
    except TransitionError as exc:
        _refuse(rt, req, exc.message)
        return
    holder = store.take_lock(rt.redis, req, lock_ttl(runbook))
    if holder is not None:
        _refuse(rt, req, f"run {holder} of the same runbook and parameters holds the lock.")
        return
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        req = store.apply(rt.redis, req.id, "start", worker, rt.now())
    except TransitionError:
        return
    log.info("run started run=%s runbook=%s requester=%s approver=%s worker=%s", req.id,
             req.runbook, req.requester, req.approver, worker)
    result = _run(rt, req, runbook, argv)
    _finish(rt, req, worker, result)


def _run(rt: Runtime, req: RunRequest, runbook: Runbook, argv: tuple[str, ...]) -> RunResult:
    channel = req.extra.get("channel")
    progress_ts: list[str | None] = []

    def announce_start() -> None:
        # Slack round trips run beside the process rather than delay its start.
        refresh(req.id)
        progress_ts.append(_post(rt, req, render.progress_text(req, 0)))

    def progress(elapsed: float, _output: str) -> None:
        if progress_ts:
            _update(rt, channel, progress_ts[0], text=render.progress_text(req, elapsed))

    announcer = threading.Thread(target=announce_start, name=f"announce-{req.id}", daemon=True)
    heartbeat = _Heartbeat(rt, req, lock_ttl(runbook))
    heartbeat.start()
    announcer.start()
    try:
        result = run_process(
            argv, timeout=runbook.timeout.total_seconds(), env_allowlist=runbook.env,
            workdir=runbook.workdir, on_progress=progress, progress_every=PROGRESS_EVERY,
            cancel_requested=lambda: store.cancel_requested(rt.redis, req.id),
            max_output=store.MAX_OUTPUT, grace=KILL_GRACE,
        )
    finally:
        heartbeat.stopped.set()
        announcer.join(timeout=30)
    _update(rt, channel, progress_ts[0] if progress_ts else None,
            text=f":checkered_flag: `{req.id}` finished after {result.duration:.1f} s")
    return result


def _finish(rt: Runtime, req: RunRequest, worker: str, result: RunResult) -> None:
    event = _outcome(result)
    try:
        final = store.apply(rt.redis, req.id, event, worker, rt.now(),
                            exit_code=result.exit_code, output_tail=tail(result.output),
                            output=result.output,
                            details={"duration": round(result.duration, 3),
                                     "cancelled_by": req.cancelled_by or ""})
    except (TransitionError, store.RunNotFound) as exc:
        # Marked lost meanwhile (a long Redis outage): the result is still worth telling.
        log.error("run result not recorded run=%s error=%s", req.id, exc)
        final = store.get_run(rt.redis, req.id) or req
    metrics.count(rt.redis, "runs_total", f"runbook={req.runbook},outcome={event}")
    log.info("run finished run=%s runbook=%s outcome=%s exit=%s duration=%.1f", req.id,
             req.runbook, event, result.exit_code, result.duration)
    _post(rt, final, render.result_text(final, result.duration, result.output,
                                        truncated=result.truncated))
    refresh(req.id)


# ---------------------------------------------------------------- periodic checks


@periodic("run-expiry")
def check_expired_runs(rt: Runtime, now: datetime) -> None:
    """Pending requests past their approval deadline become expired (CAS: once)."""
    for req in store.open_runs(rt.redis):
        if req.state != "pending" or now < req.expires_at:
            continue
        try:
            store.apply(rt.redis, req.id, "expire", ATBAT, now)
        except (TransitionError, store.RunNotFound):
            continue
        log.info("run expired run=%s runbook=%s requester=%s", req.id, req.runbook,
                 req.requester)
        rt.enqueue("workers.remediation.refresh", req.id,
                   f":alarm_clock: `{req.id}` expired without approval.", queue=QUEUE_DEFAULT)


@periodic("lost-runs")
def check_lost_runs(rt: Runtime, now: datetime) -> None:
    """Running requests without a heartbeat, and approved ones whose job vanished, are lost."""
    for req in store.open_runs(rt.redis):
        if req.state == "running":
            if (req.started_at is None or now - req.started_at < LOST_AFTER
                    or store.heartbeat_alive(rt.redis, req.id)):
                continue
            reason = f"no heartbeat from worker {req.worker} for {store.HEARTBEAT_TTL} s"
        elif req.state == "approved":
            decided = req.decided_at or req.created_at
            if now - decided < QUEUED_LOST_AFTER or Job.exists(req.id, connection=rt.redis):
                continue
            reason = "its queued job disappeared before it started"
        else:
            continue
        try:
            store.apply(rt.redis, req.id, "lost", ATBAT, now, reason=reason)
        except (TransitionError, store.RunNotFound):
            continue
        log.warning("run lost run=%s runbook=%s reason=%s", req.id, req.runbook, reason)
        metrics.count(rt.redis, "runs_total", f"runbook={req.runbook},outcome=lost")
        rt.enqueue("workers.remediation.refresh", req.id, render.lost_text(req),
                   queue=QUEUE_DEFAULT)
