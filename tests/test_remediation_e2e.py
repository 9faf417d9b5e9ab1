"""Approved remediation end to end: signed HTTP in, Redis, a real RQ worker, real processes."""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from bot.config import load_config
from bot.domain.alerts import AlertGroup, RunbookRef
from bot.domain.config import Config
from bot.services import remediation
from bot.store import audit, keys
from bot.store import remediation as store
from tests.conftest import FIXTURES
from tests.test_containment_e2e import group_members, wait_for

CHANNEL = "C0PAYMENTS"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The shared test config plus the harmless runbooks of runbooks_remediation.yml."""
    data = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    data.setdefault("runbooks", {}).update(
        yaml.safe_load((FIXTURES / "runbooks_remediation.yml").read_text()))
    path = tmp_path / "atbat.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


# ---------------------------------------------------------------- helpers


def ask(slack, text: str, user: str = "U0ALICE", channel: str = CHANNEL) -> str:
    """Send `/oncall run ...`; returns the ephemeral answer text."""
    response = slack.slash(text, user=user, channel=channel)
    assert response.status_code == 200
    return response.json()["text"]


def request_id(answer: str) -> str:
    found = re.search(r"`(r[0-9a-f]{10})`", answer)
    assert found, answer
    return found.group(1)


def request_message(workspace, ident: str, channel: str = CHANNEL) -> dict[str, Any]:
    for message in workspace.messages(channel, include_replies=True):
        if f"Run request {ident}" in (message.get("text") or ""):
            return message
    raise AssertionError(f"no request message for {ident}")


def requested(slack, run_jobs, workspace, text: str, user: str = "U0ALICE") -> tuple[str, dict]:
    ident = request_id(ask(slack, text, user=user))
    run_jobs()
    return ident, request_message(workspace, ident)


def click(slack, run_jobs, workspace, message: dict, action: str, user: str,
          value: str | None = None) -> str:
    """Press a button, run the resulting jobs, return the clicker's newest ephemeral."""
    before = len(workspace.ephemerals(user=user))
    response = slack.click(message, action, user=user, channel=message.get("channel", CHANNEL),
                           value=value)
    assert response.status_code == 200
    run_jobs()
    shown = workspace.ephemerals(user=user)
    assert len(shown) > before, "the clicker was told nothing"
    return shown[-1]["text"]


def thread(workspace, message: dict) -> list[str]:
    ts = message.get("thread_ts") or message["ts"]
    return [m.get("text") or "" for m in workspace.replies(CHANNEL, ts)]


def state(runtime, ident: str) -> str:
    req = store.get_run(runtime.redis, ident)
    assert req is not None
    return req.state


def run_audit(runtime, ident: str) -> list[str]:
    entries = audit.recent(runtime.redis, 500)
    return [e["action"] for e in reversed(entries) if e["details"].get("run") == ident]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


# ---------------------------------------------------------------- listing and validation


def test_runbooks_lists_what_i_may_run_with_rules(slack) -> None:
    mine = ask(slack, "runbooks")
    assert "echo-args" in mine and "restart-api" in mine
    assert "`fast`, `slow`" in mine and "default `fast`" in mine  # choices and default
    assert "whole number ≥ 1 ≤ 5" in mine  # range
    assert "matching `[a-z]+`" in mine  # pattern
    assert "approval by another team member" in mine and "no approval needed" in mine
    assert "no runbook you may run" in ask(slack, "runbooks", user="U0OUTSIDER")
    refused = ask(slack, "run echo-args target=x", user="U0FRANK", channel="C0SEARCH")
    assert "Only members and managers of payments" in refused


