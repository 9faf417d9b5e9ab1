"""Alerts: store each change, keep each group's Slack message up to date, escalate on time.

Buttons and jobs call `transition`: a compare-and-set on the group, then the
jobs the change asks for (message sync, next escalation step). Webhooks call
`ingest`, which does the same in one round trip (and waits for replicas when
ATBAT_REDIS_MIN_REPLICAS asks for it).

Message updates are coalesced: a change marks the group's message out of date
(only the first mark enqueues a `sync_message` job); the job clears the mark
first, then renders the latest state from Redis, so one job can stand for a
hundred changes and the last state always shows. A message is updated at most
once per ATBAT_MESSAGE_UPDATE_MS (default 1 s; its first post is never held). Thread replies are queued per
change in Redis and posted in order by the same job.

Escalation steps are RQ scheduled jobs with deterministic ids; each re-reads
the group, does nothing once acknowledged or resolved, and claims its step
before notifying so two workers page once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from redis.client import Pipeline
from rq.utils import now as rq_now
from rq.utils import utcformat

from bot import metrics
from bot.domain.alerts import NO_CHANGE, SOURCE_ACTOR, AlertGroup, Change
from bot.domain.config import Team
from bot.domain.escalation import (
    PAGED_USER_LABEL,
    RESUME_TEXT,
    EscalationDue,
    EscalationPolicy,
    EscalationStep,
    claim_id,
    mark_notified,
    next_step,
    pause,
    resume,
    unreachable,
)
from bot.domain.incidents import Incident
from bot.domain.paging import page_note
from bot.domain.recent import Recent
from bot.oncall import team_schedule
from bot.runtime import QUEUE_URGENT, Runtime, utcnow
from bot.services import autoremediation, deliveries, feedback, home, paging
from bot.slack.render_alerts import (
    alert_message,
    channel_page,
    escalation_dm,
    nobody_on_call_notice,
    payload_digest,
)
from bot.slack.sender import SlackCallError
from bot.store import alerts as store
from bot.store import audit
from bot.store import incidents as incident_store
from bot.store import maintenance as maintenance_store
from bot.store.base import claim, is_claimed

log = logging.getLogger("atbat.alerts")

ESCALATION_CLAIM_TTL = 14 * 86400
# A mark or a step this much overdue means its job was lost (web crashed between
# the write and the enqueue, Redis went away): the periodic check re-enqueues it.
OVERDUE = timedelta(seconds=60)


# ---------------------------------------------------------------- asking for work


def may_act(rt: Runtime, team: Team | None, user: str, now: datetime) -> bool:
    """Who may press an alert's buttons (Acknowledge, Resolve, Escalate, Declare
    incident, Run): rotation members, managers, and whoever is on call now (an
    override may be anyone)."""
    if team is None:
        return True
    if user in team.members or team.is_manager(user):
        return True
    return user in team_schedule(rt.redis, team, now).on_call_users(now)


def policy_for(team: Team, group: AlertGroup) -> EscalationPolicy:
    """The team's policy, or for a page sent from Slack to one person, that person alone."""
    user = group.labels.get(PAGED_USER_LABEL)
    if not user:
        return team.escalation
    return EscalationPolicy(steps=(EscalationStep(timedelta(0), f"@{user}"),), repeat=0)


def transition(rt: Runtime, key: str, apply: store.Transition) -> store.Outcome:
    """Compare-and-set the group `key`, then queue what the change asks for."""
    outcome = store.transition(rt.redis, key, apply, rt.now())
    follow_up(rt, outcome)
    return outcome


def ingest(rt: Runtime, key: str, apply: store.Transition, *,
           expect_stored: bool = False) -> store.Outcome:
    """`transition` for alert webhooks: the write, its jobs and any WAIT in one round trip.
    `expect_stored`: the change is about a group that should exist (see store.ingest)."""
    settings = rt.settings
    return store.ingest(rt.redis, key, apply, rt.now(), partial(queue_follow_ups, rt),
                        replicas=settings.redis_min_replicas, wait_ms=settings.redis_wait_ms,
                        expect_stored=expect_stored)


