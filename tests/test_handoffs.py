"""Handoff announcements, reminders and user group sync: exactly once, with catch-up.

The check runs as the periodic tick does (directly, from two threads at once,
or inside a real RQ worker through `workers.tick.tick`); the jobs it enqueues
run in real RQ workers against the Slack-compatible server.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import UTC, datetime, timedelta

from bot.domain.schedule import Override
from bot.services.handoffs import check_handoffs
from bot.slack.format import date_token
from bot.store import history as history_store
from bot.store import schedules as schedule_store
from tests.conftest import utc
from tests.test_oncall_commands import add_frontdesk

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)


def two_workers_check(runtime, run_jobs) -> None:
    """Two workers run the check at the same instant, then both work the queues."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            check_handoffs(runtime, runtime.now())
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    run_jobs()
    run_jobs()


def texts(workspace, channel: str) -> list[str]:
    return [m["text"] for m in workspace.messages(channel)]


def payments_dms(workspace, user: str) -> list[str]:
    """DMs about payments (bob may also staff another team)."""
    return [m["text"] for m in workspace.dms(user) if "*payments " in m["text"]]


def group_updates(workspace) -> list[list[str]]:
    updates = []
    for call in workspace.calls_to("usergroups.users.update"):
        users = call.args["users"]
        updates.append(users.split(",") if isinstance(users, str) else list(users))
    return updates


def test_each_handoff_is_announced_once_and_the_group_follows(runtime, run_jobs, workspace,
                                                               clock) -> None:
    two_workers_check(runtime, run_jobs)
    # First run: who is on call now, per layer (the latest handoffs, Monday's). Two workers
    # may claim different layers, so the order between layers is not fixed.
    # Those handoffs were two days ago: a catch-up says since when, not "is now on call".
    assert sorted(texts(workspace, "C0PAYMENTS")) == [
        f":pager: <@U0ALICE> is on call for *payments primary* since {date_token(utc(2026, 11, 2, 8))}"
        f" until {date_token(utc(2026, 11, 9, 8))}, taking over from <@U0CAROL>.",
        f":pager: <@U0DAVE> is on call for *payments secondary* since "
        f"{date_token(utc(2026, 11, 2, 14))} until {date_token(utc(2026, 11, 9, 14))}, "
        "taking over from <@U0ERIN>.",
    ]
    assert group_updates(workspace) == [["U0ALICE", "U0DAVE"]]
    assert workspace.usergroups["S0PAYONCALL"]["users"] == ["U0ALICE", "U0DAVE"]

    two_workers_check(runtime, run_jobs)  # nothing new: nothing posted
    assert len(texts(workspace, "C0PAYMENTS")) == 2 and len(group_updates(workspace)) == 1

    clock.set(utc(2026, 11, 9, 8, 0, 20))  # primary hands off to bob
    two_workers_check(runtime, run_jobs)
    two_workers_check(runtime, run_jobs)
    assert texts(workspace, "C0PAYMENTS")[2:] == [
        f":pager: <@U0BOB> is now on call for *payments primary* until {date_token(utc(2026, 11, 16, 8))}"
        ", taking over from <@U0ALICE>."]
    assert group_updates(workspace)[1:] == [["U0BOB", "U0DAVE"]]

    clock.set(utc(2026, 11, 9, 14, 0, 10))  # secondary: 09:00 New York
    two_workers_check(runtime, run_jobs)
    assert len(texts(workspace, "C0PAYMENTS")) == 4
    assert "<@U0ERIN> is now on call for *payments secondary*" in texts(workspace, "C0PAYMENTS")[3]
    assert group_updates(workspace)[2:] == [["U0BOB", "U0ERIN"]]


def test_the_tick_job_announces_in_a_real_worker(runtime, run_jobs, workspace) -> None:
    runtime.enqueue("workers.tick.tick")
    run_jobs()
    run_jobs()
    assert len(texts(workspace, "C0PAYMENTS")) == 2
    assert len(texts(workspace, "C0SEARCH")) == 1
    assert "<@U0GRACE> is on call for *search primary* since" in texts(workspace, "C0SEARCH")[0]


def test_override_handoffs_are_announced(runtime, run_jobs, workspace, clock) -> None:
    two_workers_check(runtime, run_jobs)
    override = Override(layer="primary", user="U0CAROL", start=utc(2026, 11, 4, 12),
                        end=utc(2026, 11, 4, 18), id="ov-handofftest")
    schedule_store.save_overrides(runtime.redis, "payments", [schedule_store.StoredOverride(
        override=override, created_by="U0MANAGER", created_at=NOW)])
    clock.set(utc(2026, 11, 4, 12, 0, 5))
    two_workers_check(runtime, run_jobs)
    assert texts(workspace, "C0PAYMENTS")[2] == (
        f":pager: <@U0CAROL> is now on call for *payments primary* until {date_token(utc(2026, 11, 4, 18))}"
        ", taking over from <@U0ALICE>.")
    assert group_updates(workspace)[-1] == ["U0CAROL", "U0DAVE"]
    clock.set(utc(2026, 11, 4, 18, 0, 5))  # alice is back
    two_workers_check(runtime, run_jobs)
    assert "<@U0ALICE> is now on call" in texts(workspace, "C0PAYMENTS")[3]
    assert "taking over from <@U0CAROL>" in texts(workspace, "C0PAYMENTS")[3]
    assert group_updates(workspace)[-1] == ["U0ALICE", "U0DAVE"]


