"""Approved remediation from Slack: `/oncall runbooks|run|jobs|audit`, Approve / Deny / Cancel,
and the alert message's Run RUNBOOK button.

Each click re-reads the request, checks that the button belongs to the message
it was pressed on, re-checks the clicker's right from the config and the
schedule (never from the button), and applies the transition as a
compare-and-set; messages are redrawn by worker jobs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App

from bot.config import Config, Runbook, Team
from bot.domain.run_requests import RunRequest, TransitionError, new_request
from bot.domain.runbooks import ParamError, approvers_ok, may_request, parse_args
from bot.oncall import team_schedule
from bot.runtime import QUEUE_DEFAULT, QUEUE_URGENT, Runtime
from bot.slack import render_runs as render
from bot.slack.commands import CommandContext, Reply, UserError, router
from bot.slack.format import date_token
from bot.store import audit
from bot.store import runs as store
from bot.store.base import UNAVAILABLE
from workers import incidents, remediation  # remediation registers its periodic checks

try:  # the alert store owns alert groups; until it exists, read the same record directly
    from bot.store.alerts import get_group as _alert_group  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the alert store being present
    _alert_group = store.alert_group

log = logging.getLogger("atbat.runs")

GROUP = "Remediation"
AUDIT_DEFAULT, AUDIT_MAX = 20, 100
_SHOWABLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


class Refused(Exception):
    """A click or request that is not allowed; str() is the reason for the clicker."""


# ---------------------------------------------------------------- shared rules


def _teams(config: Config, runbook: Runbook) -> list[Team]:
    return [config.teams[n] for n in runbook.teams if n in config.teams]


def _team_for(config: Config, runbook: Runbook, user: str, channel: str) -> Team:
    """The team whose channel gets the request: this channel's, else one of the user's."""
    teams = _teams(config, runbook)
    here = config.team_for_channel(channel)
    if here in teams:
        return here
    mine = [t for t in teams if user in t.members or t.is_manager(user)]
    return (mine or teams)[0]


def _mine(config: Config, user: str) -> list[Runbook]:
    return [rb for rb in config.runbooks.values() if may_request(rb, config, user)]


def _is_manager(config: Config, user: str) -> bool:
    return any(t.is_manager(user) for t in config.teams.values())


def _on_call_now(rt: Runtime, runbook: Runbook, now: datetime) -> set[str]:
    users: set[str] = set()
    for team in _teams(rt.config, runbook):
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
                channel: str, thread: tuple[str, str] | None = None) -> RunRequest:
    """Validate, store with the one-run lock, and queue the request message.

    `thread` is (channel, ts) of the alert message the request came from.
    Raises Refused with a message for the user.
    """
    if not may_request(runbook, rt.config, user):
        raise Refused(f"Only members and managers of {', '.join(runbook.teams)} may run "
                      f"`{runbook.name}`.")
    now = rt.now()
    team = _team_for(rt.config, runbook, user, channel)
    extra = ({"channel": thread[0], "thread_ts": thread[1]} if thread
             else {"channel": team.channel})
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


def _requested_text(req: RunRequest, runbook: Runbook) -> str:
    where = f"<#{req.extra['channel']}>" + (" (in the alert's thread)"
                                            if req.extra.get("thread_ts") else "")
    if req.state == "approved":
        return (f"`{req.id}`: *{runbook.name}* needs no approval; it is queued. "
                f"Progress and result in {where}.")
    return (f"`{req.id}`: asked to run *{runbook.name}*; waiting for "
            f"{render.POLICY_TEXT.get(runbook.approval, runbook.approval)} in {where} "
            f"(expires {date_token(req.expires_at)}).")


def _shown(word: str) -> str:
    return f"`{word}`" if _SHOWABLE.match(word) else "that name"


# ---------------------------------------------------------------- commands


@router.command("runbooks", usage="/oncall runbooks", group=GROUP,
                summary="runbooks you may run, their parameters and approval")
def list_runbooks(ctx: CommandContext) -> Reply:
    return Reply(render.runbooks_text(_mine(ctx.config, ctx.user)))


@router.command("run", usage="/oncall run RUNBOOK key=value ...", group=GROUP,
                summary="ask to run a runbook; approved runs execute on a worker")
def run_runbook(ctx: CommandContext) -> Reply:
    if not ctx.args:
        names = ", ".join(f"`{rb.name}`" for rb in _mine(ctx.config, ctx.user)) or "none"
        raise UserError(f"Name a runbook. Yours: {names}.")
    name, words = ctx.args[0], ctx.args[1:]
    runbook = ctx.config.runbooks.get(name)
    if runbook is None:
        names = ", ".join(f"`{rb.name}`" for rb in _mine(ctx.config, ctx.user)) or "none"
        raise UserError(f"There is no runbook {_shown(name)}. Yours: {names}.")
    try:
        req = request_run(ctx.runtime, runbook, parse_args(words), ctx.user, ctx.channel)
    except ParamError as exc:
        raise UserError(exc.message) from None
    except Refused as exc:
        raise UserError(str(exc)) from None
    return Reply(_requested_text(req, runbook))


@router.command("jobs", usage="/oncall jobs", group=GROUP,
                summary="open and recent remediation runs")
def list_jobs(ctx: CommandContext) -> Reply:
    r, config = ctx.runtime.redis, ctx.config
    visible = {rb.name for rb in _mine(config, ctx.user)}
    open_runs = [q for q in store.open_runs(r) if q.runbook in visible]
    finished = [q for q in store.recent_runs(r, 50) if q.runbook in visible and q.terminal][:10]
    return Reply(render.jobs_text(open_runs, finished))


@router.command("audit", usage="/oncall audit [n]", group=GROUP,
                summary="the audit stream (managers)")
def show_audit(ctx: CommandContext) -> Reply:
    if not _is_manager(ctx.config, ctx.user):
        raise UserError("Only team managers may read the audit stream (it records every "
                        "request, decision and run).")
    n = AUDIT_DEFAULT
    if ctx.args:
        if len(ctx.args) > 1 or not ctx.args[0].isdigit() or not 1 <= int(ctx.args[0]) <= AUDIT_MAX:
            raise UserError(f"Give a number of entries from 1 to {AUDIT_MAX}.")
        n = int(ctx.args[0])
    return Reply(render.audit_text(audit.recent(ctx.runtime.redis, n)))


# ---------------------------------------------------------------- clicks


def _tell(rt: Runtime, body: dict[str, Any], text: str) -> None:
    url = body.get("response_url")
    if url:
        rt.enqueue("workers.slack.respond", url, {"response_type": "ephemeral",
                                                  "replace_original": False, "text": text},
                   queue=QUEUE_URGENT)


def _clicked_request(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> RunRequest:
    """The request behind a button, refused unless the button belongs to the clicked message."""
    req = store.get_run(rt.redis, str(action.get("value", "")))
    container = body.get("container") or {}
    if req is None:
        raise Refused("This run request no longer exists.")
    if (req.extra.get("ts") != container.get("message_ts")
            or req.extra.get("channel") != container.get("channel_id")):
        raise Refused("That button does not belong to this run request.")
    return req


def _clicker(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id", ""))


def _handle(rt: Runtime, body: dict[str, Any], work: Any) -> None:
    """Run a click's work; tell the clicker any refusal."""
    try:
        message = work()
    except (Refused, TransitionError) as exc:
        message = getattr(exc, "message", None) or str(exc)
    except UNAVAILABLE:
        log.error("run click failed: store unavailable user=%s", _clicker(body))
        return
    except Exception:  # tell the clicker rather than leave the button silent
        log.exception("run click crashed user=%s", _clicker(body))
        message = ":warning: Something went wrong on atbat's side; it has been logged."
    if message:
        _tell(rt, body, message)