def queue_follow_ups(rt: Runtime, before: AlertGroup | None, group: AlertGroup, change: Change,
                     on_mark: Pipeline, on_write: Pipeline) -> None:
    """The jobs an ingested change asks for (store.ingest runs them with the write)."""
    _sync_jobs.request(rt, group, on_mark)
    if change.new_occurrence:
        # Its first post is never held: a mark left by the last occurrence may be waiting
        # out the update interval, and then this change's mark is not new.
        request_sync(rt, group, on_write)
    queue_change_jobs(rt, before, group, change, on_write)


def queue_change_jobs(rt: Runtime, before: AlertGroup | None, group: AlertGroup, change: Change,
                      pipe: Pipeline) -> None:
    """What a change asks for besides the message sync: escalation, feedback, ack timeout."""
    if change.kind in ("opened", "escalate", "resumed", "snoozed"):
        schedule_escalation(rt, group, pipe)
    if feedback.resolved(before, group):
        if feedback.may_have_paged(group):
            feedback.request_questions(rt, group, pipe)
        if autoremediation.may_apply(rt.config, group):
            rt.enqueue("workers.autoremediation.alert_resolved", group.key, group.occurrence,
                       queue=QUEUE_URGENT, pipeline=pipe,
                       job_id=f"autoheal-resolved-{group.key}-{group.occurrence}")
    if change.kind == "acknowledged" and group.acked_at is not None:
        schedule_ack_timeout(rt, group, pipe)


def follow_up(rt: Runtime, outcome: store.Outcome) -> None:
    """After a transition: sync the message if this change marked it, and what else it asks for."""
    group = outcome.group
    if group is None or not outcome.changed:
        return
    # The jobs in one round trip (none when the change asks for nothing).
    with rt.batch() as pipe:
        if outcome.render_requested:
            request_sync(rt, group, pipe)
        queue_change_jobs(rt, outcome.before, group, outcome.change, pipe)


def schedule_ack_timeout(rt: Runtime, group: AlertGroup, pipeline: Pipeline | None = None) -> None:
    """Ask the acknowledger "Still on it?" after the team's ack_timeout (bot.services.ack_timeouts)."""
    team = rt.config.teams.get(group.team or "")
    if team is None or group.acked_at is None or group.acked_by in (None, SOURCE_ACTOR):
        return  # acknowledged at the source: nobody in Slack to ask
    at = group.acked_at + team.paging.ack_timeout
    rt.enqueue_at(
        at, "workers.paging.ack_ask", group.key, group.occurrence, group.acked_at.isoformat(),
        queue=QUEUE_URGENT, pipeline=pipeline,
        job_id=f"ack-ask-{group.key}-{group.occurrence}-{int(group.acked_at.timestamp() * 1000)}")


def request_sync(rt: Runtime, group: AlertGroup, pipeline: Pipeline | None = None) -> None:
    rt.enqueue("workers.alerts.sync_message", group.key, queue=QUEUE_URGENT,
               job_id=_sync_job_id(group), pipeline=pipeline)


def _sync_job_id(group: AlertGroup) -> str:
    return f"alert-sync-{group.key}-v{group.version}"


_JOB_TIMES = frozenset({"created_at", "enqueued_at"})  # fields of RQ's job hash set to now


@dataclass(frozen=True)
class _Command:
    """One recorded command, with where the job id and the times are in its arguments."""

    args: tuple[Any, ...]
    options: dict[str, Any]
    ids: tuple[int, ...]
    times: tuple[int, ...]

    @classmethod
    def of(cls, args: tuple[Any, ...], options: dict[str, Any], job_id: str) -> _Command:
        ids = tuple(i for i, arg in enumerate(args) if isinstance(arg, str) and job_id in arg)
        times = tuple(i for i in range(1, len(args))
                      if isinstance(args[i - 1], str) and args[i - 1] in _JOB_TIMES)
        return cls(args, options, ids, times)

    def redone(self, old_id: str, new_id: str, stamp: str) -> list[Any]:
        args = list(self.args)
        for i in self.ids:
            args[i] = args[i].replace(old_id, new_id)
        for i in self.times:
            args[i] = stamp
        return args


