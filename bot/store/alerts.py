"""Alert groups in Redis: the group document, the open index, the Slack message per
occurrence, the thread-reply outbox and the "message out of date" marks.

Every transition is a compare-and-set on the group key (WATCH/MULTI): the pure
domain computes the new group from what was read, and the write only lands if
nobody changed the group meanwhile. A transition that changes nothing writes
nothing, which is what makes a redelivered notification free.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from bot.domain import history as history_domain
from bot.domain.alerts import AlertGroup, Change
from bot.store import history, keys
from bot.store.base import Conflict

# Resolved groups are kept a while so a late redelivery or a late click finds them.
GROUP_TTL = timedelta(days=30)
ATTEMPTS = 50

Transition = Callable[[AlertGroup | None], tuple[AlertGroup | None, Change]]


@dataclass(frozen=True)
class Outcome:
    """What one transition did: the group before and after, and the domain's Change."""

    before: AlertGroup | None
    group: AlertGroup | None
    change: Change
    render_requested: bool = False  # True when this call marked the message out of date first

    @property
    def changed(self) -> bool:
        return self.change.changed


@dataclass(frozen=True)
class MessageRef:
    """Where the Slack message of one occurrence lives, and what it last showed."""

    channel: str
    ts: str
    digest: str = ""

    def to_json(self) -> str:
        return json.dumps({"channel": self.channel, "ts": self.ts, "digest": self.digest})

    @classmethod
    def from_json(cls, raw: bytes | str) -> MessageRef:
        data = json.loads(raw)
        return cls(data["channel"], data["ts"], data.get("digest", ""))


@dataclass(frozen=True)
class PageRef:
    """One page sent for an occurrence: where it is, what it paged, and what it last showed.

    `kind` is "dm" (a person, with an Acknowledge button), "channel" (a channel step)
    or "nobody" (the channel notice that nobody was on call); `targets` is who it paged.
    """

    occurrence: int
    channel: str
    ts: str
    kind: str
    notify: str
    targets: str = ""
    digest: str = ""

    @property
    def field(self) -> str:
        return f"{self.occurrence}:{self.channel}:{self.ts}"

    def to_json(self) -> str:
        return json.dumps({"occurrence": self.occurrence, "channel": self.channel, "ts": self.ts,
                           "kind": self.kind, "notify": self.notify, "targets": self.targets,
                           "digest": self.digest})

    @classmethod
    def from_json(cls, raw: bytes | str) -> PageRef:
        data = json.loads(raw)
        return cls(int(data["occurrence"]), data["channel"], data["ts"], data["kind"],
                   data["notify"], data.get("targets", ""), data.get("digest", ""))


@dataclass(frozen=True)
class PendingReply:
    occurrence: int
    text: str

    def to_json(self) -> str:
        return json.dumps({"occurrence": self.occurrence, "text": self.text})

    @classmethod
    def from_json(cls, raw: bytes | str) -> PendingReply:
        data = json.loads(raw)
        return cls(int(data["occurrence"]), str(data["text"]))


# ---------------------------------------------------------------- reading


def get_group(r: redis.Redis, key: str) -> AlertGroup | None:
    raw = r.get(keys.alert_group(key))
    return None if raw is None else AlertGroup.from_json(raw)


def get_groups(r: redis.Redis, group_keys: Iterable[str]) -> list[AlertGroup]:
    wanted = list(group_keys)
    if not wanted:
        return []
    raws = r.mget([keys.alert_group(k) for k in wanted])
    return [AlertGroup.from_json(raw) for raw in raws if raw is not None]


def open_keys(r: redis.Redis, team: str) -> list[str]:
    return sorted(m.decode() for m in r.smembers(keys.alert_open(team)))


def open_groups(r: redis.Redis, team: str) -> list[AlertGroup]:
    return [g for g in get_groups(r, open_keys(r, team)) if g.is_open]


def get_snapshot(r: redis.Redis, key: str, occurrence: int) -> AlertGroup | None:
    raw = r.get(keys.alert_snapshot(key, occurrence))
    return None if raw is None else AlertGroup.from_json(raw)


# ---------------------------------------------------------------- transitions


def reply_text(before: AlertGroup | None, after: AlertGroup, change: Change) -> str | None:
    """The thread reply a change deserves: real transitions only, never a refresh.

    The first opening is the message itself; "more alerts firing" only updates it.
    """
    if not change.text:
        return None
    if change.kind == "opened":
        return change.text if change.new_occurrence else None
    if change.kind == "alerts":
        # The source clearing an alert a person had already resolved is worth a line.
        return change.text if before is not None and before.state == "resolved" else None
    return change.text