def _decide(rt: Runtime, body: dict[str, Any], action: dict[str, Any], event: str
            ) -> tuple[str, RunRequest]:
    """Approve or deny: re-check the clicker, then the compare-and-set; returns (user, new)."""
    user, now = _clicker(body), rt.now()
    req = _clicked_request(rt, body, action)
    _may_decide(rt, req, user, now)
    try:
        return user, store.apply(rt.redis, req.id, event, user, now)
    except TransitionError:
        _expire_if_due(rt, req, now)
        raise


def approve(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> str:
    user, new = _decide(rt, body, action, "approve")
    log.info("run approved run=%s runbook=%s approver=%s", new.id, new.runbook, user)
    # The note first: a worker serving every queue would otherwise post it after the result.
    rt.enqueue("workers.remediation.refresh", new.id,
               f":white_check_mark: Approved by <@{user}>; queued.", queue=QUEUE_URGENT)
    remediation.enqueue_run(rt, new)
    return f"Approved `{new.id}`; it is queued and reports in the thread."


def _expire_if_due(rt: Runtime, req: RunRequest, now: datetime) -> None:
    """A late click finds the request expired: record that now rather than at the next tick."""
    if req.state == "pending" and now >= req.expires_at:
        try:
            store.apply(rt.redis, req.id, "expire", remediation.ATBAT, now)
        except TransitionError:
            return
        rt.enqueue("workers.remediation.refresh", req.id, queue=QUEUE_DEFAULT)


def deny(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> str:
    user, new = _decide(rt, body, action, "deny")
    log.info("run denied run=%s runbook=%s by=%s", new.id, new.runbook, user)
    rt.enqueue("workers.remediation.refresh", new.id, f":no_entry: Denied by <@{user}>.",
               queue=QUEUE_URGENT)
    return f"Denied `{new.id}`."


def cancel(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> str:
    user, now = _clicker(body), rt.now()
    req = _clicked_request(rt, body, action)
    runbook = rt.config.runbooks.get(req.runbook)
    manager = runbook is not None and any(t.is_manager(user) for t in _teams(rt.config, runbook))
    if user not in (req.requester, req.approver) and not manager:
        raise Refused("Only the requester, the approver or a team manager can cancel this run.")
    new = store.apply(rt.redis, req.id, "cancel", user, now)
    log.info("run cancel run=%s runbook=%s by=%s state=%s", req.id, req.runbook, user, new.state)
    if new.state == "running":
        rt.enqueue("workers.remediation.refresh", new.id,
                   f":octagonal_sign: <@{user}> asked to stop the run.", queue=QUEUE_URGENT)
        return f"Stopping `{new.id}` (SIGTERM, then SIGKILL)."
    rt.enqueue("workers.remediation.refresh", new.id, f":octagonal_sign: Cancelled by <@{user}>.",
               queue=QUEUE_URGENT)
    return f"Cancelled `{new.id}`."


def run_from_alert(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> str:
    """The alert's Run RUNBOOK button: parameters from the alert's labels, posted in its thread."""
    user = _clicker(body)
    group = _alert_group(rt.redis, str(action.get("value", "")))
    if group is None or group.runbook is None:
        raise Refused("This alert no longer names a runbook.")
    runbook = rt.config.runbooks.get(group.runbook.name)
    if runbook is None:
        raise Refused(f"The alert names runbook {_shown(group.runbook.name)}, which is not "
                      "in the config.")
    declared = {p.name for p in runbook.params}
    given = {k: str(v) for k, v in group.runbook.params.items() if k in declared}
    container = body.get("container") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    thread = (channel, ts) if channel and ts else None
    team_channel = rt.config.teams[group.team].channel if group.team in rt.config.teams else ""
    req = request_run(rt, runbook, given, user, channel or team_channel, thread)
    return _requested_text(req, runbook)


def register(app: App, runtime: Runtime) -> None:
    def wire(action_id: str, work: Any) -> None:
        @app.action(action_id)
        def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            try:
                _handle(runtime, body, lambda: work(runtime, body, action))
            finally:
                ack()

    wire(render.ACTION_APPROVE, approve)
    wire(render.ACTION_DENY, deny)
    wire(render.ACTION_CANCEL, cancel)
    wire("alert_runbook", run_from_alert)
