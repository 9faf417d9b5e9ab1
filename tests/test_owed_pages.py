"""Pages during a Slack outage and pages Slack refuses for good.

A page is owed until Slack accepts it (bot/services/paging.py retries it); the
alert's own message waits for Slack without spinning; a page refused for good
pages the next escalation step at once and the thread says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.config import Config, load_config
from bot.services import alerts
from bot.store import alerts as alert_store
from tests.conftest import ALERT_TOKEN, FIXTURES, METRICS_TOKEN

CHANNEL = "C0PAYMENTS"
AUTH = {"Authorization": f"Bearer {ALERT_TOKEN}"}


@pytest.fixture
def steps() -> list[dict[str, str]]:
    return [{"after": "1m", "notify": "primary"}, {"after": "11m", "notify": "secondary"},
            {"after": "21m", "notify": "managers"}]


@pytest.fixture
def config(tmp_path: Path, steps: list[dict[str, str]]) -> Config:
    """The shared config, with payments' first step a minute after firing: the alert's
    own message is posted before Slack goes away."""
    data = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    data["teams"]["payments"]["escalation"]["steps"] = steps
    path = tmp_path / "atbat.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


@pytest.fixture(autouse=True)
def quick_sender(runtime, monkeypatch) -> None:
    monkeypatch.setattr(runtime.sender, "max_attempts", 2)  # an outage fails fast


def fire(app_server) -> None:
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    assert requests.post(f"{app_server.url}/alerts/alertmanager", data=body, headers=AUTH,
                         timeout=10).status_code == 200


def alert_message(workspace) -> dict[str, Any]:
    [message] = [m for m in workspace.messages(CHANNEL) if m.get("blocks")]
    return message


def thread(workspace) -> list[str]:
    return [m["text"] for m in workspace.replies(CHANNEL, alert_message(workspace)["ts"])]


def test_a_two_minute_slack_outage_delays_the_page_and_the_message_sync_waits(
        app_server, run_jobs, run_scheduled, clock, workspace, runtime) -> None:
    fire(app_server)
    run_jobs()
    alert_message(workspace)
    workspace.fail_next("chat.postMessage", status=503, count=10_000)
    workspace.fail_next("chat.update", status=503, count=10_000)
    clock.advance(minutes=1)
    for _ in range(12):  # two minutes in 10 s steps: every attempt fails
        before = len(workspace.calls)
        run_scheduled()
        run_jobs(allow_failures=True)
        # Each job gives up after its sender's attempts; none spins while Slack is away.
        assert len(workspace.calls) - before < 20
        clock.advance(seconds=10)
    assert workspace.dms("U0ALICE") == []
    workspace.faults.clear()  # Slack is back
    for _ in range(12):
        clock.advance(minutes=1)
        run_scheduled()
        run_jobs()
    assert len(workspace.dms("U0ALICE")) == 1  # delivered after the outage, once


def test_a_page_refused_for_good_escalates_at_once_and_says_why(
        app_server, run_jobs, run_scheduled, clock, workspace) -> None:
    fire(app_server)
    run_jobs()
    alert_message(workspace)
    # alice's account is gone: Slack refuses her DM for good.
    workspace.fail_next("chat.postMessage", status=200, count=1, error="account_inactive")
    clock.advance(minutes=1)
    for _ in range(3):
        run_scheduled()
        run_jobs()
        clock.advance(seconds=1)
    assert workspace.dms("U0ALICE") == []
    assert len(workspace.dms("U0DAVE")) == 1  # the next step at once, not ten minutes later
    replies = thread(workspace)
    assert any("<@U0ALICE> cannot be reached" in t and "account_inactive" in t
               and "escalating to the next step now" in t for t in replies), replies


def metrics_text(app_server) -> str:
    return requests.get(f"{app_server.url}/metrics", timeout=5,
                        headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text


def escalation_lines(workspace) -> list[str]:
    return [t for t in thread(workspace) if t.startswith("Escalated")]


def test_the_thread_names_a_person_only_once_their_page_reached_them(
        app_server, run_jobs, run_scheduled, clock, workspace, runtime) -> None:
    fire(app_server)
    run_jobs()
    key = alert_store.open_groups(runtime.redis, "payments")[0].key
    workspace.fail_next("chat.postMessage", status=503, count=10_000)
    clock.advance(minutes=1)
    for _ in range(12):  # a two-minute outage while the first step comes due
        run_scheduled()
        run_jobs(allow_failures=True)
        clock.advance(seconds=10)
    said = [h.text for h in alert_store.get_group(runtime.redis, key).history]
    assert "Escalated to primary: paging 1 person, not reached yet" in said
    assert not any("<@U0ALICE>" in t for t in said), said  # not named before she is reached
    assert 'atbat_deliveries_owed{kind="page"} 1' in metrics_text(app_server)
    workspace.faults.clear()
    for _ in range(6):  # before the secondary step (11 minutes after firing)
        clock.advance(minutes=1)
        run_scheduled()
        alerts.catch_up(runtime, runtime.now())  # as the periodic tick does
        run_jobs()
    assert len(workspace.dms("U0ALICE")) == 1
    assert escalation_lines(workspace) == [
        "Escalated to primary: paging 1 person, not reached yet",
        "Escalated to primary: <@U0ALICE>"]
    assert 'atbat_deliveries_owed{kind="page"} 0' in metrics_text(app_server)


def test_a_page_reached_at_once_is_named_in_the_escalation_line_alone(
        app_server, run_jobs, run_scheduled, clock, workspace) -> None:
    fire(app_server)
    run_jobs()
    clock.advance(minutes=1)
    for _ in range(3):
        run_scheduled()
        run_jobs()
        clock.advance(seconds=20)
    assert escalation_lines(workspace) == ["Escalated to primary: <@U0ALICE>"]


CHANNEL_FIRST = [{"after": "1m", "notify": "channel"}, {"after": "11m", "notify": "secondary"}]


@pytest.mark.parametrize("steps", [CHANNEL_FIRST])
def test_a_channel_step_during_an_outage_is_posted_once_after_and_recorded(
        app_server, run_jobs, run_scheduled, clock, workspace, runtime) -> None:
    fire(app_server)
    run_jobs()
    workspace.fail_next("chat.postMessage", status=503, count=10_000)
    clock.advance(minutes=1)
    for _ in range(12):  # two minutes of outage as the channel step comes due
        run_scheduled()
        run_jobs(allow_failures=True)
        clock.advance(seconds=10)
    workspace.faults.clear()
    for _ in range(5):
        clock.advance(minutes=1)
        run_scheduled()
        alerts.catch_up(runtime, runtime.now())
        run_jobs()
    pages = [m for m in workspace.messages(CHANNEL) if m["text"].startswith("<!channel> Alert")]
    assert len(pages) == 1  # posted once Slack was back
    key = alert_store.open_groups(runtime.redis, "payments")[0].key
    [page] = alert_store.get_pages(runtime.redis, key, 1)
    assert page.kind == "channel"  # recorded: kept showing the alert's state
    # The thread names the channel as reached only once Slack took the post, and once.
    lines = [t for t in thread(workspace) if t.startswith("Escalated to channel")]
    assert lines == ["Escalated to channel: posting in the channel, not accepted yet",
                     "Escalated to channel: the channel"], lines


@pytest.mark.parametrize("steps", [CHANNEL_FIRST])
def test_a_channel_step_posted_at_once_is_named_in_the_escalation_line_alone(
        app_server, run_jobs, run_scheduled, clock, workspace) -> None:
    fire(app_server)
    run_jobs()
    clock.advance(minutes=1)
    for _ in range(3):
        run_scheduled()
        run_jobs()
        clock.advance(seconds=20)
    assert [t for t in thread(workspace) if t.startswith("Escalated to channel")] == [
        "Escalated to channel: the channel"]


@pytest.mark.parametrize("steps", [CHANNEL_FIRST])
def test_a_channel_step_refused_for_good_pages_the_next_step_at_once(
        app_server, run_jobs, run_scheduled, clock, workspace) -> None:
    fire(app_server)
    run_jobs()
    workspace.fail_next("chat.postMessage", status=200, count=1, error="is_archived")
    clock.advance(minutes=1)
    for _ in range(3):
        run_scheduled()
        run_jobs()
        clock.advance(seconds=1)
    assert len(workspace.dms("U0DAVE")) == 1  # not ten minutes later
    assert any("The team channel cannot be reached (Slack answered is_archived); escalating "
               "to the next step now" in t for t in thread(workspace)), thread(workspace)


@pytest.mark.parametrize("steps", [CHANNEL_FIRST])
def test_a_channel_step_owed_through_an_outage_is_dropped_once_the_alert_is_resolved(
        app_server, run_jobs, run_scheduled, clock, workspace, runtime) -> None:
    fire(app_server)
    run_jobs()
    workspace.fail_next("chat.postMessage", status=503, count=10_000)
    workspace.fail_next("chat.update", status=503, count=10_000)
    clock.advance(minutes=1)
    for _ in range(6):
        run_scheduled()
        run_jobs(allow_failures=True)
        clock.advance(seconds=10)
    body = (FIXTURES / "alertmanager_resolved.json").read_bytes()
    assert requests.post(f"{app_server.url}/alerts/alertmanager", data=body, headers=AUTH,
                         timeout=10).status_code == 200
    workspace.faults.clear()
    for _ in range(6):
        clock.advance(minutes=1)
        run_scheduled()
        alerts.catch_up(runtime, runtime.now())
        run_jobs()
    assert not [m for m in workspace.messages(CHANNEL) if m["text"].startswith("<!channel>")]
    assert 'atbat_deliveries_owed{kind="alert_page"} 0' in metrics_text(app_server)


def test_an_owed_page_stops_counting_as_owed_once_its_alert_is_resolved(
        app_server, run_jobs, run_scheduled, clock, workspace) -> None:
    fire(app_server)
    run_jobs()
    workspace.fail_next("chat.postMessage", status=503, count=10_000)
    clock.advance(minutes=1)
    run_scheduled()
    run_jobs(allow_failures=True)
    assert 'atbat_deliveries_owed{kind="page"} 1' in metrics_text(app_server)
    body = (FIXTURES / "alertmanager_resolved.json").read_bytes()
    assert requests.post(f"{app_server.url}/alerts/alertmanager", data=body, headers=AUTH,
                         timeout=10).status_code == 200
    assert 'atbat_deliveries_owed{kind="page"} 0' in metrics_text(app_server)