def transition(r: redis.Redis, key: str, apply: Transition, now: datetime) -> Outcome:
    """Compare-and-set the group `key` with `apply(old) -> (new, change)`.

    `apply` may raise (e.g. AlertTransitionError): nothing is written then.
    On a change the message is marked out of date and the thread reply, if
    any, is queued, in the same MULTI as the group itself.
    """
    group_key = keys.alert_group(key)
    for _ in range(ATTEMPTS):
        with r.pipeline() as pipe:
            try:
                pipe.watch(group_key)
                raw = pipe.get(group_key)
                before = None if raw is None else AlertGroup.from_json(raw)
                after, change = apply(before)
                if after is None or not change.changed:
                    pipe.unwatch()
                    return Outcome(before, after, change)
                requested = _write(pipe, before, after, change, now)
                return Outcome(before, after, change, render_requested=requested)
            except redis.WatchError:
                continue
    raise Conflict(f"too much contention on alert group {key}")


def _write(pipe: redis.client.Pipeline, before: AlertGroup | None, after: AlertGroup,
           change: Change, now: datetime) -> bool:
    key = after.key
    pipe.multi()
    pipe.set(keys.alert_group(key), after.to_json(), ex=GROUP_TTL)
    if after.team:
        if after.is_open:
            pipe.sadd(keys.alert_open(after.team), key)
        else:
            pipe.srem(keys.alert_open(after.team), key)
    if change.new_occurrence and before is not None:
        pipe.set(keys.alert_snapshot(key, before.occurrence), before.to_json(), ex=GROUP_TTL)
    _record_history(pipe, before, after, change, now)
    text = reply_text(before, after, change)
    if text:
        pipe.rpush(keys.alert_replies(key), PendingReply(after.occurrence, text).to_json())
        pipe.expire(keys.alert_replies(key), GROUP_TTL)
    if not (change.rerender or text):
        pipe.execute()
        return False
    pipe.zadd(keys.alert_render_due(), {key: now.timestamp()}, nx=True)
    return bool(pipe.execute()[-1])


def _record_history(pipe: redis.client.Pipeline, before: AlertGroup | None, after: AlertGroup,
                    change: Change, now: datetime) -> None:
    """Ack, resolve and escalation go to the team's history in the transition's own MULTI."""
    event = history_domain.from_alert_change(before, after, change, now)
    if event is None or not after.team:
        return
    history.append(pipe, after.team, event)
    history.remember_rule(pipe, history_domain.rule_of(after))


# ---------------------------------------------------------------- the message of a group


def mark_out_of_date(r: redis.Redis, key: str, now: datetime) -> bool:
    """True when this call set the mark (so the caller should enqueue a sync)."""
    return bool(r.zadd(keys.alert_render_due(), {key: now.timestamp()}, nx=True))


def take_out_of_date(r: redis.Redis, key: str) -> bool:
    """Clear the mark before rendering: a change after this marks it again."""
    return bool(r.zrem(keys.alert_render_due(), key))


def is_out_of_date(r: redis.Redis, key: str) -> bool:
    return r.zscore(keys.alert_render_due(), key) is not None


def out_of_date_since(r: redis.Redis, before: datetime) -> list[str]:
    """Groups marked out of date before `before`: their sync job was lost or failed."""
    found = r.zrangebyscore(keys.alert_render_due(), "-inf", before.timestamp())
    return [m.decode() for m in found]


def get_message(r: redis.Redis, key: str, occurrence: int) -> MessageRef | None:
    raw = r.hget(keys.alert_message(key), str(occurrence))
    return None if raw is None else MessageRef.from_json(raw)


def save_message(r: redis.Redis, key: str, occurrence: int, ref: MessageRef) -> None:
    with r.pipeline() as pipe:
        pipe.hset(keys.alert_message(key), str(occurrence), ref.to_json())
        pipe.expire(keys.alert_message(key), GROUP_TTL)
        pipe.execute()


def save_page(r: redis.Redis, key: str, page: PageRef) -> None:
    with r.pipeline() as pipe:
        pipe.hset(keys.alert_pages(key), page.field, page.to_json())
        pipe.expire(keys.alert_pages(key), GROUP_TTL)
        pipe.execute()


def get_pages(r: redis.Redis, key: str, occurrence: int) -> list[PageRef]:
    """The pages sent for one occurrence of the group, oldest first."""
    pages = [PageRef.from_json(raw) for raw in r.hvals(keys.alert_pages(key))]
    return sorted((p for p in pages if p.occurrence == occurrence), key=lambda p: float(p.ts))


def sync_lock(r: redis.Redis, key: str) -> redis.lock.Lock:
    """One message sync per group at a time: two would post two messages."""
    return r.lock(keys.alert_sync_lock(key), timeout=120, blocking=False)


def next_reply(r: redis.Redis, key: str) -> PendingReply | None:
    raw = r.lindex(keys.alert_replies(key), 0)
    return None if raw is None else PendingReply.from_json(raw)


def drop_reply(r: redis.Redis, key: str) -> None:
    """Remove the reply just posted (only the sync-lock holder posts replies)."""
    r.lpop(keys.alert_replies(key))
