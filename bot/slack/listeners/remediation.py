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

from slack_bolt import App

from bot.domain.config import Config, Runbook
from bot.domain.remediation import RunRequest, TransitionError
from bot.domain.runbooks import ParamError, may_request, parse_args
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import remediation as service
from bot.services.remediation import Refused
from bot.slack import render_remediation as render
from bot.slack.clicks import Click, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import date_token, unescape
from bot.store import alerts as alert_store
from bot.store import audit
from bot.store import remediation as store

log = logging.getLogger("atbat.slack.remediation")

GROUP = "Remediation"
AUDIT_DEFAULT, AUDIT_MAX = 20, 100
_SHOWABLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def _mine(config: Config, user: str) -> list[Runbook]:
    return [rb for rb in config.runbooks.values() if may_request(rb, config, user)]


def _is_manager(config: Config, user: str) -> bool:
    return any(t.is_manager(user) for t in config.teams.values())


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


@command("runbooks", usage="/oncall runbooks", group=GROUP,
                summary="runbooks you may run, their parameters and approval")
def list_runbooks(ctx: CommandContext) -> Reply:
    return Reply(render.runbooks_text(_mine(ctx.config, ctx.user)))


@command("run", usage="/oncall run RUNBOOK key=value ...", group=GROUP,
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
        # Slack escapes & < > in command text; the command gets what was typed.
        given = parse_args(unescape(word) for word in words)
        req = service.request_run(ctx.runtime, runbook, given, ctx.user, ctx.channel)
    except ParamError as exc:
        raise UserError(exc.message) from None
    except Refused as exc:
        raise UserError(str(exc)) from None
    return Reply(_requested_text(req, runbook))


@command("jobs", usage="/oncall jobs", group=GROUP,
                summary="open and recent remediation runs")
def list_jobs(ctx: CommandContext) -> Reply:
    r, config = ctx.runtime.redis, ctx.config
    visible = {rb.name for rb in _mine(config, ctx.user)}
    open_runs = [q for q in store.open_runs(r) if q.runbook in visible]
    finished = [q for q in store.recent_runs(r, 50) if q.runbook in visible and q.terminal][:10]
    return Reply(render.jobs_text(open_runs, finished))


@command("audit", usage="/oncall audit [n]", group=GROUP,
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


def _clicked_request(rt: Runtime, click: Click) -> RunRequest:
    """The request behind a button, refused unless the button belongs to the clicked message."""
    req = store.get_run(rt.redis, click.value)
    if req is None:
        raise Refused("This run request no longer exists.")
    if req.extra.get("ts") != click.message_ts or req.extra.get("channel") != click.channel:
        raise Refused("That button does not belong to this run request.")
    return req


def approve(rt: Runtime, click: Click) -> str:
    return service.approve(rt, _clicked_request(rt, click), click.user)


def deny(rt: Runtime, click: Click) -> str:
    return service.deny(rt, _clicked_request(rt, click), click.user)


def cancel(rt: Runtime, click: Click) -> str:
    return service.cancel(rt, _clicked_request(rt, click), click.user)


def run_from_alert(rt: Runtime, click: Click) -> str:
    """The alert's Run RUNBOOK button: parameters from the alert's labels, posted in its thread."""
    group = alert_store.get_group(rt.redis, click.value)
    if group is None or group.runbook is None:
        raise Refused("This alert no longer names a runbook.")
    runbook = rt.config.runbooks.get(group.runbook.name)
    if runbook is None:
        raise Refused(f"The alert names runbook {_shown(group.runbook.name)}, which is not "
                      "in the config.")
    declared = {p.name for p in runbook.params}
    given = {k: str(v) for k, v in group.runbook.params.items() if k in declared}
    channel, ts = click.channel, click.message_ts
    thread = (channel, ts) if channel and ts else None
    team_channel = rt.config.teams[group.team].channel if group.team in rt.config.teams else ""
    req = service.request_run(rt, runbook, given, click.user, channel or team_channel, thread,
                              alert=group)
    return _requested_text(req, runbook)


def register(app: App, runtime: Runtime) -> None:
    for action_id, handle in ((render.ACTION_APPROVE, approve), (render.ACTION_DENY, deny),
                              (render.ACTION_CANCEL, cancel), ("alert_runbook", run_from_alert)):
        wire(app, runtime, action_id, handle, refusals=(Refused, TransitionError),
             queue=QUEUE_URGENT)
