"""Report tallies: what a report needs from a span of history, as counts that add up.

Pure Python. A tally counts pages per person, per rule and per day (team
timezone), sleep-hour pages (on each person's own clock), and the times to
acknowledge and to resolve counted by value, so that the tallies of the parts of
a period add up to the tally of the whole, medians included. Whole days are kept
as tallies in Redis (`bot.services.reports`); `LocalClock` makes the timezone
conversions of a year of pages cheap.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.history import Event, SleepHours


class LocalClock:
    """Wall-clock times of instants, with each zone's UTC offset cached per hour.

    An hour whose two ends have different offsets (a daylight saving switch) is
    converted instant by instant, so the answer is always `astimezone`'s.
    """

    def __init__(self) -> None:
        self._offsets: dict[tuple[str, int], timedelta | None] = {}

    def local(self, at: datetime, tz: str) -> datetime:
        """`at` on the clock of `tz`, without its tzinfo."""
        hour = int(at.timestamp()) // 3600
        try:
            offset = self._offsets[(tz, hour)]
        except KeyError:
            zone = ZoneInfo(tz)
            first = datetime.fromtimestamp(hour * 3600, zone).utcoffset()
            last = datetime.fromtimestamp(hour * 3600 + 3599, zone).utcoffset()
            offset = self._offsets[(tz, hour)] = first if first == last else None
        if offset is None:
            return at.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        return at.replace(tzinfo=None) + offset - (at.utcoffset() or timedelta(0))


def _add_counts(into: Counter[str], raw: object) -> None:
    if isinstance(raw, dict):
        for key, n in raw.items():
            into[key] += n


@dataclass
class Tally:
    """What a report needs from a span of history, as counts that add up.

    A report over a period is the sum of the tallies of its parts (whole days
    kept as rollups, the ragged ends read from the streams), and gives the same
    figures as one tally of every event: medians come from counted values.
    """

    pages: Counter[str] = field(default_factory=Counter)         # person -> pages
    sleep: Counter[str] = field(default_factory=Counter)         # person -> sleep-hour pages
    rule_pages: Counter[str] = field(default_factory=Counter)    # rule -> pages
    rule_sleep: Counter[str] = field(default_factory=Counter)    # rule -> sleep-hour pages
    tta: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    ttr: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    days: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    day_sleep: Counter[str] = field(default_factory=Counter)     # ISO day (team tz) -> sleep pages

    def add(self, other: Tally) -> Tally:
        for mine, theirs in ((self.pages, other.pages), (self.sleep, other.sleep),
                             (self.rule_pages, other.rule_pages),
                             (self.rule_sleep, other.rule_sleep), (self.day_sleep, other.day_sleep)):
            mine.update(theirs)
        for nested, more in ((self.tta, other.tta), (self.ttr, other.ttr),
                             (self.days, other.days)):
            for key, counts in more.items():
                nested[key].update(counts)
        return self

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-able form (only what is not empty)."""
        out = {"p": self.pages, "s": self.sleep, "rp": self.rule_pages, "rs": self.rule_sleep,
               "a": self.tta, "r": self.ttr, "d": self.days, "ds": self.day_sleep}
        return {k: ({kk: dict(vv) for kk, vv in v.items()} if k in ("a", "r", "d") else dict(v))
                for k, v in out.items() if v}

    def add_dict(self, raw: Mapping[str, object]) -> Tally:
        """Add a tally kept in its `as_dict` form (no copy made of it first)."""
        for name, counts in (("p", self.pages), ("s", self.sleep), ("rp", self.rule_pages),
                             ("rs", self.rule_sleep), ("ds", self.day_sleep)):
            _add_counts(counts, raw.get(name))
        for name, nested in (("a", self.tta), ("r", self.ttr), ("d", self.days)):
            more = raw.get(name)
            if isinstance(more, dict):
                for key, counts in more.items():
                    _add_counts(nested[key], counts)
        return self

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Tally:
        return cls().add_dict(raw)


def _value(event: Event, name: str) -> str | None:
    """A duration field as the text of its float (the key medians are counted by)."""
    try:
        return repr(float(event.fields[name]))
    except (KeyError, ValueError):
        return None


def tally(pages: Iterable[Event], acks: Iterable[Event], resolves: Iterable[Event],
          hours: SleepHours, tz: str, clock: LocalClock | None = None) -> Tally:
    """Count pages (by person, rule, day on the team's clock, and sleep hours on the
    person's own clock), times to acknowledge by person and to resolve by rule."""
    clock = clock or LocalClock()
    out = Tally()
    for page in pages:
        f = page.fields
        user, rule = f.get("user", ""), f.get("rule", "")
        day = clock.local(page.at, tz).date().isoformat()
        out.pages[user] += 1
        out.rule_pages[rule] += 1
        out.days[day][user] += 1
        if hours.contains(clock.local(page.at, f.get("tz") or tz).time()):
            out.sleep[user] += 1
            out.rule_sleep[rule] += 1
            out.day_sleep[day] += 1
    for ack in acks:
        if (value := _value(ack, "tta")) is not None:
            out.tta[ack.fields.get("user", "")][value] += 1
    for resolve in resolves:
        if (value := _value(resolve, "ttr")) is not None:
            out.ttr[resolve.fields.get("rule", "")][value] += 1
    return out


def counted_median(counts: Iterable[Counter[str]]) -> float | None:
    """The median of counted values: what `statistics.median` gives for them written out."""
    merged: Counter[float] = Counter()
    for c in counts:
        for value, n in c.items():
            if n > 0:
                merged[float(value)] += n
    total = sum(merged.values())
    if not total:
        return None
    wanted = (total - 1) // 2, total // 2  # the middle one, or the two middle ones
    found: list[float] = []
    seen = 0
    for value in sorted(merged):
        seen += merged[value]
        while len(found) < 2 and seen > wanted[len(found)]:
            found.append(value)
        if len(found) == 2:
            break
    low, high = found
    return low if total % 2 else (low + high) / 2
