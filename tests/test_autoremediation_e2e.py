"""Self-healing end to end: Alertmanager webhooks over HTTP, real Redis and RQ, real runbook
processes, the Slack-compatible server, and a moved clock (no real waits)."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rq import Queue, SimpleWorker

from bot.config import load_config
from bot.domain.alerts import group_key_for
from bot.domain.config import Config
from bot.periodic import run_checks
from bot.runtime import QUEUE_DEFAULT, QUEUE_RUNS, QUEUE_URGENT, Runtime
from bot.services import alerts, autoremediation, remediation
from bot.store import alerts as alert_store
from bot.store import audit, keys
from bot.store import autoremediation as store
from bot.store import history as history_store
from bot.store import remediation as run_store
from bot.wiring import CHECKS
from tests.conftest import BOT_TOKEN, FIXTURES
from tests.test_alerts_e2e import page_dms, post_am, text_of
from tests.test_containment_e2e import ROOT, rq_worker, secret, wait_for  # noqa: F401 (fixtures)

CHANNEL = "C0PAYMENTS"
ON_CALL = "U0ALICE"  # primary on call at the test clock's time
STARTS = iter(range(10_000))

RUNBOOKS = {
    "heal-ok": {"description": "Print what it heals",
                "command": ["python3", "-c", "import sys; print('healed', sys.argv[1])",
                            "{service}"],
                "params": {"service": {"pattern": "[a-z0-9-]+"}},
                "teams": ["payments"], "approval": "manager", "timeout": "20s"},
    "heal-fail": {"description": "Fail",
                  "command": ["python3", "-c", "import sys; print('no luck'); sys.exit(3)"],
                  "teams": ["payments"], "approval": "none", "timeout": "20s"},
    "heal-slow": {"description": "Take long",
                  "command": ["python3", "-c", "import time; time.sleep(60)"],
                  "teams": ["payments"], "approval": "none", "timeout": "5m"},
}
RULES = [
    {"name": "heal-api", "team": "payments", "match": {"alertname": "ApiStuck"},
     "runbook": "heal-ok", "params": {"service": "{labels.service}"}, "page_after": "5m",
     "max_runs": "2 per 1h", "approved_by": ["U0MANAGER"]},
    {"name": "heal-disk", "team": "payments", "match": {"alertname": "DiskFull"},
     "runbook": "heal-fail", "page_after": "5m", "max_runs": "10 per 1h"},
    {"name": "heal-slowly", "team": "payments",
     "match": {"alertname": "Slow", "service": {"regex": "payments-.*"}},
     "runbook": "heal-slow", "page_after": "10m"},
    {"name": "heal-ledger", "team": "payments", "match": {"component": "ledger"},
     "runbook": "heal-ok", "params": {"service": "{labels.check}"}, "page_after": "5m",
     "approved_by": ["U0MANAGER"]},
    {"name": "heal-many", "team": "payments", "match": {"alertname": {"regex": "Many[0-9]+"}},
     "runbook": "heal-ok", "params": {"service": "{labels.instance}"}, "page_after": "10m",
     "max_runs": "100 per 1h", "approved_by": ["U0MANAGER"]},
    {"name": "heal-alongside", "team": "payments", "match": {"alertname": "Urgent"},
     "runbook": "heal-ok", "params": {"service": "{labels.service}"}, "page_after": 0,
     "approved_by": ["U0MANAGER"]},
]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    data = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    data["runbooks"].update(RUNBOOKS)
    data["auto_remediation"] = RULES
    path = tmp_path / "atbat.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


# ---------------------------------------------------------------- helpers


def notification(alertname: str, status: str = "firing", starts: str = "",
                 **labels: str) -> dict[str, Any]:
    labels = {"alertname": alertname, "team": "payments", "service": "payments-api", **labels}
    alert = {"status": status, "labels": labels,
             "annotations": {"summary": f"{alertname} is failing"},
             "startsAt": starts or "2026-11-04T09:59:00Z",
             "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-04T10:30:00Z",
             "fingerprint": f"fp-{alertname}"}
    return {"version": "4", "groupKey": f'{{}}:{{alertname="{alertname}"}}', "status": status,
            "receiver": "atbat", "groupLabels": {"alertname": alertname},
            "commonLabels": labels, "commonAnnotations": alert["annotations"],
            "externalURL": "", "alerts": [alert], "truncatedAlerts": 0}


def key_of(alertname: str) -> str:
    return group_key_for("alertmanager", "payments", f'{{}}:{{alertname="{alertname}"}}')


class Alerts:
    """Fire and resolve alerts, then run every job they queue (the runs too)."""

    def __init__(self, app_server, run_jobs, run_scheduled, clock, workspace, runtime) -> None:
        self.app_server, self.run_jobs, self.run_scheduled = app_server, run_jobs, run_scheduled
        self.clock, self.workspace, self.rt = clock, workspace, runtime
        self.allow_failures = False  # a test that kills a run's worker lets its job fail

    def jobs(self) -> None:
        self.run_jobs(allow_failures=self.allow_failures)

    def fire(self, alertname: str, new: bool = False, **labels: str) -> None:
        starts = f"2026-11-04T09:{next(STARTS) % 60:02d}:00Z" if new else ""
        body = notification(alertname, starts=starts, **labels)
        assert post_am(self.app_server, body).status_code == 200
        self.jobs()

    def resolve(self, alertname: str, **labels: str) -> None:
        assert post_am(self.app_server, notification(alertname, "resolved", **labels)).status_code == 200
        self.jobs()

    def advance(self, **delta: float) -> None:
        self.clock.advance(**delta)
        self.run_scheduled()
        self.jobs()
        run_checks(self.rt, self.rt.now(), CHECKS)  # what a tick does
        self.jobs()

    def thread(self, alertname: str) -> list[str]:
        ref = alert_store.get_message(self.rt.redis, key_of(alertname),
                                      alert_store.get_group(self.rt.redis, key_of(alertname)).occurrence)
        return [m.get("text") or "" for m in self.workspace.replies(CHANNEL, ref.ts)]

    def message(self, alertname: str) -> str:
        group = alert_store.get_group(self.rt.redis, key_of(alertname))
        ref = alert_store.get_message(self.rt.redis, group.key, group.occurrence)
        return text_of(self.workspace.find_message(CHANNEL, ref.ts))

    def pages(self, user: str = ON_CALL) -> list[str]:
        return [t for m in page_dms(self.workspace, user)
                if "paged for payments" in (t := text_of(m))]


@pytest.fixture
def am(app_server, run_jobs, run_scheduled, clock, workspace, runtime) -> Alerts:
    return Alerts(app_server, run_jobs, run_scheduled, clock, workspace, runtime)


def healing(rt: Runtime, alertname: str):
    group = alert_store.get_group(rt.redis, key_of(alertname))
    return store.get(rt.redis, group.key, group.occurrence)


def selfheal_events(rt: Runtime) -> list[dict[str, str]]:
    start, end = rt.now() - timedelta(days=1), rt.now() + timedelta(days=1)
    return [dict(e.fields) for e in history_store.read(rt.redis, "payments", "selfheal", start, end)]


def rule_runs(rt: Runtime) -> list:
    return [r for r in run_store.recent_runs(rt.redis, 100) if r.extra.get("rule")]


# ---------------------------------------------------------------- healed: nobody paged


def test_resolved_before_page_after_nobody_is_paged_and_a_page_is_saved(am, runtime) -> None:
    am.fire("ApiStuck")
    h = healing(runtime, "ApiStuck")
    assert h.state == "running" and h.outcome == "succeeded"
    assert am.pages() == []
    [run] = rule_runs(runtime)
    assert run.argv[-1] == "payments-api" and run.state == "succeeded"
    assert run.requester == "rule heal-api" and run.approver == "rule heal-api"
    replies = am.thread("ApiStuck")
    assert any("Self-healing: rule `heal-api` runs `heal-ok`" in t for t in replies)
    assert any("Exit code 0" in t for t in replies), replies  # the run's output is in the thread
    assert any("healed payments-api" in t for t in replies)
    assert "Self-healing: heal-ok succeeded" in am.message("ApiStuck")

    am.advance(minutes=1, seconds=20)
    am.resolve("ApiStuck")
    assert any(t.startswith(":white_check_mark: Self-healed by `heal-ok` in 1m 20s")
               for t in am.thread("ApiStuck"))
    assert healing(runtime, "ApiStuck").state == "healed"
    [event] = selfheal_events(runtime)
    assert event["outcome"] == "healed" and event["rule"] == "heal-api"
    assert event["runbook"] == "heal-ok" and event["run"] == run.id
    am.advance(minutes=10)  # past page_after: still nobody
    assert am.pages() == []
    entries = {e["action"]: e for e in audit.recent(runtime.redis, 50)
               if e["details"].get("run") == run.id}
    request = entries["run.request"]
    assert request["actor"] == "rule heal-api"
    assert request["details"]["requested"] == (
        f"requested by rule heal-api (config sha256 {runtime.config.sha256})")
    assert request["details"]["approved_by"] == "U0MANAGER"
    assert entries["run.approve"]["actor"] == "rule heal-api"
    assert entries["run.result"]["actor"] == "rule heal-api"


def test_still_firing_at_page_after_is_paged_once_with_the_outcome(am, runtime) -> None:
    am.fire("ApiStuck")
    am.advance(minutes=4, seconds=59)
    assert am.pages() == []
    am.advance(seconds=1)
    [page] = am.pages()
    assert "still firing after 5m; heal-ok succeeded" in page
    for _ in range(3):
        am.advance(seconds=30)
    assert len(am.pages()) == 1
    assert healing(runtime, "ApiStuck").state == "paged"
    assert [e["outcome"] for e in selfheal_events(runtime)] == ["paged"]
    am.resolve("ApiStuck")
    assert [e["outcome"] for e in selfheal_events(runtime)] == ["paged"]  # no page saved
    assert not any("Self-healed" in t for t in am.thread("ApiStuck"))


def test_page_after_zero_pages_at_once_and_runs_alongside(am, runtime) -> None:
    am.fire("Urgent")
    assert len(am.pages()) == 1
    [run] = rule_runs(runtime)
    assert run.state == "succeeded"
    assert healing(runtime, "Urgent").state == "paged"
    am.resolve("Urgent")
    assert healing(runtime, "Urgent").state == "paged"


# ---------------------------------------------------------------- refused


HOSTILE = {"shell": "x; rm -rf /", "option": "-rf", "newline": "payments-api\nid",
           "huge": "a" * 10_000, "homoglyph": "pаyments-api"}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_label_values_are_refused_and_page_at_once(am, runtime, kind: str) -> None:
    am.fire("ApiStuck", service=HOSTILE[kind])
    [page] = am.pages()
    assert "Self-healing did not run" in page
    assert rule_runs(runtime) == []
    h = healing(runtime, "ApiStuck")
    assert h.state == "refused" and h.reason.startswith("Parameter `service`")
    [note] = [t for t in am.thread("ApiStuck") if "Self-healing did not run" in t]
    assert "Parameter `service`" in note and "rm -rf" not in note and "Paging now." in note
    assert [e["outcome"] for e in selfheal_events(runtime)] == ["refused"]


def test_a_rate_limited_rule_pages_instead_of_running(am, runtime) -> None:
    for _ in range(2):
        am.fire("ApiStuck", new=True)
        am.advance(minutes=1)
        am.resolve("ApiStuck")
    assert len(rule_runs(runtime)) == 2 and am.pages() == []
    am.fire("ApiStuck", new=True)
    assert len(am.pages()) == 1
    assert len(rule_runs(runtime)) == 2
    assert "already ran 2 times in the last 1h (max_runs 2)" in healing(runtime, "ApiStuck").reason
    assert "2/2 runs in the last 1h" in "\n".join(
        autoremediation.status_lines(runtime, runtime.config.teams["payments"], runtime.now()))


# ---------------------------------------------------------------- failures and the breaker


def test_a_failed_run_pages_at_once_with_its_outcome(am, runtime) -> None:
    am.fire("DiskFull")
    [page] = am.pages()
    assert "heal-fail failed (exit 3)" in page
    assert healing(runtime, "DiskFull").state == "paged"
    assert any("heal-fail failed (exit 3)" in t and "Paging now" in t for t in am.thread("DiskFull"))


def test_breaker_opens_after_three_failures_tells_managers_and_closes_on_manager_on(
        am, runtime, slack, workspace) -> None:
    for _ in range(3):
        am.fire("DiskFull", new=True)
        am.resolve("DiskFull")
    notices = [m["text"] for m in workspace.dms("U0MANAGER") if "circuit breaker" in m["text"]]
    assert len(notices) == 1 and "failed 3 times in a row" in notices[0]
    am.fire("DiskFull", new=True)  # the breaker is open: no run, paged at once
    assert len(rule_runs(runtime)) == 3
    assert "circuit breaker of rule heal-disk is open" in healing(runtime, "DiskFull").reason
    assert "circuit breaker open: `heal-disk`" in slack.slash("who", user="U0BOB",
                                                              channel=CHANNEL).json()["text"]
    am.resolve("DiskFull")
    refused = slack.slash("autoremediation payments on", user="U0ALICE", channel=CHANNEL)
    assert "Only managers of payments" in refused.json()["text"]
    closed = slack.slash("autoremediation payments on", user="U0MANAGER", channel=CHANNEL)
    assert "breakers are closed" in closed.json()["text"]
    am.fire("DiskFull", new=True)
    assert len(rule_runs(runtime)) == 4  # runs again
    [entry] = [e for e in audit.recent(runtime.redis, 100) if e["action"] == "autoremediation.on"]
    assert entry["actor"] == "U0MANAGER" and entry["details"]["breakers_closed"] == ["heal-disk"]


def test_a_success_closes_the_breaker_count() -> None:
    from bot.domain.autoremediation import Breaker, after_run
    from tests.conftest import utc

    b, opened = after_run(Breaker(), False, 2, utc(2026, 1, 1))
    assert (b.failures, b.open, opened) == (1, False, False)
    b, opened = after_run(b, False, 2, utc(2026, 1, 1))
    assert (b.failures, b.open, opened) == (2, True, True)
    b, opened = after_run(b, False, 2, utc(2026, 1, 1))
    assert (b.failures, b.open, opened) == (3, True, False)  # told once
    assert after_run(b, True, 2, utc(2026, 1, 1)) == (Breaker(), False)


# ---------------------------------------------------------------- the kill switch


def test_kill_switch_off_pages_at_once_on_runs_again(am, runtime, slack) -> None:
    answer = slack.slash("autoremediation payments off", user="U0MANAGER", channel=CHANNEL)
    assert "is off" in answer.json()["text"]
    assert "already off" in slack.slash("autoremediation off", user="U0MANAGER",
                                        channel=CHANNEL).json()["text"]
    assert "Self-healing for payments: *off* (by <@U0MANAGER>)" in slack.slash(
        "who", user="U0BOB", channel=CHANNEL).json()["text"]
    assert "Only managers" in slack.slash("autoremediation on", user="U0BOB",
                                          channel=CHANNEL).json()["text"]
    am.fire("ApiStuck")
    assert len(am.pages()) == 1 and rule_runs(runtime) == []
    assert "switched off for payments" in healing(runtime, "ApiStuck").reason
    am.resolve("ApiStuck")
    assert "is on" in slack.slash("autoremediation on", user="U0MANAGER",
                                  channel=CHANNEL).json()["text"]
    status = slack.slash("autoremediation status", user="U0BOB", channel=CHANNEL).json()["text"]
    assert "Self-healing: *on*" in status and "`heal-api` → `heal-ok`: ok" in status
    am.fire("ApiStuck", new=True)
    assert len(rule_runs(runtime)) == 1 and len(am.pages()) == 1
    actions = [e["action"] for e in audit.recent(runtime.redis, 100)
               if e["action"].startswith("autoremediation.")]
    assert actions == ["autoremediation.on", "autoremediation.off"]


# ---------------------------------------------------------------- lost runs, runs in progress


def start_and_die(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's worker takes the job, starts the run, and is killed before anything else."""
    def dies(rt: Runtime, request_id: str) -> None:
        run_store.apply(rt.redis, request_id, "start", "host:4242", rt.now())
        raise SystemExit("worker killed")

    monkeypatch.setattr(remediation, "execute", dies)


