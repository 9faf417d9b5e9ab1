"""Maintenance windows and snoozes end to end: alerts shown but paging nobody, then paging
again from the current step exactly once, with two workers at the end."""

from __future__ import annotations

import threading

import pytest

from bot.domain.alerts import group_key_for
from bot.services import alerts, maintenance
from bot.services import alerts as alert_service
from bot.services import maintenance as service
from bot.store import audit
from bot.store import maintenance as store
from tests.test_alerts_e2e import (
    CHANNEL,
    action_ids,
    firing_key,
    fixture,
    post_am,
    post_event,
    text_of,
    the_message,
    thread,
)

ROUTING = {"Content-Type": "application/json"}


def channel_texts(workspace) -> list[str]:
    return [m.get("text", "") for m in workspace.messages(CHANNEL)]


def last_reply(slack, text: str, user: str, channel: str = CHANNEL) -> str:
    return slack.slash(text, user, channel).json()["text"]


def actions(runtime, prefix: str) -> list[str]:
    return [e["action"] for e in reversed(audit.recent(runtime.redis, 200, prefix))]


def both_at_once(*calls) -> None:
    threads = [threading.Thread(target=fn, args=args) for fn, *args in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---------------------------------------------------------------- maintenance


def test_alerts_in_maintenance_are_shown_page_nobody_and_page_once_at_the_end(
        app_server, run_jobs, run_scheduled, workspace, slack, runtime, clock) -> None:
    answer = last_reply(slack, "maintenance payments 1h db migration", "U0ALICE")
    assert "is on until" in answer, answer
    run_jobs()
    [started] = [t for t in channel_texts(workspace) if "has started" in t]
    assert "<@U0ALICE>" in started and "db migration" in started
    who = slack.slash("who payments", "U0BOB", CHANNEL).json()["text"]
    assert "is in maintenance" in who

    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    message = next(m for m in workspace.messages(CHANNEL) if "PaymentsApi" in text_of(m))
    assert "In maintenance" in text_of(message) and "FIRING" in text_of(message)
    assert workspace.dms("U0ALICE") == []
    clock.advance(minutes=30)
    run_scheduled()
    run_jobs()
    assert workspace.dms("U0ALICE") == [] and workspace.dms("U0DAVE") == []

    clock.advance(minutes=31)  # the window is over
    [window] = store.windows(runtime.redis, "payments")
    run_scheduled()
    # Two workers run the end at once, and the periodic check a third time.
    both_at_once((maintenance.edge, runtime, "payments", window.id),
                 (maintenance.edge, runtime, "payments", window.id))
    service.check(runtime, runtime.now())
    both_at_once((alerts.escalate, runtime, firing_key(), 1, 0),
                 (alerts.escalate, runtime, firing_key(), 1, 0))
    run_jobs()
    assert len(workspace.dms("U0ALICE")) == 1
    ended = [t for t in channel_texts(workspace) if "Maintenance for *payments* has ended" in t]
    assert len(ended) == 1 and "1 alert group(s) still open are paged now" in ended[0]
    message = next(m for m in workspace.messages(CHANNEL) if "PaymentsApi" in text_of(m))
    assert "In maintenance" not in text_of(message)
    replies = thread(workspace, message)
    assert replies.count("Maintenance over: paging resumes.") == 1
    assert replies[-1] == "Escalated to primary: <@U0ALICE>"
    # Later steps keep their gaps from the resumed step.
    clock.advance(minutes=9)
    run_scheduled()
    run_jobs()
    assert workspace.dms("U0DAVE") == []
    clock.advance(minutes=1)
    run_scheduled()
    run_jobs()
    assert len(workspace.dms("U0DAVE")) == 1 and len(workspace.dms("U0ALICE")) == 1
    assert actions(runtime, "maintenance.") == [
        "maintenance.create", "maintenance.started", "maintenance.ended"]
    assert actions(runtime, "alert.") == ["alert.paused", "alert.resumed"]


def test_maintenance_rights_scheduling_ahead_and_ending_by_hand(
        app_server, run_jobs, run_scheduled, workspace, slack, runtime, clock) -> None:
    refused = last_reply(slack, "maintenance payments 1h", "U0BOB")  # member, not on call
    assert "Only managers of payments and whoever is on call" in refused
    assert store.windows(runtime.redis, "payments") == []
    assert "at most 7 days" in last_reply(slack, "maintenance payments 8d", "U0MANAGER")
    assert "No maintenance window" in last_reply(slack, "maintenance payments", "U0MANAGER")
    planned = last_reply(slack, "maintenance payments 2h from +1h kernel upgrade", "U0MANAGER")
    assert "scheduled from" in planned and "kernel upgrade" in planned
    run_jobs()
    assert not [t for t in channel_texts(workspace) if "has started" in t]
    assert "is planned from" in slack.slash("who payments", "U0BOB", CHANNEL).json()["text"]
    overlap = last_reply(slack, "maintenance payments 3h", "U0MANAGER")
    assert "overlap" in overlap
    clock.advance(hours=1)
    run_scheduled()
    run_jobs()
    assert len([t for t in channel_texts(workspace) if "has started" in t]) == 1
    assert "ends now" in last_reply(slack, "maintenance payments end", "U0ALICE")
    run_jobs()
    ended = [t for t in channel_texts(workspace) if "ended early by <@U0ALICE>" in t]
    assert len(ended) == 1
    assert "no maintenance window" in last_reply(slack, "maintenance payments end", "U0ALICE")
    clock.advance(hours=2)  # the planned end passes: announced once only
    run_scheduled()
    run_jobs()
    service.check(runtime, runtime.now())
    run_jobs()
    assert len([t for t in channel_texts(workspace) if "Maintenance for *payments*" in t
                and "ended" in t]) == 1


# ---------------------------------------------------------------- snooze


def test_snooze_pages_nobody_then_resumes_from_the_current_step_once(
        app_server, run_jobs, run_scheduled, workspace, slack, runtime, clock) -> None:
    assert post_event(app_server, fixture("events_trigger.json")).status_code == 202
    run_jobs()
    assert len(workspace.dms("U0ALICE")) == 1  # step 0: primary
    message = the_message(workspace)
    assert "alert_snooze" in action_ids(message)
    [select] = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == "alert_snooze"]
    thirty = next(o for o in select["options"] if o["value"].startswith("30:"))
    slack.click(message, "alert_snooze", "U0ALICE", CHANNEL, selected_option=thirty)
    run_jobs()
    message = the_message(workspace)
    assert "Snoozed" in text_of(message)
    assert any(r.startswith("Snoozed by <@U0ALICE> for 30 min") for r in thread(workspace, message))

    clock.advance(minutes=10)  # step 1 (secondary) comes due while snoozed
    run_scheduled()
    run_jobs()
    assert workspace.dms("U0DAVE") == [] and len(workspace.dms("U0ALICE")) == 1

    clock.advance(minutes=21)  # the snooze is over
    run_scheduled()
    key = group_key_for("events", "payments", fixture("events_trigger.json")["dedup_key"])
    both_at_once((alerts.escalate, runtime, key, 1, 1), (alerts.escalate, runtime, key, 1, 1))
    alert_service.catch_up(runtime, runtime.now())
    run_jobs()
    # Resumed from the current step (primary), once; the next step keeps its gap.
    assert len(workspace.dms("U0ALICE")) == 2 and workspace.dms("U0DAVE") == []
    replies = thread(workspace, the_message(workspace))
    assert replies.count("Snooze over: paging resumes.") == 1
    clock.advance(minutes=10)
    run_scheduled()
    run_jobs()
    assert len(workspace.dms("U0DAVE")) == 1 and len(workspace.dms("U0ALICE")) == 2
    assert "Snoozed" not in text_of(the_message(workspace))
    assert actions(runtime, "alert.") == ["alert.snooze", "alert.resumed"]


