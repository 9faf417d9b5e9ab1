"""Alerts end to end: webhooks over HTTP into the app, real Redis and RQ, the Slack-compatible server."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests
import yaml
from rq import Queue
from rq.job import Job

from bot.config import parse_config
from bot.domain.alerts import group_key_for
from bot.domain.recent import Recent
from bot.runtime import QUEUE_URGENT
from bot.sandbox.page import run_slash
from bot.services import alerts
from bot.store import alerts as store
from tests.conftest import ALERT_TOKEN, FIXTURES

CHANNEL = "C0PAYMENTS"
ROUTING_KEY = "R0PAYMENTSROUTINGKEY0000000000AB"
AUTH = {"Authorization": f"Bearer {ALERT_TOKEN}"}


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def post_am(app_server, body: Any, headers: dict[str, str] | None = None,
            team: str | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    params = {"team": team} if team else None
    return requests.post(f"{app_server.url}/alerts/alertmanager", data=data, params=params,
                         headers=AUTH if headers is None else headers, timeout=10)


def post_event(app_server, body: Any, headers: dict[str, str] | None = None
               ) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{app_server.url}/alerts/events", data=data, headers=headers or {},
                         timeout=10)


def text_of(message: dict[str, Any]) -> str:
    """Everything a reader sees in a message: fallback text and every block's text."""
    parts = [message.get("text", "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks", []))
    return "\n".join(parts)


def action_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]]


def page_dms(workspace, user: str) -> list[dict[str, Any]]:
    """The DMs that page `user` (not the feedback question asked after a resolve)."""
    return [m for m in workspace.dms(user) if "Was this page worth it?" not in text_of(m)]


def the_message(workspace) -> dict[str, Any]:
    messages = workspace.messages(CHANNEL)
    assert len(messages) == 1, [m.get("text") for m in messages]
    return messages[0]


def thread(workspace, message: dict[str, Any]) -> list[str]:
    return [m["text"] for m in workspace.replies(CHANNEL, message["ts"])]


def firing_key() -> str:
    return group_key_for("alertmanager", "payments", fixture("alertmanager_firing.json")["groupKey"])


def ephemeral_texts(workspace, user: str) -> list[str]:
    return [m.get("text", "") for m in workspace.ephemerals(user=user)]


# ---------------------------------------------------------------- webhooks


def test_firing_posts_one_message_with_all_buttons_and_pages_primary(app_server, run_jobs,
                                                                      workspace) -> None:
    response = post_am(app_server, fixture("alertmanager_firing.json"))
    assert response.status_code == 200
    assert response.json()["change"] == "opened"
    run_jobs()
    message = the_message(workspace)
    assert "PaymentsApiHighErrorRate" in text_of(message) and "FIRING" in text_of(message)
    assert action_ids(message) == ["alert_ack", "alert_resolve", "alert_escalate",
                                   "alert_incident", "alert_runbook"]
    assert all(e["value"] == firing_key() for b in message["blocks"] if b["type"] == "actions"
               for e in b["elements"])
    # Step 0 of payments' policy is the primary, alice on Wednesday 10:00 UTC.
    [page] = workspace.dms("U0ALICE")
    assert "You are paged for payments" in text_of(page)
    assert "alert_ack" in action_ids(page)
    assert thread(workspace, message) == ["Escalated to primary: <@U0ALICE>"]
    assert workspace.dms("U0DAVE") == []


def test_redelivery_changes_nothing(app_server, run_jobs, workspace, runtime) -> None:
    body = fixture("alertmanager_firing.json")
    assert post_am(app_server, body).status_code == 200
    run_jobs()
    version = store.get_group(runtime.redis, firing_key()).version
    calls = len(workspace.calls)
    again = post_am(app_server, body)
    assert again.status_code == 200 and again.json()["change"] == "none"
    assert run_jobs() == 0  # nothing was even queued
    assert len(workspace.calls) == calls
    assert store.get_group(runtime.redis, firing_key()).version == version


def test_a_resolve_for_a_group_another_process_wrote_reads_it_first(app_server, runtime,
                                                                    monkeypatch) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    monkeypatch.setattr(store, "_known", Recent(4096))  # this process never saw the group
    runtime.redis.config_resetstat()
    answer = post_am(app_server, fixture("alertmanager_resolved.json"))
    assert answer.json()["change"] == "resolved"
    stats = runtime.redis.info("commandstats")
    # The script ran once (a first attempt that took the group for new would make it two),
    # after one GET (the other GET is the script's own).
    assert (stats["cmdstat_evalsha"]["calls"], stats["cmdstat_get"]["calls"]) == (1, 2)