def test_worker_killed_during_an_automatic_run_the_run_is_lost_and_paging_starts(
        am, runtime, monkeypatch) -> None:
    start_and_die(monkeypatch)
    am.allow_failures = True
    am.fire("Slow")
    [run] = rule_runs(runtime)
    assert run.state == "running" and am.pages() == []
    runtime.redis.delete(keys.run_heartbeat(run.id))  # the dead worker beats no more
    runtime.queue(QUEUE_RUNS).failed_job_registry.remove(run.id, delete_job=True)
    am.advance(seconds=30)
    assert am.pages() == []  # too early to call it lost
    am.advance(minutes=2)
    assert run_store.get_run(runtime.redis, run.id).state == "lost"
    [page] = am.pages()
    assert "heal-slow was lost" in page
    assert healing(runtime, "Slow").state == "paged"
    am.advance(minutes=10)  # page_after passes: still one page
    assert len(am.pages()) == 1


def drain_all_but_runs(runtime: Runtime) -> None:
    """Run the queued jobs in this process, except the runs: a real worker takes those."""
    queues = [runtime.queue(QUEUE_URGENT), runtime.queue(QUEUE_DEFAULT)]
    worker = SimpleWorker(queues, connection=runtime.redis)
    while (found := Queue.dequeue_any(queues, None, connection=runtime.redis)) is not None:
        worker.execute_job(*found)


