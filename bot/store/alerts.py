"""Alert groups in Redis: the group document, the open index, the Slack message per
occurrence, the thread-reply outbox and the "message out of date" marks.

Every transition is a compare-and-set on the group key: the pure domain
computes the new group from what was read, and the write only lands if nobody
changed the group meanwhile. A transition that changes nothing writes nothing,
which is what makes a redelivered notification free.

Clicks and jobs use WATCH/MULTI (`transition`). Alert webhooks use `ingest`:
one Lua script, in one round trip, checks that the group is still what the
process last saw, writes it with its indexes and queues the follow-up jobs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from redis.client import Pipeline

from bot.domain import history as history_domain
from bot.domain.alerts import AlertGroup, Change
from bot.domain.recent import Recent
from bot.store import history, keys
from bot.store.base import Conflict, NotReplicated

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


# ---------------------------------------------------------------- ingest: one round trip

# KEYS: 1 group, 2 open index, 3 snapshot of the previous occurrence, 4 pending thread
#   replies, 5 render-due marks, 6 replication probe.
# ARGV: 1 sha1 of the group as the caller read it ('' = absent), 2 the new group
#   ('' = nothing to write), 3 TTL seconds, 4 '+'/'-'/'' open index, 5 group key,
#   6 snapshot or '', 7 thread reply or '', 8 mark score or '', 9 '1' to touch the probe,
#   then two command lists (count, then argc and args of each): run only when this
#   write set the mark first, and run after any write; then a history event or 0:
#   stream key, event ms, field count, fields (appended as store.history.append does).
# Returns {1, marked} when the group was as expected, else {0[, current group]}.
INGEST_SCRIPT = """
local current = redis.call('GET', KEYS[1])
local seen = ''
if current then seen = redis.sha1hex(current) end
if seen ~= ARGV[1] then
  if current then return {0, current} end
  return {0}
