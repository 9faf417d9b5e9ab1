"""Escalation: the plan's timing, and what notifying or asking for help leaves on the group.

The walk through a whole plan with Acks is in test_alerts_domain.py; here each
rule is pinned by the state it leaves behind.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.alerts import NO_CHANGE, SOURCE_ACTOR, AlertGroup, AlertTransitionError, HistoryEntry
from bot.domain.escalation import (
    DEFAULT_REPEAT_GAP,
    EscalationDue,
    EscalationPolicy,
    EscalationStep,
    claim_id,
    cycle_length,
    escalate_now,
    escalation_plan,
    mark_notified,
    next_step,
    pause,
    resume,
    snooze,
    unreachable,
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


# ---------------------------------------------------------------- pause, resume, snooze


def test_claim_id_names_group_occurrence_step_and_pass():
    assert claim_id(group(), 3) == "ev-1:1:3"
    assert claim_id(group(occurrence=2, escalation_pass=2), 0) == "ev-1:2:0:p2"


@pytest.mark.parametrize("reason, text", [
    ("maintenance", "In maintenance: paging nobody until the window ends."),
    ("snoozed", "Snoozed: paging nobody until the snooze ends."),
    ("other", "Paging paused."),
])
def test_pause_records_why(reason, text):
    paused, change = pause(group(version=3), reason, T0 + MIN)
    assert (paused.paused, paused.version) == (reason, 4)
    assert paused.history == (HistoryEntry(T0 + MIN, SOURCE_ACTOR, "paused", text),)
    assert (change.kind, change.text, change.rerender) == ("paused", text, True)


def test_pause_of_a_resolved_group_is_no_change():
    done = group("resolved")
    assert pause(done, "maintenance", T0) == (done, NO_CHANGE)


def test_resume_restarts_the_current_step_with_its_gaps():
    paused = group(step=1, paused="maintenance", escalation_pass=1)
    resumed, change = resume(paused, POLICY, T0 + 60 * MIN, "Maintenance over")
    assert (resumed.paused, resumed.snoozed_until, resumed.snoozed_by) == (None, None, None)
    assert (resumed.escalation_step, resumed.escalation_anchor, resumed.escalation_anchor_pos,
            resumed.escalation_pass) == (0, T0 + 60 * MIN, 1, 2)
    text = "Maintenance over: paging resumes."
    assert resumed.history[-1] == HistoryEntry(T0 + 60 * MIN, SOURCE_ACTOR, "resumed", text)
    assert (change.kind, change.text, change.rerender) == ("resumed", text, True)
    due = next_step(POLICY, resumed, T0 + 60 * MIN)
    assert (due.position, due.due_at) == (1, T0 + 60 * MIN)
    after = replace(resumed, escalation_step=1)
    assert next_step(POLICY, after, T0 + 60 * MIN).due_at == T0 + 70 * MIN


def test_resume_clamps_to_the_plan():
    never_paged = resume(group(step=-1, paused="maintenance"), POLICY, T0 + MIN, "x")[0]
    assert (never_paged.escalation_step, never_paged.escalation_anchor_pos) == (-1, 0)
    beyond = resume(group(step=9, paused="maintenance"), POLICY, T0 + MIN, "x")[0]
    assert (beyond.escalation_step, beyond.escalation_anchor_pos) == (4, 5)
    empty = EscalationPolicy(steps=(), repeat=0)
    nothing = resume(group(step=2, paused="maintenance"), empty, T0 + MIN, "x")[0]
    assert (nothing.escalation_step, nothing.escalation_anchor_pos) == (-1, 0)


def test_resume_after_a_snooze_or_when_asked_after_an_ack():
    snoozed = group(snoozed_until=T0 + 30 * MIN, snoozed_by="U0BOB")
    resumed, change = resume(snoozed, POLICY, T0 + 30 * MIN, "Snooze over")
    assert change.kind == "resumed" and resumed.escalation_pass == 1
    asked = group("acknowledged", step=0, paused="maintenance", escalation_requested_by="U0BOB")
    assert resume(asked, POLICY, T0 + MIN, "x")[0].escalation_pass == 1
    acked = group("acknowledged", step=0, paused="maintenance")
    assert resume(acked, POLICY, T0 + MIN, "x")[0].escalation_anchor is None
    done, change = resume(group("resolved", paused="maintenance"), POLICY, T0 + MIN, "Maintenance over")
    assert (done.paused, done.escalation_pass, change.text) == (None, 0, "Maintenance over")
    assert done.history[-1].text == "Maintenance over"


def test_anchor_beyond_the_plan_is_ignored():
    odd = group(step=0, escalation_anchor=T0 + 60 * MIN, escalation_anchor_pos=6)
    assert next_step(POLICY, odd, T0).due_at == T0 + 10 * MIN


def test_snooze_records_who_until_when_in_history():
    snoozed, change = snooze(group(version=2), "U0BOB", T0 + 45 * MIN + 20 * timedelta(seconds=1), T0)
    text = "Snoozed by <@U0BOB> for 45 min: paging nobody until then."
    assert snoozed.history[-1] == HistoryEntry(T0, "U0BOB", "snoozed", text)
    assert (snoozed.snoozed_until, snoozed.snoozed_by, snoozed.paused, snoozed.version) == \
        (T0 + 45 * MIN + timedelta(seconds=20), "U0BOB", "snoozed", 3)
    assert (change.kind, change.text, change.rerender) == ("snoozed", text, True)
    assert snooze(group(), "U0BOB", T0 + 90 * timedelta(seconds=1), T0)[1].text.startswith(
        "Snoozed by <@U0BOB> for 2 min")


def test_snooze_refusals_say_why():
    with pytest.raises(AlertTransitionError) as err:
        snooze(group("resolved", resolved_by="U0CAROL"), "U0BOB", T0 + MIN, T0)
    assert str(err.value) == "This alert is already resolved (by <@U0CAROL>)."
    with pytest.raises(AlertTransitionError) as err:
        snooze(replace(group(), source="alertmanager"), "U0BOB", T0 + MIN, T0)
    assert str(err.value) == "Alertmanager alerts are silenced, not snoozed: use Silence."
    with pytest.raises(AlertTransitionError) as err:
        snooze(group(), "U0BOB", T0, T0)
    assert str(err.value) == "A snooze must end in the future."
    assert snooze(group(), "U0BOB", T0 + timedelta(seconds=1), T0)[0].paused == "snoozed"


# ---------------------------------------------------------------- a page that failed for good


def test_unreachable_asks_for_the_next_step_while_one_is_left():
    before = group(step=4, version=2)
    after, change = unreachable(before, 1, "SMS to U0ALICE failed", T0 + MIN, policy=POLICY)
    text = "SMS to U0ALICE failed; escalating to the next step now"
    assert (after.escalation_requested_by, after.escalation_step, after.version) == (SOURCE_ACTOR, 4, 3)
    assert after.history == (HistoryEntry(T0 + MIN, SOURCE_ACTOR, "escalate", text),)
    assert (change.kind, change.text) == ("escalate", text) and change.rerender is False
    without_policy, change = unreachable(group(step=5), 1, "x", T0)
    assert change.kind == "escalate" and without_policy.escalation_requested_by == SOURCE_ACTOR


def test_unreachable_at_the_last_step_only_says_so():
    after, change = unreachable(group(step=5), 1, "Call failed", T0 + MIN, policy=POLICY)
    text = "Call failed; no further step"
    assert after.escalation_requested_by is None
    assert after.history == (HistoryEntry(T0 + MIN, SOURCE_ACTOR, "escalate", text),)
    assert (change.kind, change.text) == ("unreachable", text) and change.rerender is False


@pytest.mark.parametrize("stale, occurrence", [
    (group("acknowledged"), 1), (group("resolved"), 1), (group(occurrence=2), 1),
])
def test_unreachable_is_no_change_once_answered_or_for_an_old_occurrence(stale, occurrence):
    assert unreachable(stale, occurrence, "x", T0, policy=POLICY) == (stale, NO_CHANGE)