class _SyncJobs:
    """The commands that queue a group's sync job, kept per group.

    A webhook asks for a sync at every change, and RQ takes longer to build the job than
    the rest of the write takes: the next version's commands are the last ones with the new
    job id and the time of now. Only a cache: a group not seen lately goes to RQ.
    """

    def __init__(self, size: int = 1024) -> None:
        self._last: Recent[str, tuple[str, tuple[_Command, ...]]] = Recent(size)

    def request(self, rt: Runtime, group: AlertGroup, pipeline: Pipeline) -> None:
        job_id = _sync_job_id(group)
        last = self._last.get(group.key)
        if last is None:
            start = len(pipeline.command_stack)
            request_sync(rt, group, pipeline)
            recorded = tuple(_Command.of(args, options, job_id)
                             for args, options in pipeline.command_stack[start:])
            if any(command.ids for command in recorded):
                self._last.put(group.key, (job_id, recorded))
            return
        last_id, commands = last
        stamp = utcformat(rq_now())
        for command in commands:
            pipeline.execute_command(*command.redone(last_id, job_id, stamp), **command.options)


_sync_jobs = _SyncJobs()


def schedule_escalation(rt: Runtime, group: AlertGroup, pipeline: Pipeline | None = None) -> None:
    """Schedule the group's next escalation step (at once when it is already due)."""
    team = rt.config.teams.get(group.team or "")
    if team is None:
        return
    now = rt.now()
    if group.snoozed_until is not None and group.snoozed_until > now:
        # Wake when the snooze ends: that run resumes paging from the current step.
        rt.enqueue_at(
            group.snoozed_until, "workers.alerts.escalate", group.key, group.occurrence,
            group.escalation_step + 1, queue=QUEUE_URGENT, pipeline=pipeline,
            job_id=f"snooze-end-{group.key}-v{group.version}")
        return
    due = next_step(policy_for(team, group), group, now)
    if due is None:
        return
    job_id = "esc-" + claim_id(group, due.position).replace(":", "-")
    args = (group.key, group.occurrence, due.position)
    if due.due_at <= now:
        rt.enqueue("workers.alerts.escalate", *args, queue=QUEUE_URGENT, job_id=job_id + "-now",
                   pipeline=pipeline)
    else:
        rt.enqueue_at(due.due_at, "workers.alerts.escalate", *args, queue=QUEUE_URGENT,
                      job_id=job_id, pipeline=pipeline)


# ---------------------------------------------------------------- the message


def sync_message(rt: Runtime, key: str) -> None:
    """Bring the group's Slack message and thread up to date (coalesced, see above).

    One sync per job, and at most one per ATBAT_MESSAGE_UPDATE_MS per group: a change
    made meanwhile keeps its mark, and the sync that shows it runs once the group's
    cool-down is over, behind what is already queued (other groups' first messages,
    pages). So a storm of notifications costs each message about one update a second,
    whatever the workers' speed, and a group that keeps changing never holds a worker.
    """
    lock = store.sync_lock(rt.redis, key)
    if not lock.acquire():
        return  # the holder looks for a new mark as it lets go
    try:
        if _cooling_ms(rt, key) == 0 and store.take_out_of_date(rt.redis, key):
            try:
                synced = _sync_once(rt, key)
            except BaseException:
                # A timeout, a second SIGTERM, Redis gone mid-sync: the change must still show.
                store.mark_out_of_date(rt.redis, key, rt.now())
                raise
            if not synced:
                return  # Slack is away: the mark stays and the periodic catch-up retries
            store.cool_down(rt.redis, key, rt.settings.message_update_ms)
    finally:
        lock.release()
    if store.is_out_of_date(rt.redis, key):
        _sync_again(rt, key)


def _cooling_ms(rt: Runtime, key: str) -> int:
    """How long the group's next sync waits; never the first post of an occurrence (the
    group fired again moments after its last update)."""
    wait_ms = store.cooling_ms(rt.redis, key)
    if wait_ms:
        group = store.get_group(rt.redis, key)
        if group is not None and store.get_message(rt.redis, key, group.occurrence) is None:
            return 0
    return wait_ms


