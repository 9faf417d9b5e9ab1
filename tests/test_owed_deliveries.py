"""Slack calls are owed until Slack accepts them (bot/services/deliveries.py).

Queued messages, handoff announcements and run requests wait out a Slack
outage of any length (the clock is moved, no real waits) and lost jobs; a call
Slack refuses for good is counted and its owner told. /metrics and /healthz
show what is owed and what failed, from Redis.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import requests

from bot.domain.deliveries import Delivery, retryable
from bot.runtime import QUEUE_NAMES
from bot.services import deliveries, messages
from bot.services.handoffs import check_handoffs
from bot.store import deliveries as store
from bot.store import remediation as run_store
from tests.conftest import METRICS_TOKEN
from tests.test_handoffs import two_workers_check
from tests.test_remediation_e2e import config  # noqa: F401 (the config fixture: shared config plus harmless runbooks)

CHANNEL = "C0PAYMENTS"
METRICS = {"Authorization": f"Bearer {METRICS_TOKEN}"}




@pytest.fixture(autouse=True)
def quick_sender(runtime, monkeypatch) -> None:
    monkeypatch.setattr(runtime.sender, "max_attempts", 2)  # an outage fails fast


def slack_down(workspace, *methods: str) -> None:
    for method in methods or ("chat.postMessage", "chat.update"):
        workspace.fail_next(method, status=503, count=10_000)


def wait_out(clock, run_scheduled, run_jobs, minutes: int, step_seconds: int = 10) -> None:
    """Let `minutes` pass in steps, running what comes due (Slack may be down meanwhile)."""
    for _ in range(minutes * 60 // step_seconds):
        clock.advance(seconds=step_seconds)
        run_scheduled()
        run_jobs()


def lose_every_job(runtime) -> None:
    """What a Redis that lost RQ's keys, or workers that died holding them, leaves behind."""
    for name in QUEUE_NAMES:
        queue = runtime.queue(name)
        queue.empty()
        for job_id in queue.scheduled_job_registry.get_job_ids():
            queue.scheduled_job_registry.remove(job_id)


def gauge(app_server, kind: str) -> int:
    text = requests.get(f"{app_server.url}/metrics", timeout=5, headers=METRICS).text
    found = re.search(rf'^atbat_deliveries_owed{{kind="{kind}"}} (\d+)$', text, re.M)
    assert found, text
    return int(found.group(1))


def texts(workspace, channel: str = CHANNEL) -> list[str]:
    return [m.get("text") or "" for m in workspace.messages(channel)]


# ---------------------------------------------------------------- queued messages


def test_a_queued_message_waits_out_an_outage_and_lost_jobs_and_arrives_once(
        runtime, run_jobs, run_scheduled, clock, workspace, app_server) -> None:
    slack_down(workspace)
    messages.post(runtime, CHANNEL, "the deploy is done")
    run_jobs()
    wait_out(clock, run_scheduled, run_jobs, minutes=3)
    assert texts(workspace) == []
    assert gauge(app_server, "message") == 1
    health = requests.get(f"{app_server.url}/healthz", timeout=5, headers=METRICS).json()
    assert health["deliveries"]["owed"]["message"] == 1
    assert requests.get(f"{app_server.url}/healthz", timeout=5).json() == {"status": "ok"}

    lose_every_job(runtime)  # workers restarted with Redis failing over: the retry job is gone
    workspace.faults.clear()  # Slack is back
    clock.advance(minutes=10)
    run_scheduled()
    assert run_jobs() == 0  # nothing left to run it...
    deliveries.check_owed(runtime, runtime.now())  # ...but the periodic check finds it owed
    deliveries.check_owed(runtime, runtime.now())  # twice, as two workers would: queued once
    assert run_jobs() == 1
    assert texts(workspace) == ["the deploy is done"]
    assert gauge(app_server, "message") == 0
    assert not list(runtime.redis.scan_iter("atbat:delivery:*"))  # nothing kept once delivered


