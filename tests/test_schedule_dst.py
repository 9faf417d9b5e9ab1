"""Handoffs at the 2026 daylight-saving switches, checked against exact UTC instants.

Europe/Berlin: 29 March 01:00 UTC (02:00 CET -> 03:00 CEST),
               25 October 01:00 UTC (03:00 CEST -> 02:00 CET).
America/New_York: 8 March 07:00 UTC (02:00 EST -> 03:00 EDT),
                  1 November 06:00 UTC (02:00 EDT -> 01:00 EST).
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from bot.domain.schedule import (
    ActiveWindow,
    Rotation,
    handoff_at,
    localize,
    next_shifts,
    on_call_at,
    rotation_shift_at,
    shift_index_at,
    shifts_between,
)
from tests.conftest import utc

H = timedelta(hours=1)
MEMBERS = ("U0ALICE", "U0BOB", "U0CAROL")


def rot(start: datetime, shift: timedelta, tz: str, members=MEMBERS) -> Rotation:
    return Rotation("primary", members, start, shift, tz)


def handoffs(r: Rotation, ks: range) -> list[datetime]:
    return [handoff_at(r, k) for k in ks]


def lengths(instants: list[datetime]) -> list[timedelta]:
    return [b - a for a, b in zip(instants, instants[1:], strict=False)]


# --- localizing wall-clock times ------------------------------------------


@pytest.mark.parametrize(
    ("naive", "tz", "expected"),
    [
        (datetime(2026, 3, 29, 1, 59), "Europe/Berlin", utc(2026, 3, 29, 0, 59)),
        (datetime(2026, 3, 29, 2, 0), "Europe/Berlin", utc(2026, 3, 29, 1)),  # gap
        (datetime(2026, 3, 29, 2, 30), "Europe/Berlin", utc(2026, 3, 29, 1)),  # gap
        (datetime(2026, 3, 29, 3, 0), "Europe/Berlin", utc(2026, 3, 29, 1)),
        (datetime(2026, 10, 25, 2, 30), "Europe/Berlin", utc(2026, 10, 25, 0, 30)),  # fold=0
        (datetime(2026, 10, 25, 3, 0), "Europe/Berlin", utc(2026, 10, 25, 2)),
        (datetime(2026, 3, 8, 2, 30), "America/New_York", utc(2026, 3, 8, 7)),  # gap
        (datetime(2026, 11, 1, 1, 30), "America/New_York", utc(2026, 11, 1, 5, 30)),  # fold=0
        (datetime(2026, 11, 1, 2, 0), "America/New_York", utc(2026, 11, 1, 7)),
    ],
)
def test_localize_gap_moves_forward_and_fold_takes_first(naive, tz, expected):
    assert localize(naive, tz) == expected


# --- Europe/Berlin ---------------------------------------------------------


def test_berlin_weekly_spring_week_is_167_hours():
    r = rot(datetime(2026, 3, 23, 9), timedelta(weeks=1), "Europe/Berlin")
    got = handoffs(r, range(0, 3))
    assert got == [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)]
    assert lengths(got) == [167 * H, 168 * H]


def test_berlin_weekly_autumn_week_is_169_hours():
    r = rot(datetime(2026, 10, 19, 9), timedelta(weeks=1), "Europe/Berlin")
    got = handoffs(r, range(-1, 2))
    assert got == [utc(2026, 10, 12, 7), utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)]
    assert lengths(got) == [168 * H, 169 * H]


def test_berlin_daily_handoffs_stay_at_nine_local():
    r = rot(datetime(2026, 3, 28, 9), timedelta(days=1), "Europe/Berlin")
    got = handoffs(r, range(0, 3))
    assert got == [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]
    assert lengths(got) == [23 * H, 24 * H]
    autumn = rot(datetime(2026, 10, 24, 9), timedelta(days=1), "Europe/Berlin")
    assert lengths(handoffs(autumn, range(0, 3))) == [25 * H, 24 * H]


def test_berlin_twelve_hour_rotation_hands_off_at_nine_and_twentyone():
    r = rot(datetime(2026, 3, 28, 9), timedelta(hours=12), "Europe/Berlin")
    got = handoffs(r, range(0, 4))
    assert got == [
        utc(2026, 3, 28, 8),  # 09:00 CET
        utc(2026, 3, 28, 20),  # 21:00 CET
        utc(2026, 3, 29, 7),  # 09:00 CEST: the night shift is 11h
        utc(2026, 3, 29, 19),  # 21:00 CEST
    ]
    assert lengths(got) == [12 * H, 11 * H, 12 * H]
    autumn = rot(datetime(2026, 10, 24, 21), timedelta(hours=12), "Europe/Berlin")
    got = handoffs(autumn, range(0, 3))
    assert got == [utc(2026, 10, 24, 19), utc(2026, 10, 25, 8), utc(2026, 10, 25, 20)]
    assert lengths(got) == [13 * H, 12 * H]


def test_berlin_start_inside_the_gap_moves_to_three_cest():
    r = rot(datetime(2026, 3, 29, 2, 30), timedelta(days=1), "Europe/Berlin")
    got = handoffs(r, range(-1, 2))
    # 28 Mar 02:30 CET, 29 Mar 03:00 CEST (end of gap), 30 Mar 02:30 CEST
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]
    assert lengths(got) == [timedelta(hours=23, minutes=30)] * 2


def test_berlin_ambiguous_start_takes_first_occurrence():
    r = rot(datetime(2026, 10, 25, 2, 30), timedelta(days=1), "Europe/Berlin")
    got = handoffs(r, range(-1, 2))
    assert got == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    assert lengths(got) == [24 * H, 25 * H]


def test_who_is_on_call_across_the_berlin_spring_switch():
    r = rot(datetime(2026, 3, 23, 9), timedelta(weeks=1), "Europe/Berlin")
    before = on_call_at(r, [], utc(2026, 3, 30, 6, 59, 59))
    after = on_call_at(r, [], utc(2026, 3, 30, 7))
    assert (before.user, before.start, before.end) == (
        "U0ALICE",
        utc(2026, 3, 23, 8),
        utc(2026, 3, 30, 7),
    )
    assert (after.user, after.start) == ("U0BOB", utc(2026, 3, 30, 7))
    assert shift_index_at(r, utc(2026, 3, 30, 6, 59)) == 0
    assert shift_index_at(r, utc(2026, 3, 30, 7)) == 1


@freeze_time("2026-10-25 01:30:00", tz_offset=0)
def test_next_shifts_through_the_berlin_autumn_switch_with_a_frozen_clock():
    now = datetime.now(UTC)  # 02:30 CET, the second 02:30 of the night
    r = rot(datetime(2026, 10, 24, 21), timedelta(hours=12), "Europe/Berlin")
    got = next_shifts(r, [], now, 3)
    assert [(s.user, s.start, s.end) for s in got] == [
        ("U0ALICE", utc(2026, 10, 24, 19), utc(2026, 10, 25, 8)),
        ("U0BOB", utc(2026, 10, 25, 8), utc(2026, 10, 25, 20)),
        ("U0CAROL", utc(2026, 10, 25, 20), utc(2026, 10, 26, 8)),
    ]


# --- America/New_York ------------------------------------------------------


def test_new_york_weekly_167_and_169_hour_weeks():
    spring = rot(datetime(2026, 3, 2, 9), timedelta(weeks=1), "America/New_York")
    got = handoffs(spring, range(0, 2))
    assert got == [utc(2026, 3, 2, 14), utc(2026, 3, 9, 13)]
    assert lengths(got) == [167 * H]
    autumn = rot(datetime(2026, 10, 26, 9), timedelta(weeks=1), "America/New_York")
    got = handoffs(autumn, range(0, 2))
    assert got == [utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)]
    assert lengths(got) == [169 * H]


def test_new_york_daily_and_twelve_hour():
    daily = rot(datetime(2026, 3, 7, 9), timedelta(days=1), "America/New_York")
    assert handoffs(daily, range(0, 3)) == [
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),
        utc(2026, 3, 9, 13),
    ]
    half = rot(datetime(2026, 10, 31, 21), timedelta(hours=12), "America/New_York")
    got = handoffs(half, range(0, 3))
    assert got == [utc(2026, 11, 1, 1), utc(2026, 11, 1, 14), utc(2026, 11, 2, 2)]
    assert lengths(got) == [13 * H, 12 * H]


def test_new_york_start_in_gap_and_ambiguous_start():
    gap = rot(datetime(2026, 3, 8, 2, 30), timedelta(days=1), "America/New_York")
    assert handoff_at(gap, 0) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert handoff_at(gap, 1) == utc(2026, 3, 9, 6, 30)  # 02:30 EDT
    fold = rot(datetime(2026, 11, 1, 1, 30), timedelta(days=1), "America/New_York")
    assert handoff_at(fold, 0) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, first occurrence
    assert handoff_at(fold, 1) == utc(2026, 11, 2, 6, 30)  # 01:30 EST
    assert handoff_at(fold, 1) - handoff_at(fold, 0) == 25 * H


# --- shifts that would be empty --------------------------------------------


def test_hourly_shift_inside_the_gap_is_skipped_not_empty():
    members = ("U0A", "U0B", "U0C", "U0D")
    r = rot(datetime(2026, 3, 29, 0), H, "Europe/Berlin", members)
    # Naive 02:00 and 03:00 both become 03:00 CEST: U0C's shift has no time.
    assert handoff_at(r, 2) == handoff_at(r, 3) == utc(2026, 3, 29, 1)
    got = shifts_between(r, [], utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))
    assert [(s.user, s.start, s.end) for s in got] == [
        ("U0A", utc(2026, 3, 28, 23), utc(2026, 3, 29, 0)),
        ("U0B", utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        ("U0D", utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
        ("U0A", utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)),
    ]
    assert shift_index_at(r, utc(2026, 3, 29, 1)) == 3
    assert rotation_shift_at(r, utc(2026, 3, 29, 1, 30)).user == "U0D"


def test_hourly_shift_over_the_fold_lasts_two_hours():
    r = rot(datetime(2026, 10, 25, 0), H, "Europe/Berlin", ("U0A", "U0B", "U0C", "U0D"))
    got = handoffs(r, range(0, 5))
    assert got == [
        utc(2026, 10, 24, 22),  # 00:00 CEST
        utc(2026, 10, 24, 23),  # 01:00 CEST
        utc(2026, 10, 25, 0),  # 02:00 CEST (first occurrence)
        utc(2026, 10, 25, 2),  # 03:00 CET
        utc(2026, 10, 25, 3),
    ]
    assert lengths(got) == [H, H, 2 * H, H]


def test_half_hour_start_through_the_gap_gives_shorter_but_positive_shifts():
    r = rot(datetime(2026, 3, 29, 1, 30), H, "Europe/Berlin", ("U0A", "U0B"))
    got = handoffs(r, range(0, 3))
    assert got == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30)]
    assert all(d > timedelta(0) for d in lengths(got))


def test_a_day_skipped_entirely_never_yields_empty_shifts():
    # Samoa skipped 30 December 2011: 23:59:59 on the 29th was followed by 00:00 on the 31st.
    r = rot(datetime(2011, 12, 29, 20), H, "Pacific/Apia", ("U0A", "U0B", "U0C"))
    lo, hi = utc(2011, 12, 30, 5), utc(2011, 12, 30, 14)
    got = shifts_between(r, [], lo, hi)
    assert got[0].start == lo and got[-1].end == hi
    for a, b in zip(got, got[1:], strict=False):
        assert a.end == b.start and a.user != b.user
    assert all(s.end > s.start for s in got)
    # The 24 naive handoffs of the missing day collapse onto 10:00 UTC.
    assert handoff_at(r, 4) == handoff_at(r, 28) == utc(2011, 12, 30, 10)
    assert handoff_at(r, 29) == utc(2011, 12, 30, 11)


# --- active windows at the switches -------------------------------------------


def windowed(window) -> Rotation:
    return Rotation("primary", MEMBERS, datetime(2026, 3, 23, 9), timedelta(weeks=1), "Europe/Berlin",
                    window)


def test_window_with_both_edges_in_the_gap_is_empty_that_day():
    r = windowed(ActiveWindow(frozenset(range(7)), time(2, 10), time(2, 40)))
    assert on_call_at(r, [], utc(2026, 3, 29, 1)) is None  # 03:00 CEST, the gap's end
    got = shifts_between(r, [], utc(2026, 3, 28), utc(2026, 3, 31))
    # Saturday (CET) and Monday (CEST) have their half hour; Sunday has none.
    assert [(s.start, s.end) for s in got] == [
        (utc(2026, 3, 28, 1, 10), utc(2026, 3, 28, 1, 40)),
        (utc(2026, 3, 30, 0, 10), utc(2026, 3, 30, 0, 40)),
    ]


def test_night_window_closing_in_the_gap_closes_at_its_end():
    # Saturday 23:00 CET to Sunday 02:30, which does not exist: closes at 03:00 CEST.
    r = windowed(ActiveWindow(frozenset({5}), time(23), time(2, 30)))
    got = on_call_at(r, [], utc(2026, 3, 29, 0, 59))
    assert (got.user, got.start, got.end) == ("U0ALICE", utc(2026, 3, 28, 22), utc(2026, 3, 29, 1))
    assert on_call_at(r, [], utc(2026, 3, 29, 1)) is None
    assert on_call_at(r, [], utc(2026, 3, 28, 21, 59)) is None


def test_night_window_across_the_autumn_switch_lasts_an_hour_longer():
    # Saturday 22:00 CEST (20:00 UTC) to Sunday 06:00 CET (05:00 UTC): nine hours.
    r = Rotation("primary", MEMBERS, datetime(2026, 10, 19, 9), timedelta(weeks=1), "Europe/Berlin",
                 ActiveWindow(frozenset({5}), time(22), time(6)))
    for t in (utc(2026, 10, 24, 20), utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 4, 59)):
        got = on_call_at(r, [], t)
        assert (got.start, got.end) == (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5)), t
    assert on_call_at(r, [], utc(2026, 10, 25, 5)) is None
    assert [(s.start, s.end) for s in shifts_between(r, [], utc(2026, 10, 24), utc(2026, 10, 26))] == [
        (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))]


def test_window_just_after_local_midnight_in_new_york():
    # 00:30-01:30 New York on Sunday 1 November: 04:30-05:30 UTC, still EDT.
    r = Rotation("primary", MEMBERS, datetime(2026, 10, 26, 9), timedelta(weeks=1), "America/New_York",
                 ActiveWindow(frozenset({6}), time(0, 30), time(1, 30)))
    got = on_call_at(r, [], utc(2026, 11, 1, 5))
    assert (got.start, got.end) == (utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 5, 30))
    assert on_call_at(r, [], utc(2026, 11, 1, 4, 29)) is None
    assert on_call_at(r, [], utc(2026, 11, 1, 5, 30)) is None


def test_localize_reads_only_the_wall_clock_and_takes_a_zone_object():
    berlin = ZoneInfo("Europe/Berlin")
    assert localize(datetime(2026, 10, 25, 2, 30, fold=1), "Europe/Berlin") == utc(2026, 10, 25, 0, 30)
    assert localize(datetime(2026, 3, 29, 2, 30, tzinfo=UTC), berlin) == utc(2026, 3, 29, 1)
    assert localize(datetime(2026, 7, 1, 12), berlin) == utc(2026, 7, 1, 10)
    # any second of the gap moves to its end, to the second
    for second in (1, 7, 1799, 3599):
        naive = datetime(2026, 3, 29, 2) + timedelta(seconds=second)
        assert localize(naive, berlin) == utc(2026, 3, 29, 1), naive


def test_window_opening_at_midnight_of_the_autumn_switch_in_chicago():
    # Sunday 1 November 00:00-01:00 CDT is 05:00-06:00 UTC. Near the switch, t's local date
    # read with the offset in force after it is still Saturday: the window must still be found.
    r = Rotation("primary", MEMBERS, datetime(2026, 10, 26, 9), timedelta(weeks=1), "America/Chicago",
                 ActiveWindow(frozenset({6}), time(0), time(1)))
    for t in (utc(2026, 11, 1, 5), utc(2026, 11, 1, 5, 30)):
        got = on_call_at(r, [], t)
        assert (got.user, got.start, got.end) == ("U0ALICE", utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)), t
    assert on_call_at(r, [], utc(2026, 11, 1, 4, 59)) is None
    got = shifts_between(r, [], utc(2026, 10, 31, 12), utc(2026, 11, 1, 5, 30))
    assert [(s.start, s.end) for s in got] == [(utc(2026, 11, 1, 5), utc(2026, 11, 1, 5, 30))]
