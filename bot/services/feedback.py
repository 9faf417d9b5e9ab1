"""Page feedback: remember who each occurrence paged, ask them once it resolves, count answers.

The question goes out from a job (`workers.feedback.ask`) queued by the alert
transition that resolved the group; each person's question is claimed once,
so two workers or a retried job ask once, and then owed until Slack takes it,
so a question asked during a Slack outage arrives once after it.
"""

from __future__ import annotations

import logging

from bot.domain.alerts import AlertGroup
from bot.domain.config import Team
from bot.domain.feedback import Answer, FeedbackError, FeedbackTarget, Paged, clean_note
from bot.domain.history import rule_of
from bot.runtime import QUEUE_DEFAULT, Runtime
from bot.services import deliveries
from bot.slack.render_feedback import question
from bot.store import feedback as store
from bot.store.base import claim

log = logging.getLogger("atbat.feedback")

ASK_CLAIM_TTL = 40 * 86400


def remember_page(rt: Runtime, team: Team, group: AlertGroup, user: str) -> None:
    paged = Paged(team=team.name, rule=rule_of(group).ident, title=group.title[:200])
    store.remember_paged(rt.redis, FeedbackTarget(group.key, group.occurrence), user, paged)


def resolved(before: AlertGroup | None, after: AlertGroup | None) -> bool:
    return before is not None and after is not None and before.is_open and not after.is_open \
        and before.occurrence == after.occurrence


def may_have_paged(group: AlertGroup) -> bool:
    """False only when this occurrence surely paged nobody: no step notified, paging never
    resumed (a resume starts the steps again), nobody acknowledged. Then there is nobody to
    ask, and a storm of alerts that resolve before anyone is paged queues no question job
    per group. The escalation job pages before it records its step, and an acknowledged or
    resolved group takes no step: an acknowledgement counts, and `unasked` covers a resolve."""
    return group.escalation_step >= 0 or group.escalation_pass > 0 or group.acked_by is not None


def unasked(group: AlertGroup | None, occurrence: int) -> bool:
    """The occurrence resolved while its step's pages were being sent: its resolve saw no
    step notified and queued no question, so the escalation job that paged asks for one."""
    return group is not None and group.occurrence == occurrence \
        and group.state == "resolved" and not may_have_paged(group)


def request_questions(rt: Runtime, group: AlertGroup, pipeline=None) -> None:
    rt.enqueue("workers.feedback.ask", group.key, group.occurrence, queue=QUEUE_DEFAULT,
               job_id=f"feedback-ask-{group.key}-{group.occurrence}", pipeline=pipeline)


def ask(rt: Runtime, target: FeedbackTarget) -> int:
    """Owe each person the occurrence paged their question, once; how many were owed now."""
    asked = 0
    for user, paged in store.paged_people(rt.redis, target).items():
        ident = f"{target.value}:{user}"
        # A small claim is what is kept (40 days, per paged person); the question is owed
        # only until Slack takes it, so nothing larger outlives the delivery.
        if not claim(rt.redis, "feedback-ask", ident, ASK_CLAIM_TTL):
            continue
        deliveries.owe(rt, "feedback", ident, "chat.postMessage",
                       {"channel": user, **question(target, paged.title)}, keep=False)
        asked += 1
        log.info("feedback question owed user=%s team=%s alert=%s", user, paged.team, target.group)
    return asked


def answer(rt: Runtime, value: str, user: str, choice: Answer) -> dict:
    """Record the click; the question re-rendered with the answer. Raises FeedbackError."""
    target = FeedbackTarget.parse(value)
    previous = store.answer(rt.redis, target, user, choice, rt.now())
    paged = store.paged_person(rt.redis, target, user)
    log.info("feedback answered user=%s alert=%s answer=%s previous=%s", user, target.group,
             choice, previous or "-")
    return question(target, paged.title if paged else "", chosen=choice)


def add_note(rt: Runtime, value: str, user: str, text: str) -> dict:
    target = FeedbackTarget.parse(value)
    note = clean_note(text)
    current = store.answer_of(rt.redis, target, user)
    if current is None:
        raise FeedbackError("Answer the question first, then add a note.")
    store.answer(rt.redis, target, user, current, rt.now(), note=note)  # type: ignore[arg-type]
    paged = store.paged_person(rt.redis, target, user)
    log.info("feedback note user=%s alert=%s", user, target.group)
    return question(target, paged.title if paged else "", chosen=current, note=note)


def paged_title(rt: Runtime, value: str, user: str) -> str:
    """The alert's title for the note form; FeedbackError if `user` may not answer."""
    target = FeedbackTarget.parse(value)
    paged = store.paged_person(rt.redis, target, user)
    if paged is None:
        raise FeedbackError("Only the people this alert paged can answer.")
    return paged.title
