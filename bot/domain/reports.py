"""On-call health reports: per person and per alert rule, with trends, from history.

Pure Python, the clock is passed in. Input is the history of one team for a
period and the period before it (`bot.domain.history` events), the shifts of
the final schedule, and the team's sleep hours. A page is a sleep-hour page
when it reached its person during the night *on that person's own clock*
(the timezone recorded with the page), so a switch to or from daylight saving
time moves the night with the person.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.history import Event, Rule, SleepHours, in_sleep_hours

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PERIOD = "7d"
MAX_DAYS = 366
ANSWERS = ("actionable", "noise", "morning")
_SINCE = re.compile(r"^(\d{1,3})d$")


class ReportError(ValueError):
    """A period that cannot be read; str() is the message for the user."""


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return round((self.end - self.start) / timedelta(days=1))

    @property
    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True)
class ShiftSpan:
    """One shift of the final schedule (any layer): who, from when, until when."""

    user: str
    start: datetime
    end: datetime
    layer: str = ""


def recorded_shift(event: Event) -> ShiftSpan | None:
    """The ShiftSpan of a `shift` history entry (None when it cannot be read)."""
    try:
        return ShiftSpan(event.fields["user"], datetime.fromisoformat(event.fields["start"]),
                         datetime.fromisoformat(event.fields["end"]), event.fields["layer"])
    except (KeyError, ValueError):
        return None


def clip_shift(s: ShiftSpan, start: datetime | None, end: datetime | None) -> ShiftSpan | None:
    lo = s.start if start is None else max(s.start, start)
    hi = s.end if end is None else min(s.end, end)
    return ShiftSpan(s.user, lo, hi, s.layer) if hi > lo else None


def worked_shifts(recorded: Iterable[ShiftSpan],
                  scheduled: Mapping[str, Sequence[ShiftSpan]]) -> list[ShiftSpan]:
    """Who was on call, per layer: the recorded handoffs where there are any (each until
    the next one on its layer, or its planned end), the schedule before the first and
    after the end of the last (before recording began, or for a handoff not yet seen)."""
    by_layer: defaultdict[str, dict[datetime, ShiftSpan]] = defaultdict(dict)
    for s in recorded:
        by_layer[s.layer][s.start] = s  # a handoff seen twice counts once
    out: list[ShiftSpan] = []
    for layer in {*scheduled, *by_layer}:
        planned = scheduled.get(layer, ())
        rec = sorted(by_layer.get(layer, {}).values(), key=lambda s: s.start)
        if not rec:
            out += planned
            continue
        segments = [ShiftSpan(s.user, s.start, min(s.end, nxt.start), layer)
                    for s, nxt in zip(rec, rec[1:], strict=False)] + [rec[-1]]
        segments = [s for s in segments if s.end > s.start]
        first, last = rec[0].start, max(s.end for s in segments) if segments else rec[-1].end
        out += [c for s in planned if (c := clip_shift(s, None, first))]
        out += segments
        out += [c for s in planned if (c := clip_shift(s, last, None))]
    return out


@dataclass(frozen=True)
class History:
    """The events a report reads, by kind."""

    pages: Sequence[Event] = ()
    acks: Sequence[Event] = ()
    resolves: Sequence[Event] = ()
    feedback: Sequence[Event] = ()
    selfheal: Sequence[Event] = ()  # how self-healing ended per alert occurrence


@dataclass(frozen=True)
class PersonRow:
    user: str
    shifts: int
    hours: float
    pages: int
    sleep_pages: int
    median_tta: float | None
    pages_before: int
    sleep_pages_before: int


@dataclass(frozen=True)
class RuleRow:
    rule: str  # the digest
    alertname: str
    generator_url: str
    pages: int
    sleep_pages: int
    feedback: Mapping[str, int]
    median_ttr: float | None
    pages_before: int


@dataclass(frozen=True)
class SavedRow:
    """One self-healing rule: pages saved (the alert resolved before anyone was paged),
    occurrences it paged anyway or did not run for, and the median time to heal."""

    rule: str  # the auto_remediation rule's name
    runbook: str
    saved: int
    paged: int
    refused: int
    median_heal: float | None
    saved_before: int


@dataclass(frozen=True)
class Day:
    day: date
    pages: Mapping[str, int]  # person -> pages that day (team timezone)
    sleep_pages: int


@dataclass(frozen=True)
class Report:
    team: str
    period: Period
    people: tuple[PersonRow, ...]
    rules: tuple[RuleRow, ...]
    days: tuple[Day, ...]
    pages: int
    sleep_pages: int
    pages_before: int
    sleep_pages_before: int
    median_tta: float | None
    median_tta_before: float | None
    feedback: Mapping[str, int] = field(default_factory=dict)
    self_healing: tuple[SavedRow, ...] = ()

    @property
    def pages_saved(self) -> int:
        return sum(r.saved for r in self.self_healing)

    @property
    def pages_saved_before(self) -> int:
        return sum(r.saved_before for r in self.self_healing)

    @property
    def empty(self) -> bool:
        """No pages, no answers, no self-healing: nothing worth a report or a chart."""
        return self.pages == 0 and not self.rules and not self.self_healing


def parse_since(word: str) -> int:
    """`7d`, `30d`, `90d` (and any N days up to a year): the number of days."""
    match = _SINCE.match(word.strip().lower())
    if not match or not 1 <= int(match.group(1)) <= MAX_DAYS:
        raise ReportError(f'"{word[:20]}" is not a period: use 7d, 30d or 90d.')
    return int(match.group(1))


def period_ending(now: datetime, days: int) -> Period:
    return Period(now - timedelta(days=days), now)


def _seconds(event: Event, name: str) -> float | None:
    try:
        return float(event.fields[name])
    except (KeyError, ValueError):
        return None


def is_sleep_page(page: Event, hours: SleepHours, fallback_tz: str) -> bool:
    return in_sleep_hours(page.at, page.fields.get("tz") or fallback_tz, hours)


def latest_feedback(events: Iterable[Event]) -> dict[tuple[str, str, str], Event]:
    """One answer per person per occurrence: a later click replaces the earlier one."""
    latest: dict[tuple[str, str, str], Event] = {}
    for event in events:
        f = event.fields
        latest[(f.get("user", ""), f.get("group", ""), f.get("occ", ""))] = event
    return latest


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
    value = _seconds(event, name)
    return None if value is None else repr(value)


def tally(history: History, hours: SleepHours, tz: str, clock: LocalClock | None = None) -> Tally:
    """Count pages (by person, rule, day on the team's clock, and sleep hours on the
    person's own clock), times to acknowledge by person and to resolve by rule."""
    clock = clock or LocalClock()
    out = Tally()
    for page in history.pages:
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
    for ack in history.acks:
        if (value := _value(ack, "tta")) is not None:
            out.tta[ack.fields.get("user", "")][value] += 1
    for resolve in history.resolves:
        if (value := _value(resolve, "ttr")) is not None:
            out.ttr[resolve.fields.get("rule", "")][value] += 1
    return out


def _shift_rows(shifts: Iterable[ShiftSpan], period: Period) -> dict[str, tuple[int, float]]:
    count: Counter[str] = Counter()
    seconds: defaultdict[str, float] = defaultdict(float)
    for s in shifts:
        start, end = max(s.start, period.start), min(s.end, period.end)
        if end <= start:
            continue
        count[s.user] += 1
        seconds[s.user] += (end - start).total_seconds()
    return {u: (count[u], seconds[u] / 3600) for u in count}


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


def _counted_median(counts: Iterable[Counter[str]]) -> float | None:
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


def _days(now: Tally, period: Period, tz: str) -> tuple[Day, ...]:
    zone = ZoneInfo(tz)
    first, last = period.start.astimezone(zone).date(), period.end.astimezone(zone).date()
    out = []
    day = first
    while day <= last:
        key = day.isoformat()
        pages = now.days.get(key, {})
        out.append(Day(day, {u: n for u, n in pages.items() if n}, now.day_sleep[key]))
        day += timedelta(days=1)
    return tuple(out)


def build(team: str, period: Period, now: History, before: History,
          shifts: Iterable[ShiftSpan], rules: Mapping[str, Rule], hours: SleepHours,
          tz: str) -> Report:
    """The report of `period` (`now`), with trends against `before` (the period before)."""
    clock = LocalClock()
    return build_from(team, period, tally(now, hours, tz, clock), tally(before, hours, tz, clock),
                      now, before, shifts, rules, tz)


def build_from(team: str, period: Period, now: Tally, before: Tally, events: History,
               events_before: History, shifts: Iterable[ShiftSpan], rules: Mapping[str, Rule],
               tz: str) -> Report:
    """The report from the tallies of the period and of the one before, plus the events not
    tallied (answers, which a later click may change, and self-healing outcomes)."""
    feedback = events.feedback
    answers = list(latest_feedback(feedback).values())
    return Report(
        team=team, period=period, people=_people(now, before, _shift_rows(shifts, period)),
        rules=_rules(now, before, answers, rules), days=_days(now, period, tz),
        pages=sum(now.pages.values()), sleep_pages=sum(now.sleep.values()),
        pages_before=sum(before.pages.values()), sleep_pages_before=sum(before.sleep.values()),
        median_tta=_counted_median(now.tta.values()),
        median_tta_before=_counted_median(before.tta.values()),
        feedback=dict(Counter(a.fields.get("answer", "") for a in answers)),
        self_healing=_self_healing(events.selfheal, events_before.selfheal),
    )


def _self_healing(now: Sequence[Event], before: Sequence[Event]) -> tuple[SavedRow, ...]:
    """Pages saved per rule, from the `selfheal` history entries (outcome healed, paged or
    refused); most pages saved first."""
    outcomes: defaultdict[str, Counter[str]] = defaultdict(Counter)
    runbooks: dict[str, str] = {}
    heal: defaultdict[str, list[float]] = defaultdict(list)
    for event in now:
        rule = event.fields.get("rule", "")
        outcome = event.fields.get("outcome", "")
        outcomes[rule][outcome] += 1
        runbooks[rule] = event.fields.get("runbook", "")
        if outcome == "healed" and (value := _seconds(event, "seconds")) is not None:
            heal[rule].append(value)
    saved_before = Counter(e.fields.get("rule", "") for e in before
                           if e.fields.get("outcome") == "healed")
    rows = [SavedRow(rule=rule, runbook=runbooks[rule], saved=c["healed"], paged=c["paged"],
                     refused=c["refused"], median_heal=_median(heal[rule]),
                     saved_before=saved_before[rule])
            for rule, c in outcomes.items() if rule]
    return tuple(sorted(rows, key=lambda r: (-r.saved, -(r.paged + r.refused), r.rule)))


def _people(now: Tally, before: Tally,
            shifts: Mapping[str, tuple[int, float]]) -> tuple[PersonRow, ...]:
    users = {u for u, n in now.pages.items() if n} | set(shifts) | {
        u for u, c in now.tta.items() if c}
    rows = [PersonRow(user=u, shifts=shifts.get(u, (0, 0.0))[0], hours=shifts.get(u, (0, 0.0))[1],
                      pages=now.pages[u], sleep_pages=now.sleep[u],
                      median_tta=_counted_median([now.tta.get(u, Counter())]),
                      pages_before=before.pages[u], sleep_pages_before=before.sleep[u])
            for u in users if u and u != "source"]
    return tuple(sorted(rows, key=lambda r: (-r.sleep_pages, -r.pages, -r.hours, r.user)))


def _rules(now: Tally, before: Tally, answers: list[Event],
           names: Mapping[str, Rule]) -> tuple[RuleRow, ...]:
    feedback: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for answer in answers:
        feedback[answer.fields.get("rule", "")][answer.fields.get("answer", "")] += 1
    rows = []
    for ident in {r for r, n in now.rule_pages.items() if n} | set(feedback):
        rule = names.get(ident)
        rows.append(RuleRow(
            rule=ident, alertname=rule.alertname if rule else ident,
            generator_url=rule.generator_url if rule else "", pages=now.rule_pages[ident],
            sleep_pages=now.rule_sleep[ident], feedback={a: feedback[ident][a] for a in ANSWERS},
            median_ttr=_counted_median([now.ttr.get(ident, Counter())]),
            pages_before=before.rule_pages[ident]))
    # Noisiest first: most pages, then most at night, then most answered "noise".
    return tuple(sorted(rows, key=lambda r: (-r.pages, -r.sleep_pages, -r.feedback["noise"],
                                             r.alertname)))


# ---------------------------------------------------------------- plain figures (command line)

PERSON_COLUMNS = ("user", "shifts", "hours", "pages", "pages_before", "sleep_pages",
                  "sleep_pages_before", "median_tta_s")
RULE_COLUMNS = ("alertname", "generator_url", "pages", "pages_before", "sleep_pages",
                "actionable", "noise", "morning", "median_ttr_s")
SAVED_COLUMNS = ("rule", "runbook", "pages_saved", "pages_saved_before", "paged", "refused",
                 "median_heal_s")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def person_record(row: PersonRow) -> dict[str, object]:
    return {"user": row.user, "shifts": row.shifts, "hours": round(row.hours, 1),
            "pages": row.pages, "pages_before": row.pages_before, "sleep_pages": row.sleep_pages,
            "sleep_pages_before": row.sleep_pages_before, "median_tta_s": _round(row.median_tta)}


def rule_record(row: RuleRow) -> dict[str, object]:
    return {"alertname": row.alertname, "generator_url": row.generator_url, "pages": row.pages,
            "pages_before": row.pages_before, "sleep_pages": row.sleep_pages,
            **{a: row.feedback.get(a, 0) for a in ANSWERS}, "median_ttr_s": _round(row.median_ttr)}


def saved_record(row: SavedRow) -> dict[str, object]:
    return {"rule": row.rule, "runbook": row.runbook, "pages_saved": row.saved,
            "pages_saved_before": row.saved_before, "paged": row.paged, "refused": row.refused,
            "median_heal_s": _round(row.median_heal)}


def to_dict(report: Report) -> dict[str, object]:
    return {
        "team": report.team, "start": report.period.start.isoformat(),
        "end": report.period.end.isoformat(), "days": report.period.days,
        "pages": report.pages, "pages_before": report.pages_before,
        "sleep_pages": report.sleep_pages, "sleep_pages_before": report.sleep_pages_before,
        "median_tta_s": _round(report.median_tta),
        "median_tta_before_s": _round(report.median_tta_before),
        "feedback": {a: report.feedback.get(a, 0) for a in ANSWERS},
        "people": [person_record(p) for p in report.people],
        "rules": [rule_record(r) for r in report.rules],
        "pages_saved": report.pages_saved, "pages_saved_before": report.pages_saved_before,
        "self_healing": [saved_record(r) for r in report.self_healing],
        "days_detail": [{"day": d.day.isoformat(), "pages": sum(d.pages.values()),
                         "sleep_pages": d.sleep_pages, "by_person": dict(d.pages)}
                        for d in report.days],
    }
