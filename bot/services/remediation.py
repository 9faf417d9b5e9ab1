"""Remediation: asking for a run, deciding on it, running it, and the periodic checks.

`request_run`, `approve`, `deny` and `cancel` run on the request path: the
compare-and-set in the store, then the jobs that redraw the request message
and queue the run (`enqueue_run`, the one place runs are queued from).

`execute(rt, request_id)` is the run itself (queue `atbat-runs`, job id = request
id): re-check the request against the config (`check_runnable`), take the
one-run lock, move to `running`, run the argv with `bot.runner.run_process`
while a heartbeat thread keeps `run-heartbeat:<id>` (EX 60 s) and the lock
alive, then record the result. Every Slack message about a run goes in the
request's thread.

Lost runs: a worker that dies stops its heartbeat; `check_lost_runs` (every
tick, 30 s) marks a `running` request whose heartbeat key is gone as `lost`
and releases its lock, so a dead worker is reported within about 90 s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.timeouts import JobTimeoutException

from bot import metrics
from bot.domain.alerts import AlertGroup
from bot.domain.config import Config, Runbook, Team
from bot.domain.remediation import RunRequest, TransitionError, check_runnable, new_request
from bot.domain.runbooks import ParamError, approvers_ok, may_request
from bot.oncall import team_schedule
from bot.runner import (
    RunAs,
    RunResult,
    die_with_parent,
    kill_marked_group,
    run_process,
    runbook_account,
    tail,
)
from bot.runtime import QUEUE_DEFAULT, QUEUE_RUNS, QUEUE_URGENT, Runtime
from bot.services import deliveries, graduation, incidents, messages
from bot.slack import render_remediation as render
from bot.slack.format import escape
from bot.slack.sender import SlackCallError
from bot.store import alerts as alert_store
from bot.store import remediation as store

log = logging.getLogger("atbat.remediation")

PROGRESS_EVERY = 5.0  # seconds between "running, 12 s" edits
HEARTBEAT_EVERY = 5.0  # well under store.HEARTBEAT_TTL
ORPHAN_CHECK_EVERY = 0.5  # seconds between a work horse's looks at its worker
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


def enqueue_refresh(rt: Runtime, request_id: str, note: str = "", *,
                    queue: str = QUEUE_DEFAULT) -> None:
    """Redraw the request message from the stored state, and say `note` in its thread."""
    rt.enqueue("workers.remediation.refresh", request_id, note, queue=queue)


def thread_of(req: RunRequest) -> str | None:
    """Replies go in the thread the request message lives in (the alert's, or its own)."""
    return req.extra.get("thread_ts") or req.extra.get("ts")


def _tell_graduation_and_self_healing(rt: Runtime, req: RunRequest) -> None:
    """A run reached its final state: a rule's run tells self-healing (which may page); a
    person's run from an alert may count towards suggesting a rule (graduation)."""
    graduation.run_ended(rt, req)
    if req.terminal and req.extra.get("rule"):
        rt.enqueue("workers.autoremediation.run_ended", req.id, queue=QUEUE_URGENT,
                   job_id=f"autoheal-ended-{req.id}")


# ---------------------------------------------------------------- asking and deciding


class Refused(Exception):
    """A click or request that is not allowed; str() is the reason for the clicker."""


def teams_of(config: Config, runbook: Runbook) -> list[Team]:
    return [config.teams[n] for n in runbook.teams if n in config.teams]


def _on_call_now(rt: Runtime, runbook: Runbook, now: datetime) -> set[str]:
    users: set[str] = set()
    for team in teams_of(rt.config, runbook):
        users.update(team_schedule(rt.redis, team, now).on_call_users(now))
    return users


def _may_decide(rt: Runtime, req: RunRequest, user: str, now: datetime) -> Runbook:
    """The runbook, if `user` may approve or deny `req` now (from config and schedule)."""
    runbook = rt.config.runbooks.get(req.runbook)
    if runbook is None:
        raise Refused(f"Runbook `{req.runbook}` is no longer in the config.")
    if user == req.requester:
        return runbook  # the domain refuses with the precise message
    on_call = _on_call_now(rt, runbook, now) if runbook.approval == "oncall" else set()
    ok, reason = approvers_ok(runbook, rt.config, req.requester, user, on_call)
    if not ok:
        raise Refused(reason)
    return runbook


def request_run(rt: Runtime, runbook: Runbook, given: Mapping[str, str], user: str,
                channel: str, thread: tuple[str, str] | None = None,
                alert: AlertGroup | None = None) -> RunRequest:
    """Validate, store with the one-run lock, and queue the request message.

    `thread` is (channel, ts) of the alert message the request came from, and
    `alert` that alert: the request remembers its group, occurrence, alertname
    and labels (for the audit and graduation suggestions).
    Raises Refused with a message for the user.
    """
    if not may_request(runbook, rt.config, user):
        raise Refused(f"Only members and managers of {', '.join(runbook.teams)} may run "
                      f"`{runbook.name}`.")
    now = rt.now()
    team = rt.config.team_for(channel, user, among=teams_of(rt.config, runbook))
    extra = ({"channel": thread[0], "thread_ts": thread[1]} if thread
             else {"channel": team.channel})
    if alert is not None:
        extra.update(graduation.alert_extra(alert))
    try:
        req = new_request(store.new_id(), runbook, given, user, team.name, now, extra)
    except ParamError as exc:
        raise Refused(exc.message) from None
    ttl = int((runbook.approval_ttl + runbook.timeout).total_seconds()) + store.LOCK_MARGIN
    try:
        store.create(rt.redis, req, lock_ttl=ttl)
    except store.RunLocked as exc:
        holder = exc.holder
        link = render.message_link(holder.extra.get("channel"), holder.extra.get("ts"))
        raise Refused(render.locked_text(holder, link)) from None
    log.info("run requested run=%s runbook=%s requester=%s team=%s approval=%s", req.id,
             runbook.name, user, team.name, runbook.approval)
    rt.enqueue("workers.remediation.post_request", req.id, queue=QUEUE_URGENT)
    # Asked from an incident channel: the run goes on that incident's timeline and postmortem.
    incidents.link_run(rt, channel, req.id, user, f"requested {runbook.name} (`{req.id}`)")
    return req


def _decide(rt: Runtime, req: RunRequest, user: str, event: str) -> RunRequest:
    """Approve or deny: re-check the clicker, then the compare-and-set; returns the new state."""
    now = rt.now()
    _may_decide(rt, req, user, now)
    try:
        return store.apply(rt.redis, req.id, event, user, now)
    except TransitionError:
        _expire_if_due(rt, req, now)
        raise


def _expire_if_due(rt: Runtime, req: RunRequest, now: datetime) -> None:
    """A late click finds the request expired: record that now rather than at the next tick."""
    if req.state == "pending" and now >= req.expires_at:
        try:
            store.apply(rt.redis, req.id, "expire", ATBAT, now)
        except TransitionError:
            return
        enqueue_refresh(rt, req.id)


def approve(rt: Runtime, req: RunRequest, user: str) -> str:
    new = _decide(rt, req, user, "approve")
    log.info("run approved run=%s runbook=%s approver=%s", new.id, new.runbook, user)
    # The note first: a worker serving every queue would otherwise post it after the result.
    enqueue_refresh(rt, new.id, f":white_check_mark: Approved by <@{user}>; queued.",
                    queue=QUEUE_URGENT)
    enqueue_run(rt, new)
    return f"Approved `{new.id}`; it is queued and reports in the thread."


def deny(rt: Runtime, req: RunRequest, user: str) -> str:
    new = _decide(rt, req, user, "deny")
    log.info("run denied run=%s runbook=%s by=%s", new.id, new.runbook, user)
    enqueue_refresh(rt, new.id, f":no_entry: Denied by <@{user}>.", queue=QUEUE_URGENT)
    return f"Denied `{new.id}`."


def cancel(rt: Runtime, req: RunRequest, user: str) -> str:
    runbook = rt.config.runbooks.get(req.runbook)
    manager = runbook is not None and any(t.is_manager(user) for t in teams_of(rt.config, runbook))
    if user not in (req.requester, req.approver) and not manager:
        raise Refused("Only the requester, the approver or a team manager can cancel this run.")
    new = store.apply(rt.redis, req.id, "cancel", user, rt.now())
    log.info("run cancel run=%s runbook=%s by=%s state=%s", req.id, req.runbook, user, new.state)
    if new.state == "running":
        enqueue_refresh(rt, new.id, f":octagonal_sign: <@{user}> asked to stop the run.",
                        queue=QUEUE_URGENT)
        return f"Stopping `{new.id}` (SIGTERM, then SIGKILL)."
    enqueue_refresh(rt, new.id, f":octagonal_sign: Cancelled by <@{user}>.", queue=QUEUE_URGENT)
    _tell_graduation_and_self_healing(rt, new)
    return f"Cancelled `{new.id}`."


# ---------------------------------------------------------------- Slack messages


def _post(rt: Runtime, req: RunRequest, text: str) -> str | None:
    channel = req.extra.get("channel")
    if not channel:
        return None
    answer = deliveries.call_or_owe(rt, "chat.postMessage",
                                    {"channel": channel, "text": text, "thread_ts": thread_of(req)})
    return None if answer is None else answer.get("ts")


def _update(rt: Runtime, channel: str | None, ts: str | None, **args: object) -> None:
    if not channel or not ts:
        return
    try:
        rt.sender.call("chat.update", channel=channel, ts=ts, **args)
    except SlackCallError as exc:
        log.error("run message update failed ts=%s error=%s", ts, exc.error)


def post_request(rt: Runtime, request_id: str) -> None:
    """Owe the request message (Approve / Deny / Cancel) until Slack accepts it, or the request
    expires unanswered; the follow-ups record where it is (`request_posted`) or fail the
    request (`request_undeliverable`)."""
    req = store.get_run(rt.redis, request_id)
    if req is None or req.extra.get("ts"):
        return
    if req.extra.get("alert") and not req.extra.get("thread_ts"):
        # A rule's run: its messages go in the alert's thread once the alert message exists.
        ref = alert_store.get_message(rt.redis, req.extra["alert"],
                                      int(req.extra.get("occurrence") or 0))
        if ref is not None:
            req = store.set_extra(rt.redis, req.id, channel=ref.channel, thread_ts=ref.ts) or req
    message = render.request_message(req, rt.config.runbooks.get(req.runbook))
    deliveries.owe(rt, "run_request", req.id, "chat.postMessage",
                   {"channel": req.extra.get("channel"), "thread_ts": req.extra.get("thread_ts"),
                    **message},
                   expires_at=req.expires_at if req.state == "pending" else None,
                   on_accepted=("workers.remediation.request_posted", req.id),
                   on_failed=("workers.remediation.request_undeliverable", req.id))


def request_posted(rt: Runtime, request_id: str, answer: dict[str, str]) -> None:
    """Slack accepted the request message: remember it, redraw it if the request moved on while
    it was owed, and queue the run if no approval is needed."""
    req = store.get_run(rt.redis, request_id)
    if req is None:
        return
    req = store.set_extra(rt.redis, req.id, ts=answer["ts"],
                          channel=answer.get("channel") or req.extra["channel"]) or req
    if req.state == "approved" and req.approver is None:
        enqueue_run(rt, req)
    elif req.state != "pending":
        enqueue_refresh(rt, req.id, queue=QUEUE_URGENT)


def request_undeliverable(rt: Runtime, request_id: str, why: str) -> None:
    """Slack refused the request message for good (or Slack stayed away until the request
    expired): the request fails, its lock goes, and the requester is told in a DM."""
    req = store.get_run(rt.redis, request_id)
    if req is None:
        return
    reason = f"its request message could not be posted: {why}"
    try:
        failed = store.apply(rt.redis, req.id, "undeliverable", ATBAT, rt.now(), reason=reason)
        outcome = "It was not run"
    except TransitionError:
        failed, outcome = None, f"It is {req.state.replace('_', ' ')}"
    log.warning("run request undeliverable run=%s runbook=%s requester=%s why=%s", req.id,
                req.runbook, req.requester, why)
    metrics.count(rt.redis, "runs_total", f"runbook={req.runbook},outcome=undeliverable")
    if req.extra.get("rule"):  # no person to tell: self-healing pages with this outcome
        if failed is not None:
            _tell_graduation_and_self_healing(rt, failed)
        return
    text = render.undeliverable_text(req, why, outcome)
    deliveries.owe(rt, "notice", f"run-undeliverable-{req.id}", "chat.postMessage",
                   {"channel": req.requester, "text": text})


def refresh(rt: Runtime, request_id: str, note: str = "") -> None:
    """Redraw the request message from the stored state; optionally say `note` in its thread."""
    req = store.get_run(rt.redis, request_id)
    if req is None:
        return
    message = render.request_message(req, rt.config.runbooks.get(req.runbook))
    if req.extra.get("channel") and req.extra.get("ts"):  # owed; a later redraw supersedes it
        messages.update(rt, req.extra["channel"], req.extra["ts"], message)
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
    refresh(rt, req.id, f":no_entry: `{req.id}` will not run: {escape(why)}")
    _tell_graduation_and_self_healing(rt, req)


class _Heartbeat(threading.Thread):
    """Keeps the heartbeat key and the lock alive while the process runs.

    In a work horse it also watches the worker that forked it, besides the kernel's
    parent-death signal (`_tied_to_worker`): once the horse has been handed to another
    parent, it kills the command's group itself and signals the horse, so that a run
    never outlives its worker even if that signal went astray."""

    def __init__(self, rt: Runtime, req: RunRequest, ttl: int, worker: int | None = None
                 ) -> None:
        super().__init__(daemon=True, name=f"run-heartbeat-{req.id}")
        self.rt, self.req, self.ttl, self.worker = rt, req, ttl, worker
        self.stopped = threading.Event()
        self.pgid: int | None = None  # the command's process group, once it runs

    def run(self) -> None:
        next_beat = time.monotonic() + HEARTBEAT_EVERY
        while not self.stopped.wait(ORPHAN_CHECK_EVERY if self.worker else HEARTBEAT_EVERY):
            if self.worker and os.getppid() != self.worker:
                self._orphaned()
                return  # no more beats: the lost-run check takes over if nobody else does
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + HEARTBEAT_EVERY
            try:
                store.beat(self.rt.redis, self.req, self.rt.now(), self.ttl)
            except Exception:  # Redis blip: the next beat retries; 60 s of slack
                log.warning("heartbeat failed run=%s", self.req.id, exc_info=True)

    def _orphaned(self) -> None:
        log.warning("run orphaned: its worker is gone run=%s worker_pid=%s pgid=%s",
                    self.req.id, self.worker, self.pgid)
        if self.pgid is not None:
            kill_marked_group(self.pgid, self.req.id)
        self.signal_horse()

    def signal_horse(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # WorkerStopped in the supervision loop


def _outcome(result: RunResult) -> str:
    if result.cancelled:
        return "cancelled"
    if result.timed_out:
        return "timed_out"
    return "succeeded" if result.succeeded else "failed"


class WorkerStopped(Exception):
    """The worker that forked this job's horse died or asked it to stop."""


def _in_work_horse(request_id: str) -> bool:
    """RQ's forking worker sets RQ_JOB_ID in the horse; a SimpleWorker runs jobs in itself."""
    return os.environ.get("RQ_JOB_ID") == request_id


@contextlib.contextmanager
def _tied_to_worker(request_id: str) -> Iterator[None]:
    """In a work horse forked for this job, stop the run when the worker dies.

    RQ's horse lives in its own process group, so a SIGKILL to the worker's group
    (a process manager, Ctrl-C) would leave horse and command running. The kernel
    sends the horse SIGTERM when the worker dies; that raises WorkerStopped in
    the supervision loop, whose finally kills the command's group.
    """
    if not _in_work_horse(request_id):
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise WorkerStopped(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    die_with_parent(signal.SIGTERM, os.getppid())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(rt: Runtime, request_id: str) -> None:
    """Run an approved request (the RQ job on QUEUE_RUNS)."""
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
        account = runbook_account(rt.config.runbook_user)
    except TransitionError as exc:
        _refuse(rt, req, exc.message)
        return
    except KeyError:
        _refuse(rt, req, f"runbook_user {rt.config.runbook_user} does not exist on this worker.")
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
    message = _ProgressMessage(rt, req)
    try:
        with _tied_to_worker(req.id):
            result = _run(rt, req, runbook, argv, message, account)
    except (WorkerStopped, JobTimeoutException) as exc:
        # The command's group is killed as the supervision ends; say so now rather than in
        # 90 s (and whatever of the group is left, should the stop have come before the
        # supervision began, goes with the lost record).
        reason = ("its worker stopped" if isinstance(exc, WorkerStopped)
                  else "its job ran past RQ's time limit")
        _mark_lost(rt, req, rt.now(), reason)
        if isinstance(exc, JobTimeoutException):
            raise
        return
    _finish(rt, req, worker, result, message)


class _ProgressMessage:
    """The "running, N s" reply: posted and edited from threads beside the process."""

    def __init__(self, rt: Runtime, req: RunRequest) -> None:
        self.rt, self.req = rt, req
        self.ts: str | None = None
        self.poster = threading.Thread(target=self._start, name=f"announce-{req.id}",
                                       daemon=True)

    def _start(self) -> None:
        refresh(self.rt, self.req.id)
        self.ts = _post(self.rt, self.req, render.progress_text(self.req, 0))

    def edit(self, text: str) -> None:
        _update(self.rt, self.req.extra.get("channel"), self.ts, text=text)

    def progress(self, elapsed: float, _output: str) -> None:
        if self.ts:
            self.edit(render.progress_text(self.req, elapsed))


def _run(rt: Runtime, req: RunRequest, runbook: Runbook, argv: tuple[str, ...],
         message: _ProgressMessage, account: RunAs | None) -> RunResult:
    heartbeat = _Heartbeat(rt, req, lock_ttl(runbook),
                           os.getppid() if _in_work_horse(req.id) else None)

    def started(pid: int) -> None:
        heartbeat.pgid = pid
        # Where the command's process group lives, for the lost-run check to kill.
        store.set_extra(rt.redis, req.id, pgid=str(pid), host=socket.gethostname())
        # Slack hears of it once the process is on its way: the "running" message and
        # the request's refresh would otherwise compete with the spawn for the CPU.
        message.poster.start()

    heartbeat.start()
    try:
        return run_process(
            argv, timeout=runbook.timeout.total_seconds(), env_allowlist=runbook.env,
            workdir=runbook.workdir, on_progress=message.progress,
            progress_every=PROGRESS_EVERY,
            cancel_requested=lambda: store.cancel_requested(rt.redis, req.id),
            max_output=store.MAX_OUTPUT, grace=KILL_GRACE, on_start=started,
            user=account, marker=req.id,
        )
    finally:
        heartbeat.stopped.set()


def _finish(rt: Runtime, req: RunRequest, worker: str, result: RunResult,
            message: _ProgressMessage) -> None:
    """Record the result first; only then tell Slack, whose calls may take long."""
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
    _tell_graduation_and_self_healing(rt, final)
    log.info("run finished run=%s runbook=%s outcome=%s exit=%s duration=%.1f", req.id,
             req.runbook, event, result.exit_code, result.duration)
    if message.poster.ident is not None:  # not started when the process never was
        message.poster.join(timeout=30)
    message.edit(f":checkered_flag: `{req.id}` finished after {result.duration:.1f} s")
    _post(rt, final, render.result_text(final, result.duration, result.output,
                                        truncated=result.truncated))
    refresh(rt, req.id)


# ---------------------------------------------------------------- periodic checks


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
        enqueue_refresh(rt, req.id, f":alarm_clock: `{req.id}` expired without approval.")


_ENDED = {JobStatus.FAILED: "failed", JobStatus.FINISHED: "finished",
          JobStatus.STOPPED: "was stopped", JobStatus.CANCELED: "was cancelled"}


def _job_ended(rt: Runtime, request_id: str) -> str | None:
    """How the run's RQ job ended ("failed", ...), or None while it is queued or running."""
    try:
        status = Job.fetch(request_id, connection=rt.redis).get_status()
    except NoSuchJobError:
        return None
    return _ENDED.get(status) if status is not None else None


def check_lost_runs(rt: Runtime, now: datetime) -> None:
    """Runs whose job ended without recording a result, running ones without a heartbeat,
    and approved ones whose job vanished, are lost."""
    for req in store.open_runs(rt.redis):
        if req.state not in ("running", "approved"):
            continue
        ended = _job_ended(rt, req.id)
        if ended:
            # A result is recorded before the job ends: this one never will be.
            reason = f"its job {ended} without recording a result"
        elif req.state == "running":
            if (req.started_at is None or now - req.started_at < LOST_AFTER
                    or store.heartbeat_alive(rt.redis, req.id)):
                continue
            reason = f"no heartbeat from worker {req.worker} for {store.HEARTBEAT_TTL} s"
        else:
            decided = req.decided_at or req.created_at
            if now - decided < QUEUED_LOST_AFTER or Job.exists(req.id, connection=rt.redis):
                continue
            reason = "its queued job disappeared before it started"
        _mark_lost(rt, req, now, reason)


def _mark_lost(rt: Runtime, req: RunRequest, now: datetime, reason: str) -> None:
    """Lost, once (CAS): release the lock, kill what is left of its command on this
    host, say so in the thread."""
    try:
        lost = store.apply(rt.redis, req.id, "lost", ATBAT, now, reason=reason)
    except (TransitionError, store.RunNotFound):
        return
    log.warning("run lost run=%s runbook=%s reason=%s", req.id, req.runbook, reason)
    _kill_orphans(lost)  # the stored record: it names the group, which `req` may predate
    metrics.count(rt.redis, "runs_total", f"runbook={req.runbook},outcome=lost")
    enqueue_refresh(rt, req.id, render.lost_text(req, reason))
    _tell_graduation_and_self_healing(rt, lost)


def _kill_orphans(req: RunRequest) -> None:
    """A horse killed outright leaves its command's grandchildren in their group."""
    pgid = req.extra.get("pgid", "")
    if req.extra.get("host") != socket.gethostname() or not pgid.isdigit():
        return
    if kill_marked_group(int(pgid), req.id):
        log.warning("run orphans killed run=%s pgid=%s", req.id, pgid)
