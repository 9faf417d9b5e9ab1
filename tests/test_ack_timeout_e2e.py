"""The acknowledge timeout end to end: "Still on it?" after ack_timeout, re-opening without an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.runtime import Runtime
from bot.services import ack_timeouts
from bot.store import alerts as alert_store
from tests.conftest import AppServer
from tests.test_alerts_e2e import action_ids, firing_key, fixture, post_am, text_of, the_message, thread

CHANNEL = "C0PAYMENTS"


def fire_and_ack(app_server: AppServer, slack: Any, workspace: Any, run_jobs: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    slack.click(the_message(workspace), "alert_ack", user="U0ALICE", channel=CHANNEL)
    run_jobs()


def later(clock: Any, run_scheduled: Callable[..., int], run_jobs: Callable[..., int],
          **delta: float) -> None:
    clock.advance(**delta)
    run_scheduled()
    run_jobs()


def question(workspace: Any) -> dict[str, Any] | None:
    return next((m for m in reversed(workspace.dms("U0ALICE")) if "Still on it?" in m.get("text", "")), None)


def test_no_answer_re_opens_and_escalation_starts_again(
        runtime: Runtime, app_server: AppServer, slack: Any, workspace: Any, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    fire_and_ack(app_server, slack, workspace, run_jobs)
    pages_before = len(workspace.dms("U0ALICE"))
    later(clock, run_scheduled, run_jobs, hours=3, minutes=59)
    assert question(workspace) is None
    later(clock, run_scheduled, run_jobs, minutes=1)  # the team default: 4h
    asked = question(workspace)
    assert asked is not None
    assert action_ids(asked) == ["ack_still_on_it", "ack_timeout_resolve", "ack_unacknowledge"]
    assert alert_store.get_group(runtime.redis, firing_key()).state == "acknowledged"

    later(clock, run_scheduled, run_jobs, minutes=10)  # no answer
    group = alert_store.get_group(runtime.redis, firing_key())
    assert (group.state, group.acked_by) == ("triggered", None)
    replies = thread(workspace, the_message(workspace))
    assert any(r.startswith("No answer to “Still on it?” within 10 minutes") for r in replies)
    # Escalation starts again from the first step: the primary (alice) is paged again at once.
    assert len(workspace.dms("U0ALICE")) == pages_before + 2  # the question, then the new page
    assert "FIRING" in text_of(the_message(workspace))

    # A second worker running the same expiry changes nothing.
    ack_timeouts.expire(runtime, firing_key(), 1, asked_at_iso(runtime))
    assert alert_store.get_group(runtime.redis, firing_key()).version == group.version


def asked_at_iso(runtime: Runtime) -> str:
    group = alert_store.get_group(runtime.redis, firing_key())
    entries = [e for e in group.history if e.event == "acknowledged"]
    return entries[-1].at.isoformat()


def test_still_on_it_extends_and_asks_again_later(
        runtime: Runtime, app_server: AppServer, slack: Any, workspace: Any, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    fire_and_ack(app_server, slack, workspace, run_jobs)
    later(clock, run_scheduled, run_jobs, hours=4)
    asked = question(workspace)
    refused = slack.click(asked, "ack_still_on_it", user="U0BOB", channel="D0ALICE")
    assert refused.status_code == 200
    run_jobs()
    assert alert_store.get_group(runtime.redis, firing_key()).acked_at != clock()

    slack.click(asked, "ack_still_on_it", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    group = alert_store.get_group(runtime.redis, firing_key())
    assert (group.state, group.acked_by, group.acked_at) == ("acknowledged", "U0ALICE", clock())
    [answered] = [m for m in workspace.dms("U0ALICE") if m["ts"] == asked["ts"]]
    assert action_ids(answered) == []  # the spent buttons are gone
    assert "Still on it: <@U0ALICE>" in text_of(answered)

    later(clock, run_scheduled, run_jobs, minutes=10)  # the old deadline passes: nothing re-opens
    assert alert_store.get_group(runtime.redis, firing_key()).state == "acknowledged"
    later(clock, run_scheduled, run_jobs, hours=4)  # 4h after "still on it": asked again
    again = question(workspace)
    assert again is not None and again["ts"] != asked["ts"]
    assert action_ids(again) == ["ack_still_on_it", "ack_timeout_resolve", "ack_unacknowledge"]


def test_unacknowledge_re_opens_at_once(
        runtime: Runtime, app_server: AppServer, slack: Any, workspace: Any, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    fire_and_ack(app_server, slack, workspace, run_jobs)
    page = workspace.dms("U0ALICE")[0]
    assert "*ACKNOWLEDGED* by <@U0ALICE>" in text_of(page) and action_ids(page) == []
    later(clock, run_scheduled, run_jobs, hours=4)
    slack.click(question(workspace), "ack_unacknowledge", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    assert alert_store.get_group(runtime.redis, firing_key()).state == "triggered"
    replies = thread(workspace, the_message(workspace))
    assert any(r.startswith("Unacknowledged by <@U0ALICE>") for r in replies)
    # Re-opened: the first page DM says it is firing again, with its Acknowledge button back.
    page = next(m for m in workspace.dms("U0ALICE") if m["ts"] == page["ts"])
    assert "*FIRING*" in text_of(page) and action_ids(page) == ["alert_ack"]


def test_resolve_from_the_question(
        runtime: Runtime, app_server: AppServer, slack: Any, workspace: Any, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    fire_and_ack(app_server, slack, workspace, run_jobs)
    later(clock, run_scheduled, run_jobs, hours=4)
    slack.click(question(workspace), "ack_timeout_resolve", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    assert alert_store.get_group(runtime.redis, firing_key()).state == "resolved"
    later(clock, run_scheduled, run_jobs, minutes=10)
    assert alert_store.get_group(runtime.redis, firing_key()).state == "resolved"  # no re-open