def test_a_newer_update_supersedes_an_older_one_still_owed(
        runtime, run_jobs, run_scheduled, clock, workspace) -> None:
    answer = runtime.sender.call("chat.postMessage", channel=CHANNEL, text="v0")
    slack_down(workspace, "chat.update")
    messages.update(runtime, CHANNEL, answer["ts"], {"text": "v1"})
    run_jobs()
    messages.update(runtime, CHANNEL, answer["ts"], {"text": "v2"})
    run_jobs()
    workspace.faults.clear()
    wait_out(clock, run_scheduled, run_jobs, minutes=2)
    assert texts(workspace) == ["v2"]
    accepted = [c for c in workspace.calls_to("chat.update") if c.response.get("ok")]
    assert [c.args["text"] for c in accepted] == ["v2"]


def test_a_message_slack_refuses_for_good_is_counted_as_failed(
        runtime, run_jobs, workspace, app_server) -> None:
    messages.post(runtime, "C0GONE", "into the void")
    run_jobs()
    assert [c.response.get("error") for c in workspace.calls_to("chat.postMessage")] == [
        "channel_not_found"]  # once: a refusal is not retried
    text = requests.get(f"{app_server.url}/metrics", timeout=5, headers=METRICS).text
    assert 'atbat_deliveries_failed_total{kind="message"} 1' in text
    assert 'atbat_deliveries_owed{kind="message"} 0' in text
    health = requests.get(f"{app_server.url}/healthz", timeout=5, headers=METRICS).json()
    assert health["deliveries"]["failed"] == {"message": 1}


# ---------------------------------------------------------------- handoffs


def test_a_handoff_during_a_slack_outage_is_announced_once_after(
        runtime, run_jobs, run_scheduled, clock, workspace, app_server) -> None:
    slack_down(workspace, "chat.postMessage")
    two_workers_check(runtime, run_jobs)
    wait_out(clock, run_scheduled, run_jobs, minutes=2)
    for _ in range(3):  # the ticks go on during the outage
        check_handoffs(runtime, runtime.now())
        run_jobs()
    assert texts(workspace) == []
    owed = gauge(app_server, "handoff")  # payments primary and secondary, and search's
    assert owed >= 2

    workspace.faults.clear()
    wait_out(clock, run_scheduled, run_jobs, minutes=6)
    two_workers_check(runtime, run_jobs)
    announcements = [t for t in texts(workspace) if t.startswith(":pager:")]
    assert len(announcements) == 2, announcements
    assert any("<@U0ALICE> is on call for *payments primary* since" in t for t in announcements)
    assert any("<@U0DAVE> is on call for *payments secondary* since" in t for t in announcements)
    assert gauge(app_server, "handoff") == 0
    # Each announcement's record stays as its claim, without what was sent.
    kept = [json.loads(runtime.redis.get(k)) for k in runtime.redis.scan_iter("atbat:delivery:handoff:*")]
    assert kept and all(d["state"] == "done" and d["args"] == {} for d in kept)


# ---------------------------------------------------------------- run requests


def ask_run(slack, text: str, user: str = "U0ALICE") -> str:
    answer = slack.slash(text, user=user, channel=CHANNEL).json()["text"]
    found = re.search(r"`(r[0-9a-f]{10})`", answer)
    assert found, answer
    return found.group(1)


def request_message(workspace, ident: str) -> dict[str, Any] | None:
    for message in workspace.messages(CHANNEL, include_replies=True):
        if f"Run request {ident}" in (message.get("text") or ""):
            return message
    return None


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


def test_a_run_request_asked_during_an_outage_gets_its_approve_button_after(
        slack, runtime, run_jobs, run_scheduled, clock, workspace) -> None:
    slack_down(workspace, "chat.postMessage")
    ident = ask_run(slack, "run restart-api service=payments-api")
    run_jobs()
    wait_out(clock, run_scheduled, run_jobs, minutes=2)
    assert request_message(workspace, ident) is None
    workspace.faults.clear()
    wait_out(clock, run_scheduled, run_jobs, minutes=3)  # the next attempt, backed off to 2 min
    message = request_message(workspace, ident)
    assert message is not None and "run_approve" in buttons(message)
    assert len([m for m in workspace.messages(CHANNEL) if f"Run request {ident}" in m["text"]]) == 1
    response = slack.click(message, "run_approve", user="U0MANAGER", channel=CHANNEL)
    assert response.status_code == 200
    run_jobs()
    assert run_store.get_run(runtime.redis, ident).state == "succeeded"


