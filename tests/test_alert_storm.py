"""An alert storm against a rate-limited Slack: every group ends right, nothing is lost, few calls."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from bot.domain.alerts import group_key_for
from bot.domain.config import Config
from bot.domain.escalation import EscalationPolicy, EscalationStep
from bot.store import alerts as store
from tests.conftest import ALERT_TOKEN, run_queued_jobs

CHANNEL = "C0PAYMENTS"
GROUPS = 20
ALERTS_PER_GROUP = 10
SENDERS = 4


@pytest.fixture
def config(config: Config) -> Config:
    # Page only after 5 minutes: the storm is about the channel messages, not DMs.
    policy = EscalationPolicy(steps=(EscalationStep(timedelta(minutes=5), "primary"),))
    teams = dict(config.teams)
    teams["payments"] = replace(teams["payments"], escalation=policy)
    return replace(config, teams=teams)


def run_jobs_once(runtime) -> int:
    return run_queued_jobs(runtime)


def notification(group: int, firing: int, resolved: int) -> dict[str, Any]:
    """Alertmanager's view of a group: the first `resolved` alerts resolved, then `firing` firing."""
    alerts = []
    for i in range(resolved + firing):
        status = "resolved" if i < resolved else "firing"
        alerts.append({
            "status": status,
            "labels": {"alertname": f"StormAlert{group}", "team": "payments",
                       "instance": f"host-{i}:9100", "severity": "warning"},
            "annotations": {"summary": f"storm {group}/{i}"},
            "startsAt": "2026-11-04T09:58:00Z",
            "endsAt": "2026-11-04T10:01:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "fingerprint": f"{group:04x}{i:012x}",
        })
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="StormAlert{group}"}}',
        "status": "firing" if firing else "resolved", "receiver": "atbat",
        "groupLabels": {"alertname": f"StormAlert{group}"},
        "commonLabels": {"alertname": f"StormAlert{group}", "team": "payments"},
        "commonAnnotations": {}, "externalURL": "", "alerts": alerts, "truncatedAlerts": 0,
    }


KEY0 = group_key_for("alertmanager", "payments", '{}:{alertname="StormAlert0"}')  # group 0


def post(app_server, body: dict[str, Any]) -> None:  # noqa: ANN001
    """One Alertmanager notification, answered 200."""
    answer = requests.post(f"{app_server.url}/alerts/alertmanager", data=json.dumps(body),
                           headers={"Authorization": f"Bearer {ALERT_TOKEN}"}, timeout=10)
    assert answer.status_code == 200


def send_all(url: str, plans: list[list[dict[str, Any]]]
             ) -> tuple[list[threading.Thread], list[int]]:
    """Each group's notifications in order (as Alertmanager does), groups spread over senders."""
    statuses: list[int] = []
    lock = threading.Lock()

    def sender(groups: list[list[dict[str, Any]]]) -> None:
        session = requests.Session()
        for sequence in groups:
            for body in sequence:
                answer = session.post(f"{url}/alerts/alertmanager", data=json.dumps(body),
                                      headers={"Authorization": f"Bearer {ALERT_TOKEN}"},
                                      timeout=10)
                with lock:
                    statuses.append(answer.status_code)

    threads = [threading.Thread(target=sender, args=(plans[i::SENDERS],)) for i in range(SENDERS)]
    for t in threads:
        t.start()
    return threads, statuses


def drain_while(runtime, threads: list[threading.Thread]) -> None:
    """Workers keep running while the storm goes on, then until the queues are empty."""
    while any(t.is_alive() for t in threads):
        run_jobs_once(runtime)
    for t in threads:
        t.join()
    while run_jobs_once(runtime):
        pass


def last_rendering(workspace, ts: str) -> dict[str, Any]:
    """The last successful post or update of the message `ts`, as sent over the Web API."""
    shown = None
    for call in workspace.calls:
        if not call.ok or call.method not in ("chat.postMessage", "chat.update"):
            continue
        if call.response.get("ts") == ts and not call.args.get("thread_ts"):
            shown = call.args
    assert shown is not None
    return shown


