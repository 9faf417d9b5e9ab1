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


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


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


def _days(pages: Iterable[Event], sleepy: set[int], period: Period, tz: str) -> tuple[Day, ...]:
    zone = ZoneInfo(tz)
    first, last = period.start.astimezone(zone).date(), period.end.astimezone(zone).date()
    per_day: dict[date, Counter[str]] = {}
    sleep: Counter[date] = Counter()
    for i, page in enumerate(pages):
        day = page.at.astimezone(zone).date()
        per_day.setdefault(day, Counter())[page.fields.get("user", "")] += 1
        if i in sleepy:
            sleep[day] += 1
    out = []
    day = first
    while day <= last:
        out.append(Day(day, dict(per_day.get(day, {})), sleep[day]))
        day += timedelta(days=1)
    return tuple(out)


def build(team: str, period: Period, now: History, before: History,
          shifts: Iterable[ShiftSpan], rules: Mapping[str, Rule], hours: SleepHours,
          tz: str) -> Report:
    """The report of `period` (`now`), with trends against `before` (the period before)."""
    sleepy = {i for i, p in enumerate(now.pages) if is_sleep_page(p, hours, tz)}
    sleepy_before = [p for p in before.pages if is_sleep_page(p, hours, tz)]
    people = _people(now, before, sleepy, sleepy_before, _shift_rows(shifts, period))
    answers = list(latest_feedback(now.feedback).values())
    return Report(
        team=team, period=period, people=people,
        rules=_rules(now, before, sleepy, answers, rules), days=_days(now.pages, sleepy, period, tz),
        pages=len(now.pages), sleep_pages=len(sleepy), pages_before=len(before.pages),
        sleep_pages_before=len(sleepy_before),
        median_tta=_median(v for a in now.acks if (v := _seconds(a, "tta")) is not None),
        median_tta_before=_median(v for a in before.acks if (v := _seconds(a, "tta")) is not None),
        feedback=dict(Counter(a.fields.get("answer", "") for a in answers)),
        self_healing=_self_healing(now.selfheal, before.selfheal),
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


def _people(now: History, before: History, sleepy: set[int], sleepy_before: list[Event],
            shifts: Mapping[str, tuple[int, float]]) -> tuple[PersonRow, ...]:
    pages = Counter(p.fields.get("user", "") for p in now.pages)
    sleep = Counter(now.pages[i].fields.get("user", "") for i in sleepy)
    pages_before = Counter(p.fields.get("user", "") for p in before.pages)
    sleep_before = Counter(p.fields.get("user", "") for p in sleepy_before)
    tta: defaultdict[str, list[float]] = defaultdict(list)
    for ack in now.acks:
        if (value := _seconds(ack, "tta")) is not None:
            tta[ack.fields.get("user", "")].append(value)
    users = set(pages) | set(shifts) | set(tta)
    rows = [PersonRow(user=u, shifts=shifts.get(u, (0, 0.0))[0], hours=shifts.get(u, (0, 0.0))[1],
                      pages=pages[u], sleep_pages=sleep[u], median_tta=_median(tta[u]),
                      pages_before=pages_before[u], sleep_pages_before=sleep_before[u])
            for u in users if u and u != "source"]
    return tuple(sorted(rows, key=lambda r: (-r.sleep_pages, -r.pages, -r.hours, r.user)))


def _rules(now: History, before: History, sleepy: set[int], answers: list[Event],
           names: Mapping[str, Rule]) -> tuple[RuleRow, ...]:
    pages = Counter(p.fields.get("rule", "") for p in now.pages)
    sleep = Counter(now.pages[i].fields.get("rule", "") for i in sleepy)
    pages_before = Counter(p.fields.get("rule", "") for p in before.pages)
    feedback: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for answer in answers:
        feedback[answer.fields.get("rule", "")][answer.fields.get("answer", "")] += 1
    ttr: defaultdict[str, list[float]] = defaultdict(list)
    for resolve in now.resolves:
        if (value := _seconds(resolve, "ttr")) is not None:
            ttr[resolve.fields.get("rule", "")].append(value)
    rows = []
    for ident in set(pages) | set(feedback):
        rule = names.get(ident)
        rows.append(RuleRow(
            rule=ident, alertname=rule.alertname if rule else ident,
            generator_url=rule.generator_url if rule else "", pages=pages[ident],
            sleep_pages=sleep[ident], feedback={a: feedback[ident][a] for a in ANSWERS},
            median_ttr=_median(ttr[ident]), pages_before=pages_before[ident]))
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
