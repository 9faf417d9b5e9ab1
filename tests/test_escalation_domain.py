"""Escalation: the plan's timing, and what notifying or asking for help leaves on the group.

The walk through a whole plan with Acks is in test_alerts_domain.py; here each
rule is pinned by the state it leaves behind.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.alerts import SOURCE_ACTOR, AlertGroup, AlertTransitionError, HistoryEntry
from bot.domain.escalation import (
    DEFAULT_REPEAT_GAP,
    EscalationDue,
    EscalationPolicy,
    EscalationStep,
    cycle_length,
    escalate_now,
    escalation_plan,
    mark_notified,
    next_step,
)

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
# 0m/10m/20m, twice: six notifications
POLICY = EscalationPolicy(steps=(
    EscalationStep(0 * MIN, "primary"),
    EscalationStep(10 * MIN, "secondary"),
    EscalationStep(20 * MIN, "managers"),
), repeat=1)


def group(state: str = "triggered", step: int = -1, **fields) -> AlertGroup:
    return AlertGroup(
        key="ev-1", source="events", team="payments", title="Disk full", severity="error",
        summary="Disk full", description="", labels={}, links=(), runbook=None, alerts={},
        state=state, created_at=T0, escalation_step=step, **fields)


def policy(*afters: int, repeat: int = 0) -> EscalationPolicy:
    return EscalationPolicy(steps=tuple(EscalationStep(a * MIN, f"s{i}") for i, a in enumerate(afters)),
                            repeat=repeat)


# ---------------------------------------------------------------- timing


@pytest.mark.parametrize("afters, cycle", [
    ((2, 5, 20), 23),  # the gap is the one between the first two steps
    ((0, 3), 6),  # with two steps too
    ((5,), 15),  # one step: the default gap
    ((4, 4), 14),  # steps at the same moment: the default gap
])
def test_cycle_length(afters, cycle):
    assert DEFAULT_REPEAT_GAP == 10 * MIN
    assert cycle_length(policy(*afters)) == cycle * MIN


def test_repeat_rounds_start_one_cycle_apart():
    plan = escalation_plan(policy(2, 5, 20, repeat=2), T0)
    assert [(d.round, d.step_index, d.notify, (d.due_at - T0) // MIN) for d in plan] == [
        (0, 0, "s0", 2), (0, 1, "s1", 5), (0, 2, "s2", 20),
        (1, 0, "s0", 25), (1, 1, "s1", 28), (1, 2, "s2", 43),
        (2, 0, "s0", 48), (2, 1, "s1", 51), (2, 2, "s2", 66),
    ]
    assert [d.position for d in plan] == list(range(9))


def test_no_steps_no_plan():
    assert escalation_plan(EscalationPolicy(steps=(), repeat=3), T0) == []
    assert next_step(EscalationPolicy(steps=(), repeat=3), group(), T0) is None


# ---------------------------------------------------------------- next_step


def test_next_step_is_the_position_after_the_last_notified():
    due = next_step(POLICY, group(step=1), T0)
    assert due == EscalationDue(position=2, step_index=2, round=0, due_at=T0 + 20 * MIN, notify="managers")
    assert next_step(POLICY, group(step=4), T0).position == 5
    assert next_step(POLICY, group(step=5), T0 + timedelta(hours=2)) is None


def test_a_resolved_group_escalates_no_further():
    assert next_step(POLICY, group("resolved", step=0), T0) is None
    assert next_step(POLICY, group("resolved", escalation_requested_by="U0BOB"), T0) is None


def test_an_acknowledged_group_moves_on_only_when_asked():
    assert next_step(POLICY, group("acknowledged", step=0), T0) is None
    asked = group("acknowledged", step=0, escalation_requested_by="U0BOB")
    due = next_step(POLICY, asked, T0 + MIN)
    assert (due.position, due.notify, due.due_at) == (1, "secondary", T0 + MIN)


def test_asking_does_not_delay_a_step_already_due():
    asked = group(step=0, escalation_requested_by="U0BOB")
    due = next_step(POLICY, asked, T0 + 15 * MIN)
    assert due.due_at == T0 + 10 * MIN
    assert next_step(POLICY, group(step=0), T0 + 5 * MIN).due_at == T0 + 10 * MIN


# ---------------------------------------------------------------- mark_notified


def test_mark_notified_records_the_step_in_history():
    due = next_step(POLICY, group(step=0, escalation_requested_by="U0BOB"), T0)
    before = group(step=0, escalation_requested_by="U0BOB", version=4)
    after, change = mark_notified(before, due, "<@U0CAROL>", T0 + 2 * MIN)
    assert (after.escalation_step, after.escalation_requested_by, after.version) == (1, None, 5)
    assert after.history == (
        HistoryEntry(T0 + 2 * MIN, SOURCE_ACTOR, "notified", "Escalated to secondary: <@U0CAROL>"),)
    assert (change.kind, change.text, change.rerender) == (
        "notified", "Escalated to secondary: <@U0CAROL>", False)
    assert change.rerender is False


def test_mark_notified_without_targets_names_only_the_step():
    due = next_step(POLICY, group(), T0)
    after, change = mark_notified(group(), due, "", T0)
    assert change.text == "Escalated to primary"
    assert after.history[-1].text == "Escalated to primary"


@pytest.mark.parametrize("stale", [
    group("resolved", step=0),
    group("acknowledged", step=0),
    group(step=1),  # another worker already notified this step
])
def test_mark_notified_is_no_change_when_stale(stale):
    due = escalation_plan(POLICY, T0)[1]
    after, change = mark_notified(stale, due, "<@U0CAROL>", T0)
    assert after is stale and not change.changed


def test_mark_notified_after_an_ack_when_asked():
    asked = group("acknowledged", step=0, escalation_requested_by="U0BOB")
    after, change = mark_notified(asked, escalation_plan(POLICY, T0)[1], "", T0)
    assert change.kind == "notified" and after.escalation_step == 1
    assert after.state == "acknowledged"


# ---------------------------------------------------------------- escalate_now


def test_escalate_now_records_who_asked():
    before = group(step=0, version=2)
    after, change = escalate_now(before, "U0BOB", T0 + 3 * MIN, policy=POLICY)
    assert (after.escalation_requested_by, after.escalation_step, after.version) == ("U0BOB", 0, 3)
    assert after.history == (
        HistoryEntry(T0 + 3 * MIN, "U0BOB", "escalate", "Escalation requested by <@U0BOB>"),)
    assert (change.kind, change.text) == ("escalate", "Escalation requested by <@U0BOB>")
    assert change.rerender is False


def test_escalate_now_allowed_while_one_step_is_left():
    after, _ = escalate_now(group(step=4), "U0BOB", T0, policy=POLICY)
    assert after.escalation_requested_by == "U0BOB"
    with pytest.raises(AlertTransitionError) as err:
        escalate_now(group(step=5), "U0BOB", T0, policy=POLICY)
    assert str(err.value) == "Everyone in the escalation policy has already been notified."
    # without a policy the caller decides
    assert escalate_now(group(step=5), "U0BOB", T0)[0].escalation_requested_by == "U0BOB"


def test_escalate_now_refused_on_a_resolved_alert_names_who_resolved():
    with pytest.raises(AlertTransitionError) as err:
        escalate_now(group("resolved", resolved_by="U0CAROL"), "U0BOB", T0)
    assert str(err.value) == "This alert is already resolved (by <@U0CAROL>)."
    with pytest.raises(AlertTransitionError) as err:
        escalate_now(replace(group("resolved"), resolved_by=SOURCE_ACTOR), "U0BOB", T0)
    assert str(err.value) == "This alert is already resolved (by the source)."
