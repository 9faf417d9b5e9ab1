"""Maintenance windows, snoozes and resuming paging, pure: tables of cases, clock passed in."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.alert_payloads import parse_events_v2
from bot.domain.alerts import AlertTransitionError, apply_event
from bot.domain.escalation import EscalationPolicy, EscalationStep, claim_id, next_step, pause, resume, snooze
from bot.domain.maintenance import MaintenanceError, Window, current_or_next, end_now, plan
from tests.test_alerts_e2e import fixture

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
POLICY = EscalationPolicy(steps=(EscalationStep(timedelta(0), "primary"),
                                 EscalationStep(timedelta(minutes=10), "secondary"),
                                 EscalationStep(timedelta(minutes=20), "managers")), repeat=0)


def window(start: datetime, end: datetime) -> Window:
    return Window(id="w1", team="payments", starts_at=start, ends_at=end, reason="",
                  created_by="U0MANAGER", created_at=NOW)


@pytest.mark.parametrize(("kwargs", "start", "end"), [
    ({"length": 2 * H}, NOW, NOW + 2 * H),
    ({"ends_at": NOW + 3 * H}, NOW, NOW + 3 * H),
    ({"length": H, "starts_at": NOW + H}, NOW + H, NOW + 2 * H),
    ({"ends_at": NOW + 5 * H, "starts_at": NOW + H}, NOW + H, NOW + 5 * H),
    ({"length": timedelta(days=7)}, NOW, NOW + timedelta(days=7)),
])
def test_planned_windows(kwargs: dict, start: datetime, end: datetime) -> None:
    args = {"starts_at": None, "ends_at": None, "length": None, **kwargs}
    w = plan("payments", "U0ALICE", NOW, reason="  db  ", existing=[], **args)
    assert (w.starts_at, w.end, w.reason) == (start, end, "db")


@pytest.mark.parametrize(("kwargs", "says"), [
    ({}, "how long"),
    ({"length": H, "ends_at": NOW + H}, "how long"),
    ({"length": timedelta(days=7, minutes=1)}, "at most 7 days"),
    ({"ends_at": NOW - H}, "end after it starts"),
    ({"length": H, "starts_at": NOW - 2 * H}, "in the past"),
])
def test_refused_windows(kwargs: dict, says: str) -> None:
    args = {"starts_at": None, "ends_at": None, "length": None, **kwargs}
    with pytest.raises(MaintenanceError) as err:
        plan("payments", "U0ALICE", NOW, reason="", existing=[], **args)
    assert says in str(err.value)


def test_overlaps_are_refused_and_past_windows_do_not_count() -> None:
    ahead = window(NOW + H, NOW + 3 * H)
    with pytest.raises(MaintenanceError, match="overlap"):
        plan("payments", "U0ALICE", NOW, starts_at=None, ends_at=None, length=2 * H,
             reason="", existing=[ahead])
    over = window(NOW - 3 * H, NOW - H)
    ok = plan("payments", "U0ALICE", NOW, starts_at=None, ends_at=None, length=H, reason="",
              existing=[ahead, over])
    assert ok.end == NOW + H  # touching the next window is fine


@pytest.mark.parametrize(("at", "active", "over"), [
    (NOW - timedelta(seconds=1), False, False),
    (NOW, True, False),
    (NOW + H - timedelta(seconds=1), True, False),
    (NOW + H, False, True),
])
def test_window_edges(at: datetime, active: bool, over: bool) -> None:
    w = window(NOW, NOW + H)
    assert (w.active_at(at), w.over_at(at)) == (active, over)


def test_ending_early_and_calling_off_a_planned_window() -> None:
    w = window(NOW - H, NOW + H)
    done = end_now(w, "U0ALICE", NOW)
    assert done.over_at(NOW) and done.started and done.ended_by == "U0ALICE"
    with pytest.raises(MaintenanceError, match="already ended"):
        end_now(done, "U0ALICE", NOW)
    later = end_now(window(NOW + H, NOW + 2 * H), "U0ALICE", NOW)
    assert later.over_at(NOW) and not later.started and not later.active_at(NOW + H)
    assert current_or_next([done, later], NOW) is None
    assert current_or_next([window(NOW + 2 * H, NOW + 3 * H), w], NOW) == w


# ---------------------------------------------------------------- pausing and resuming


def group():
    event = parse_events_v2(json.dumps(fixture("events_trigger.json")).encode())
    return apply_event(None, event.with_team("payments"), NOW)[0]


def test_pause_is_recorded_once_and_resume_restarts_the_current_step_now() -> None:
    g = group()
    assert next_step(POLICY, g, NOW).due_at == NOW
    paused, change = pause(g, "maintenance", NOW)
    assert change.kind == "paused" and paused.paused == "maintenance"
    assert pause(paused, "maintenance", NOW)[1].kind == "none"
    later = NOW + 2 * H
    resumed, change = resume(paused, POLICY, later, "Maintenance over")
    assert change.text == "Maintenance over: paging resumes."
    assert resumed.paused is None and resumed.escalation_pass == 1
    due = next_step(POLICY, resumed, later)
    assert (due.position, due.due_at) == (0, later)
    # The next step keeps its gap from the resumed one.
    stepped = replace(resumed, escalation_step=0)
    assert next_step(POLICY, stepped, later).due_at == later + timedelta(minutes=10)
    assert claim_id(resumed, 0).endswith(":p1") and not claim_id(g, 0).endswith(":p1")
    assert resume(resumed, POLICY, later, "again")[1].kind == "none"  # a second worker


def test_resume_repages_the_step_already_reached() -> None:
    g = replace(group(), escalation_step=1)  # secondary was paged
    resumed, _ = resume(replace(g, paused="snoozed"), POLICY, NOW + H, "Snooze over")
    due = next_step(POLICY, resumed, NOW + H)
    assert (due.position, due.notify, due.due_at) == (1, "secondary", NOW + H)


def test_an_acknowledged_group_resumes_without_paging() -> None:
    g = replace(group(), state="acknowledged", paused="maintenance")
    resumed, change = resume(g, POLICY, NOW + H, "Maintenance over")
    assert change.kind == "resumed" and resumed.escalation_pass == 0
    assert next_step(POLICY, resumed, NOW + H) is None


@pytest.mark.parametrize(("state", "source", "until", "says"), [
    ("resolved", "events", NOW + H, "already resolved"),
    ("triggered", "alertmanager", NOW + H, "use Silence"),
    ("triggered", "events", NOW, "in the future"),
])
def test_snooze_refusals(state: str, source: str, until: datetime, says: str) -> None:
    g = replace(group(), state=state, source=source)
    with pytest.raises(AlertTransitionError, match=says):
        snooze(g, "U0ALICE", until, NOW)


def test_snooze_records_who_and_until() -> None:
    snoozed, change = snooze(group(), "U0ALICE", NOW + timedelta(minutes=30), NOW)
    assert (snoozed.paused, snoozed.snoozed_by, snoozed.snoozed_until) == (
        "snoozed", "U0ALICE", NOW + timedelta(minutes=30))
    assert change.text == "Snoozed by <@U0ALICE> for 30 min: paging nobody until then."
    assert type(snoozed).from_json(snoozed.to_json()) == snoozed
