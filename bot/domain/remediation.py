"""The life of a remediation run request: creation, states and transitions.

Pure: no Redis, no Slack, the clock is passed in. The storage layer performs the
atomic compare-and-set around `transition`, the Slack layer renders the errors.
Parameter checks and argv building come from `bot.domain.runbooks`.

Safety rule (see DESIGN.md, Remediation): approval is bound to (runbook,
parameters, requester) by a fingerprint, expires, and never comes from the
requester; before a run the argv is re-derived from the config and must equal
what the approver saw (`check_runnable`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.domain.config import Runbook
from bot.domain.runbooks import ParamError, RunbookError, build_argv, validate_params


class TransitionError(RunbookError):
    """A state change that is not allowed from the request's current state."""


STATES = ("pending", "approved", "denied", "expired", "running", "succeeded", "failed",
          "timed_out", "cancelled", "lost")
TERMINAL_STATES = frozenset({"denied", "expired", "succeeded", "failed", "timed_out",
                             "cancelled", "lost"})
FINISH_EVENTS = ("succeeded", "failed", "timed_out", "cancelled", "lost")
EVENTS = ("approve", "deny", "expire", "cancel", "start", "undeliverable", *FINISH_EVENTS)


def fingerprint(runbook_name: str, params: Mapping[str, str], requester: str,
                policy: str = "") -> str:
    """sha256 of the canonical JSON of (runbook, parameters, requester, policy)."""
    canonical = json.dumps(
        {"runbook": runbook_name, "params": dict(sorted(params.items())), "requester": requester,
         "policy": policy},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def policy_of(runbook: Runbook) -> str:
    """sha256 of the runbook's rules besides its command: who may ask, who approves,
    the environment it gets and where it runs. Tightening any of them invalidates
    requests approved under the old rules."""
    canonical = json.dumps(
        {"approval": runbook.approval, "teams": sorted(runbook.teams), "env": sorted(runbook.env),
         "workdir": runbook.workdir or ""},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def lock_key_for(runbook_name: str, params: Mapping[str, str]) -> str:
    """Canonical name of the "one run at a time per runbook and parameters" lock.

    ``restart-api?service=payments-api``; names and values are percent-encoded,
    so distinct parameter sets can never produce the same string.
    """
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                     for k, v in sorted(params.items()))
    return f"{quote(runbook_name, safe='')}?{query}"


def _when(moment: datetime) -> str:
    """A Slack date token, so each reader sees their own timezone."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


@dataclass(frozen=True)
class RunRequest:
    """One request to run a runbook, from creation to its result.

    `params` is a sorted tuple of (name, value) pairs so nobody can change them in
    place; `param_dict` gives a mapping. Times are timezone-aware datetimes. `fingerprint` is computed at
    creation; `approved_fingerprint` is copied at approval and checked again
    before the run (`check_runnable`).
    """

    id: str
    runbook: str
    params: tuple[tuple[str, str], ...]
    argv: tuple[str, ...]
    requester: str
    team: str | None
    approval: str
    created_at: datetime
    expires_at: datetime
    fingerprint: str
    state: str = "pending"
    approver: str | None = None
    decided_at: datetime | None = None
    reason: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: str | None = None
    cancelled_by: str | None = None
    approved_fingerprint: str | None = None
    exit_code: int | None = None
    output_tail: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. channel, thread ts
    policy: str = ""  # policy_of(runbook) when the request was made

    @property
    def param_dict(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def lock_key(self) -> str:
        return lock_key_for(self.runbook, self.param_dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = dict(self.params)
        data["argv"] = list(self.argv)
        data["extra"] = dict(self.extra)
        for key in _TIME_FIELDS:
            value = getattr(self, key)
            data[key] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRequest:
        """Inverse of `to_dict`; raises ValueError on a malformed record."""
        try:
            values = {k: data[k] for k in _FIELDS if k in data}
            values["params"] = tuple(sorted((str(k), str(v))
                                            for k, v in dict(data["params"]).items()))
            values["argv"] = tuple(str(a) for a in data["argv"])
            values["extra"] = {str(k): str(v) for k, v in dict(data.get("extra") or {}).items()}
            for key in _TIME_FIELDS:
                raw = data.get(key)
                values[key] = datetime.fromisoformat(raw) if raw is not None else None
            request = cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed run request record: {exc}") from None
        if request.state not in STATES:
            raise ValueError(f"malformed run request record: unknown state {request.state!r}")
        return request

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunRequest:
        return cls.from_dict(json.loads(text))


_FIELDS = tuple(RunRequest.__dataclass_fields__)
_TIME_FIELDS = ("created_at", "expires_at", "decided_at", "started_at", "finished_at")


def new_request(
    request_id: str, runbook: Runbook, params: Mapping[str, str], requester: str,
    team: str | None, now: datetime, extra: Mapping[str, str] | None = None,
) -> RunRequest:
    """A fresh request. Validates the parameters (raises ParamError).

    With approval "none" the request starts approved, with no approver.
    """
    values = validate_params(runbook, params)
    argv = build_argv(runbook, values)
    policy = policy_of(runbook)
    digest = fingerprint(runbook.name, values, requester, policy)
    request = RunRequest(
        id=request_id, runbook=runbook.name, params=tuple(sorted(values.items())), argv=argv,
        requester=requester, team=team, approval=runbook.approval, created_at=now,
        expires_at=now + runbook.approval_ttl, fingerprint=digest, extra=dict(extra or {}),
        policy=policy,
    )
    if runbook.approval == "none":
        request = replace(request, state="approved", decided_at=now, approved_fingerprint=digest)
    return request


def transition(
    req: RunRequest, event: str, actor: str, now: datetime, *,
    reason: str = "", exit_code: int | None = None, output_tail: str = "",
) -> RunRequest:
    """The request after `event` by `actor` at `now`, or TransitionError.

    Events and the moves they allow (anything else is refused):

    ========== ============================ ===========================================
    event      from                         to / notes
    ========== ============================ ===========================================
    approve    pending, before expires_at   approved; actor != requester
    deny       pending                      denied; actor != requester (use cancel)
    expire     pending, at/after expires_at expired
    cancel     pending, approved            cancelled
    cancel     running                      stays running, `cancelled_by` set: the
                                            worker sees it and stops the process
    start      approved                     running; actor is the worker id
    undeliver- pending, approved (not        failed: Slack refused the request message
    able       started)                     for good, so nobody could approve or follow it
    succeeded, running                      that state; exit_code and output_tail are
    failed,                                 recorded; "lost" is also allowed from
    timed_out,                              approved (the job vanished before start)
    cancelled,
    lost
    ========== ============================ ===========================================

    Who may approve, deny or cancel (policy, team membership) is checked by the
    caller with `bot.domain.runbooks.approvers_ok`; this function enforces what holds for everyone.
    The storage layer applies it under compare-and-set, so of two concurrent
    clicks exactly one wins and the other gets this function's refusal.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    handler = _HANDLERS.get(event, _finish)
    return handler(req, event, actor, now, reason, exit_code, output_tail)


def _refuse_decided(req: RunRequest, now: datetime) -> TransitionError:
    """Why a decision (approve/deny) cannot be taken on a request that is not pending."""
    by = f"<@{req.approver}>" if req.approver else "policy (no approval needed)"
    if req.state == "expired" or (req.state == "pending" and now >= req.expires_at):
        return TransitionError(f"This request expired at {_when(req.expires_at)}. "
                               "Ask for a new run.")
    if req.state == "denied":
        return TransitionError(f"This request was already denied by <@{req.approver}>.")
    if req.state == "cancelled":
        who = f" by <@{req.cancelled_by}>" if req.cancelled_by else ""
        return TransitionError(f"This request was cancelled{who}.")
    if req.state == "lost":
        return TransitionError("This request was lost (its worker stopped).")
    return TransitionError(f"This request was already approved by {by}"
                           + ("." if req.state == "approved" else f" and is {req.state}."))


def _approve(req: RunRequest, event: str, actor: str, now: datetime, *_: Any) -> RunRequest:
    if req.state != "pending" or now >= req.expires_at:
        raise _refuse_decided(req, now)
    if actor == req.requester:
        raise TransitionError("You cannot approve your own request.")
    if fingerprint(req.runbook, req.param_dict, req.requester, req.policy) != req.fingerprint:
        raise TransitionError("This request was altered after it was made; ask for a new run.")
    return replace(req, state="approved", approver=actor, decided_at=now,
                   approved_fingerprint=req.fingerprint)


def _deny(req: RunRequest, event: str, actor: str, now: datetime, reason: str,
          *_: Any) -> RunRequest:
    if req.state != "pending" or now >= req.expires_at:
        raise _refuse_decided(req, now)
    if actor == req.requester:
        raise TransitionError("Use Cancel to withdraw your own request.")
    return replace(req, state="denied", approver=actor, decided_at=now, reason=reason)


def _expire(req: RunRequest, event: str, actor: str, now: datetime, *_: Any) -> RunRequest:
    if req.state != "pending":
        raise TransitionError(f"Only a pending request can expire; this one is {req.state}.")
    if now < req.expires_at:
        raise TransitionError(f"This request expires at {_when(req.expires_at)}, not yet.")
    return replace(req, state="expired", decided_at=now)


def _cancel(req: RunRequest, event: str, actor: str, now: datetime, reason: str,
            *_: Any) -> RunRequest:
    if req.state in ("pending", "approved"):
        return replace(req, state="cancelled", cancelled_by=actor, finished_at=now,
                       reason=reason or req.reason)
    if req.state == "running":
        if req.cancelled_by:
            raise TransitionError(f"<@{req.cancelled_by}> already asked to stop this run.")
        return replace(req, cancelled_by=actor, reason=reason or req.reason)
    raise TransitionError(f"This request is already {req.state.replace('_', ' ')}; "
                          "nothing to cancel.")


def _start(req: RunRequest, event: str, actor: str, now: datetime, *_: Any) -> RunRequest:
    if req.state == "running":
        raise TransitionError(f"This run is already running (worker {req.worker}).")
    if req.state != "approved":
        raise TransitionError(f"Only an approved request can start; this one is {req.state}.")
    if req.approved_fingerprint != fingerprint(req.runbook, req.param_dict, req.requester, req.policy):
        raise TransitionError("This request changed after it was approved; it will not run.")
    return replace(req, state="running", started_at=now, worker=actor)


def _finish(req: RunRequest, event: str, actor: str, now: datetime, reason: str,
            exit_code: int | None, output_tail: str) -> RunRequest:
    allowed = ("running", "approved") if event == "lost" else ("running",)
    if req.state not in allowed:
        raise TransitionError(f"This request is {req.state}; it cannot become {event}.")
    return replace(req, state=event, finished_at=now, exit_code=exit_code,
                   output_tail=output_tail, reason=reason or req.reason)


def _undeliverable(req: RunRequest, event: str, actor: str, now: datetime, reason: str,
                   *_: Any) -> RunRequest:
    if req.state not in ("pending", "approved"):
        raise TransitionError(f"This request is {req.state}; its message no longer matters.")
    return replace(req, state="failed", finished_at=now, reason=reason or req.reason)


_HANDLERS = {"approve": _approve, "deny": _deny, "expire": _expire, "cancel": _cancel,
             "start": _start, "undeliverable": _undeliverable}


def check_runnable(req: RunRequest, runbook: Runbook) -> tuple[str, ...]:
    """The argv to execute for an approved request, re-derived from the config.

    Refuses (TransitionError) when the request is not approved, when its
    parameters or requester differ from what was approved, or when the runbook's
    command changed since the request was made: what runs is exactly what the
    approver saw.
    """
    if req.state not in ("approved", "running"):
        raise TransitionError(f"Only an approved request can run; this one is {req.state}.")
    if req.runbook != runbook.name:
        raise TransitionError("This request is for another runbook.")
    current = fingerprint(req.runbook, req.param_dict, req.requester, req.policy)
    if req.approved_fingerprint != current:
        raise TransitionError("This request changed after it was approved; it will not run.")
    if req.policy != policy_of(runbook):
        raise TransitionError("The runbook's rules (approval, teams, env or workdir) changed "
                              "since approval; ask for a new run.")
    try:
        argv = build_argv(runbook, req.param_dict)
    except ParamError as exc:
        raise TransitionError(f"The parameters are no longer valid: {exc.message}") from None
    if argv != req.argv:
        raise TransitionError("The runbook's command changed since approval; ask for a new run.")
    return argv