def test_a_sync_job_redone_from_an_earlier_versions_commands_is_the_job_rq_queues(runtime
                                                                                  ) -> None:
    # Webhooks queue a group's next sync job from the last one's commands (_SyncJobs).
    key = "am-sync-job-redone"
    scratch = runtime.redis.pipeline(transaction=False)
    alerts._sync_jobs.request(runtime, SimpleNamespace(key=key, version=1), scratch)
    later = SimpleNamespace(key=key, version=7)
    redone, fresh = runtime.redis.pipeline(transaction=False), runtime.redis.pipeline(transaction=False)
    alerts._sync_jobs.request(runtime, later, redone)
    alerts.request_sync(runtime, later, fresh)
    assert len(redone.command_stack) == len(fresh.command_stack)
    for (got, _), (want, _) in zip(redone.command_stack, fresh.command_stack, strict=True):
        assert {got[i - 1] for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b} \
            <= {"created_at", "enqueued_at"}
    redone.execute()
    job = Job.fetch(f"alert-sync-{key}-v7", connection=runtime.redis)
    assert (job.func_name, job.args, job.origin) == ("workers.alerts.sync_message", (key,),
                                                     QUEUE_URGENT)
    assert abs(job.enqueued_at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(seconds=5)
    assert job.id in Queue(QUEUE_URGENT, connection=runtime.redis).job_ids


def test_resolved_updates_in_place_replies_and_stops_escalation(app_server, run_jobs, workspace,
                                                                clock, run_scheduled) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    clock.advance(minutes=2, seconds=10)
    assert post_am(app_server, fixture("alertmanager_resolved.json")).json()["change"] == "resolved"
    run_jobs()
    message = the_message(workspace)  # still one message: updated in place
    assert "RESOLVED" in text_of(message) and "0 firing · 1 resolved" in text_of(message)
    assert "0 firing · 1 resolved · No more actions" in text_of(message)
    assert action_ids(message) == []
    updated = [c.args["channel"] for c in workspace.calls_to("chat.update")]
    assert sorted(updated) == [CHANNEL, "D0ALICE"]  # the message and alice's page, once each
    assert thread(workspace, message)[-1] == "Resolved: the alert cleared"
    clock.advance(minutes=10)
    run_scheduled()
    run_jobs()
    assert workspace.dms("U0DAVE") == []  # the secondary step saw it resolved


def known(runtime) -> str:
    return "known teams: " + ", ".join(sorted(runtime.config.teams))


def test_group_of_several_alerts_and_truncated_alerts(app_server, run_jobs, workspace,
                                                      runtime) -> None:
    assert post_am(app_server, fixture("alertmanager_group.json")).status_code == 200
    run_jobs()
    text = text_of(the_message(workspace))
    assert "PaymentsWorkerQueueBacklog" in text
    assert "3 firing · 1 resolved" in text
    assert "payments-worker-2" in text  # instances are told apart by their own labels

    truncated = fixture("alertmanager_truncated.json")  # no team label anywhere
    refused = post_am(app_server, truncated)
    assert refused.status_code == 400
    assert known(runtime) in refused.json()["error"]
    assert post_am(app_server, truncated, team="payments").status_code == 200
    run_jobs()
    messages = workspace.messages(CHANNEL)
    assert len(messages) == 2
    assert "2 firing · 0 resolved (+5 truncated)" in text_of(messages[1])


def test_new_occurrence_gets_a_new_message_and_the_old_one_shows_how_it_ended(
        app_server, run_jobs, workspace, clock) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    # Resolved and firing again before any worker ran: the old message must still end resolved.
    clock.advance(minutes=5)
    post_am(app_server, fixture("alertmanager_resolved.json"))
    again = fixture("alertmanager_firing.json")
    again["alerts"][0]["startsAt"] = "2026-11-04T10:04:00Z"
    clock.advance(minutes=1)
    assert post_am(app_server, again).json()["change"] == "opened"
    run_jobs()
    first, second = workspace.messages(CHANNEL)
    assert "RESOLVED" in text_of(first) and action_ids(first) == []
    assert "FIRING" in text_of(second) and "Occurrence #2" in text_of(second)
    assert "Resolved: the alert cleared" in thread(workspace, first)
    assert thread(workspace, second)[0] == "Firing again: 1 alert"


def test_bad_token_malformed_body_and_unknown_team(app_server, workspace, runtime) -> None:
    body = fixture("alertmanager_firing.json")
    assert post_am(app_server, body, headers={}).status_code == 401
    assert post_am(app_server, body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert post_am(app_server, body, headers={"Authorization": ALERT_TOKEN}).status_code == 401

    bad_json = post_am(app_server, b'{"version": "4",')
    assert bad_json.status_code == 400 and bad_json.json()["error"].startswith("invalid JSON")
    wrong = copy.deepcopy(body)
    wrong["alerts"][0]["status"] = "burning"
    answer = post_am(app_server, wrong)
    assert answer.status_code == 400
    assert answer.json() == {"error": "alerts[0].status: expected firing or resolved"}
    unknown = post_am(app_server, body, team="billing")
    assert unknown.status_code == 400
    assert unknown.json()["error"] == f'unknown team "billing" ({known(runtime)})'
    assert workspace.calls == []


def test_redis_down_answers_503_then_the_redelivery_is_stored(app_server, redis_server, run_jobs,
                                                               workspace) -> None:
    body = fixture("alertmanager_firing.json")
    redis_server.stop()
    try:
        down = post_am(app_server, body)
        assert down.status_code == 503
        assert "not stored" in down.json()["error"]
        event = post_event(app_server, fixture("events_trigger.json"))
        assert event.status_code == 503
    finally:
        redis_server.start()
    assert post_am(app_server, body).status_code == 200  # Alertmanager's retry
    run_jobs()
    assert "PaymentsApiHighErrorRate" in text_of(the_message(workspace))


# ---------------------------------------------------------------- Events API v2


def test_events_v2_trigger_acknowledge_resolve(app_server, run_jobs, workspace, runtime) -> None:
    trigger = post_event(app_server, fixture("events_trigger.json"))
    assert trigger.status_code == 202
    assert trigger.json() == {"status": "success", "message": "Event processed",
                              "dedup_key": "ledger-consistency-check-2026-11-03"}
    run_jobs()
    message = the_message(workspace)
    assert "Ledger consistency check failed" in text_of(message)
    assert post_event(app_server, fixture("events_acknowledge.json")).status_code == 202
    run_jobs()
    message = the_message(workspace)
    assert "ACKNOWLEDGED" in text_of(message)
    assert action_ids(message) == ["alert_resolve", "alert_escalate", "alert_incident"]
    assert post_event(app_server, fixture("events_resolve.json")).status_code == 202
    run_jobs()
    message = the_message(workspace)
    assert "RESOLVED" in text_of(message)
    replies = thread(workspace, message)
    assert replies[-2].startswith("Acknowledged at the source after")
    assert replies[-1] == "Resolved at the source"
    assert store.open_groups(runtime.redis, "payments") == []


def test_events_v2_auth_and_invalid_events(app_server, run_jobs, workspace, runtime) -> None:
    event = fixture("events_trigger.json")
    stranger = dict(event, routing_key="R0SOMEONEELSESKEY000000000000000")
    assert post_event(app_server, stranger).status_code == 401
    # The bearer token lets a sender name the team instead.
    by_name = dict(event, routing_key="payments", dedup_key="by-name")
    assert post_event(app_server, by_name, headers=AUTH).status_code == 202
    unknown = post_event(app_server, dict(stranger), headers=AUTH)
    assert unknown.status_code == 400
    assert known(runtime) in unknown.json()["errors"][0]

    invalid = dict(event)
    invalid["payload"] = dict(event["payload"], severity="apocalyptic")
    answer = post_event(app_server, invalid)
    assert answer.status_code == 400
    assert answer.json() == {"status": "invalid event", "message": "Event object is invalid",
                             "errors": ["payload.severity: expected critical, error, warning "
                                        "or info"]}
    assert post_event(app_server, b"not json").status_code == 401  # no key, no details
    assert post_event(app_server, b"not json", headers=AUTH).status_code == 400
    run_jobs()
    assert len(workspace.messages(CHANNEL)) == 1


# ---------------------------------------------------------------- escalation


def test_escalation_steps_in_order_with_repeat(app_server, run_jobs, run_scheduled, clock,
                                               workspace) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    assert len(workspace.dms("U0ALICE")) == 1 and workspace.dms("U0DAVE") == []
    clock.advance(minutes=9)
    run_scheduled()
    run_jobs()
    assert workspace.dms("U0DAVE") == []  # not yet
    clock.advance(minutes=1)
    run_scheduled()
    run_jobs()
    assert len(workspace.dms("U0DAVE")) == 1
    clock.advance(minutes=10)
    run_scheduled()
    run_jobs()
    assert len(workspace.dms("U0MANAGER")) == 1
    clock.advance(minutes=10)  # repeat 1: the policy starts over at 30m
    run_scheduled()
    run_jobs()
    assert len(workspace.dms("U0ALICE")) == 2
    for _ in range(6):
        clock.advance(minutes=10)
        run_scheduled()
        run_jobs()
    assert [len(workspace.dms(u)) for u in ("U0ALICE", "U0DAVE", "U0MANAGER")] == [2, 2, 2]
    steps = [t for t in thread(workspace, the_message(workspace)) if t.startswith("Escalated")]
    assert steps == ["Escalated to primary: <@U0ALICE>", "Escalated to secondary: <@U0DAVE>",
                     "Escalated to managers: <@U0MANAGER>"] * 2


def test_ack_stops_escalation(app_server, run_jobs, run_scheduled, clock, slack,
                              workspace) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    [page] = workspace.dms("U0ALICE")
    clock.advance(minutes=2, seconds=10)
    assert slack.click(page, "alert_ack", user="U0ALICE", channel="D0ALICE").status_code \
        == 200
    run_jobs()
    message = the_message(workspace)
    assert "ACKNOWLEDGED" in text_of(message)
    assert thread(workspace, message)[-1] == "Acknowledged by <@U0ALICE> after 2m 10s"
    for _ in range(5):
        clock.advance(minutes=10)
        run_scheduled()
        run_jobs()
    assert workspace.dms("U0DAVE") == [] and workspace.dms("U0MANAGER") == []


def test_a_step_is_notified_once_even_when_its_job_runs_twice(app_server, run_jobs, run_scheduled,
                                                              clock, runtime, workspace) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    clock.advance(minutes=10)
    assert run_scheduled() == 1
    key = firing_key()
    # The same due step, queued again (a second scheduler) and run by two workers at once.
    runtime.enqueue("workers.alerts.escalate", key, 1, 1, queue="atbat-urgent")
    workers = [threading.Thread(target=alerts.escalate, args=(runtime, key, 1, 1))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    run_jobs()
    assert len(workspace.dms("U0DAVE")) == 1
    steps = [t for t in thread(workspace, the_message(workspace)) if t.startswith("Escalated")]
    assert steps == ["Escalated to primary: <@U0ALICE>", "Escalated to secondary: <@U0DAVE>"]


def test_escalate_button_pages_the_next_step_now(app_server, run_jobs, slack, workspace) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    slack.click(the_message(workspace), "alert_escalate", user="U0ALICE", channel=CHANNEL)
    run_jobs()
    assert len(workspace.dms("U0DAVE")) == 1
    assert thread(workspace, the_message(workspace))[-2:] == [
        "Escalation requested by <@U0ALICE>", "Escalated to secondary: <@U0DAVE>"]


def test_every_page_dm_follows_its_group_ack_resolve_reopen(app_server, run_jobs, run_scheduled,
                                                            clock, slack, workspace,
                                                            runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    clock.advance(minutes=10)
    run_scheduled()
    run_jobs()
    [alice_page], [dave_page] = page_dms(workspace, "U0ALICE"), page_dms(workspace, "U0DAVE")
    assert "You are paged" in text_of(dave_page) and action_ids(dave_page) == ["alert_ack"]
    # Which pages were sent is recorded with the group, so they can be found again.
    pages = store.get_pages(runtime.redis, firing_key(), 1)
    assert [(p.channel, p.ts, p.notify) for p in pages] == [
        ("D0ALICE", alice_page["ts"], "primary"), ("D0DAVE", dave_page["ts"], "secondary")]

    # bob acknowledges from the channel: both DMs say so, and their Ack buttons are gone.
    slack.click(the_message(workspace), "alert_ack", user="U0BOB", channel=CHANNEL)
    run_jobs()
    for user in ("U0ALICE", "U0DAVE"):
        [page] = page_dms(workspace, user)
        assert "*ACKNOWLEDGED* by <@U0BOB>" in text_of(page), user
        assert "You were paged" in text_of(page) and action_ids(page) == []
        assert page["text"].startswith(("Paged (primary): [ACKNOWLEDGED]",
                                        "Paged (secondary): [ACKNOWLEDGED]"))

    clock.advance(minutes=1)
    post_am(app_server, fixture("alertmanager_resolved.json"))
    run_jobs()
    [page] = page_dms(workspace, "U0ALICE")
    assert "*RESOLVED* by the source" in text_of(page) and action_ids(page) == []
    assert len(workspace.dms("U0ALICE")) == 2  # and the page feedback question

    # It fires again: a new occurrence pages alice anew; the old page says it fired again.
    again = fixture("alertmanager_firing.json")
    again["alerts"][0]["startsAt"] = "2026-11-04T10:12:00Z"
    clock.advance(minutes=1)
    post_am(app_server, again)
    run_jobs()
    old, new = page_dms(workspace, "U0ALICE")
    assert "*RESOLVED*" in text_of(old) and "Firing again since" in text_of(old)
    assert "(occurrence #2)" in text_of(old) and action_ids(old) == []
    assert "You are paged" in text_of(new) and action_ids(new) == ["alert_ack"]
    assert [p.ts for p in store.get_pages(runtime.redis, firing_key(), 2)] == [new["ts"]]

    # Acknowledging from the DM itself updates that DM too.
    slack.click(new, "alert_ack", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    assert action_ids(page_dms(workspace, "U0ALICE")[1]) == []
    assert "*ACKNOWLEDGED* by <@U0ALICE>" in text_of(page_dms(workspace, "U0ALICE")[1])


def test_firing_since_is_a_date_token_not_a_frozen_duration(app_server, run_jobs,
                                                            workspace) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    fired = 1793786400  # 2026-11-04 10:00 UTC, the test clock
    for message in (the_message(workspace), workspace.dms("U0ALICE")[0]):
        text = text_of(message)
        assert f"*FIRING* since <!date^{fired}^{{date_short_pretty}} {{time}}|" in text
        assert f"(<!date^{fired}^{{ago}}|2026-11-04 10:00 UTC>)" in text
        assert "(0s)" not in text


# ---------------------------------------------------------------- buttons


def test_two_people_acknowledge_at_once(app_server, run_jobs, slack, workspace, runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    message = the_message(workspace)
    answers = []
    clicks = [threading.Thread(target=lambda u=u: answers.append(
        slack.click(message, "alert_ack", user=u, channel=CHANNEL).status_code))
        for u in ("U0ALICE", "U0BOB")]
    for c in clicks:
        c.start()
    for c in clicks:
        c.join()
    assert answers == [200, 200]
    run_jobs()
    group = store.get_group(runtime.redis, firing_key())
    winner, loser = (("U0ALICE", "U0BOB") if group.acked_by == "U0ALICE"
                     else ("U0BOB", "U0ALICE"))
    acks = [t for t in thread(workspace, message) if t.startswith("Acknowledged")]
    assert acks == [f"Acknowledged by <@{winner}> after 0s"]
    assert ephemeral_texts(workspace, loser) == [f"Already acknowledged by <@{winner}>."]


def test_acknowledge_after_resolve_says_already_resolved(app_server, run_jobs, slack, workspace,
                                                         runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    stale = the_message(workspace)  # bob still sees the old buttons
    slack.click(stale, "alert_resolve", user="U0ALICE", channel=CHANNEL)
    run_jobs()
    before = store.get_group(runtime.redis, firing_key())
    assert before.state == "resolved"
    slack.click(stale, "alert_ack", user="U0BOB", channel=CHANNEL)
    run_jobs()
    assert ephemeral_texts(workspace, "U0BOB") == [
        "This alert is already resolved (by <@U0ALICE>)."]
    after = store.get_group(runtime.redis, firing_key())
    assert after.state == "resolved" and after.version == before.version
    assert "RESOLVED" in text_of(the_message(workspace))


def test_outsiders_cannot_press(app_server, run_jobs, slack, workspace, runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    slack.click(the_message(workspace), "alert_resolve", user="U0OUTSIDER", channel=CHANNEL)
    run_jobs()
    assert "Only members, managers and the on-call of payments" in ephemeral_texts(
        workspace, "U0OUTSIDER")[0]
    assert store.get_group(runtime.redis, firing_key()).state == "triggered"


def test_oncall_alerts_lists_open_groups_with_buttons(app_server, run_jobs, slack,
                                                      workspace) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    post_am(app_server, fixture("alertmanager_group.json"))
    here = slack.slash("alerts", user="U0ALICE", channel=CHANNEL).json()
    assert here["response_type"] == "ephemeral"
    assert "Open alerts for payments* (2)" in text_of(here)
    assert action_ids(here).count("alert_ack") == 2
    elsewhere = slack.slash("alerts", user="U0FRANK", channel="C0GENERAL").json()
    assert "No open alerts for search." in text_of(elsewhere)
    named = slack.slash("alerts payments", user="U0FRANK", channel="C0GENERAL").json()
    assert "(2)" in text_of(named)
    wrong = slack.slash("alerts billing", user="U0FRANK", channel="C0GENERAL").json()
    assert 'Unknown team "billing"' in wrong["text"] and "/oncall alerts [team]" in wrong["text"]
    # Acknowledge straight from the list, shown as Slack shows a command's answer.
    run_slash(workspace, slack, "U0ALICE", CHANNEL, "/oncall", "alerts")
    shown = workspace.ephemerals(user="U0ALICE")[-1]
    slack.click(shown, "alert_ack", user="U0ALICE", channel=CHANNEL)
    run_jobs()
    after = slack.slash("alerts", user="U0ALICE", channel=CHANNEL).json()
    assert "ACKNOWLEDGED" in text_of(after)
    # The list itself now says what happened, and that alert's Acknowledge button is gone.
    [replaced] = [m for m in workspace.ephemerals(user="U0ALICE") if m["ts"] == shown["ts"]]
    assert replaced["blocks"][0]["text"]["text"].startswith("Acknowledged by <@U0ALICE>")
    assert action_ids(replaced).count("alert_ack") == 1 and "ACKNOWLEDGED" in text_of(replaced)


def test_nobody_on_call_pages_the_channel_and_the_managers(runtime, app_server, run_jobs,
                                                           workspace, slack) -> None:
    # Primary is only on call in the evening; the test clock says 11:00 in Berlin.
    raw = yaml.safe_load(Path(runtime.config.path).read_text())
    raw["teams"]["payments"]["rotations"][0]["active"] = {"from": "20:00", "to": "23:00"}
    runtime.config = parse_config(raw, runtime.config.path)

    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    assert workspace.dms("U0ALICE") == []
    [page] = workspace.dms("U0MANAGER")
    assert any(b.get("type") == "actions" for b in page.get("blocks", []))  # with an Ack button
    notices = [m for m in workspace.messages(CHANNEL) if "Nobody is on call" in m.get("text", "")]
    assert [m["text"] for m in notices] == [
        ":rotating_light: Nobody is on call for *primary* of payments, so atbat paged "
        "<@U0MANAGER>: *critical* PaymentsApiHighErrorRate, firing."]
    alert_message = workspace.messages(CHANNEL)[0]
    assert alert_message["text"].startswith("[FIRING]")
    steps = [t for t in thread(workspace, alert_message) if t.startswith("Escalated")]
    assert steps == ["Escalated to primary: nobody on call, paged <@U0MANAGER>"]
    # The notice and the page tell the truth after a resolve, and the Ack button is gone.
    slack.click(alert_message, "alert_resolve", user="U0MANAGER", channel=CHANNEL)
    run_jobs()
    [notice] = [m for m in workspace.messages(CHANNEL) if m["ts"] == notices[0]["ts"]]
    assert notice["text"].endswith("PaymentsApiHighErrorRate, resolved by <@U0MANAGER>.")
    [page] = page_dms(workspace, "U0MANAGER")
    assert action_ids(page) == [] and "*RESOLVED* by <@U0MANAGER>" in text_of(page)


def test_nobody_on_call_and_the_managers_page_not_reached_yet_says_so(
        runtime, app_server, run_jobs, run_scheduled, clock, workspace, monkeypatch) -> None:
    raw = yaml.safe_load(Path(runtime.config.path).read_text())
    raw["teams"]["payments"]["rotations"][0]["active"] = {"from": "20:00", "to": "23:00"}
    raw["teams"]["payments"]["escalation"]["steps"][0]["after"] = "1m"
    runtime.config = parse_config(raw, runtime.config.path)
    monkeypatch.setattr(runtime.sender, "max_attempts", 2)  # an outage fails fast

    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    workspace.fail_next("chat.postMessage", status=503, count=10_000)  # Slack goes away
    clock.advance(minutes=1)
    run_scheduled()
    run_jobs(allow_failures=True)
    [group] = store.open_groups(runtime.redis, "payments")
    said = [h.text for h in store.get_group(runtime.redis, group.key).history]
    assert "Escalated to primary: nobody on call, paging 1 person, not reached yet" in said
