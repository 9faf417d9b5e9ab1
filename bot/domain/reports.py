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
from bot.domain.tallies import LocalClock, Tally, counted_median, tally

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
    return build_from(team, period, tally(now.pages, now.acks, now.resolves, hours, tz, clock),
                      tally(before.pages, before.acks, before.resolves, hours, tz, clock),
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
        median_tta=counted_median(now.tta.values()),
        median_tta_before=counted_median(before.tta.values()),
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
                      median_tta=counted_median([now.tta.get(u, Counter())]),
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
            median_ttr=counted_median([now.ttr.get(ident, Counter())]),
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
