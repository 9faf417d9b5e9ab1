"""The walking skeleton end to end: signed HTTP in, Redis, an RQ job, the Web API out."""

from __future__ import annotations

import time

import pytest
import requests

from bot.fakeslack.client import sign
from bot.slack.sender import Sender, SlackCallError
from tests.conftest import METRICS_TOKEN, SIGNING_SECRET

METRICS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def test_signed_help_answers_usage(slack, workspace) -> None:
    response = slack.slash("help", user="U0ALICE", channel="C0PAYMENTS")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "/oncall help" in body["text"]


def test_unknown_subcommand_is_named_with_a_hint(slack) -> None:
    body = slack.slash("xyz", user="U0ALICE", channel="C0PAYMENTS").json()
    assert body == {"response_type": "ephemeral", "text": 'Unknown command "xyz". Try /oncall help.'}


def test_unbalanced_quotes_are_explained(slack) -> None:
    body = slack.slash('help "oops', user="U0ALICE", channel="C0PAYMENTS").json()
    assert "Could not read the command" in body["text"] and "quot" in body["text"]


def test_prose_with_an_apostrophe_is_not_a_quoting_error(slack) -> None:
    body = slack.slash("note we can't reproduce it", user="U0ALICE", channel="C0GENERAL").json()
    assert "Could not read" not in body["text"]
    assert "incident channel" in body["text"]


def _post(app_server, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{app_server.url}/slack/events", data=body, headers=headers, timeout=5)


def test_tampered_old_or_unsigned_requests_are_refused(slack, app_server) -> None:
    slack.slash("help", user="U0ALICE", channel="C0PAYMENTS")
    original = slack.last_request
    tampered = original.body.replace(b"help", b"xelp")
    assert _post(app_server, tampered, original.headers).status_code == 401

    old = int(time.time()) - 6 * 60
    stale_headers = dict(original.headers)
    stale_headers["X-Slack-Request-Timestamp"] = str(old)
    stale_headers["X-Slack-Signature"] = sign(SIGNING_SECRET, old, original.body)
    assert _post(app_server, original.body, stale_headers).status_code == 401

    assert _post(app_server, original.body,
                 {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
    wrong_secret = dict(original.headers)
    wrong_secret["X-Slack-Signature"] = sign("another-secret", original.headers[
        "X-Slack-Request-Timestamp"], original.body)
    assert _post(app_server, original.body, wrong_secret).status_code == 401


def test_slack_retry_of_a_handled_request_does_nothing_twice(slack, runtime) -> None:
    first = slack.slash('incident "Checkout is slow" sev3', user="U0ALICE", channel="C0PAYMENTS")
    assert first.status_code == 200 and first.content

    def queued() -> int:
        return sum(runtime.queue(name).count for name in ("atbat-urgent", "atbat-default"))

    jobs = queued()
    assert jobs >= 1  # the incident's setup
    retry = slack.replay(retry_num=1)
    assert retry.status_code == 200
    assert retry.content == b""  # acknowledged, not handled again
    assert queued() == jobs


def test_a_query_is_answered_without_a_claim_and_again_on_retry(slack, runtime) -> None:
    first = slack.slash("help", user="U0ALICE", channel="C0PAYMENTS")
    assert "/oncall help" in first.json()["text"]
    assert not list(runtime.redis.scan_iter("atbat:seen:*"))  # no round trip before the ack
    retry = slack.replay(retry_num=1)
    assert retry.json()["text"] == first.json()["text"]  # nothing to do twice: answered again


def test_job_runs_in_a_real_worker_and_reaches_slack(runtime, run_jobs, workspace) -> None:
    runtime.enqueue("workers.slack.call", "chat.postMessage",
                    {"channel": "C0PAYMENTS", "text": "hello from a worker"})
    assert run_jobs() == 2  # the job owes the call (bot.services.deliveries), a second makes it
    texts = [m.get("text") for m in workspace.messages("C0PAYMENTS")]
    assert texts == ["hello from a worker"]


def test_a_respond_job_of_an_older_version_is_owed_and_answers(runtime, run_jobs, workspace) -> None:
    url = workspace.new_response_url("C0PAYMENTS", "U0ALICE")
    runtime.enqueue("workers.slack.respond", url, {"response_type": "ephemeral",
                                                   "text": "answered by a worker"})
    assert run_jobs() == 2  # the job owes the answer, a second makes it
    assert [m.get("text") for m in workspace.ephemerals("C0PAYMENTS", "U0ALICE")] == [
        "answered by a worker"]


def test_sender_survives_429_and_500_and_delivers_once(slack_server, workspace) -> None:
    waits: list[float] = []
    sender = Sender(slack_server.api_url, "xoxb-test-token", backoff=0.01, sleep=waits.append)
    workspace.fail_next("chat.postMessage", status=429, retry_after=2)
    workspace.fail_next("chat.postMessage", status=500)
    sender.call("chat.postMessage", channel="C0PAYMENTS", text="survivor")
    assert waits[0] == 2.0  # honoured Retry-After
    assert [m.get("text") for m in workspace.messages("C0PAYMENTS")] == ["survivor"]
    statuses = [c.status for c in workspace.calls_to("chat.postMessage")]
    assert statuses == [429, 500, 200]


def test_sender_gives_up_and_reports_refusals(slack_server, workspace) -> None:
    sender = Sender(slack_server.api_url, "xoxb-test-token", backoff=0.0, max_attempts=2,
                    sleep=lambda _: None)
    with pytest.raises(SlackCallError, match="channel_not_found"):
        sender.call("chat.postMessage", channel="C0NOPE", text="x")
    workspace.fail_next("chat.postMessage", status=503, count=5)
    with pytest.raises(SlackCallError, match="gave up after 2 attempts"):
        sender.call("chat.postMessage", channel="C0PAYMENTS", text="x")
    bad = Sender(slack_server.api_url, "xoxb-wrong", sleep=lambda _: None)
    with pytest.raises(SlackCallError, match="invalid_auth"):
        bad.call("auth.test")


def test_healthz_and_metrics(slack, app_server) -> None:
    health = requests.get(f"{app_server.url}/healthz", timeout=5, headers=METRICS)
    assert health.status_code == 200
    assert health.json()["redis"] is True
    assert set(health.json()["queues"]) == {"atbat-urgent", "atbat-default", "atbat-runs"}
    slack.slash("help", user="U0ALICE", channel="C0PAYMENTS")
    text = requests.get(f"{app_server.url}/metrics", timeout=5, headers=METRICS).text
    assert 'atbat_http_requests_total{route="/slack/events",method="POST",status="200"} 1' in text
    assert "atbat_oncall_command_seconds_count 1" in text
    assert 'atbat_queue_depth{queue="atbat-default"} 0' in text


def test_redis_down_answers_clearly_and_recovers(slack, app_server, redis_server) -> None:
    redis_server.stop()
    try:
        help_reply = slack.slash("help", user="U0ALICE", channel="C0PAYMENTS")
        assert help_reply.status_code == 200
        assert "/oncall help" in help_reply.json()["text"]
        health = requests.get(f"{app_server.url}/healthz", timeout=10, headers=METRICS)
        assert health.status_code == 503
        assert health.json()["redis"] is False
        assert requests.get(f"{app_server.url}/healthz", timeout=10).json() == {
            "status": "unavailable"}
        metrics = requests.get(f"{app_server.url}/metrics", timeout=10, headers=METRICS)
        assert metrics.status_code == 503
    finally:
        redis_server.start()
    assert requests.get(f"{app_server.url}/healthz", timeout=5).status_code == 200