def test_sigkill_to_the_real_worker_during_an_automatic_run_pages(
        app_server, runtime, config, workspace, run_jobs, request) -> None:
    """The Procfile's `rq worker` runs the rule's run and is killed (SIGKILL to its group):
    the run is reported lost, and the on-call is paged at once, not at page_after."""
    body = notification("Slow")
    assert post_am(app_server, body).status_code == 200
    drain_all_but_runs(runtime)  # the decision: hold paging, queue the run
    [run] = rule_runs(runtime)
    assert run.state == "approved" and page_dms(workspace, ON_CALL) == []
    worker = request.getfixturevalue("rq_worker")
    wait_for(lambda: run_store.get_run(runtime.redis, run.id).extra.get("pgid"),
             what="the real worker to start the run's process")
    os.killpg(worker.pid, signal.SIGKILL)
    try:  # usually the work horse, told by its parent-death signal, says so at once
        wait_for(lambda: run_store.get_run(runtime.redis, run.id).state == "lost", within=30,
                 what="the run reported lost by its work horse")
    except AssertionError:
        # Otherwise the tick's lost-run check does, once the heartbeat has run out.
        # The real worker stamped its start with the real clock, not the test's: only that
        # check runs at the real clock's time (the others, at a test-clock alert weeks
        # before it, would see page_after long past and page for that instead).
        started = run_store.get_run(runtime.redis, run.id).started_at
        runtime.redis.delete(keys.run_heartbeat(run.id))
        remediation.check_lost_runs(runtime, started + remediation.LOST_AFTER
                                    + timedelta(seconds=1))
        assert run_store.get_run(runtime.redis, run.id).state == "lost"
    # run_ended (queued by the horse, or by the tick's check if the horse died first), then
    # the escalation it wakes, still before page_after.
    run_checks(runtime, runtime.now(), CHECKS)
    run_jobs()
    pages = [t for m in page_dms(workspace, ON_CALL) if "paged for payments" in (t := text_of(m))]
    assert len(pages) == 1 and "heal-slow was lost" in pages[0]