def _sync_again(rt: Runtime, key: str) -> None:
    wait_ms = _cooling_ms(rt, key)
    if wait_ms == 0:
        rt.enqueue("workers.alerts.sync_message", key, queue=QUEUE_URGENT)
        return
    # One such job per group (a fixed id): a later change finds the mark set and adds none.
    rt.enqueue_at(utcnow() + timedelta(milliseconds=wait_ms), "workers.alerts.sync_message",
                  key, queue=QUEUE_URGENT, job_id=f"alert-sync-{key}-later")


def _sync_once(rt: Runtime, key: str) -> bool:
    """One sync; False when Slack did not answer (the message stays marked out of date)."""
    group = store.get_group(rt.redis, key)
    if group is None:
        return True
    team = rt.config.teams.get(group.team or "")
    if team is None:
        log.warning("alert message skipped: unknown team alert=%s team=%s", key, group.team)
        return True
    try:
        if group.occurrence > 1:
            _finish_previous(rt, group, team)
        ref = _render(rt, group, team.channel, store.get_message(rt.redis, key, group.occurrence))
        _post_replies(rt, group, ref)
        _sync_pages(rt, group, team)
        home.refresh(rt, home.team_people(team), f"alert {key}")
    except SlackCallError as exc:
        log.error("alert message sync failed alert=%s team=%s error=%s", key, group.team,
                  exc.error)
        metrics.count(rt.redis, "jobs_total", "job=alert_sync,outcome=failed")
        if exc.error.startswith("gave up"):
            # Slack is down or rate limits for too long: try again on a later tick.
            store.mark_out_of_date(rt.redis, key, rt.now())
            return False
    return True


def _message_payload(group: AlertGroup, now: datetime, team: Team | None = None,
                     incident: Incident | None = None) -> tuple[dict, str]:
    silence = group.source == "alertmanager" and team is not None and team.alertmanager is not None
    # Nothing in the message ticks ("since" is a date token), so a change that shows
    # nothing new (an escalation step) has the same digest and costs no chat.update.
    payload = alert_message(group, now, incident_enabled=True, runbook_enabled=True,
                            silence_enabled=silence,
                            incident_channel=None if incident is None else incident.channel_id)
    return payload, payload_digest(payload)


def _render(rt: Runtime, group: AlertGroup, channel: str,
            ref: store.MessageRef | None) -> store.MessageRef:
    incident = incident_store.open_for_alert(rt.redis, group.key)
    payload, digest = _message_payload(group, rt.now(), rt.config.teams.get(group.team or ""),
                                       incident)
    if ref is None:
        answer = rt.sender.call("chat.postMessage", channel=channel, **payload)
        ref = store.MessageRef(answer["channel"], answer["ts"], digest)
        store.save_message(rt.redis, group.key, group.occurrence, ref)
        log.info("alert message posted alert=%s team=%s occurrence=%d state=%s", group.key,
                 group.team, group.occurrence, group.state)
        return ref
    if ref.digest != digest:
        rt.sender.call("chat.update", channel=ref.channel, ts=ref.ts, **payload)
        ref = store.MessageRef(ref.channel, ref.ts, digest)
        store.save_message(rt.redis, group.key, group.occurrence, ref)
        log.info("alert message updated alert=%s team=%s state=%s", group.key, group.team,
                 group.state)
    return ref


def _finish_previous(rt: Runtime, group: AlertGroup, team: Team) -> None:
    """The previous occurrence's message and pages must end showing how it ended."""
    previous = store.get_snapshot(rt.redis, group.key, group.occurrence - 1)
    if previous is None:
        return
    ref = store.get_message(rt.redis, group.key, group.occurrence - 1)
    if ref is not None:
        _render(rt, previous, ref.channel, ref)
    _sync_pages(rt, previous, team, reopened=group)


def _post_replies(rt: Runtime, group: AlertGroup, current: store.MessageRef) -> None:
    while (reply := store.next_reply(rt.redis, group.key)) is not None:
        ref = store.get_message(rt.redis, group.key, reply.occurrence) or current
        rt.sender.call("chat.postMessage", channel=ref.channel, thread_ts=ref.ts,
                       text=reply.text)
        store.drop_reply(rt.redis, group.key)


# ---------------------------------------------------------------- escalation