def test_a_run_request_slack_refuses_for_good_fails_frees_its_lock_and_tells_the_requester(
        slack, runtime, run_jobs, workspace) -> None:
    workspace.fail_next("chat.postMessage", status=200, count=1, error="channel_not_found")
    ident = ask_run(slack, "run restart-api service=payments-api")
    run_jobs()
    req = run_store.get_run(runtime.redis, ident)
    assert req.state == "failed" and "channel_not_found" in req.reason
    [dm] = workspace.dms("U0ALICE")
    assert f"`{ident}`" in dm["text"] and "could not be posted" in dm["text"]
    assert "channel_not_found" in dm["text"] and "It was not run" in dm["text"]
    again = ask_run(slack, "run restart-api service=payments-api")  # the lock went with it
    run_jobs()
    assert again != ident and request_message(workspace, again) is not None


def test_a_run_request_owed_past_its_expiry_fails_and_the_requester_is_told(
        slack, runtime, run_jobs, run_scheduled, clock, workspace) -> None:
    slack_down(workspace, "chat.postMessage")
    ident = ask_run(slack, "run restart-api service=payments-api")
    run_jobs()
    wait_out(clock, run_scheduled, run_jobs, minutes=20, step_seconds=60)
    workspace.faults.clear()
    wait_out(clock, run_scheduled, run_jobs, minutes=6, step_seconds=60)
    assert request_message(workspace, ident) is None  # never an Approve button for a dead request
    assert run_store.get_run(runtime.redis, ident).state in ("failed", "expired")
    [dm] = workspace.dms("U0ALICE")
    assert "expired before Slack accepted it" in dm["text"]
    assert json.dumps(dm).count(ident) >= 1


def test_a_run_finishing_during_an_outage_reports_in_its_thread_after(
        slack, runtime, run_jobs, run_scheduled, clock, workspace) -> None:
    ident = ask_run(slack, "run restart-api service=payments-api")
    run_jobs()
    message = request_message(workspace, ident)
    assert message is not None
    slack_down(workspace)
    slack.click(message, "run_approve", user="U0MANAGER", channel=CHANNEL)
    run_jobs()
    assert run_store.get_run(runtime.redis, ident).state == "succeeded"
    replies = [m.get("text") or "" for m in workspace.replies(CHANNEL, message["ts"])]
    assert not any(ident in t and "Succeeded" in t for t in replies)
    workspace.faults.clear()
    wait_out(clock, run_scheduled, run_jobs, minutes=3)
    replies = [m.get("text") or "" for m in workspace.replies(CHANNEL, message["ts"])]
    assert any("Approved by <@U0MANAGER>" in t for t in replies), replies
    assert len([t for t in replies if f"`{ident}`" in t and "Succeeded" in t]) == 1, replies
    final = request_message(workspace, ident)
    assert not buttons(final) or "run_approve" not in buttons(final)  # redrawn: spent buttons gone


# ---------------------------------------------------------------- swap requests


def test_a_swap_asked_during_an_outage_reaches_the_invitee_after_and_its_answer_updates_it(
        slack, runtime, run_jobs, run_scheduled, clock, workspace) -> None:
    slack_down(workspace, "chat.postMessage")
    body = slack.slash(f"swap {slack.mention('U0BOB')}", user="U0ALICE", channel=CHANNEL).json()
    assert body["text"].startswith("Sent to <@U0BOB>"), body["text"]
    run_jobs()
    wait_out(clock, run_scheduled, run_jobs, minutes=2)
    assert workspace.dms("U0BOB") == []
    workspace.faults.clear()
    wait_out(clock, run_scheduled, run_jobs, minutes=3)
    [dm] = workspace.dms("U0BOB")
    slack.click(dm, "swap_accept", user="U0BOB", channel="D0BOB")
    run_jobs()
    answered = workspace.dms("U0BOB")[-1]  # the remembered DM is the one updated
    assert "*Accepted by <@U0BOB>*" in answered["text"] and "swap_accept" not in str(answered)