def test_snooze_is_refused_to_outsiders_and_not_offered_for_alertmanager(
        app_server, run_jobs, workspace, slack) -> None:
    post_event(app_server, fixture("events_trigger.json"))
    run_jobs()
    message = the_message(workspace)
    [select] = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == "alert_snooze"]
    slack.click(message, "alert_snooze", "U0OUTSIDER", CHANNEL,
                selected_option=select["options"][0])
    run_jobs()
    assert "Only members" in workspace.ephemerals(user="U0OUTSIDER")[-1]["text"]
    assert "Snoozed" not in text_of(the_message(workspace))


@pytest.fixture
def ticks(run_jobs, run_scheduled, runtime, clock):  # noqa: ANN001, ANN201
    """ticks(n, seconds): n periodic checks that far apart, each with the jobs it queued."""

    def tick(n: int, seconds: int) -> None:
        for _ in range(n):
            clock.advance(seconds=seconds)
            service.check(runtime, runtime.now())
            run_scheduled()
            run_jobs()

    return tick


def test_an_announcement_slack_refused_is_owed_and_sent_once_later(
        app_server, run_jobs, workspace, slack, ticks) -> None:
    workspace.fail_next("chat.postMessage", status=200, error="internal_error")
    assert "is on until" in last_reply(slack, "maintenance payments 1h", "U0MANAGER")
    run_jobs()
    assert not [t for t in channel_texts(workspace) if "has started" in t]
    ticks(3, 20)
    assert len([t for t in channel_texts(workspace) if "has started" in t]) == 1


def test_announcements_made_during_two_minute_outages_arrive_once_after_them(
        app_server, run_jobs, workspace, slack, runtime, ticks, monkeypatch) -> None:
    monkeypatch.setattr(runtime.sender, "max_attempts", 2)  # an outage fails fast
    workspace.fail_next("chat.postMessage", status=503, count=10_000)  # Slack goes away
    assert "is on until" in last_reply(slack, "maintenance payments 1h", "U0MANAGER")
    run_jobs()
    ticks(12, 10)  # two minutes pass; the periodic check runs meanwhile
    assert not [t for t in channel_texts(workspace) if "Maintenance for *payments*" in t]
    workspace.faults.clear()  # Slack is back
    ticks(60, 10)
    assert len([t for t in channel_texts(workspace) if "has started" in t]) == 1
    workspace.fail_next("chat.postMessage", status=503, count=10_000)  # away again at the end
    assert "ends now" in last_reply(slack, "maintenance payments end", "U0MANAGER")
    ticks(12, 10)
    workspace.faults.clear()
    ticks(60, 10)
    texts = channel_texts(workspace)
    assert len([t for t in texts if "ended early" in t]) == 1, texts
    assert len([t for t in texts if "has started" in t]) == 1, texts
    # claimed once each, not once per retry
    edges = ("maintenance.started", "maintenance.ended")
    assert [a for a in actions(runtime, "maintenance.") if a in edges] == list(edges)