end
if ARGV[9] == '1' then redis.call('SET', KEYS[6], '1', 'EX', 60) end
if ARGV[2] == '' then return {1, 0} end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if ARGV[4] == '+' then redis.call('SADD', KEYS[2], ARGV[5])
elseif ARGV[4] == '-' then redis.call('SREM', KEYS[2], ARGV[5]) end
if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[3]) end
if ARGV[7] ~= '' then
  redis.call('RPUSH', KEYS[4], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
local marked = 0
if ARGV[8] ~= '' then marked = redis.call('ZADD', KEYS[5], 'NX', ARGV[8], ARGV[5]) end
local i = 10
local function run(wanted)
  local count = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, count do
    local argc = tonumber(ARGV[i])
    if wanted then redis.call(unpack(ARGV, i + 1, i + argc)) end
    i = i + argc + 1
  end
end
run(marked == 1)
run(true)
if ARGV[i] ~= '0' then
  local stream, ms, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if redis.call('EXISTS', stream) == 1 then
    local info = redis.call('XINFO', 'STREAM', stream)
    for j = 1, #info, 2 do
      if info[j] == 'last-generated-id' then
        local last = tonumber(string.match(info[j + 1], '^(%d+)'))
        if last > ms then ms = last end
      end
    end
  end
  redis.call('XADD', stream, ms .. '-*', unpack(ARGV, i + 3, i + 2 + n))
end
return {1, marked}
"""
INGEST_SHA = hashlib.sha1(INGEST_SCRIPT.encode()).hexdigest()

# Follow-up jobs of a write, queued (not executed) on two pipelines: the first
# runs only when the write marked the message out of date first, the second always.
FollowUps = Callable[[AlertGroup | None, AlertGroup, Change, Pipeline, Pipeline], None]


@dataclass(frozen=True)
class _Seen:
    """A group as stored: its JSON, the SHA-1 the script compares, and the parsed group."""

    raw: bytes
    digest: str
    group: AlertGroup

    @classmethod
    def of(cls, raw: bytes, group: AlertGroup | None = None) -> _Seen:
        return cls(raw, hashlib.sha1(raw).hexdigest(), group or AlertGroup.from_json(raw))


# The last state of recent groups this process read or wrote. Only a guess: the script
# checks it, and a stale guess costs one more round trip. Kept parsed (groups are
# immutable), so a notification neither parses nor hashes the stored group again.
_known: Recent[str, _Seen] = Recent(4096)


def ingest(r: redis.Redis, key: str, apply: Transition, now: datetime,
           follow_ups: FollowUps, *, replicas: int = 0, wait_ms: int = 0,
           expect_stored: bool = False) -> Outcome:
    """Like `transition`, in one round trip when this process saw the group last.

    With `replicas`, the same round trip WAITs until that many replicas have the
    write (or, for a change of nothing, everything written before it), else
    NotReplicated: the caller must not acknowledge.

    With `expect_stored` (the change is about a group that should exist, e.g. its
    resolve), a group this process has not seen is read first rather than guessed
    absent: a wrong guess costs a whole attempt (the group built anew and encoded,
    its jobs recorded, the script sent) where a GET costs one small round trip.
    """
    seen = _known.get(key)
    if seen is None and expect_stored:
        raw = r.get(keys.alert_group(key))
        seen = None if raw is None else _Seen.of(raw)
    for _ in range(ATTEMPTS):
        before = None if seen is None else seen.group
        after, change = apply(before)
        written = _Seen.of(after.to_json().encode(), after) if after and change.changed else None
        args = _ingest_args(r, seen, before, written, change, now, follow_ups, replicas)
        team = (after or before).team if (after or before) else None
        group_keys = [keys.alert_group(key), keys.alert_open(team or ""),
                      keys.alert_snapshot(key, before.occurrence if before else 0),
                      keys.alert_replies(key), keys.alert_render_due(), keys.replication_probe()]
        answer = _run_ingest(r, group_keys, args, replicas, wait_ms)
        if answer[0] == 1:
            if written is not None:
                _known.put(key, written)
                return Outcome(before, after, change, render_requested=bool(answer[1]))
            if seen is not None:
                _known.put(key, seen)
            return Outcome(before, after, change)
        seen = _Seen.of(answer[1]) if len(answer) > 1 else None
    raise Conflict(f"too much contention on alert group {key}")


def _ingest_args(r: redis.Redis, seen: _Seen | None, before: AlertGroup | None,
                 written: _Seen | None, change: Change, now: datetime,
                 follow_ups: FollowUps, replicas: int) -> list[Any]:
    probe = "1" if replicas else ""
    expected = seen.digest if seen is not None else ""
    if written is None:
        return [expected, "", 0, "", "", "", "", "", probe, 0, 0, 0]
    after = written.group
    text = reply_text(before, after, change)
    open_op = ("+" if after.is_open else "-") if after.team else ""
    snapshot = seen.raw if change.new_occurrence and seen is not None else ""
    reply = PendingReply(after.occurrence, text).to_json() if text else ""
    mark = now.timestamp() if change.rerender or text else ""
    on_mark, on_write = r.pipeline(transaction=False), r.pipeline(transaction=False)
    follow_ups(before, after, change, on_mark, on_write)
    event = history_domain.from_alert_change(before, after, change, now)
    recorded: list[Any] = [0]
    if event is not None and after.team:
        history.remember_rule(on_write, history_domain.rule_of(after))
        fields = [part for pair in event.fields.items() for part in pair]
        recorded = [keys.history(after.team, event.kind), history.event_ms(event), len(fields),
                    *fields]
    return [expected, written.raw, int(GROUP_TTL.total_seconds()), open_op, after.key,
            snapshot, reply, mark, probe, *_recorded(on_mark), *_recorded(on_write), *recorded]


def _recorded(pipe: Pipeline) -> list[Any]:
    """The commands queued on an unexecuted pipeline, flattened for the script."""
    flat: list[Any] = [len(pipe.command_stack)]
    for command_args, _options in pipe.command_stack:
        flat += [len(command_args), *command_args]
    pipe.reset()
    return flat


def _run_ingest(r: redis.Redis, group_keys: list[str], args: list[Any], replicas: int,
                wait_ms: int) -> list[Any]:
    if not replicas:
        return _evalsha(r, group_keys, args)
    for _ in range(2):
        with r.pipeline(transaction=False) as pipe:
            pipe.evalsha(INGEST_SHA, len(group_keys), *group_keys, *args)
            if replicas:
                pipe.wait(replicas, wait_ms)
            results = pipe.execute(raise_on_error=False)
        answer = results[0]
        if isinstance(answer, redis.exceptions.NoScriptError):
            r.script_load(INGEST_SCRIPT)  # once per Redis server (and after a failover)
            continue
        if isinstance(answer, Exception):
            raise answer
        if replicas and isinstance(results[1], Exception):
            raise results[1]
        if replicas and results[1] < replicas:
            raise NotReplicated(f"{results[1]} of {replicas} replica(s) confirmed within {wait_ms} ms")
        return answer
    raise redis.exceptions.NoScriptError("the ingest script could not be loaded")


def _evalsha(r: redis.Redis, group_keys: list[str], args: list[Any]) -> list[Any]:
    """The script alone: one command costs less than a pipeline of one."""
    try:
        return r.evalsha(INGEST_SHA, len(group_keys), *group_keys, *args)
    except redis.exceptions.NoScriptError:
        r.script_load(INGEST_SCRIPT)  # once per Redis server (and after a failover)
        return r.evalsha(INGEST_SHA, len(group_keys), *group_keys, *args)


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


def cool_down(r: redis.Redis, key: str, ms: int) -> None:
    """The group's message was just synced: the next sync waits `ms` (none when 0)."""
    if ms > 0:
        r.set(keys.alert_sync_cooldown(key), 1, px=ms)


def cooling_ms(r: redis.Redis, key: str) -> int:
    """How long the next sync of the group's message must still wait (0: none)."""
    return max(0, r.pttl(keys.alert_sync_cooldown(key)))


def next_reply(r: redis.Redis, key: str) -> PendingReply | None:
    raw = r.lindex(keys.alert_replies(key), 0)
    return None if raw is None else PendingReply.from_json(raw)


def drop_reply(r: redis.Redis, key: str) -> None:
    """Remove the reply just posted (only the sync-lock holder posts replies)."""
    r.lpop(keys.alert_replies(key))
