"""The acknowledge timeout: an alert acknowledged but not resolved gets a "Still on it?".

After the team's `ack_timeout` (default 4h) the acknowledger gets a DM with
Still on it (the acknowledgement counts from now), Resolve and Unacknowledge.
Without an answer within 10 minutes the alert re-opens and escalation starts
again from the first step. Each question and each re-opening happens once:
they are compare-and-set on the acknowledgement they were made for.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.domain.alerts import AlertTransitionError
from bot.domain.paging import (
    STILL_ON_IT_WAIT,
    ack_outstanding,
    reopen,
    resolve_acknowledged,
    still_on_it,
)
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import alerts, messages
from bot.slack.render_alerts import still_on_it_answered, still_on_it_question
from bot.store import alerts as store
from bot.store.base import claim

log = logging.getLogger("atbat.ack_timeouts")

NO_ANSWER = ("No answer to “Still on it?” within 10 minutes: re-opened, paging starts again from the "
             "first step")


def question_value(key: str, occurrence: int, acked_at: datetime) -> str:
    return f"{key}:{occurrence}:{int(acked_at.timestamp() * 1000)}"


def _parse(value: str) -> tuple[str, int, int]:
    key, occurrence, millis = value.rsplit(":", 2)
    return key, int(occurrence), int(millis)


def ask(rt: Runtime, key: str, occurrence: int, acked_at_iso: str) -> None:
    """Ask the acknowledger once whether they are still on it; re-open later without an answer."""
    acked_at = datetime.fromisoformat(acked_at_iso)
    group = store.get_group(rt.redis, key)
    if not ack_outstanding(group, occurrence, acked_at) or group is None or not group.acked_by:
        return
    value = question_value(key, occurrence, acked_at)
    if not claim(rt.redis, "ack-timeout-ask", value, 7 * 86400):
        return
    question = still_on_it_question(group, value, int(STILL_ON_IT_WAIT.total_seconds() // 60))
    messages.post(rt, group.acked_by, question["text"], question["blocks"], queue=QUEUE_URGENT)
    rt.enqueue_at(rt.now() + STILL_ON_IT_WAIT, "workers.paging.ack_expire", key, occurrence,
                  acked_at_iso, queue=QUEUE_URGENT, job_id="ack-expire-" + value.replace(":", "-"))
    log.info("still on it asked alert=%s team=%s user=%s", key, group.team, group.acked_by)


def expire(rt: Runtime, key: str, occurrence: int, acked_at_iso: str) -> None:
    """Nobody answered: re-open and escalate from the first step (once, by compare-and-set)."""
    acked_at = datetime.fromisoformat(acked_at_iso)
    now = rt.now()
    try:
        outcome = alerts.transition(rt, key, lambda g: reopen(g, occurrence, acked_at, "atbat", NO_ANSWER,
                                                              now))
    except AlertTransitionError:
        return  # answered, resolved or acknowledged again meanwhile
    if outcome.changed:
        log.info("alert re-opened after ack timeout alert=%s team=%s", key,
                 outcome.group.team if outcome.group else "-")


def answer(rt: Runtime, value: str, user: str, response_url: str | None,
           choice: str) -> str | None:
    """Still on it / Resolve / Unacknowledge, by the acknowledger only."""
    try:
        key, occurrence, millis = _parse(value)
    except ValueError:
        return "This button is not one of atbat's."
    group = store.get_group(rt.redis, key)
    if group is None:
        return "This alert is no longer known to atbat."
    acked_at = group.acked_at
    if acked_at is None or int(acked_at.timestamp() * 1000) != millis or group.occurrence != occurrence:
        messages.replace_clicked(rt, response_url,
                                 still_on_it_answered(group.title, "Already answered"))
        return "This question was already answered, or the alert changed since."
    if user != group.acked_by:
        return f"Only <@{group.acked_by}>, who acknowledged it, can answer this."
    now = rt.now()
    if choice == "still":
        apply = lambda g: still_on_it(g, occurrence, acked_at, user, now)  # noqa: E731
        done = f"Still on it: <@{user}>; atbat asks again in a while"
    elif choice == "resolve":
        apply = lambda g: resolve_acknowledged(g, occurrence, acked_at, user, now)  # noqa: E731
        done = f"Resolved by <@{user}>"
    else:
        apply = lambda g: reopen(g, occurrence, acked_at, user,  # noqa: E731
                                 f"Unacknowledged by <@{user}>: paging starts again", now)
        done = f"Unacknowledged by <@{user}>: paging starts again from the first step"
    try:
        alerts.transition(rt, key, apply)
    except AlertTransitionError as exc:
        return str(exc)
    messages.replace_clicked(rt, response_url, still_on_it_answered(group.title, done))
    return None