def escalate(rt: Runtime, key: str, occurrence: int, position: int) -> None:
    """Notify escalation step `position` of the group, once, if it is still wanted."""
    group = store.get_group(rt.redis, key)
    if group is None or group.occurrence != occurrence:
        return
    team = rt.config.teams.get(group.team or "")
    if team is None:
        return
    now = rt.now()
    if _held_back(rt, team, group, now):
        return
    due = next_step(policy_for(team, group), group, now)
    if due is None or due.position != position:
        return  # acknowledged, resolved, or this step is done already
    if due.due_at > now:
        schedule_escalation(rt, group)  # woken early (e.g. a clock skew): sleep again
        return
    if not claim(rt.redis, "alert-escalation", claim_id(group, position),
                 ESCALATION_CLAIM_TTL):
        return
    targets = _notify(rt, team, group, due, now)
    outcome = transition(rt, key, lambda g: _mark(g, due, targets, now))
    if outcome.group is not None and outcome.changed:
        schedule_escalation(rt, outcome.group)
    elif feedback.unasked(outcome.group, occurrence):
        feedback.request_questions(rt, outcome.group)
    log.info("alert escalated alert=%s team=%s step=%d notify=%s targets=%s", key, team.name,
             position, due.notify, targets or "-")
    metrics.count(rt.redis, "alert_escalations_total", f"team={team.name}")


def paging_paused(rt: Runtime, team: Team, group: AlertGroup, now: datetime) -> str | None:
    """Why nobody may be paged for this group now: a snooze, the team's maintenance, or
    self-healing running the known fix first (which decides, once, on the first call)."""
    if group.snoozed_until is not None and group.snoozed_until > now:
        return "snoozed"
    if maintenance_store.active(rt.redis, team.name, now) is not None:
        return "maintenance"
    if autoremediation.hold(rt, team, group, now):
        return "self-healing"
    return None


def _held_back(rt: Runtime, team: Team, group: AlertGroup, now: datetime) -> bool:
    """Pause a group whose step came due while paging is held back; resume one whose
    pause is over (a compare-and-set: with two workers one resumes, and its follow-up
    schedules the step again). True when this run must page nobody."""
    reason = paging_paused(rt, team, group, now)
    if reason is None and group.paused is None:
        return False
    if reason is not None and next_step(policy_for(team, group), group, now) is None:
        return True  # nothing to page anyway (acknowledged, or the policy is done)
    if reason is not None:
        change = lambda g: _guard(g, lambda g: pause(g, reason, now))  # noqa: E731
    else:
        why = RESUME_TEXT.get(group.paused or "", "Pause over")
        policy = policy_for(team, group)
        change = lambda g: _guard(g, lambda g: resume(g, policy, now, why))  # noqa: E731
    outcome = transition(rt, group.key, change)
    if outcome.changed:
        log.info("alert paging %s alert=%s team=%s reason=%s", outcome.change.kind, group.key,
                 team.name, reason or "-")
        audit.record(rt.redis, actor="atbat", action=f"alert.{outcome.change.kind}", at=now,
                     alert=group.key, team=team.name, reason=reason or group.paused)
    return True


def _guard(group: AlertGroup | None, apply: Callable[[AlertGroup], tuple[AlertGroup, Change]]
           ) -> tuple[AlertGroup | None, Change]:
    return (None, NO_CHANGE) if group is None else apply(group)


def _mark(group: AlertGroup | None, due: EscalationDue, targets: str,
          now: datetime) -> tuple[AlertGroup | None, Change]:
    if group is None:
        return None, NO_CHANGE
    return mark_notified(group, due, targets, now)