def test_storm_every_group_ends_in_its_true_state_with_few_calls(app_server, runtime,
                                                                 workspace) -> None:
    workspace.rate_limit(per_second=10)
    firing = [[notification(g, k, 0) for k in range(1, ALERTS_PER_GROUP + 1)]
              for g in range(GROUPS)]
    threads, statuses = send_all(app_server.url, firing)
    drain_while(runtime, threads)
    # Then half of the alerts resolve: all of groups 0-9, half of groups 10-19.
    resolving = []
    for g in range(GROUPS):
        last = ALERTS_PER_GROUP if g < GROUPS // 2 else ALERTS_PER_GROUP // 2
        resolving.append([notification(g, ALERTS_PER_GROUP - k, k) for k in range(1, last + 1)])
    threads, more = send_all(app_server.url, resolving)
    drain_while(runtime, threads)
    statuses += more

    assert statuses == [200] * len(statuses)
    assert any(call.status == 429 for call in workspace.calls)  # Slack did push back
    messages = workspace.messages(CHANNEL)
    assert len(messages) == GROUPS  # one message per group, updated in place
    by_title = {m["blocks"][0]["text"]["text"]: m for m in messages}
    calls_per_group = []
    for g in range(GROUPS):
        group = store.get_group(runtime.redis, group_key_for(
            "alertmanager", "payments", f'{{}}:{{alertname="StormAlert{g}"}}'))
        assert len(group.alerts) == ALERTS_PER_GROUP  # nothing lost
        message = next(m for t, m in by_title.items() if t.endswith(f"StormAlert{g}"))
        shown = json.dumps(last_rendering(workspace, message["ts"]))
        if g < GROUPS // 2:
            assert group.state == "resolved"
            assert "RESOLVED" in shown and "0 firing \\u00b7 10 resolved" in shown
            assert [r["text"] for r in workspace.replies(CHANNEL, message["ts"])] == [
                "Resolved: all 10 alerts cleared"]
        else:
            assert group.state == "triggered"
            assert "FIRING" in shown and "5 firing \\u00b7 5 resolved" in shown
            assert workspace.replies(CHANNEL, message["ts"]) == []
        assert json.dumps(message["blocks"]) == json.dumps(last_rendering(
            workspace, message["ts"])["blocks"])
        calls_per_group.append(sum(
            1 for c in workspace.calls if c.ok and (c.response.get("ts") == message["ts"]
                                                    or c.args.get("thread_ts") == message["ts"])))
    changes = len(statuses)  # every notification above changed its group
    assert sum(calls_per_group) < changes / 3
    print(f"\nstorm: {changes} notifications, Web API calls per group: {calls_per_group}, "
          f"429s: {sum(1 for c in workspace.calls if c.status == 429)}")


def test_a_message_is_updated_at_most_once_per_interval(app_server, runtime, workspace,
                                                        run_jobs) -> None:
    """ATBAT_MESSAGE_UPDATE_MS: the first post at once, then one update for what changed
    within the interval, from a job scheduled for its end (not one update per change)."""
    runtime.settings = replace(runtime.settings, message_update_ms=300)
    def send(firing: int) -> None:
        post(app_server, notification(0, firing, 0))

    def calls(method: str) -> int:
        return sum(1 for c in workspace.calls if c.ok and c.method == method)

    send(1)
    run_jobs()
    assert calls("chat.postMessage") == 1  # the first post is never held back
    for firing in (2, 3, 4):
        send(firing)
        run_jobs()
    assert calls("chat.update") == 0  # within the interval: the changes wait, marked
    key = KEY0
    assert store.is_out_of_date(runtime.redis, key)
    scheduled = runtime.queue("atbat-urgent").scheduled_job_registry.get_job_ids()
    later = [j for j in scheduled if j.startswith("alert-sync-")]
    assert later == [f"alert-sync-{key}-later"]  # one job, however many changes

    time.sleep(0.35)  # the interval runs on Redis's clock (PX)
    queue = runtime.queue("atbat-urgent")  # what RQ's scheduler does once the job is due
    [job_id] = later
    assert job_id in queue.scheduled_job_registry.get_jobs_to_schedule(
        int((datetime.now(UTC) + timedelta(seconds=1)).timestamp()))
    queue.scheduled_job_registry.remove(job_id)
    queue.enqueue_job(queue.fetch_job(job_id))
    run_jobs()
    assert calls("chat.update") == 1
    [message] = workspace.messages(CHANNEL)
    assert "4 firing" in json.dumps(message["blocks"], ensure_ascii=False)
    assert not store.is_out_of_date(runtime.redis, key)


