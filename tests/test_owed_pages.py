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


def post_alert(app_server, name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    assert requests.post(f"{app_server.url}/alerts/alertmanager", data=body, headers=AUTH,
                         timeout=10).status_code == 200


class Fired:
    """The alert fired and its message posted (Slack up); then time passes as the workers
    and the periodic tick see it."""

    def __init__(self, runtime, workspace, clock, run_jobs, run_scheduled) -> None:
        self.runtime, self.workspace, self.clock = runtime, workspace, clock
        self.run_jobs, self.run_scheduled = run_jobs, run_scheduled

    def slack_away(self, *methods: str) -> None:
        """Slack answers 503 to these methods until `slack_back`."""
        for method in methods:
            self.workspace.fail_next(method, status=503, count=10_000)

    def ticks(self, times: int, seconds: float, allow_failures: bool = False) -> None:
        """`times` rounds of: scheduled jobs due, every queued job, `seconds` later."""
        for _ in range(times):
            self.run_scheduled()
            self.run_jobs(allow_failures=allow_failures)
            self.clock.advance(seconds=seconds)

    def slack_back(self, minutes: int, catch_up: bool = True) -> None:
        """Slack answers again; `minutes` rounds of a minute later, scheduled jobs due, the
        tick's catch-up (`catch_up`) and every queued job."""
        self.workspace.faults.clear()
        for _ in range(minutes):
            self.clock.advance(minutes=1)
            self.run_scheduled()
            if catch_up:
                alerts.catch_up(self.runtime, self.runtime.now())
            self.run_jobs()


@pytest.fixture
def fired(app_server, runtime, workspace, clock, run_jobs, run_scheduled) -> Fired:
    post_alert(app_server, "alertmanager_firing.json")
    run_jobs()
    return Fired(runtime, workspace, clock, run_jobs, run_scheduled)


def alert_message(workspace) -> dict[str, Any]:
    [message] = [m for m in workspace.messages(CHANNEL) if m.get("blocks")]
    return message


def thread(workspace) -> list[str]:
    return [m["text"] for m in workspace.replies(CHANNEL, alert_message(workspace)["ts"])]


def test_a_two_minute_slack_outage_delays_the_page_and_the_message_sync_waits(
        fired, clock, workspace) -> None:
    alert_message(workspace)
    fired.slack_away("chat.postMessage", "chat.update")
    clock.advance(minutes=1)
    for _ in range(12):  # two minutes in 10 s steps: every attempt fails
        before = len(workspace.calls)
        fired.ticks(1, seconds=10, allow_failures=True)
        # Each job gives up after its sender's attempts; none spins while Slack is away.
        assert len(workspace.calls) - before < 20
    assert workspace.dms("U0ALICE") == []
    fired.slack_back(minutes=12, catch_up=False)  # the owed page's own retries deliver it
    assert len(workspace.dms("U0ALICE")) == 1  # delivered after the outage, once


def test_a_page_refused_for_good_escalates_at_once_and_says_why(fired, clock, workspace) -> None:
    alert_message(workspace)
    # alice's account is gone: Slack refuses her DM for good.
    workspace.fail_next("chat.postMessage", status=200, count=1, error="account_inactive")
    clock.advance(minutes=1)
    fired.ticks(3, seconds=1)
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
        fired, app_server, clock, workspace, runtime) -> None:
    key = alert_store.open_groups(runtime.redis, "payments")[0].key
    fired.slack_away("chat.postMessage")
    clock.advance(minutes=1)
    fired.ticks(12, seconds=10, allow_failures=True)  # a two-minute outage as the first step comes due
    said = [h.text for h in alert_store.get_group(runtime.redis, key).history]
    assert "Escalated to primary: paging 1 person, not reached yet" in said
    assert not any("<@U0ALICE>" in t for t in said), said  # not named before she is reached
    assert 'atbat_deliveries_owed{kind="page"} 1' in metrics_text(app_server)
    fired.slack_back(minutes=6)  # before the secondary step (11 minutes after firing)
    assert len(workspace.dms("U0ALICE")) == 1
    assert escalation_lines(workspace) == [
        "Escalated to primary: paging 1 person, not reached yet",
        "Escalated to primary: <@U0ALICE>"]
    assert 'atbat_deliveries_owed{kind="page"} 0' in metrics_text(app_server)


def test_a_page_reached_at_once_is_named_in_the_escalation_line_alone(
        fired, clock, workspace) -> None:
    clock.advance(minutes=1)
    fired.ticks(3, seconds=20)
    assert escalation_lines(workspace) == ["Escalated to primary: <@U0ALICE>"]


CHANNEL_FIRST = [{"after": "1m", "notify": "channel"}, {"after": "11m", "notify": "secondary"}]


@pytest.mark.parametrize("steps", [CHANNEL_FIRST])
def test_a_channel_step_during_an_outage_is_posted_once_after_and_recorded(
        fired, clock, workspace, runtime) -> None:
    fired.slack_away("chat.postMessage")
    clock.advance(minutes=1)
    fired.ticks(12, seconds=10, allow_failures=True)  # two minutes as the channel step comes due
    fired.slack_back(minutes=5)
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
        fired, clock, workspace) -> None:
    clock.advance(minutes=1)
    fired.ticks(3, seconds=20)
    assert [t for t in thread(workspace) if t.startswith("Escalated to channel")] == [
        "Escalated to channel: the channel"]


@pytest.mark.parametrize("steps", [CHANNEL_FIRST])
def test_a_channel_step_refused_for_good_pages_the_next_step_at_once(
        fired, clock, workspace) -> None:
    workspace.fail_next("chat.postMessage", status=200, count=1, error="is_archived")
    clock.advance(minutes=1)
    fired.ticks(3, seconds=1)
    assert len(workspace.dms("U0DAVE")) == 1  # not ten minutes later
    assert any("The team channel cannot be reached (Slack answered is_archived); escalating "
               "to the next step now" in t for t in thread(workspace)), thread(workspace)


@pytest.mark.parametrize("steps", [CHANNEL_FIRST])
def test_a_channel_step_owed_through_an_outage_is_dropped_once_the_alert_is_resolved(
        fired, app_server, clock, workspace) -> None:
    fired.slack_away("chat.postMessage", "chat.update")
    clock.advance(minutes=1)
    fired.ticks(6, seconds=10, allow_failures=True)
    post_alert(app_server, "alertmanager_resolved.json")
    fired.slack_back(minutes=6)
    assert not [m for m in workspace.messages(CHANNEL) if m["text"].startswith("<!channel>")]
    assert 'atbat_deliveries_owed{kind="alert_page"} 0' in metrics_text(app_server)


def test_an_owed_page_stops_counting_as_owed_once_its_alert_is_resolved(
        fired, app_server, clock) -> None:
    fired.slack_away("chat.postMessage")
    clock.advance(minutes=1)
    fired.ticks(1, seconds=0, allow_failures=True)
    assert 'atbat_deliveries_owed{kind="page"} 1' in metrics_text(app_server)
    post_alert(app_server, "alertmanager_resolved.json")
    assert 'atbat_deliveries_owed{kind="page"} 0' in metrics_text(app_server)