def test_after_downtime_only_the_latest_handoff_per_layer_is_announced(runtime, run_jobs,
                                                                       workspace, clock) -> None:
    two_workers_check(runtime, run_jobs)
    assert len(texts(workspace, "C0PAYMENTS")) == 2
    clock.set(utc(2026, 11, 25, 10))  # down for three weeks: six payments handoffs missed
    two_workers_check(runtime, run_jobs)
    missed = sorted(texts(workspace, "C0PAYMENTS")[2:])
    assert missed == [
        f":pager: <@U0ALICE> is on call for *payments primary* since {date_token(utc(2026, 11, 23, 8))}"
        f" until {date_token(utc(2026, 11, 30, 8))}, taking over from <@U0CAROL>.",
        f":pager: <@U0ERIN> is on call for *payments secondary* since "
        f"{date_token(utc(2026, 11, 23, 14))} until {date_token(utc(2026, 11, 30, 14))}, "
        "taking over from <@U0DAVE>.",
    ]
    assert group_updates(workspace)[1:] == [["U0ALICE", "U0ERIN"]]
    two_workers_check(runtime, run_jobs)  # and only once
    assert len(texts(workspace, "C0PAYMENTS")) == 4


def shifts_recorded(runtime) -> list[str]:
    start, end = runtime.now() - timedelta(days=1), runtime.now() + timedelta(days=1)
    return sorted(e.fields["user"] for e in history_store.read(runtime.redis, "payments", "shift",
                                                               start, end))


def test_the_shift_is_recorded_in_the_transaction_that_claims_its_announcement(
        runtime, run_jobs, workspace, monkeypatch) -> None:
    def crash(*_: object) -> None:
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(history_store, "append", crash)
    check_handoffs(runtime, runtime.now())  # dies before the claim commits: neither is kept
    run_jobs()
    assert texts(workspace, "C0PAYMENTS") == [] and shifts_recorded(runtime) == []
    monkeypatch.undo()
    check_handoffs(runtime, runtime.now())
    check_handoffs(runtime, runtime.now())
    run_jobs()
    assert len(texts(workspace, "C0PAYMENTS")) == 2
    assert shifts_recorded(runtime) == ["U0ALICE", "U0DAVE"]  # once each


def test_the_incoming_person_gets_one_reminder_before_the_shift(runtime, run_jobs, workspace,
                                                                clock) -> None:
    clock.set(utc(2026, 11, 8, 19, 59))  # 12h 1m before bob's Monday 09:00 Berlin
    two_workers_check(runtime, run_jobs)
    assert payments_dms(workspace, "U0BOB") == []
    clock.set(utc(2026, 11, 8, 20, 0))
    two_workers_check(runtime, run_jobs)
    clock.advance(minutes=5)
    two_workers_check(runtime, run_jobs)
    dms = payments_dms(workspace, "U0BOB")
    assert dms == [f":alarm_clock: Reminder: you are on call for *payments primary* from "
                   f"{date_token(utc(2026, 11, 9, 8))} until {date_token(utc(2026, 11, 16, 8))}. "
                   "You take over from <@U0ALICE>."]
    # The shift starts: announced in the channel, no second reminder (the handoff summary comes).
    clock.set(utc(2026, 11, 9, 8, 1))
    two_workers_check(runtime, run_jobs)
    assert [t.split(":")[1] for t in payments_dms(workspace, "U0BOB")] == ["alarm_clock", "clipboard"]


def test_reminder_lead_time_comes_from_the_team_config(runtime, run_jobs, workspace, clock) -> None:
    from datetime import timedelta

    payments = dataclasses.replace(runtime.config.teams["payments"], handoff_reminder=timedelta(hours=1))
    runtime.config = dataclasses.replace(runtime.config, teams={**runtime.config.teams, "payments": payments})
    clock.set(utc(2026, 11, 9, 6, 59))
    two_workers_check(runtime, run_jobs)
    assert payments_dms(workspace, "U0BOB") == []
    clock.set(utc(2026, 11, 9, 7, 0))
    two_workers_check(runtime, run_jobs)
    assert len(payments_dms(workspace, "U0BOB")) == 1


def test_the_group_is_never_emptied(runtime, run_jobs, workspace, clock, caplog) -> None:
    workspace.add_usergroup("S0FRONTDESK", handle="frontdesk-oncall", users=["U0MANAGER"])
    workspace.add_channel("C0FRONTDESK", "frontdesk")
    add_frontdesk(runtime, usergroup="S0FRONTDESK")
    clock.set(utc(2026, 11, 4, 18))  # after office hours: nobody on call
    with caplog.at_level(logging.INFO, logger="atbat.handoffs"):
        two_workers_check(runtime, run_jobs)
        two_workers_check(runtime, run_jobs)
    skipped = [r for r in caplog.records if "usergroup sync skipped" in r.getMessage()]
    assert len(skipped) == 1 and "team=frontdesk" in skipped[0].getMessage()
    assert not [u for u in group_updates(workspace) if "U0BOB" in u or u == []]
    assert workspace.usergroups["S0FRONTDESK"]["users"] == ["U0MANAGER"]

    clock.set(utc(2026, 11, 5, 8, 0, 30))  # 09:00 Berlin: bob opens the desk
    two_workers_check(runtime, run_jobs)
    assert workspace.usergroups["S0FRONTDESK"]["users"] == ["U0BOB"]
    assert texts(workspace, "C0FRONTDESK")[-1] == (
        f":pager: <@U0BOB> is now on call for *frontdesk daytime* until {date_token(utc(2026, 11, 5, 16))}.")