@pytest.mark.parametrize(("text", "expected"), [
    ("run echo-args", "Missing parameter `target`"),
    ("run echo-args target=x colour=red", "Unknown parameter `colour`"),
    ("run echo-args target=x mode=turbo", "must be one of: `fast`, `slow`; got `turbo`"),
    ("run echo-args target=x count=9", "whole number from 1 to 5; got `9`"),
    ("run echo-args target=x count=two", "whole number from 1 to 5"),
    ("run echo-args target", "Expected key=value"),
    ("run nope", "There is no runbook `nope`"),
])
def test_parameters_are_validated_precisely(slack, text: str, expected: str) -> None:
    answer = ask(slack, text)
    assert expected in answer
    assert "Usage: `/oncall run RUNBOOK key=value ...`" in answer


def test_refusals_never_echo_unsafe_input(slack, runtime) -> None:
    answer = ask(slack, 'run echo-args target=x mode="<!channel> $(id)"')
    assert "<!channel>" not in answer and "$(id)" not in answer
    assert "the value given" in answer
    assert "<!here>" not in ask(slack, 'run "<!here>"')
    assert store.open_runs(runtime.redis) == []


# ---------------------------------------------------------------- injection


@pytest.mark.parametrize("value", ["; rm -rf /", "$(id)", "`id`", "a b && echo pwned",
                                   "{mode} ' \" | > /tmp/x"])
def test_injection_arrives_as_one_inert_argument(slack, runtime, run_jobs, workspace,
                                                 value: str) -> None:
    quoted = "'" + value.replace("'", "'\"'\"'") + "'"
    ident, message = requested(slack, run_jobs, workspace, f"run echo-args target={quoted}")
    assert click(slack, run_jobs, workspace, message, "run_approve", "U0BOB").startswith(
        "Approved")
    assert state(runtime, ident) == "succeeded"
    received = json.loads(store.get_output(runtime.redis, ident))
    assert received == [value, "--mode=fast", "1"]  # one element, nothing expanded
    posted = "\n".join(thread(workspace, message))
    assert html.escape(json.dumps(received)[:20], quote=False) in posted


def test_run_arguments_arrive_as_typed_not_as_slack_escaped_them(slack, runtime) -> None:
    # Typed: target="a & b <x> &lt;"; Slack sends & < > escaped.
    ident = request_id(ask(slack, 'run echo-args "target=a &amp; b &lt;x&gt; &amp;lt;"'))
    req = store.get_run(runtime.redis, ident)
    assert req.param_dict["target"] == "a & b <x> &lt;"
    assert req.argv[3] == "a & b <x> &lt;"


@pytest.mark.parametrize(("text", "expected"), [
    ('run echo-args "target=a\nb"', "control character"),
    ("run echo-args target=--output=/etc/passwd", "must not start with `-`"),
    ("run echo-args target=x mode=--output=/etc/passwd", "`mode` must not start with `-`"),
    ("run echo-args target=x mode=/etc/passwd", "must be one of"),
])
def test_injection_refused_by_validation(slack, runtime, text: str, expected: str) -> None:
    assert expected in ask(slack, text)
    assert store.open_runs(runtime.redis) == []


# ---------------------------------------------------------------- approval


