"""Graduation suggestions in Redis: the `fix` history entry of a run (once per run), and the
suggestion of a rule (once per fix key, whatever the number of workers)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import redis

from bot.domain import graduation as domain
from bot.domain.graduation import GraduationError, Suggestion
from bot.domain.history import Event
from bot.store import audit, history, keys
from bot.store.base import Commit, compare_and_set, is_claimed

ACTOR = "atbat"


def new_id() -> str:
    return "g" + secrets.token_hex(5)


def record_fix(r: redis.Redis, team: str, event: Event, run: str, ttl: timedelta) -> bool:
    """Append the run's `fix` entry to the team's history; False when it was recorded before."""
    claim = keys.once("graduation-fix", run)

    def decide(pipe: redis.client.Pipeline) -> Commit[bool]:
        if pipe.exists(claim):
            return Commit(False)

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.set(claim, b"1", ex=int(ttl.total_seconds()))
            history.append(pipe, team, event)

        return Commit(True, writes)

    return compare_and_set(r, [claim], decide, what=claim)


def settled(r: redis.Redis, run: str) -> bool:
    """Was the run's `fix` entry recorded?"""
    return is_claimed(r, "graduation-fix", run)


def create(r: redis.Redis, s: Suggestion, ttl: timedelta) -> bool:
    """Store the suggestion and claim its key; False when that key was suggested before."""
    claim = keys.suggestion_of(s.key)

    def decide(pipe: redis.client.Pipeline) -> Commit[bool]:
        if pipe.exists(claim):
            return Commit(False)

        def writes(pipe: redis.client.Pipeline) -> None:
            seconds = int(ttl.total_seconds())
            pipe.set(claim, s.id, ex=seconds)
            pipe.set(keys.suggestion(s.id), s.to_json(), ex=seconds)
            audit.record(pipe, actor=ACTOR, action="graduation.suggest", at=s.created_at,
                         team=s.team, suggestion=s.id, rule=s.rule, runbook=s.runbook,
                         alertname=s.alertname, runs=list(s.runs), people=list(s.people))

        return Commit(True, writes)

    return compare_and_set(r, [claim], decide, what=claim)


def get(r: redis.Redis, ident: str) -> Suggestion | None:
    if not ident.startswith("g") or not ident[1:].isalnum() or len(ident) > 20:
        return None
    raw = r.get(keys.suggestion(ident))
    return Suggestion.from_json(raw) if raw else None


def _update(r: redis.Redis, ident: str, change: Callable[[Suggestion], Suggestion],
            audited: Callable[[redis.client.Pipeline, Suggestion], None] | None = None
            ) -> Suggestion:
    key = keys.suggestion(ident)

    def decide(pipe: redis.client.Pipeline) -> Commit[Suggestion]:
        raw = pipe.get(key)
        if raw is None:
            raise GraduationError("This suggestion no longer exists.")
        new = change(Suggestion.from_json(raw))

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, new.to_json(), keepttl=True)
            if audited is not None:
                audited(pipe, new)

        return Commit(new, writes)

    return compare_and_set(r, [key], decide, what=key)


def add_message(r: redis.Redis, ident: str, manager: str, channel: str, ts: str) -> Suggestion:
    return _update(r, ident, lambda s: domain.with_message(s, manager, channel, ts))


def dismiss(r: redis.Redis, ident: str, user: str, now: datetime) -> Suggestion:
    """Open -> dismissed by `user` (compare-and-set, audited); GraduationError otherwise."""
    def audited(pipe: redis.client.Pipeline, s: Suggestion) -> None:
        audit.record(pipe, actor=user, action="graduation.dismiss", at=now, team=s.team,
                     suggestion=s.id, rule=s.rule, runbook=s.runbook)

    return _update(r, ident, lambda s: domain.dismiss(s, user, now), audited)