# ---------------------------------------------------------------- the pieces


@pytest.mark.parametrize(("error", "again"), [
    ("gave up after 6 attempts (HTTP 503)", True), ("gave up after 2 attempts (connection error: "
                                                    "ConnectionError)", True),
    ("ratelimited", True), ("internal_error", True), ("channel_not_found", False),
    ("account_inactive", False), ("invalid_blocks", False), ("is_archived", False)])
def test_only_an_absent_slack_is_worth_another_attempt(error: str, again: bool) -> None:
    assert retryable(error) is again


def test_a_delivery_survives_its_record_and_backs_off_to_five_minutes(clock) -> None:
    now = clock()
    d = Delivery(id="handoff:x", kind="handoff", method="chat.postMessage", args={"text": "hi"},
                 created_at=now, expires_at=now + timedelta(hours=1),
                 on_accepted=("workers.x", {"a": 1}), keep=False)
    assert Delivery.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    waits = [replace(d, attempts=n).next_attempt(now) - now for n in range(7)]
    assert waits == [timedelta(seconds=15), timedelta(seconds=30), timedelta(minutes=1),
                     timedelta(minutes=2)] + [timedelta(minutes=5)] * 3
    assert not d.expired(now + timedelta(minutes=59)) and d.expired(now + timedelta(hours=1))


def test_owing_twice_owes_once_and_a_newer_version_outlives_the_older_send(
        runtime, clock) -> None:
    r = runtime.redis
    d = Delivery(id="message:m", kind="message", method="chat.update", args={"text": "v1"},
                 created_at=clock())
    first = store.owe(r, d)
    assert first is not None and store.owe(r, d) is None
    assert store.owed_counts(r, ["message", "handoff"]) == {"message": 1, "handoff": 0}
    second = store.owe(r, replace(d, args={"text": "v2"}), replace_owed=True)
    assert second is not None and second.nonce != first.nonce
    assert store.start_sending(r, d.id) and not store.start_sending(r, d.id)
    assert not store.finish(r, first, "done")  # v1's send ended after v2 was owed
    assert store.get(r, d.id).args == {"text": "v2"} and store.due(r, ["message"], clock()) == [d.id]
    assert store.finish(r, second, "owed", next_at=clock() + timedelta(seconds=15))
    assert store.due(r, ["message"], clock()) == []
    assert store.get(r, d.id).attempts == 1
    assert store.finish(r, store.get(r, d.id), "done")
    assert store.owed_counts(r, ["message"]) == {"message": 0}
    assert store.get(r, d.id).args == {}  # kept as the claim, without what was sent


def test_a_cover_request_asked_during_an_outage_is_posted_after_and_takeable(
        slack, runtime, run_jobs, run_scheduled, clock, workspace) -> None:
    slack_down(workspace, "chat.postMessage")
    answer = slack.slash("cover-request tomorrow payments", user="U0ALICE", channel=CHANNEL).json()
    assert answer["text"].startswith("Asked payments who can cover you"), answer
    run_jobs()
    wait_out(clock, run_scheduled, run_jobs, minutes=2)
    assert not [m for m in workspace.messages(CHANNEL) if "needs cover" in m["text"]]
    workspace.faults.clear()
    wait_out(clock, run_scheduled, run_jobs, minutes=3)
    [message] = [m for m in workspace.messages(CHANNEL) if "needs cover" in m["text"]]
    slack.click(message, "cover_take", user="U0BOB", channel=CHANNEL)
    run_jobs()
    taken = workspace.find_message(CHANNEL, message["ts"])
    assert taken is not None and taken["text"] != message["text"]  # remembered, so redrawn
    assert "cover_take" not in json.dumps(taken.get("blocks") or [])