def test_two_person_approval_rules_and_double_click(slack, runtime, run_jobs, workspace) -> None:
    ident, message = requested(slack, run_jobs, workspace, "run echo-args target=db-1")
    text = json.dumps(message["blocks"])
    assert "python3 -c" in text and "db-1 --mode=fast 1" in text  # the exact argv
    assert [e["value"] for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]] == [ident, ident, ident]

    assert "cannot approve your own" in click(slack, run_jobs, workspace, message,
                                              "run_approve", "U0ALICE")
    assert "Only another member of payments" in click(slack, run_jobs, workspace, message,
                                                      "run_approve", "U0OUTSIDER")
    assert "Only another member" in click(slack, run_jobs, workspace, message, "run_approve",
                                          "U0FRANK")
    assert "no longer exists" in click(slack, run_jobs, workspace, message, "run_approve",
                                       "U0BOB", value="garbage")
    other, _ = requested(slack, run_jobs, workspace, "run echo-args target=db-2")
    assert "does not belong" in click(slack, run_jobs, workspace, message, "run_approve",
                                      "U0BOB", value=other)
    assert state(runtime, ident) == "pending" and state(runtime, other) == "pending"

    first = slack.click(message, "run_approve", user="U0BOB", channel=CHANNEL)
    second = slack.click(message, "run_approve", user="U0CAROL", channel=CHANNEL)
    assert first.status_code == second.status_code == 200
    run_jobs()
    assert "already approved by <@U0BOB>" in workspace.ephemerals(user="U0CAROL")[-1]["text"]
    assert state(runtime, ident) == "succeeded"
    assert run_audit(runtime, ident).count("run.start") == 1
    replies = thread(workspace, message)
    assert sum("Exit code 0" in t for t in replies) == 1
    assert any("Approved by <@U0BOB>" in t for t in replies)
    final = request_message(workspace, ident)
    assert "Succeeded" in json.dumps(final["blocks"])
    assert "run_approve" not in json.dumps(final["blocks"])


def test_oncall_policy_asks_the_schedule(slack, runtime, run_jobs, workspace) -> None:
    # Wed 10:00 UTC: alice is primary, dave secondary; bob and carol are not on call.
    ident, message = requested(slack, run_jobs, workspace, "run oncall-echo name=db",
                               user="U0BOB")
    assert "Only someone on call now" in click(slack, run_jobs, workspace, message,
                                               "run_approve", "U0CAROL")
    assert click(slack, run_jobs, workspace, message, "run_approve", "U0DAVE").startswith(
        "Approved")
    assert store.get_output(runtime.redis, ident).strip() == "hello db"


def test_manager_policy_and_deny(slack, runtime, run_jobs, workspace) -> None:
    ident, message = requested(slack, run_jobs, workspace,
                               "run restart-api service=payments-api")
    assert "Only a manager of payments" in click(slack, run_jobs, workspace, message,
                                                 "run_approve", "U0BOB")
    assert "Use Cancel" in click(slack, run_jobs, workspace, message, "run_deny", "U0ALICE")
    assert click(slack, run_jobs, workspace, message, "run_deny", "U0MANAGER").startswith(
        "Denied")
    assert state(runtime, ident) == "denied"
    assert "already denied by <@U0MANAGER>" in click(slack, run_jobs, workspace, message,
                                                     "run_approve", "U0MANAGER")
    assert store.get_output(runtime.redis, ident) == ""
    final = request_message(workspace, ident)
    assert "Denied" in json.dumps(final["blocks"])
    # The request says who denied it and when, and its buttons are gone.
    assert f"denied by <@U0MANAGER> <!date^{int(runtime.now().timestamp())}^" in \
        json.dumps(final["blocks"])
    assert all(b["type"] != "actions" for b in final["blocks"])
    # The lock went with the denial: the same run may be asked again and approved.
    again, message = requested(slack, run_jobs, workspace,
                               "run restart-api service=payments-api")
    click(slack, run_jobs, workspace, message, "run_approve", "U0MANAGER")
    assert store.get_output(runtime.redis, again).strip() == (
        "restart deployment/payments-api -n payments")


def test_expired_request_cannot_be_approved(slack, runtime, run_jobs, workspace, clock) -> None:
    ident, message = requested(slack, run_jobs, workspace, "run echo-args target=late")
    other, other_message = requested(slack, run_jobs, workspace, "run echo-args target=later")
    clock.advance(minutes=15)
    assert "expired" in click(slack, run_jobs, workspace, message, "run_approve", "U0BOB")
    assert state(runtime, ident) == "expired"
    assert state(runtime, other) == "pending"
    remediation.check_expired_runs(runtime, runtime.now())
    remediation.check_expired_runs(runtime, runtime.now())  # idempotent
    run_jobs()
    assert state(runtime, other) == "expired"
    assert "Expired" in json.dumps(request_message(workspace, other)["blocks"])
    assert run_audit(runtime, other) == ["run.request", "run.expire"]
    assert "run.start" not in run_audit(runtime, ident)