def _notify(rt: Runtime, team: Team, group: AlertGroup, due: EscalationDue,
            now: datetime) -> str:
    """Page the step's people; returns who was reached, for the thread. Those not reached yet
    (Slack away, low urgency waiting for working hours) are named when a page reaches them.

    Every page sent is recorded with the group, so that it can be kept showing the
    group's state (see _sync_pages); a sync is asked for afterwards in case the group
    changed while the pages were being sent.
    """
    if due.notify == "channel":
        ident = _page(rt, group, team.channel, "channel", due.notify,
                      channel_page(group, team.name), position=due.position)
        # Named as reached only once Slack took the post; if it is still owed, the thread
        # says so when it is accepted (channel_posted), once, by a claim shared with this line.
        reached = deliveries.deliver_now(rt, "alert_page", ident) \
            and claim(rt.redis, "channel-page-named", ident, ESCALATION_CLAIM_TTL)
        targets = "the channel" if reached else "posting in the channel, not accepted yet"
    else:
        if due.notify.startswith("@"):  # a page sent from Slack to one person
            users = [due.notify[1:]]
        elif due.notify == "managers":
            users = list(team.managers)
        else:
            users = team_schedule(rt.redis, team, now).on_call_users(now, layers=(due.notify,))
        if users:
            pages = [paging.page_person(rt, team, group, user, due.position, due.notify, now)
                     for user in users]
            targets = _reached(users, [paging.reached(rt, page) for page in pages])
        else:
            targets = _nobody_on_call(rt, team, group, due, now)
    if store.mark_out_of_date(rt.redis, group.key, rt.now()):
        request_sync(rt, group)
    return targets


def _reached(users: list[str], reached: list[bool]) -> str:
    named = ", ".join(f"<@{u}>" for u, ok in zip(users, reached, strict=True) if ok)
    waiting = reached.count(False)
    if not waiting:
        return named
    people = "1 person" if waiting == 1 else f"{waiting} people"
    return f"{named}; paging {waiting} more, not reached yet" if named else \
        f"paging {people}, not reached yet"


def _nobody_on_call(rt: Runtime, team: Team, group: AlertGroup, due: EscalationDue,
                    now: datetime) -> str:
    managers = " ".join(f"<@{m}>" for m in team.managers) or "<!channel>"
    _page(rt, group, team.channel, "nobody", due.notify,
          nobody_on_call_notice(group, due.notify, team.name, managers), targets=managers,
          position=due.position)
    pages = [paging.page_person(rt, team, group, manager, due.position, "managers", now)
             for manager in team.managers]
    if not team.managers:
        return f"nobody on call, paged {managers}"
    reached = [paging.reached(rt, page) for page in pages]
    said = _reached(list(team.managers), reached)
    return f"nobody on call, paged {said}" if any(reached) else f"nobody on call, {said}"


def _page(rt: Runtime, group: AlertGroup, channel: str, kind: str, notify: str,
          payload: dict, targets: str = "", position: int = 0) -> str:
    """Owe one channel page until Slack accepts it; then it is recorded and kept up to date.
    A channel step Slack refuses for good pages the next step at once. Returns its ident."""
    ident = f"{group.key}-{group.occurrence}-{kind}-{position}-p{group.escalation_pass}"
    failed = ("workers.alerts.channel_unreachable", group.key, group.occurrence, position) \
        if kind == "channel" else ()
    accepted = ("workers.alerts.page_posted", group.key, group.occurrence, kind, notify, targets,
                payload_digest(payload))
    if kind == "channel":
        accepted = ("workers.alerts.channel_posted", *accepted[1:], position, ident)
    deliveries.owe(rt, "alert_page", ident, "chat.postMessage", {"channel": channel, **payload},
                   on_accepted=accepted, on_failed=failed, for_alert=(group.key, group.occurrence))
    return ident


def page_posted(rt: Runtime, key: str, occurrence: int, kind: str, notify: str, targets: str,
                digest: str, answer: dict[str, str]) -> None:
    """Slack accepted a channel page: record it, and bring it up to date if the group moved on."""
    store.save_page(rt.redis, key, store.PageRef(occurrence, answer["channel"], answer["ts"], kind,
                                                 notify, targets, digest))
    if store.mark_out_of_date(rt.redis, key, rt.now()):
        rt.enqueue("workers.alerts.sync_message", key, queue=QUEUE_URGENT,
                   job_id=f"alert-sync-{key}-page-{answer['ts'].replace('.', '-')}")