def test_alert_resolves_during_the_run_nobody_is_paged(am, runtime, monkeypatch) -> None:
    start_and_die(monkeypatch)  # the run stays "running" from the alert's point of view
    am.allow_failures = True
    am.fire("Slow")
    [run] = rule_runs(runtime)
    runtime.queue(QUEUE_RUNS).failed_job_registry.remove(run.id, delete_job=True)
    am.advance(seconds=40)  # its heartbeat (60 s) is alive: the run is going
    am.resolve("Slow")
    assert healing(runtime, "Slow").state == "healed"
    assert any("Self-healed by `heal-slow` in 40s" in t for t in am.thread("Slow"))
    runtime.redis.delete(keys.run_heartbeat(run.id))
    am.advance(minutes=15)  # the run is lost afterwards: the alert is resolved, nobody paged
    assert run_store.get_run(runtime.redis, run.id).state == "lost"
    assert am.pages() == []
    assert healing(runtime, "Slow").outcome == "lost"


# ---------------------------------------------------------------- many workers


def test_two_workers_run_each_matching_occurrence_once(am, runtime, monkeypatch) -> None:
    monkeypatch.setattr(alerts, "schedule_escalation", lambda *a, **k: None)  # we escalate below
    for n in range(5):
        am.fire("ApiStuck", new=True)
        group = alert_store.get_group(runtime.redis, key_of("ApiStuck"))
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def worker(barrier: threading.Barrier = barrier, group: Any = group,
                   errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait()
                alerts.escalate(runtime, group.key, group.occurrence, 0)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        am.run_jobs()
        assert len(rule_runs(runtime)) == n + 1, n
        am.resolve("ApiStuck")
        am.advance(minutes=31)  # max_runs is 2 per 1h: every occurrence may run
    assert len(rule_runs(runtime)) == 5
    assert am.pages() == []


def test_check_heals_lost_follow_up_jobs(am, runtime, monkeypatch) -> None:
    """The run ended and the alert resolved, but neither follow-up job ran (lost with Redis or
    a worker): the tick's check settles both."""
    monkeypatch.setattr(remediation, "_tell_graduation_and_self_healing", lambda *_: None)
    am.fire("ApiStuck")
    h = healing(runtime, "ApiStuck")
    assert h.outcome == ""  # the run succeeded, its run_ended never came
    runtime.queue("atbat-urgent")  # (no job to run)
    group = alert_store.get_group(runtime.redis, key_of("ApiStuck"))
    outcome = alert_store.transition(runtime.redis, group.key, lambda g: _resolve(g, runtime), runtime.now())
    assert outcome.changed
    autoremediation.check(runtime, runtime.now())
    h = healing(runtime, "ApiStuck")
    assert h.outcome == "succeeded" and h.state == "healed"
    assert store.open_records(runtime.redis) == []


def _resolve(group, runtime):
    from bot.domain.alerts import resolve

    return resolve(group, "U0BOB", runtime.now())


def test_json_of_a_record_round_trips(am, runtime) -> None:
    am.fire("ApiStuck")
    h = healing(runtime, "ApiStuck")
    assert type(h).from_json(h.to_json()) == h
    assert json.loads(h.to_json())["rule"] == "heal-api"


Run = Callable[..., int]


def test_acknowledged_during_the_hold_a_failed_run_pages_nobody_and_saves_no_page(
        am, runtime, monkeypatch) -> None:
    from bot.domain.alerts import acknowledge

    start_and_die(monkeypatch)
    am.allow_failures = True
    am.fire("Slow")
    alert_store.transition(runtime.redis, key_of("Slow"),
                           lambda g: acknowledge(g, "U0BOB", runtime.now()), runtime.now())
    [run] = rule_runs(runtime)
    runtime.redis.delete(keys.run_heartbeat(run.id))
    am.advance(minutes=3)
    assert run_store.get_run(runtime.redis, run.id).state == "lost"
    assert am.pages() == []  # acknowledged: the escalation the loss wakes pages nobody
    am.resolve("Slow")
    assert healing(runtime, "Slow").state == "ended"
    assert store.open_records(runtime.redis) == []
    assert selfheal_events(runtime) == []


def test_lost_wake_up_job_and_lost_record_the_tick_pages_once(am, runtime, clock) -> None:
    """Redis lost the scheduled wake-up at page_after, then the occurrence's record: the
    tick's checks page at page_after, once, and never run the rule a second time."""
    am.fire("ApiStuck")
    for name in ("atbat-urgent",):
        registry = runtime.queue(name).scheduled_job_registry
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    clock.advance(minutes=4)
    run_checks(runtime, runtime.now(), CHECKS)
    am.jobs()
    assert am.pages() == []
    clock.advance(minutes=1, seconds=1)
    run_checks(runtime, runtime.now(), CHECKS)  # the alerts catch-up finds the paused group
    am.jobs()
    assert len(am.pages()) == 1
    group = alert_store.get_group(runtime.redis, key_of("ApiStuck"))
    runtime.redis.delete(keys.healing(group.key, group.occurrence))
    for _ in range(3):
        am.advance(minutes=1)
    assert len(am.pages()) == 1 and len(rule_runs(runtime)) == 1


def test_a_paused_group_whose_record_redis_lost_pages_and_does_not_run_again(am, runtime) -> None:
    am.fire("ApiStuck")
    group = alert_store.get_group(runtime.redis, key_of("ApiStuck"))
    assert group.paused == "self-healing"
    runtime.redis.delete(keys.healing(group.key, group.occurrence))
    am.advance(seconds=30)
    assert len(am.pages()) == 1 and len(rule_runs(runtime)) == 1


def test_an_events_v2_trigger_self_heals_too(am, app_server, runtime) -> None:
    from tests.test_alerts_e2e import fixture, post_event

    assert post_event(app_server, fixture("events_trigger.json")).status_code == 202
    am.jobs()
    [run] = rule_runs(runtime)
    assert run.argv[-1] == "nightly" and run.state == "succeeded"  # from custom_details.check
    am.advance(minutes=2)
    assert post_event(app_server, fixture("events_resolve.json")).status_code == 202
    am.jobs()
    assert am.pages() == []
    assert [e["outcome"] for e in selfheal_events(runtime)] == ["healed"]


def test_two_real_workers_run_each_matching_occurrence_once(
        app_server, runtime, config, clock, workspace, request) -> None:
    """Two Procfile workers share every job, each escalation queued twice (as the catch-up
    re-queues a late one): every alert occurrence runs its rule once, and nobody is paged."""
    clock.set(datetime.now(UTC))  # the workers read the real clock
    groups = 6
    for n in range(groups):
        body = notification(f"Many{n}", instance=f"api-{n}")
        assert post_am(app_server, body).status_code == 200
        group = alert_store.get_group(runtime.redis, key_of(f"Many{n}"))
        runtime.enqueue("workers.alerts.escalate", group.key, group.occurrence, 0,
                        queue=QUEUE_URGENT, job_id=f"dup-esc-{n}")
    workers = [request.getfixturevalue("rq_worker"), start_worker(runtime, config)]
    try:
        def settled() -> bool:
            return all((h := store.get(runtime.redis, key_of(f"Many{n}"), 1)) is not None
                       and h.outcome == "succeeded" for n in range(groups))

        wait_for(settled, within=90, what="every occurrence's run to succeed")
    finally:
        stop_worker(workers[1])
    runs = rule_runs(runtime)
    assert sorted(r.argv[-1] for r in runs) == [f"api-{n}" for n in range(groups)]
    assert all(r.state == "succeeded" for r in runs)
    assert page_dms(workspace, ON_CALL) == []


def start_worker(runtime: Runtime, config: Config):
    """A second Procfile worker, like the rq_worker fixture's."""
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s",
           "SLACK_API_URL": runtime.settings.api_url, "REDIS_URL": runtime.settings.redis_url,
           "ATBAT_CONFIG": config.path, "ATBAT_ALERT_TOKEN": "a"}
    rq = str(Path(sys.executable).with_name("rq"))
    return subprocess.Popen([rq, "worker", "-c", "bot.rq_settings"], env=env, cwd=ROOT,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop_worker(proc) -> None:
    import contextlib

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_a_push_page_carries_the_runs_outcome(am, runtime, app_server, config) -> None:
    from bot.fakephone.server import start_phone
    from bot.providers import Providers

    phone = start_phone()
    try:
        raw = yaml.safe_load(Path(config.path).read_text())
        push = f"ntfy://127.0.0.1:{phone.http.server.server_port}/alice-pager"
        raw["people"] = {ON_CALL: {"contacts": {"push": push},
                                   "notification_rules": {"high": "0m push"}}}
        runtime.config = load_config_text(raw, config.path)
        runtime.providers = Providers(None, timeout=2)
        am.fire("DiskFull")
        [sent] = phone.phone.received("push", to="alice-pager")
        assert "DiskFull" in sent["body"] and "heal-fail failed (exit 3)" in sent["body"]
    finally:
        phone.stop()


def load_config_text(raw: dict, path: str) -> Config:
    from bot.config import parse_config

    return parse_config(raw, path)