def test_one_run_at_a_time_per_runbook_and_parameters(slack, runtime, run_jobs, workspace) -> None:
    ident, _ = requested(slack, run_jobs, workspace, "run echo-args target=db-1")
    refused = ask(slack, "run echo-args target=db-1 count=1", user="U0BOB")
    assert f"`{ident}`" in refused and "is pending" in refused
    assert "https://slack.com/archives/C0PAYMENTS/p" in refused
    assert "Only another member" not in refused
    other = request_id(ask(slack, "run echo-args target=db-1 count=2", user="U0BOB"))
    assert other != ident


# ---------------------------------------------------------------- the process


def test_timeout_kills_the_whole_process_group(slack, runtime, run_jobs, workspace) -> None:
    started = time.monotonic()
    ident, message = requested(slack, run_jobs, workspace, "run spawn-sleeper")
    assert time.monotonic() - started < 15
    assert state(runtime, ident) == "timed_out"
    output = store.get_output(runtime.redis, ident)
    child = int(re.search(r"child (\d+)", output).group(1))
    assert not alive(child), "the sleeping child survived the timeout"
    replies = thread(workspace, message)
    assert any("Timed out" in t and "Exit code -15" in t for t in replies)
    assert not runtime.redis.exists(keys.run_lock(store.get_run(runtime.redis, ident).lock_key))


def test_cancel_while_running(slack, runtime, run_jobs, workspace) -> None:
    ident = request_id(ask(slack, "run sleeper"))
    told: list[str] = []

    def clicker() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            req = store.get_run(runtime.redis, ident)
            if req and req.state == "running" and req.extra.get("ts"):
                time.sleep(0.5)  # let the process print before it is stopped
                message = request_message(workspace, ident)
                assert "Cancel" in json.dumps(message["blocks"])
                response = slack.click(message, "run_cancel", user="U0MANAGER", channel=CHANNEL)
                told.append(str(response.status_code))
                return
            time.sleep(0.05)

    thread_ = threading.Thread(target=clicker)
    thread_.start()
    started = time.monotonic()
    run_jobs()  # the real worker runs the process while the test clicks Cancel
    thread_.join()
    assert told == ["200"]
    assert time.monotonic() - started < 15
    run_jobs()
    req = store.get_run(runtime.redis, ident)
    assert req.state == "cancelled" and req.cancelled_by == "U0MANAGER"
    assert "started" in store.get_output(runtime.redis, ident)
    replies = thread(workspace, request_message(workspace, ident))
    assert any("Stopped at the request of <@U0MANAGER>" in t for t in replies)
    assert run_audit(runtime, ident) == ["run.request", "run.approve", "run.start",
                                         "run.cancel", "run.result"]
    # No approval needed: the run starts on the policy, and ends on the manager's Cancel.
    actors = {e["action"]: e["actor"] for e in audit.recent(runtime.redis, 10)
              if e["details"].get("run") == ident}
    assert actors == {"run.request": "U0ALICE", "run.approve": "policy", "run.start": "policy",
                      "run.cancel": "U0MANAGER", "run.result": "U0MANAGER"}


def test_output_is_truncated_and_cannot_break_the_code_block(slack, runtime, run_jobs,
                                                             workspace) -> None:
    ident, message = requested(slack, run_jobs, workspace, "run chatty")
    assert len(store.get_output(runtime.redis, ident)) > 10_000
    result = next(t for t in thread(workspace, message) if "Exit code 0" in t)
    body = result.split("```", 1)[1].rsplit("```", 1)[0]
    assert "END-MARKER" in body and "```" not in body
    assert "last 3,000 characters" in result
    assert 2900 <= body.count("x") < 3000
    progress = [t for t in thread(workspace, message) if "finished after" in t]
    assert len(progress) == 1  # the progress message was edited, not repeated