def channel_posted(rt: Runtime, key: str, occurrence: int, kind: str, notify: str, targets: str,
                   digest: str, position: int, ident: str, answer: dict[str, str]) -> None:
    """A channel step's post was accepted: recorded as any page; if the escalation line was
    written before (it said "not accepted yet"), the thread now says the channel was reached."""
    page_posted(rt, key, occurrence, kind, notify, targets, digest, answer)
    group = store.get_group(rt.redis, key)
    if group is None or group.occurrence != occurrence or group.escalation_step < position:
        return  # the escalation line is still to come, and names the channel itself
    if not claim(rt.redis, "channel-page-named", ident, ESCALATION_CLAIM_TTL):
        return
    now = rt.now()
    text = f"Escalated to {notify}: the channel"
    transition(rt, key, lambda g: page_note(g, occurrence, "atbat", text, now))


def channel_unreachable(rt: Runtime, key: str, occurrence: int, position: int, why: str) -> None:
    """The team channel refused a channel step for good: the next step now, and the thread
    says why (after the step is marked, or marking it would undo the request)."""
    group = store.get_group(rt.redis, key)
    if group is None or group.occurrence != occurrence:
        return
    if group.escalation_step < position:
        rt.enqueue_at(
            rt.now() + timedelta(seconds=1), "workers.alerts.channel_unreachable", key, occurrence,
            position, why, queue=QUEUE_URGENT,
            job_id=f"channel-unreachable-{key}-{position}-{int(rt.now().timestamp())}")
        return
    team = rt.config.teams.get(group.team or "")
    policy = policy_for(team, group) if team else None
    now = rt.now()
    outcome = transition(rt, key, lambda g: _guard(g, lambda g: unreachable(
        g, occurrence, f"The team channel cannot be reached ({why})", now, policy=policy)))
    if outcome.changed:
        log.warning("alert channel page failed alert=%s team=%s why=%s", key, group.team, why)


def _page_payload(group: AlertGroup, page: store.PageRef, team: Team,
                  reopened: AlertGroup | None) -> dict:
    if page.kind == "channel":
        return channel_page(group, team.name)
    if page.kind == "nobody":
        return nobody_on_call_notice(group, page.notify, team.name, page.targets)
    return escalation_dm(group, page.notify, reopened=reopened)


def _sync_pages(rt: Runtime, group: AlertGroup, team: Team,
                reopened: AlertGroup | None = None) -> None:
    """Bring every page of `group`'s occurrence up to date: state shown, spent buttons gone."""
    for page in store.get_pages(rt.redis, group.key, group.occurrence):
        payload = _page_payload(group, page, team, reopened)
        digest = payload_digest(payload)
        if digest == page.digest:
            continue
        try:
            rt.sender.call("chat.update", channel=page.channel, ts=page.ts, **payload)
        except SlackCallError as exc:
            if exc.error.startswith("gave up"):
                raise  # Slack is away: the whole sync is tried again later
            log.error("alert page update failed alert=%s channel=%s error=%s", group.key,
                      page.channel, exc.error)
            continue
        store.save_page(rt.redis, group.key, replace(page, digest=digest))
        log.info("alert page updated alert=%s team=%s channel=%s state=%s", group.key,
                 group.team, page.channel, group.state)


# ---------------------------------------------------------------- catching up


def catch_up(rt: Runtime, now: datetime) -> None:
    """Re-enqueue message syncs and escalation steps whose jobs were lost."""
    for key in store.out_of_date_since(rt.redis, now - OVERDUE):
        rt.enqueue("workers.alerts.sync_message", key, queue=QUEUE_URGENT,
                   job_id=f"alert-sync-{key}-late-{int(now.timestamp())}")
    for team in rt.config.teams.values():
        for group in store.open_groups(rt.redis, team.name):
            if group.paused is not None:
                if paging_paused(rt, team, group, now) is None:  # its wake-up job was lost
                    rt.enqueue("workers.alerts.escalate", group.key, group.occurrence,
                               group.escalation_step + 1, queue=QUEUE_URGENT,
                               job_id=f"resume-{group.key}-v{group.version}")
                continue
            due = next_step(policy_for(team, group), group, now)
            if due is None or due.due_at > now - OVERDUE:
                continue
            step = claim_id(group, due.position)
            if is_claimed(rt.redis, "alert-escalation", step):
                continue
            rt.enqueue("workers.alerts.escalate", group.key, group.occurrence, due.position,
                       queue=QUEUE_URGENT,
                       job_id="esc-" + step.replace(":", "-") + "-late")
