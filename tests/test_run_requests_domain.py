"""Run requests: the recorded fields of every transition, the boundaries and the stored form.

The lifecycle itself is walked in test_runbooks_domain.py; here each move is
checked for the state it leaves behind, not only for being allowed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.config import ParamSpec, Runbook
from bot.domain.remediation import (
    RunRequest,
    TransitionError,
    check_runnable,
    fingerprint,
    lock_key_for,
    new_request,
    policy_of,
    transition,
)

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
TICK = timedelta(microseconds=1)
# 2026-11-03 10:15 UTC: the Slack date token of the expiry
EXPIRES_TOKEN = "<!date^1793700900^{date_short_pretty} {time}|2026-11-03 10:15 UTC>"

RESTART = Runbook(
    name="restart-api", description="", teams=("payments",), approval="manager",
    command=("kubectl", "rollout", "restart", "deployment/{service}"),
    params=(ParamSpec(name="service", choices=("payments-api", "payments-worker")),),
    timeout=timedelta(seconds=120), approval_ttl=TTL,
)


def pending(**extra) -> RunRequest:
    return new_request("r1", RESTART, {"service": "payments-api"}, "U0ALICE", "payments", NOW,
                       extra=extra or None)


def approved() -> RunRequest:
    return transition(pending(), "approve", "U0MANAGER", NOW)


def running() -> RunRequest:
    return transition(approved(), "start", "worker-1", NOW + timedelta(seconds=5))


def refusal(req: RunRequest, event: str, actor: str = "U0MANAGER", now: datetime = NOW) -> str:
    with pytest.raises(TransitionError) as err:
        transition(req, event, actor, now)
    return err.value.message


# ---------------------------------------------------------------- identity


def test_fingerprint_is_sha256_of_canonical_json():
    canonical = ('{"params":{"a":"\\u00e9","b":"2"},"policy":"p0","requester":"U0ALICE",'
                 '"runbook":"rb"}')
    assert fingerprint("rb", {"b": "2", "a": "é"}, "U0ALICE", "p0") == \
        hashlib.sha256(canonical.encode()).hexdigest()


def test_lock_key_percent_encodes_every_reserved_character():
    assert lock_key_for("re/start", {"p/a": "x/y&z=1 é"}) == "re%2Fstart?p%2Fa=x%2Fy%26z%3D1%20%C3%A9"
    assert lock_key_for("rb", {"b": "2", "a": "1"}) == "rb?a=1&b=2"
    assert lock_key_for("rb", {}) == "rb?"


# ---------------------------------------------------------------- creation


def test_new_request_records_everything():
    req = pending(channel="C0PAYMENTS")
    assert (req.id, req.runbook, req.requester, req.team) == ("r1", "restart-api", "U0ALICE", "payments")
    assert req.params == (("service", "payments-api"),)
    assert req.argv == ("kubectl", "rollout", "restart", "deployment/payments-api")
    assert (req.approval, req.created_at, req.expires_at) == ("manager", NOW, NOW + TTL)
    assert req.extra == {"channel": "C0PAYMENTS"}
    assert (req.approver, req.decided_at, req.approved_fingerprint) == (None, None, None)
    assert pending().extra == {}


def test_new_request_params_are_the_validated_ones():
    rb = replace(RESTART, params=(*RESTART.params, ParamSpec(name="n", type="int", default="007")),
                 command=(*RESTART.command, "--n={n}"))
    req = new_request("r2", rb, {"service": "payments-api"}, "U0ALICE", None, NOW)
    assert req.params == (("n", "7"), ("service", "payments-api"))
    assert req.argv[-1] == "--n=7"
    assert req.fingerprint == fingerprint("restart-api", {"service": "payments-api", "n": "7"},
                                          "U0ALICE", policy_of(rb))


def test_policy_none_is_approved_at_creation_and_runs():
    req = new_request("r3", replace(RESTART, approval="none"), {"service": "payments-api"},
                      "U0ALICE", "payments", NOW)
    assert (req.state, req.approver, req.decided_at) == ("approved", None, NOW)
    assert req.approved_fingerprint == req.fingerprint
    assert refusal(req, "approve") == "This request was already approved by policy (no approval needed)."
    assert transition(req, "start", "w", NOW).state == "running"


# ---------------------------------------------------------------- decisions


def test_approve_records_approver_time_and_fingerprint():
    later = NOW + TTL - TICK
    req = transition(pending(), "approve", "U0MANAGER", later)
    assert (req.state, req.approver, req.decided_at) == ("approved", "U0MANAGER", later)
    assert req.approved_fingerprint == req.fingerprint
    assert (req.started_at, req.finished_at, req.worker) == (None, None, None)


def test_deny_records_approver_time_and_reason_until_the_last_instant():
    later = NOW + TTL - TICK
    req = transition(pending(), "deny", "U0MANAGER", later, reason="not now")
    assert (req.state, req.approver, req.decided_at, req.reason) == ("denied", "U0MANAGER", later, "not now")
    assert req.approved_fingerprint is None
    assert refusal(req, "deny") == "This request was already denied by <@U0MANAGER>."


@pytest.mark.parametrize("event", ["approve", "deny"])
def test_decision_at_expiry_refused_with_the_time(event):
    assert refusal(pending(), event, now=NOW + TTL) == \
        f"This request expired at {EXPIRES_TOKEN}. Ask for a new run."


def test_deny_by_requester_refused():
    assert refusal(pending(), "deny", actor="U0ALICE") == "Use Cancel to withdraw your own request."


def test_decision_on_a_settled_request_says_what_happened():
    assert refusal(approved(), "approve") == "This request was already approved by <@U0MANAGER>."
    assert refusal(approved(), "deny", now=NOW + TTL) == "This request was already approved by <@U0MANAGER>."
    assert refusal(running(), "deny") == "This request was already approved by <@U0MANAGER> and is running."
    timed_out = transition(running(), "timed_out", "worker-1", NOW)
    assert refusal(timed_out, "approve") == \
        "This request was already approved by <@U0MANAGER> and is timed_out."
    cancelled = transition(pending(), "cancel", "U0ALICE", NOW)
    assert refusal(cancelled, "approve") == "This request was cancelled by <@U0ALICE>."
    assert refusal(replace(cancelled, cancelled_by=None), "approve") == "This request was cancelled."
    lost = transition(approved(), "lost", "reaper", NOW)
    assert refusal(lost, "deny") == "This request was lost (its worker stopped)."
    expired = transition(pending(), "expire", "system", NOW + TTL)
    assert refusal(expired, "approve", now=NOW) == \
        f"This request expired at {EXPIRES_TOKEN}. Ask for a new run."


def test_expire_records_time_at_the_first_instant():
    req = transition(pending(), "expire", "system", NOW + TTL)
    assert (req.state, req.decided_at, req.approver) == ("expired", NOW + TTL, None)
    assert refusal(pending(), "expire", now=NOW + TTL - TICK) == \
        f"This request expires at {EXPIRES_TOKEN}, not yet."
    assert refusal(approved(), "expire", now=NOW + TTL) == \
        "Only a pending request can expire; this one is approved."


# ---------------------------------------------------------------- cancel


@pytest.mark.parametrize("make", [pending, approved])
def test_cancel_before_the_run_finishes_the_request(make):
    req = transition(make(), "cancel", "U0ALICE", NOW + TICK, reason="wrong service")
    assert (req.state, req.cancelled_by, req.finished_at, req.reason) == \
        ("cancelled", "U0ALICE", NOW + TICK, "wrong service")
    assert req.terminal


def test_cancel_keeps_an_earlier_reason_when_given_none():
    with_reason = replace(pending(), reason="earlier")
    assert transition(with_reason, "cancel", "U0ALICE", NOW).reason == "earlier"
    asked = transition(replace(running(), reason="earlier"), "cancel", "U0MANAGER", NOW)
    assert asked.reason == "earlier"


def test_cancel_while_running_asks_the_worker_and_records_why():
    asked = transition(running(), "cancel", "U0MANAGER", NOW, reason="stuck")
    assert (asked.state, asked.cancelled_by, asked.reason, asked.finished_at) == \
        ("running", "U0MANAGER", "stuck", None)
    assert not asked.terminal
    assert refusal(asked, "cancel") == "<@U0MANAGER> already asked to stop this run."


def test_cancel_after_the_end_says_how_it_ended():
    timed_out = transition(running(), "timed_out", "worker-1", NOW)
    assert refusal(timed_out, "cancel") == "This request is already timed out; nothing to cancel."


# ---------------------------------------------------------------- start and finish


def test_start_records_worker_and_time():
    req = running()
    assert (req.state, req.worker, req.started_at) == ("running", "worker-1", NOW + timedelta(seconds=5))
    assert req.duration() is None


def test_start_refusals_name_the_state_and_worker():
    assert refusal(running(), "start") == "This run is already running (worker worker-1)."
    assert refusal(pending(), "start") == "Only an approved request can start; this one is pending."
    tampered = replace(approved(), requester="U0BOB")
    assert refusal(tampered, "start") == "This request changed after it was approved; it will not run."


@pytest.mark.parametrize("event", ["succeeded", "failed", "timed_out", "cancelled", "lost"])
def test_finish_records_result(event):
    end = NOW + timedelta(minutes=2)
    req = transition(running(), event, "worker-1", end, reason="why", exit_code=3, output_tail="tail")
    assert (req.state, req.finished_at, req.exit_code, req.output_tail, req.reason) == \
        (event, end, 3, "tail", "why")
    assert req.terminal and req.duration() == end - (NOW + timedelta(seconds=5))
    kept = transition(replace(running(), reason="earlier"), event, "worker-1", end)
    assert (kept.reason, kept.exit_code, kept.output_tail) == ("earlier", None, "")


@pytest.mark.parametrize("event", ["succeeded", "failed", "timed_out", "cancelled"])
def test_only_lost_may_finish_a_run_that_never_started(event):
    assert refusal(approved(), event) == f"This request is approved; it cannot become {event}."
    assert transition(approved(), "lost", "reaper", NOW).state == "lost"
    assert refusal(pending(), "lost") == "This request is pending; it cannot become lost."


def test_terminal_states():
    assert not pending().terminal and not approved().terminal and not running().terminal
    assert transition(pending(), "expire", "system", NOW + TTL).terminal
    assert transition(pending(), "deny", "U0MANAGER", NOW).terminal


# ---------------------------------------------------------------- check_runnable


def test_a_running_request_is_still_runnable():
    assert check_runnable(running(), RESTART) == running().argv


def test_check_runnable_refusals():
    with pytest.raises(TransitionError) as err:
        check_runnable(pending(), RESTART)
    assert err.value.message == "Only an approved request can run; this one is pending."
    with pytest.raises(TransitionError) as err:
        check_runnable(approved(), replace(RESTART, name="other"))
    assert err.value.message == "This request is for another runbook."
    narrowed = replace(RESTART, params=(ParamSpec(name="service", choices=("payments-worker",)),))
    with pytest.raises(TransitionError) as err:
        check_runnable(approved(), narrowed)
    assert err.value.message.startswith(
        "The parameters are no longer valid: Parameter `service` must be one of")
    with pytest.raises(TransitionError) as err:
        check_runnable(approved(), replace(RESTART, command=("kubectl", "delete", "deployment/{service}")))
    assert err.value.message == "The runbook's command changed since approval; ask for a new run."


# ---------------------------------------------------------------- stored form


def test_to_dict_is_plain_json_with_iso_times():
    req = transition(running(), "succeeded", "worker-1", NOW + timedelta(minutes=1), exit_code=0)
    data = req.to_dict()
    assert data["created_at"] == "2026-11-03T10:00:00+00:00"
    assert data["started_at"] == "2026-11-03T10:00:05+00:00"
    assert data["finished_at"] == "2026-11-03T10:01:00+00:00"
    assert data["decided_at"] == "2026-11-03T10:00:00+00:00"
    assert data["expires_at"] == "2026-11-03T10:15:00+00:00"
    assert data["argv"] == list(req.argv) and data["extra"] == {}
    assert set(data) == set(RunRequest.__dataclass_fields__)
    assert pending().to_dict()["started_at"] is None
    assert json.loads(req.to_json()) == data
    assert list(json.loads(req.to_json())) == sorted(data)  # canonical: equal requests, equal text


def test_from_dict_fills_what_an_older_record_lacks():
    data = pending().to_dict()
    for key in ("extra", "decided_at", "started_at", "finished_at", "reason", "worker"):
        data.pop(key)
    data["unknown_future_field"] = "ignored"
    req = RunRequest.from_dict(data)
    assert req == pending()
    assert RunRequest.from_json(json.dumps(data).encode()) == pending()


def test_from_dict_reads_times_and_stringifies_params():
    data = running().to_dict()
    data["params"] = {"service": "payments-api", "n": 7}
    data["extra"] = {"ts": 1.5}
    req = RunRequest.from_dict(data)
    assert req.params == (("n", "7"), ("service", "payments-api"))
    assert req.extra == {"ts": "1.5"}
    assert req.started_at == NOW + timedelta(seconds=5)


@pytest.mark.parametrize("change", [
    {"created_at": "yesterday"},
    {"params": 3},
    {"state": "exploded"},
])
def test_from_dict_malformed_says_so(change):
    with pytest.raises(ValueError, match="malformed run request record"):
        RunRequest.from_dict({**pending().to_dict(), **change})
    missing = pending().to_dict()
    del missing["params"]
    with pytest.raises(ValueError, match="malformed run request record"):
        RunRequest.from_dict(missing)


def test_unknown_event_names_it():
    with pytest.raises(ValueError, match="unknown event 'reopen'"):
        transition(pending(), "reopen", "U0ALICE", NOW)


def test_approval_refusals_say_why():
    assert refusal(pending(), "approve", actor="U0ALICE") == "You cannot approve your own request."
    tampered = replace(pending(), params=(("service", "payments-worker"),))
    assert refusal(tampered, "approve") == "This request was altered after it was made; ask for a new run."
    with pytest.raises(TransitionError) as err:
        check_runnable(replace(approved(), requester="U0BOB"), RESTART)
    assert err.value.message == "This request changed after it was approved; it will not run."


def test_expiry_fallback_text_is_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert refusal(pending(), "approve", now=NOW + TTL) == \
            f"This request expired at {EXPIRES_TOKEN}. Ask for a new run."
    finally:
        monkeypatch.undo()
        time.tzset()


def test_policy_is_sha256_of_the_canonical_rules():
    rb = replace(RESTART, teams=("search", "payments"), env=("B", "A"), workdir="/srv")
    canonical = ('{"approval":"manager","env":["A","B"],"teams":["payments","search"],'
                 '"workdir":"/srv"}')
    assert policy_of(rb) == hashlib.sha256(canonical.encode()).hexdigest()
    bare = ('{"approval":"manager","env":[],"teams":["payments"],"workdir":""}')
    assert policy_of(RESTART) == hashlib.sha256(bare.encode()).hexdigest()
    assert pending().policy == policy_of(RESTART)
    abroad = replace(RESTART, workdir="/srv/café")
    canonical = '{"approval":"manager","env":[],"teams":["payments"],"workdir":"/srv/caf\\u00e9"}'
    assert policy_of(abroad) == hashlib.sha256(canonical.encode()).hexdigest()
    canonical = '{"params":{},"policy":"","requester":"U0ALICE","runbook":"rb"}'
    assert fingerprint("rb", {}, "U0ALICE") == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize("change", [
    {"approval": "oncall"}, {"teams": ("payments", "search")}, {"env": ("TOKEN",)}, {"workdir": "/tmp"},
])
def test_tightened_rules_stop_an_approved_run(change):
    with pytest.raises(TransitionError) as err:
        check_runnable(approved(), replace(RESTART, **change))
    assert err.value.message == ("The runbook's rules (approval, teams, env or workdir) changed "
                                 "since approval; ask for a new run.")