def test_no_approval_runs_with_a_clean_environment(slack, runtime, run_jobs, workspace,
                                                   monkeypatch) -> None:
    monkeypatch.setenv("RUNBOOK_VISIBLE", "1")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    ident, _ = requested(slack, run_jobs, workspace, "run quick-echo")
    output = store.get_output(runtime.redis, ident)
    assert output.startswith("hi ") and "RUNBOOK_VISIBLE" in output
    assert "SLACK_BOT_TOKEN" not in output and "REDIS" not in output
    assert run_audit(runtime, ident) == ["run.request", "run.approve", "run.start", "run.result"]


def test_worker_death_is_reported_lost(slack, runtime, run_jobs, workspace, clock) -> None:
    ident, message = requested(slack, run_jobs, workspace, "run echo-args target=db-9")
    slack.click(message, "run_approve", user="U0BOB", channel=CHANNEL)
    # A worker took the job, started, and died: no heartbeat key remains.
    store.apply(runtime.redis, ident, "start", "host:4242", runtime.now())
    runtime.redis.delete(keys.run_heartbeat(ident))
    remediation.check_lost_runs(runtime, clock.advance(seconds=30))
    assert state(runtime, ident) == "running"  # too early to tell
    remediation.check_lost_runs(runtime, clock.advance(minutes=2))
    remediation.check_lost_runs(runtime, runtime.now())  # once only
    assert state(runtime, ident) == "lost"
    run_jobs()  # the queued job finds the request lost and does nothing
    replies = thread(workspace, message)
    assert sum("is lost" in t for t in replies) == 1
    assert not any("Exit code" in t for t in replies)
    assert request_id(ask(slack, "run echo-args target=db-9")) != ident  # lock released
    assert run_audit(runtime, ident)[-1] == "run.result"
    assert audit.recent(runtime.redis, 50)[1]["details"]["outcome"] == "lost"


