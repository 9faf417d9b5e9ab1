"""Escalation: when an alert group notifies whom, and asking for the next step now.

Pure Python, the clock is passed in. A policy's steps, repeated `repeat`
times, flatten into one plan; `AlertGroup.escalation_step` is the position
in it last notified, so a stale or repeated timer is no change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.alerts import (
    NO_CHANGE,
    SOURCE_ACTOR,
    AlertGroup,
    AlertTransitionError,
    Change,
    mention,
    record_transition,
)


@dataclass(frozen=True)
class EscalationStep:
    after: timedelta
    notify: str  # a rotation (layer) name, "managers" or "channel"


@dataclass(frozen=True)
class EscalationPolicy:
    steps: tuple[EscalationStep, ...]
    repeat: int = 0



DEFAULT_REPEAT_GAP = timedelta(minutes=10)


@dataclass(frozen=True)
class EscalationDue:
    position: int  # index in the flattened plan, stored as AlertGroup.escalation_step
    step_index: int
    round: int  # 0 for the first pass, 1.. for repeats
    due_at: datetime
    notify: str


def cycle_length(policy: EscalationPolicy) -> timedelta:
    """How long one pass of the policy lasts before a repeat starts over.

    The last step's `after` plus one more gap, the gap being the one between
    the first two steps; with a single step (or steps at the same moment) that
    gap is a fixed 10 minutes. So 0m/10m/20m repeats at 30m, 40m, 50m.
    """
    steps = policy.steps
    gap = steps[1].after - steps[0].after if len(steps) > 1 else timedelta(0)
    if gap <= timedelta(0):
        gap = DEFAULT_REPEAT_GAP
    return steps[-1].after + gap


def escalation_plan(policy: EscalationPolicy, fired_at: datetime) -> list[EscalationDue]:
    """Every notification the policy makes, in order: `repeat` extra passes."""
    if not policy.steps:
        return []
    cycle = cycle_length(policy)
    plan = []
    for rnd in range(policy.repeat + 1):
        for i, step in enumerate(policy.steps):
            plan.append(EscalationDue(position=len(plan), step_index=i, round=rnd,
                                      due_at=fired_at + rnd * cycle + step.after,
                                      notify=step.notify))
    return plan


def next_step(policy: EscalationPolicy, group: AlertGroup, now: datetime) -> EscalationDue | None:
    """The next notification to make for this group, or None when escalation is over.

    Runs while the group is triggered; after an Ack only a manual request
    (escalate_now) moves on, and then it is due at once. `due_at` may be in
    the future: schedule it then.
    """
    if group.state == "resolved":
        return None
    if group.state == "acknowledged" and not group.escalation_requested_by:
        return None
    plan = escalation_plan(policy, group.created_at)
    position = group.escalation_step + 1
    if position >= len(plan):
        return None
    due = plan[position]
    if group.escalation_anchor is not None and group.escalation_anchor_pos < len(plan):
        shift = group.escalation_anchor - plan[group.escalation_anchor_pos].due_at
        due = replace(due, due_at=due.due_at + shift)
    if group.escalation_requested_by and due.due_at > now:
        due = replace(due, due_at=now)
    return due


def mark_notified(group: AlertGroup, due: EscalationDue, targets: str,
                  now: datetime) -> tuple[AlertGroup, Change]:
    """Record that step `due` was notified; stale or repeated runs are no change."""
    if due.position != group.escalation_step + 1 or group.state == "resolved":
        return group, NO_CHANGE
    if group.state == "acknowledged" and not group.escalation_requested_by:
        return group, NO_CHANGE
    if due.notify.startswith("@"):  # a page sent from Slack to one person
        text = f"Paged {targets}" if targets else "Paged"
    else:
        text = f"Escalated to {due.notify}: {targets}" if targets else f"Escalated to {due.notify}"
    new = record_transition(group, now, SOURCE_ACTOR, "notified", text,
                            escalation_step=due.position, escalation_requested_by=None)
    return new, Change("notified", text, rerender=False)


def unreachable(group: AlertGroup, occurrence: int, why: str, now: datetime, *,
                policy: EscalationPolicy | None = None) -> tuple[AlertGroup, Change]:
    """A page failed for good (`why`): ask for the next step at once while the alert is
    unanswered and the policy has one; otherwise only say so."""
    if group.state != "triggered" or group.occurrence != occurrence:
        return group, NO_CHANGE
    more = policy is None or group.escalation_step + 1 < len(escalation_plan(policy, now))
    text = f"{why}; escalating to the next step now" if more else f"{why}; no further step"
    new = record_transition(group, now, SOURCE_ACTOR, "escalate", text,
                            escalation_requested_by=SOURCE_ACTOR if more else None)
    return new, Change("escalate" if more else "unreachable", text, rerender=False)


def escalate_now(group: AlertGroup, user: str, now: datetime, *,
                 policy: EscalationPolicy | None = None) -> tuple[AlertGroup, Change]:
    """Ask for the next escalation step at once (also after an Ack: "I need help")."""
    if group.state == "resolved":
        raise AlertTransitionError(
            f"This alert is already resolved (by {mention(group.resolved_by)}).")
    if policy is not None and group.escalation_step + 1 >= len(escalation_plan(policy, now)):
        raise AlertTransitionError("Everyone in the escalation policy has already been notified.")
    text = f"Escalation requested by <@{user}>"
    new = record_transition(group, now, user, "escalate", text, escalation_requested_by=user)
    return new, Change("escalate", text, rerender=False)


def claim_id(group: AlertGroup, position: int) -> str:
    """What one notification claims: the step, and the pass after the latest resume."""
    base = f"{group.key}:{group.occurrence}:{position}"
    return base if not group.escalation_pass else f"{base}:p{group.escalation_pass}"


PAUSE_TEXT = {"maintenance": "In maintenance: paging nobody until the window ends.",
              "snoozed": "Snoozed: paging nobody until the snooze ends.",
              "self-healing": "Self-healing: paging nobody while the known fix has its chance."}
RESUME_TEXT = {"maintenance": "Maintenance over", "snoozed": "Snooze over",
               "self-healing": "Self-healing over"}


def pause(group: AlertGroup, reason: str, now: datetime) -> tuple[AlertGroup, Change]:
    """A step came due while paging is held back: remember why (shown on the message)."""
    if not group.is_open or group.paused == reason:
        return group, NO_CHANGE
    text = PAUSE_TEXT.get(reason, "Paging paused.")
    new = record_transition(group, now, SOURCE_ACTOR, "paused", text, paused=reason)
    return new, Change("paused", text, rerender=True)


def resume(group: AlertGroup, policy: EscalationPolicy, now: datetime,
           why: str) -> tuple[AlertGroup, Change]:
    """Paging resumes from the current step: it pages again now, later steps keep their gaps.

    Only a paused or snoozed group resumes, so two workers resuming it make one change.
    """
    if group.paused is None and group.snoozed_until is None:
        return group, NO_CHANGE
    updates: dict = {"paused": None, "snoozed_until": None, "snoozed_by": None}
    if group.is_open and (group.state == "triggered" or group.escalation_requested_by):
        plan = escalation_plan(policy, group.created_at)
        current = min(max(group.escalation_step, 0), max(len(plan) - 1, 0))
        updates.update(escalation_step=current - 1, escalation_anchor=now,
                       escalation_anchor_pos=current,
                       escalation_pass=group.escalation_pass + 1)
    text = f"{why}: paging resumes." if group.is_open else why
    new = record_transition(group, now, SOURCE_ACTOR, "resumed", text, **updates)
    return new, Change("resumed", text, rerender=True)


def snooze(group: AlertGroup, user: str, until: datetime,
           now: datetime) -> tuple[AlertGroup, Change]:
    """Page nobody until `until` (groups Alertmanager does not own; those get a silence)."""
    if group.state == "resolved":
        raise AlertTransitionError(
            f"This alert is already resolved (by {mention(group.resolved_by)}).")
    if group.source == "alertmanager":
        raise AlertTransitionError("Alertmanager alerts are silenced, not snoozed: use Silence.")
    if until <= now:
        raise AlertTransitionError("A snooze must end in the future.")
    minutes = round((until - now).total_seconds() / 60)
    text = f"Snoozed by <@{user}> for {minutes} min: paging nobody until then."
    new = record_transition(group, now, user, "snoozed", text, snoozed_until=until,
                            snoozed_by=user, paused="snoozed")
    return new, Change("snoozed", text, rerender=True)


PAGED_USER_LABEL = "atbat_paged_user"  # set on a page sent from Slack to one person
