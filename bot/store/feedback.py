"""Page feedback in Redis: who an occurrence paged, their answers, the counts per rule.

Answering is one compare-and-set on the occurrence's answers: the answer, the
rule's counts (the old answer's count goes down when it changes) and the
history entry land in one MULTI, so each person counts once per occurrence.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import redis

from bot.domain.feedback import Answer, FeedbackError, FeedbackTarget, Paged, answer_event
from bot.store import history, keys
from bot.store.base import Commit, compare_and_set

# Answers are welcome for as long as an alert group is kept, and a bit more.
KEEP = timedelta(days=35)


def remember_paged(r: redis.Redis, target: FeedbackTarget, user: str, paged: Paged) -> None:
    key = keys.paged(target.group, target.occurrence)
    with r.pipeline() as pipe:
        pipe.hset(key, user, json.dumps({"team": paged.team, "rule": paged.rule,
                                         "title": paged.title}))
        pipe.expire(key, KEEP)
        pipe.execute()


def paged_people(r: redis.Redis, target: FeedbackTarget) -> dict[str, Paged]:
    raw = r.hgetall(keys.paged(target.group, target.occurrence))
    return {u.decode(): Paged(**json.loads(v)) for u, v in raw.items()}


def paged_person(r: redis.Redis, target: FeedbackTarget, user: str) -> Paged | None:
    raw = r.hget(keys.paged(target.group, target.occurrence), user)
    return None if raw is None else Paged(**json.loads(raw))


def answer_of(r: redis.Redis, target: FeedbackTarget, user: str) -> str | None:
    raw = r.hget(keys.feedback_answers(target.group, target.occurrence), user)
    return None if raw is None else raw.decode()


def answer(r: redis.Redis, target: FeedbackTarget, user: str, new: Answer, at: datetime,
           note: str = "") -> str | None:
    """Record `user`'s answer (replacing theirs); returns their previous answer.

    Raises FeedbackError when `user` was not paged for this occurrence.
    """
    answers = keys.feedback_answers(target.group, target.occurrence)

    def decide(pipe: redis.client.Pipeline) -> Commit[str | None]:
        raw_paged = pipe.hget(keys.paged(target.group, target.occurrence), user)
        if raw_paged is None:
            raise FeedbackError("Only the people this alert paged can answer, and only for "
                                f"{KEEP.days} days.")
        paged = Paged(**json.loads(raw_paged))
        raw_old = pipe.hget(answers, user)
        old = None if raw_old is None else raw_old.decode()
        if old == new and not note:
            return Commit(old)

        def writes(tx: redis.client.Pipeline) -> None:
            tx.hset(answers, user, new)
            tx.expire(answers, KEEP)
            counts = keys.feedback_counts(paged.team, paged.rule)
            if old != new:
                tx.hincrby(counts, new, 1)
                if old is not None:
                    tx.hincrby(counts, old, -1)
            history.append(tx, paged.team, answer_event(target, paged, user, new, at, note))

        return Commit(old, writes)

    return compare_and_set(r, [answers], decide, what=f"feedback {target.value}")


def counts(r: redis.Redis, team: str, rule: str) -> dict[str, int]:
    raw = r.hgetall(keys.feedback_counts(team, rule))
    return {k.decode(): int(v) for k, v in raw.items() if int(v)}