def test_a_run_whose_job_failed_before_recording_is_lost_at_the_next_tick(
        slack, runtime, run_jobs, workspace, clock, monkeypatch) -> None:
    ident, message = requested(slack, run_jobs, workspace, "run echo-args target=db-7")

    def broken_lock(*_args: Any, **_kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("Redis went away while taking the lock")

    monkeypatch.setattr(store, "take_lock", broken_lock)
    slack.click(message, "run_approve", user="U0BOB", channel=CHANNEL)
    run_jobs(allow_failures=True)  # the run job fails inside take_lock
    monkeypatch.undo()
    assert state(runtime, ident) == "approved"  # what a failed job used to leave for 7 days
    remediation.check_lost_runs(runtime, clock.advance(seconds=30))
    assert state(runtime, ident) == "lost"
    run_jobs()
    replies = thread(workspace, message)
    assert sum("is lost" in t for t in replies) == 1
    assert request_id(ask(slack, "run echo-args target=db-7")) != ident  # lock released


def test_running_worker_keeps_its_heartbeat(runtime, monkeypatch) -> None:
    monkeypatch.setattr(remediation, "HEARTBEAT_EVERY", 0.05)
    from bot.domain.remediation import new_request

    req = new_request(store.new_id(), runtime.config.runbooks["sleeper"], {}, "U0ALICE",
                      "payments", runtime.now())
    beat = remediation._Heartbeat(runtime, req, 60)
    beat.start()
    try:
        deadline = time.monotonic() + 5  # the first beat comes after HEARTBEAT_EVERY
        while not runtime.redis.exists(keys.run_heartbeat(req.id)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runtime.redis.exists(keys.run_heartbeat(req.id))
        assert runtime.redis.ttl(keys.run_heartbeat(req.id)) > 50
        assert runtime.redis.get(keys.run_lock(req.lock_key)) == req.id.encode()
    finally:
        beat.stopped.set()
        beat.join()



def _marked_group(marker: str) -> subprocess.Popen[bytes]:
    """A process group of two sleeping processes carrying ATBAT_RUN=`marker`, as a run's."""
    tree = ("import subprocess,sys,time; "
            "subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)']); time.sleep(60)")
    return subprocess.Popen([sys.executable, "-c", tree], start_new_session=True,
                            env={"PATH": os.environ["PATH"], "ATBAT_RUN": marker})


def test_a_horse_handed_to_another_parent_kills_its_run_and_signals_itself(runtime) -> None:
    """Besides the kernel's parent-death signal: the heartbeat thread sees the worker gone
    (the horse's parent is no longer the worker) and contains the run itself."""
    from bot.domain.remediation import new_request

    req = new_request(store.new_id(), runtime.config.runbooks["sleeper"], {}, "U0ALICE",
                      "payments", runtime.now())
    group = _marked_group(req.id)
    signalled = threading.Event()

    class Beat(remediation._Heartbeat):
        def signal_horse(self) -> None:  # here: the test's own process, so only noted
            signalled.set()

    beat = Beat(runtime, req, 60, worker=os.getppid() + 10_000_000)  # not our parent
    beat.pgid = group.pid
    try:
        beat.start()
        beat.join(timeout=5)
        assert not beat.is_alive()  # no more beats: the lost-run check takes over
        assert signalled.is_set()
        group.wait(timeout=5)
        wait_for(lambda: not group_members(group.pid), within=5,
                 what="the run's processes to die with their worker")
    finally:
        beat.stopped.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group.pid, signal.SIGKILL)
        group.wait(timeout=5)


def test_a_run_stopped_before_its_supervision_began_is_killed_with_the_lost_record(
        slack, runtime, run_jobs, workspace, monkeypatch) -> None:
    """The worker's stop signal came while the supervisor was still starting its threads:
    the supervision's own cleanup never ran, so marking the run lost kills its group, from
    the record read again (it names the group)."""
    from bot import runner

    groups: list[int] = []

    def stopped_at_once(proc, started, timeout, cancel):  # noqa: ANN001, ARG001
        deadline = time.monotonic() + 5  # until the start is recorded, as the test kills then
        while time.monotonic() < deadline and not any(
                r.extra.get("pgid") == str(proc.pid) for r in store.open_runs(runtime.redis)):
            time.sleep(0.02)
        groups.append(proc.pid)
        raise remediation.WorkerStopped("signal 15")

    monkeypatch.setattr(runner, "_supervise", stopped_at_once)
    monkeypatch.setattr(runner, "_stop_group", lambda proc, grace: None)  # it never ran
    ident, message = requested(slack, run_jobs, workspace, "run spawn-sleeper")
    assert state(runtime, ident) == "lost"
    [pgid] = groups
    wait_for(lambda: not group_members(pgid), within=5,
             what="the run's processes to die with the lost record")
    run_jobs()
    assert any("lost" in t for t in thread(workspace, message))


# ---------------------------------------------------------------- audit


def test_audit_order_and_who_may_read_it(slack, runtime, run_jobs, workspace) -> None:
    ident, message = requested(slack, run_jobs, workspace, "run echo-args target=db-3")
    click(slack, run_jobs, workspace, message, "run_approve", "U0BOB")
    assert run_audit(runtime, ident) == ["run.request", "run.approve", "run.start", "run.result"]
    entries = {e["action"]: e for e in audit.recent(runtime.redis, 10)}
    assert entries["run.approve"]["actor"] == "U0BOB"
    assert entries["run.request"]["details"]["params"] == {"count": "1", "mode": "fast",
                                                           "target": "db-3"}
    assert entries["run.result"]["details"]["exit_code"] == 0
    # A run starts and ends on bob's approval: the actor is bob, the worker only a detail.
    for action in ("run.start", "run.result"):
        assert entries[action]["actor"] == "U0BOB", action
        assert ":" in entries[action]["details"]["worker"]  # host:pid
    refused = ask(slack, "audit", user="U0ALICE")
    assert "Only team managers" in refused
    shown = ask(slack, "audit 5", user="U0SMGR")  # a manager of any team
    assert shown.count("\n•") == 4 and "*run.result*" in shown and ident in shown
    assert shown.count("<@U0BOB> *run.") == 3  # approve, start, result
    assert "from 1 to 100" in ask(slack, "audit lots", user="U0MANAGER")
    jobs = ask(slack, "jobs")
    assert ident in jobs and "succeeded" in jobs


# ---------------------------------------------------------------- from an alert


def test_run_button_on_an_alert_uses_its_labels(slack, runtime, run_jobs, workspace, clock) -> None:
    key = "am:payments:db-down"
    group = AlertGroup(
        key=key, source="alertmanager", team="payments", title="DB down", severity="critical",
        summary="db-1 is down", description="", labels={"alertname": "DBDown"}, links=(),
        runbook=RunbookRef("echo-args", {"target": "db-1", "mode": "slow", "alertname": "DBDown",
                                         "team": "payments"}),
        alerts={}, state="triggered", created_at=clock())
    runtime.redis.set(keys.alert_group(key), group.to_json())
    posted = runtime.sender.call("chat.postMessage", channel=CHANNEL, text="DB down", blocks=[
        {"type": "actions", "elements": [{"type": "button", "action_id": "alert_runbook",
                                          "value": key,
                                          "text": {"type": "plain_text", "text": "Run"}}]}])
    alert = workspace.find_message(CHANNEL, posted["ts"])
    answer = click(slack, run_jobs, workspace, alert, "alert_runbook", "U0ALICE")
    ident = request_id(answer)
    assert "in the alert's thread" in answer
    request = request_message(workspace, ident)
    assert request["thread_ts"] == alert["ts"]
    click(slack, run_jobs, workspace, request, "run_approve", "U0BOB")
    assert json.loads(store.get_output(runtime.redis, ident)) == ["db-1", "--mode=slow", "1"]
    replies = [m.get("text") or "" for m in workspace.replies(CHANNEL, alert["ts"])]
    assert any("Exit code 0" in t for t in replies)
    assert "Only members and managers" in click(slack, run_jobs, workspace, alert,
                                                "alert_runbook", "U0OUTSIDER")
    assert "no longer names a runbook" in click(slack, run_jobs, workspace, alert,
                                                "alert_runbook", "U0ALICE", value="am:nope")


def test_cancel_rights(slack, runtime, run_jobs, workspace) -> None:
    ident, message = requested(slack, run_jobs, workspace, "run echo-args target=db-5")
    assert "Only the requester" in click(slack, run_jobs, workspace, message, "run_cancel",
                                         "U0BOB")
    assert click(slack, run_jobs, workspace, message, "run_cancel", "U0ALICE").startswith(
        "Cancelled")
    assert state(runtime, ident) == "cancelled"
    assert "cancelled by <@U0ALICE>" in click(slack, run_jobs, workspace, message,
                                              "run_approve", "U0BOB")


def test_a_run_requested_in_an_incident_channel_joins_its_timeline(runtime, slack, run_jobs,
                                                                     workspace) -> None:
    from bot.store import incidents as incident_store

    slack.slash("incident Checkout errors sev2 payments", user="U0ALICE", channel="C0PAYMENTS")
    run_jobs()
    [incident] = incident_store.list_open(runtime.redis)
    reply = slack.slash("run restart-api service=payments-api", user="U0ALICE",
                        channel=incident.channel_id).json()
    assert "restart-api" in reply["text"]
    run_jobs()
    linked = incident_store.get(runtime.redis, incident.id)
    assert len(linked.runs) == 1
    assert linked.timeline[-1].kind == "run" and linked.timeline[-1].author == "U0ALICE"