def test_a_change_whose_later_sync_job_was_lost_is_caught_up(app_server, runtime, workspace,
                                                              run_jobs, clock) -> None:
    """The job scheduled for the interval's end is lost (Redis lost it, no scheduler ran
    it): the mark it was for stays, and the periodic catch-up syncs it a minute later."""
    from bot.services import alerts as alert_service
    runtime.settings = replace(runtime.settings, message_update_ms=300)
    for firing in (1, 2):
        post(app_server, notification(0, firing, 0))
        run_jobs()
    key = KEY0
    registry = runtime.queue("atbat-urgent").scheduled_job_registry
    registry.remove(f"alert-sync-{key}-later")  # lost
    time.sleep(0.35)
    alert_service.catch_up(runtime, runtime.now())
    assert run_jobs() == 0  # not overdue yet: its job may still come
    clock.advance(minutes=2)
    alert_service.catch_up(runtime, runtime.now())
    run_jobs()
    assert sum(1 for c in workspace.calls if c.ok and c.method == "chat.update") == 1
    [message] = workspace.messages(CHANNEL)
    assert "2 firing" in json.dumps(message["blocks"], ensure_ascii=False)
    assert not store.is_out_of_date(runtime.redis, key)


def test_a_change_during_the_later_sync_is_shown_by_that_job_scheduling_itself_again(
        app_server, runtime, workspace, run_jobs, monkeypatch) -> None:
    """The job at the interval's end has the group's one fixed id: a change during its own
    sync makes it schedule itself again (while it runs), and RQ's scheduler must still
    queue it, not take it for done (else the change waits for the minute's catch-up)."""
    from rq.scheduler import RQScheduler

    from bot.services import alerts as alert_service
    runtime.settings = replace(runtime.settings, message_update_ms=300)
    def send(firing: int) -> None:
        post(app_server, notification(0, firing, 0))

    def scheduler_runs() -> None:  # RQ's own scheduler code, once the interval is over
        time.sleep(0.35)
        scheduler = RQScheduler([runtime.queue("atbat-urgent")], connection=runtime.redis)
        scheduler.acquire_locks()
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()

    def calls() -> int:
        return sum(1 for c in workspace.calls if c.ok and c.method == "chat.update")

    send(1)
    run_jobs()
    send(2)
    run_jobs()  # within the interval: the `later` job is scheduled
    sync_once = alert_service._sync_once
    changes = iter([3])

    def sync_then_change(rt, key):  # noqa: ANN001, ANN202
        synced = sync_once(rt, key)
        for firing in changes:
            send(firing)  # arrives while the later job syncs, and queues a sync job
            queue = rt.queue("atbat-urgent")
            for job_id in queue.job_ids:  # which another worker runs now: the lock is held
                assert job_id.startswith("alert-sync-")
                queue.remove(job_id)
                alert_service.sync_message(rt, key)
        return synced

    monkeypatch.setattr(alert_service, "_sync_once", sync_then_change)
    scheduler_runs()
    run_jobs()
    assert calls() == 1  # "2 firing"
    scheduler_runs()
    run_jobs()
    assert calls() == 2
    [message] = workspace.messages(CHANNEL)
    assert "3 firing" in json.dumps(message["blocks"], ensure_ascii=False)
    key = KEY0
    assert not store.is_out_of_date(runtime.redis, key)


def test_a_new_occurrence_is_posted_at_once_within_the_interval(app_server, runtime, workspace,
                                                                run_jobs) -> None:
    runtime.settings = replace(runtime.settings, message_update_ms=60_000)
    for body in (notification(0, 1, 0), notification(0, 0, 1), notification(0, 1, 0)):
        post(app_server, body)
        run_jobs()
    group = store.get_group(runtime.redis, KEY0)
    assert group.occurrence == 2
    # fired, resolved (its update waits out the interval), fired again: a second message now
    assert len(workspace.messages(CHANNEL)) == 2


def test_a_sync_that_dies_midway_leaves_the_message_marked(app_server, runtime, run_jobs,
                                                           monkeypatch) -> None:
    from bot.services import alerts as alert_service

    post(app_server, notification(0, 1, 0))
    key = KEY0

    def dies(rt, key):
        raise SystemExit("a second SIGTERM")

    monkeypatch.setattr(alert_service, "_sync_once", dies)
    with pytest.raises(SystemExit):
        alert_service.sync_message(runtime, key)
    assert store.is_out_of_date(runtime.redis, key)  # the catch-up (or the next job) shows it
