"""Report figures against a hand-built history, frozen time; sleep hours by timezone and at DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.domain.history import Event, Rule, SleepHours, in_sleep_hours
from bot.domain.reports import (
    History,
    ReportError,
    ShiftSpan,
    build,
    is_sleep_page,
    parse_since,
    period_ending,
    to_dict,
)
from tests.conftest import utc

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)  # a Wednesday
NIGHT = SleepHours(time(22, 0), time(7, 0))
DISK = Rule("payments", "DiskFull", "http://prom/graph?g0.expr=disk")
CPU = Rule("payments", "HighCPU")
RULES = {DISK.ident: DISK, CPU.ident: CPU}


def page(at: datetime, user: str, tz: str, rule: Rule, group: str = "g1") -> Event:
    return Event("page", at, {"user": user, "tz": tz, "rule": rule.ident, "group": group,
                              "occ": "1"})


def ack(at: datetime, user: str, tta: int, rule: Rule = DISK) -> Event:
    return Event("ack", at, {"user": user, "tta": str(tta), "rule": rule.ident})


def resolve(at: datetime, ttr: int, rule: Rule) -> Event:
    return Event("resolve", at, {"user": "source", "ttr": str(ttr), "rule": rule.ident})


def answer(at: datetime, user: str, value: str, rule: Rule, group: str = "g1") -> Event:
    return Event("feedback", at, {"user": user, "answer": value, "rule": rule.ident,
                                  "group": group, "occ": "1"})


# Sleep hours on each person's own clock: (instant UTC, timezone, asleep?)
SLEEP_CASES = [
    (utc(2026, 11, 3, 21, 30), "Europe/Berlin", True),       # 22:30 CET
    (utc(2026, 11, 3, 20, 59), "Europe/Berlin", False),      # 21:59 CET
    (utc(2026, 11, 3, 5, 59), "Europe/Berlin", True),        # 06:59 CET
    (utc(2026, 11, 3, 6, 0), "Europe/Berlin", False),        # 07:00 CET: awake
    (utc(2026, 11, 3, 3, 0), "America/New_York", True),      # 22:00 EST
    (utc(2026, 11, 3, 2, 59), "America/New_York", False),    # 21:59 EST
    (utc(2026, 11, 3, 14, 0), "Asia/Tokyo", True),          # 23:00 JST
    (utc(2026, 11, 3, 22, 0), "Asia/Tokyo", False),         # 07:00 JST
    # Europe/Berlin falls back on 25 Oct 2026 (CEST -> CET): 05:30 UTC is 07:30 CEST the day
    # before, 06:30 CET on the day itself.
    (utc(2026, 10, 24, 5, 30), "Europe/Berlin", False),
    (utc(2026, 10, 25, 5, 30), "Europe/Berlin", True),
    # New York springs forward on 8 Mar 2026: 02:30 UTC is 21:30 EST before, 22:30 EDT after.
    (utc(2026, 3, 7, 2, 30), "America/New_York", False),
    (utc(2026, 3, 9, 2, 30), "America/New_York", True),
]


@pytest.mark.parametrize(("at", "tz", "asleep"), SLEEP_CASES)
def test_sleep_hours_follow_each_persons_clock(at: datetime, tz: str, asleep: bool) -> None:
    assert in_sleep_hours(at, tz, NIGHT) is asleep
    assert is_sleep_page(page(at, "U0X", tz, CPU), NIGHT, "UTC") is asleep


def test_daytime_window_and_team_fallback_timezone() -> None:
    day = SleepHours(time(1, 0), time(6, 0))
    assert in_sleep_hours(utc(2026, 11, 3, 0, 30), "Europe/Berlin", day)
    assert not in_sleep_hours(utc(2026, 11, 3, 23, 30), "Europe/Berlin", day)
    no_tz = Event("page", utc(2026, 11, 3, 23, 30), {"user": "U0X"})
    assert is_sleep_page(no_tz, NIGHT, "UTC") and not is_sleep_page(no_tz, NIGHT, "Asia/Tokyo")


def hand_built() -> tuple[History, History, list[ShiftSpan]]:
    now = History(
        pages=[
            page(utc(2026, 11, 1, 23, 0), "U0ALICE", "Europe/Berlin", DISK, "g1"),   # 00:00 asleep
            page(utc(2026, 11, 2, 12, 0), "U0ALICE", "Europe/Berlin", DISK, "g2"),   # day
            page(utc(2026, 11, 3, 4, 0), "U0DAVE", "America/New_York", DISK, "g3"),  # 23:00 asleep
            page(utc(2026, 11, 3, 15, 0), "U0DAVE", "America/New_York", CPU, "g4"),  # day
            page(utc(2026, 11, 3, 15, 0), "U0GRACE", "Asia/Tokyo", CPU, "g4"),       # 00:00 asleep
        ],
        acks=[ack(utc(2026, 11, 1, 23, 2), "U0ALICE", 120), ack(utc(2026, 11, 2, 12, 5), "U0ALICE", 300),
              ack(utc(2026, 11, 2, 12, 5), "U0ALICE", 600), ack(utc(2026, 11, 3, 4, 1), "U0DAVE", 60)],
        resolves=[resolve(utc(2026, 11, 2, 0, 0), 3600, DISK), resolve(utc(2026, 11, 2, 13, 0), 600, DISK),
                  resolve(utc(2026, 11, 3, 16, 0), 3600, CPU)],
        feedback=[answer(utc(2026, 11, 2, 8, 0), "U0ALICE", "actionable", DISK, "g1"),
                  answer(utc(2026, 11, 2, 8, 1), "U0ALICE", "noise", DISK, "g1"),  # changed
                  answer(utc(2026, 11, 3, 8, 0), "U0DAVE", "morning", DISK, "g3")],
    )
    before = History(pages=[page(utc(2026, 10, 30, 23, 0), "U0ALICE", "Europe/Berlin", DISK)] * 3)
    shifts = [ShiftSpan("U0CAROL", utc(2026, 10, 26, 8), utc(2026, 11, 2, 8)),  # 1 day in the period
              ShiftSpan("U0ALICE", utc(2026, 11, 2, 8), utc(2026, 11, 9, 8)),  # 2 days in it
              ShiftSpan("U0DAVE", utc(2026, 11, 2, 14), utc(2026, 11, 9, 14))]
    return now, before, shifts


def test_report_figures_from_a_hand_built_history() -> None:
    now, before, shifts = hand_built()
    period = period_ending(NOW, 3)  # 1 Nov 10:00 .. 4 Nov 10:00
    report = build("payments", period, now, before, shifts, RULES, NIGHT, "Europe/Berlin")
    people = {p.user: p for p in report.people}
    assert (people["U0ALICE"].shifts, people["U0ALICE"].hours) == (1, 50.0)
    assert (people["U0CAROL"].shifts, people["U0CAROL"].hours) == (1, 22.0)
    assert people["U0DAVE"].hours == 44.0
    assert (people["U0ALICE"].pages, people["U0ALICE"].sleep_pages) == (2, 1)
    assert people["U0ALICE"].median_tta == 300  # of 120, 300, 600
    assert (people["U0ALICE"].pages_before, people["U0ALICE"].sleep_pages_before) == (3, 3)
    assert (people["U0GRACE"].pages, people["U0GRACE"].sleep_pages, people["U0GRACE"].shifts) == (1, 1, 0)
    assert people["U0CAROL"].median_tta is None and people["U0CAROL"].pages == 0
    assert [r.alertname for r in report.rules] == ["DiskFull", "HighCPU"]  # noisiest first
    disk, cpu = report.rules
    assert (disk.pages, disk.sleep_pages, disk.pages_before, disk.median_ttr) == (3, 2, 3, 2100)
    assert dict(disk.feedback) == {"actionable": 0, "noise": 1, "morning": 1}
    assert disk.generator_url == "http://prom/graph?g0.expr=disk"
    assert (cpu.pages, cpu.sleep_pages, cpu.median_ttr) == (2, 1, 3600)
    assert (report.pages, report.sleep_pages, report.pages_before) == (5, 3, 3)
    assert report.median_tta == 210  # of 60, 120, 300, 600
    # Days in the team's timezone (Berlin), 1 Nov .. 4 Nov.
    assert [(d.day.day, sum(d.pages.values()), d.sleep_pages) for d in report.days] == [
        (1, 0, 0), (2, 2, 1), (3, 3, 2), (4, 0, 0)]
    assert to_dict(report)["rules"][0]["noise"] == 1


def test_the_noisiest_rule_comes_first_even_with_fewer_answers() -> None:
    pages = [page(NOW - timedelta(hours=h), "U0ALICE", "UTC", CPU, f"g{h}") for h in range(1, 5)]
    pages.append(page(NOW - timedelta(hours=5), "U0ALICE", "UTC", DISK))
    report = build("payments", period_ending(NOW, 7), History(pages=pages), History(), [], RULES,
                   NIGHT, "UTC")
    assert [(r.alertname, r.pages) for r in report.rules] == [("HighCPU", 4), ("DiskFull", 1)]


def test_an_empty_period_is_empty() -> None:
    report = build("payments", period_ending(NOW, 7), History(), History(), [], RULES, NIGHT, "UTC")
    assert report.empty and report.pages == 0 and len(report.days) == 8


@pytest.mark.parametrize("word", ["7", "0d", "400d", "7w", "x"])
def test_periods_that_cannot_be_read(word: str) -> None:
    with pytest.raises(ReportError):
        parse_since(word)


def test_periods() -> None:
    assert [parse_since(w) for w in ("7d", "30D", "90d", "1d")] == [7, 30, 90, 1]


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "America/St_Johns",
                                "Australia/Lord_Howe", "Asia/Kolkata"])
def test_the_cached_clock_reads_like_astimezone_across_dst_switches(tz: str) -> None:
    from zoneinfo import ZoneInfo

    from bot.domain.tallies import LocalClock

    clock = LocalClock()
    for start in (utc(2026, 3, 7), utc(2026, 4, 3), utc(2026, 10, 2), utc(2026, 10, 23),
                  utc(2026, 10, 31)):
        at = start
        while at < start + timedelta(days=3):
            assert clock.local(at, tz) == at.astimezone(ZoneInfo(tz)).replace(tzinfo=None), at
            at += timedelta(minutes=7, seconds=30)


def test_medians_of_counted_values_are_statistics_median() -> None:
    import random
    import statistics
    from collections import Counter

    from bot.domain.tallies import counted_median

    rng = random.Random(3)
    assert counted_median([Counter()]) is None
    for n in range(1, 60):
        values = [rng.choice([rng.randint(0, 20), rng.uniform(0, 5)]) for _ in range(n)]
        parts = [Counter(), Counter()]
        for i, v in enumerate(values):
            parts[i % 2][repr(float(v))] += 1
        assert counted_median(parts) == statistics.median(values)
