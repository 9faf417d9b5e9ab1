"""History streams: one Redis stream per team and event kind, ids in event time.

An entry's id is its event instant in milliseconds, so a report reads a period
with one XRANGE. Two processes may append out of order by a few milliseconds:
the Lua append then uses the stream's last id instead (ids must grow), which
moves such an event by at most that much. Streams are trimmed by `trim` to
`history_days` (MINID, approximate), so reports never need alert groups that
have expired.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import redis

from bot.domain.history import KINDS, Event, Kind, Rule
from bot.store import keys

# Appends at max(event ms, last id ms): XADD refuses an id below the stream's last one.
_APPEND = """
local ms = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local last = tonumber(string.match(info[i + 1], '^(%d+)'))
      if last > ms then ms = last end
    end
  end
end
return redis.call('XADD', KEYS[1], ms .. '-*', unpack(ARGV, 2))
"""

# Reads a slice of a stream as one string (entries split by \x1e, fields by \x1f):
# decoding 10,000 entries from one string is several times faster than from RESP.
_READ = r"""
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[3]))
local out = {}
for i, e in ipairs(entries) do
  out[i] = e[1] .. '\31' .. table.concat(e[2], '\31')
end
local last = ''
if #entries > 0 then last = entries[#entries][1] end
return {#entries, last, table.concat(out, '\30')}
"""
_SEPARATORS = str.maketrans({"\x1e": " ", "\x1f": " "})

Writer = redis.Redis | redis.client.Pipeline


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def event_ms(event: Event) -> int:
    """The stream id's milliseconds for an event (alerts.ingest appends in its own script)."""
    return _ms(event.at)


def append(r: Writer, team: str, event: Event) -> None:
    """Append one event (inside a MULTI pipeline when given one, so it commits with the change)."""
    args: list[str | int] = [_ms(event.at)]
    for name, value in event.fields.items():
        args += [name, value.translate(_SEPARATORS)]
    r.register_script(_APPEND)(keys=[keys.history(team, event.kind)], args=args, client=r)


def remember_rule(r: Writer, rule: Rule) -> None:
    r.hsetnx(keys.history_rules(rule.team), rule.ident,
             json.dumps({"alertname": rule.alertname, "generator_url": rule.generator_url}))


def record_page(r: redis.Redis, team: str, event: Event, rule: Rule) -> None:
    """A page and the alert rule it came from, in one round trip."""
    with r.pipeline() as pipe:
        append(pipe, team, event)
        remember_rule(pipe, rule)
        pipe.execute()


def rules(r: redis.Redis, team: str) -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for ident, raw in r.hgetall(keys.history_rules(team)).items():
        data = json.loads(raw)
        out[ident.decode()] = Rule(team, data["alertname"], data.get("generator_url", ""))
    return out


def read(r: redis.Redis, team: str, kind: Kind, start: datetime, end: datetime,
         batch: int = 10_000) -> list[Event]:
    """Events of one kind with start <= instant < end, oldest first."""
    out: list[Event] = []
    key = keys.history(team, kind)
    low: str = str(_ms(start))
    high = str(_ms(end) - 1)
    script = r.register_script(_READ)
    while True:
        count, last, packed = script(keys=[key], args=[low, high, batch])
        if count:
            for entry in packed.decode().split("\x1e"):
                parts = entry.split("\x1f")
                ms = int(parts[0].split("-", 1)[0])
                out.append(Event(kind, datetime.fromtimestamp(ms / 1000, UTC),
                                 dict(zip(parts[1::2], parts[2::2], strict=True))))
        if count < batch:
            return out
        low = "(" + last.decode()


def read_many(r: redis.Redis, team: str, kinds: Iterable[Kind], start: datetime,
              end: datetime) -> dict[str, list[Event]]:
    return {kind: read(r, team, kind, start, end) for kind in kinds}


def read_days(r: redis.Redis, team: str, view: str, days: list[str]) -> dict[str, dict]:
    """The stored day tallies among `days` (ISO dates), as plain dicts; missing ones are absent."""
    if not days:
        return {}
    found = r.mget([keys.history_day(team, view, day) for day in days])
    return {day: json.loads(raw) for day, raw in zip(days, found, strict=True) if raw is not None}


def write_days(r: redis.Redis, team: str, view: str,
               tallies: Mapping[str, tuple[Mapping, timedelta]]) -> None:
    """Store whole-day tallies with how long to keep each (one key each, so each expires
    on its own), in one round trip."""
    if not tallies:
        return
    with r.pipeline(transaction=False) as pipe:
        for day, (tally, ttl) in tallies.items():
            pipe.set(keys.history_day(team, view, day), json.dumps(tally, separators=(",", ":")),
                     ex=max(int(ttl.total_seconds()), 60))
        pipe.execute()


def trim(r: redis.Redis, team: str, now: datetime, days: int) -> int:
    """Drop entries older than `days` from every stream of the team; how many went."""
    minid = str(_ms(now - timedelta(days=days)))
    with r.pipeline(transaction=False) as pipe:
        for kind in KINDS:
            pipe.xtrim(keys.history(team, kind), minid=minid, approximate=True)
        return sum(pipe.execute())


def entries(r: redis.Redis, team: str, kind: Kind) -> int:
    return int(r.xlen(keys.history(team, kind)))


def memory_bytes(r: redis.Redis, team: str, kind: Kind) -> int:
    return int(r.memory_usage(keys.history(team, kind), samples=0) or 0)
