"""Rotations, overrides and active windows: examples with exact answers."""

from datetime import datetime, time, timedelta

import pytest

from bot.domain.schedule import (
    ActiveWindow,
    Override,
    OverrideIndex,
    Rotation,
    Shift,
    handoff_at,
    next_shifts,
    on_call_at,
    rotation_shift_at,
    shift_index_at,
    shifts_between,
    user_shifts,
)
from tests.conftest import utc

A, B, C = "U0ALICE", "U0BOB", "U0CAROL"
WEEK = timedelta(weeks=1)
BUSINESS = ActiveWindow(frozenset(range(5)), time(9), time(18))


def weekly(**kw) -> Rotation:
    # Monday 2 November 2026 09:00 CET = 08:00 UTC.
    fields = dict(
        name="primary",
        members=(A, B, C),
        start=datetime(2026, 11, 2, 9),
        shift=WEEK,
        timezone="Europe/Berlin",
    )
    fields.update(kw)
    return Rotation(**fields)


def ov(user, start, end, id="", layer="primary") -> Override:
    return Override(layer=layer, user=user, start=start, end=end, id=id)


def brief(shifts):
    return [(s.user, s.start, s.end) for s in shifts]


# --- the rotation alone -------------------------------------------------------


def test_members_take_turns_and_wrap_around():
    r = weekly()
    assert [rotation_shift_at(r, utc(2026, 11, 2, 8) + k * WEEK).user for k in range(4)] == [
        A,
        B,
        C,
        A,
    ]


def test_before_the_start_the_rotation_runs_backwards():
    r = weekly()
    assert handoff_at(r, -1) == utc(2026, 10, 26, 8)
    assert shift_index_at(r, utc(2026, 10, 30)) == -1
    assert rotation_shift_at(r, utc(2026, 10, 30)).user == C


def test_rotation_shift_at_reports_the_whole_shift():
    got = rotation_shift_at(weekly(), utc(2026, 11, 12, 3))
    assert got == Shift("primary", B, utc(2026, 11, 9, 8), utc(2026, 11, 16, 8))


def test_no_members_means_nobody():
    r = weekly(members=())
    assert rotation_shift_at(r, utc(2026, 11, 12)) is None
    assert on_call_at(r, [], utc(2026, 11, 12)) is None
    assert shifts_between(r, [], utc(2026, 11, 1), utc(2026, 12, 1)) == []
    assert next_shifts(r, [], utc(2026, 11, 12), 3) == []


def test_overrides_apply_even_without_members():
    r = weekly(members=())
    o = ov(B, utc(2026, 11, 3), utc(2026, 11, 4), "o1")
    assert on_call_at(r, [o], utc(2026, 11, 3, 12)).user == B
    assert on_call_at(r, [o], utc(2026, 11, 4)) is None
    got = shifts_between(r, [o], utc(2026, 11, 1), utc(2026, 12, 1))
    assert brief(got) == [(B, utc(2026, 11, 3), utc(2026, 11, 4))]
    assert brief(next_shifts(r, [o], utc(2026, 11, 1), 2)) == brief(got)


def test_single_member_schedule_is_merged_into_one_shift():
    r = weekly(members=(A,))
    got = shifts_between(r, [], utc(2026, 11, 1), utc(2026, 12, 1))
    assert brief(got) == [(A, utc(2026, 11, 1), utc(2026, 12, 1))]


def test_invalid_rotations_and_overrides_are_rejected():
    with pytest.raises(ValueError, match="naive"):
        weekly(start=utc(2026, 11, 2, 8))
    with pytest.raises(ValueError, match="positive"):
        weekly(shift=timedelta(0))
    with pytest.raises(ValueError, match="Mars/Olympus"):
        weekly(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="before it starts"):
        ov(A, utc(2026, 11, 3), utc(2026, 11, 2))
    with pytest.raises(ValueError, match="aware"):
        on_call_at(weekly(), [], datetime(2026, 11, 3))


# --- overrides ----------------------------------------------------------------


def test_override_wins_inside_its_window_only():
    r = weekly()
    o = ov(C, utc(2026, 11, 3, 10), utc(2026, 11, 3, 14), id="ovr1")
    assert on_call_at(r, [o], utc(2026, 11, 3, 9, 59)).user == A
    inside = on_call_at(r, [o], utc(2026, 11, 3, 10))
    assert (inside.user, inside.override_id) == (C, "ovr1")
    assert on_call_at(r, [o], utc(2026, 11, 3, 13, 59)).user == C
    after = on_call_at(r, [o], utc(2026, 11, 3, 14))
    assert (after.user, after.override_id) == (A, None)
    # The rotation's piece around the override is cut by it.
    assert (after.start, after.end) == (utc(2026, 11, 3, 14), utc(2026, 11, 9, 8))


def test_later_override_wins_where_two_overlap():
    r = weekly()
    first = ov(B, utc(2026, 11, 3, 10), utc(2026, 11, 3, 18), id="o1")
    second = ov(C, utc(2026, 11, 3, 12), utc(2026, 11, 3, 14), id="o2")
    got = shifts_between(r, [first, second], utc(2026, 11, 3, 9), utc(2026, 11, 3, 20))
    assert [(s.user, s.start, s.end, s.override_id) for s in got] == [
        (A, utc(2026, 11, 3, 9), utc(2026, 11, 3, 10), None),
        (B, utc(2026, 11, 3, 10), utc(2026, 11, 3, 12), "o1"),
        (C, utc(2026, 11, 3, 12), utc(2026, 11, 3, 14), "o2"),
        (B, utc(2026, 11, 3, 14), utc(2026, 11, 3, 18), "o1"),
        (A, utc(2026, 11, 3, 18), utc(2026, 11, 3, 20), None),
    ]
    # Reversed order: the long override now wins everywhere it is.
    got = shifts_between(r, [second, first], utc(2026, 11, 3, 9), utc(2026, 11, 3, 20))
    assert [s.user for s in got] == [A, B, A]


def test_overrides_of_other_layers_are_ignored():
    o = ov(C, utc(2026, 11, 3), utc(2026, 11, 4), layer="secondary")
    assert on_call_at(weekly(), [o], utc(2026, 11, 3, 12)).user == A


def test_index_and_plain_sequence_agree():
    r = weekly()
    overrides = [
        ov(C, utc(2026, 11, 3, 10), utc(2026, 11, 5), "o1"),
        ov(B, utc(2026, 11, 4), utc(2026, 11, 4, 6), "o2"),
        ov(A, utc(2026, 11, 10), utc(2026, 11, 11), "o3"),
    ]
    index = OverrideIndex(overrides)
    for hours in range(0, 24 * 14, 5):
        t = utc(2026, 11, 2) + timedelta(hours=hours)
        assert on_call_at(r, index, t) == on_call_at(r, overrides, t)
    lo, hi = utc(2026, 11, 1), utc(2026, 11, 20)
    assert shifts_between(r, index, lo, hi) == shifts_between(r, overrides, lo, hi)


def test_override_by_the_person_on_call_merges_with_their_shift():
    r = weekly()
    o = ov(A, utc(2026, 11, 9, 8), utc(2026, 11, 9, 20), "o1")  # A stays 12h longer
    got = shifts_between(r, [o], utc(2026, 11, 2, 8), utc(2026, 11, 16, 8))
    assert brief(got) == [
        (A, utc(2026, 11, 2, 8), utc(2026, 11, 9, 20)),
        (B, utc(2026, 11, 9, 20), utc(2026, 11, 16, 8)),
    ]
    assert got[0].override_id is None  # only part of it came from the override


# --- ranges and upcoming shifts -------------------------------------------------


def test_shifts_between_clips_to_the_range():
    got = shifts_between(weekly(), [], utc(2026, 11, 5), utc(2026, 11, 12))
    assert brief(got) == [
        (A, utc(2026, 11, 5), utc(2026, 11, 9, 8)),
        (B, utc(2026, 11, 9, 8), utc(2026, 11, 12)),
    ]
    assert shifts_between(weekly(), [], utc(2026, 11, 12), utc(2026, 11, 5)) == []


def test_next_shifts_starts_with_the_current_one():
    r = weekly()
    o = ov(C, utc(2026, 11, 10), utc(2026, 11, 11), "o1")
    got = next_shifts(r, [o], utc(2026, 11, 4), 4)
    assert brief(got) == [
        (A, utc(2026, 11, 2, 8), utc(2026, 11, 9, 8)),
        (B, utc(2026, 11, 9, 8), utc(2026, 11, 10)),
        (C, utc(2026, 11, 10), utc(2026, 11, 11)),
        (B, utc(2026, 11, 11), utc(2026, 11, 16, 8)),
    ]
    assert got[2].override_id == "o1"
    assert next_shifts(r, [], utc(2026, 11, 4), 0) == []


def test_next_shifts_of_a_one_member_rotation_ends():
    got = next_shifts(weekly(members=(A,)), [], utc(2026, 11, 4), 3)
    assert len(got) == 1 and got[0].user == A and got[0].end > utc(2027, 11, 1)


def test_user_shifts_across_layers():
    primary = weekly()
    secondary = weekly(name="secondary", members=(C, A), timezone="America/New_York")
    o = ov(A, utc(2026, 11, 20), utc(2026, 11, 21), "o1", layer="primary")
    got = user_shifts([primary, secondary], [o], A, utc(2026, 11, 2), utc(2026, 11, 23))
    # Secondary hands off at 09:00 New York time (14:00 UTC); A had week -1.
    assert [(s.layer, s.start, s.end) for s in got] == [
        ("secondary", utc(2026, 11, 2), utc(2026, 11, 2, 14)),
        ("primary", utc(2026, 11, 2, 8), utc(2026, 11, 9, 8)),
        ("secondary", utc(2026, 11, 9, 14), utc(2026, 11, 16, 14)),
        ("primary", utc(2026, 11, 20), utc(2026, 11, 21)),
    ]


# --- active windows -----------------------------------------------------------


def test_business_hours_nobody_outside():
    r = weekly(active=BUSINESS)  # CET in November: 09:00-18:00 = 08:00-17:00 UTC
    assert on_call_at(r, [], utc(2026, 11, 3, 7, 59)) is None
    assert on_call_at(r, [], utc(2026, 11, 3, 17)) is None
    assert on_call_at(r, [], utc(2026, 11, 7, 12)) is None  # Saturday
    got = on_call_at(r, [], utc(2026, 11, 3, 12))
    assert (got.user, got.start, got.end) == (A, utc(2026, 11, 3, 8), utc(2026, 11, 3, 17))


def test_business_hours_week_is_five_pieces():
    r = weekly(active=BUSINESS)
    got = shifts_between(r, [], utc(2026, 11, 2), utc(2026, 11, 9))
    assert brief(got) == [(A, utc(2026, 11, d, 8), utc(2026, 11, d, 17)) for d in range(2, 7)]
    nxt = next_shifts(r, [], utc(2026, 11, 6, 20), 2)  # Friday evening: nobody now
    assert brief(nxt) == [
        (B, utc(2026, 11, 9, 8), utc(2026, 11, 9, 17)),
        (B, utc(2026, 11, 10, 8), utc(2026, 11, 10, 17)),
    ]


def test_handoff_inside_the_window_splits_the_day():
    r = weekly(start=datetime(2026, 11, 2, 12), shift=timedelta(days=1), active=BUSINESS)
    got = shifts_between(r, [], utc(2026, 11, 3), utc(2026, 11, 4))
    assert brief(got) == [
        (A, utc(2026, 11, 3, 8), utc(2026, 11, 3, 11)),
        (B, utc(2026, 11, 3, 11), utc(2026, 11, 3, 17)),
    ]


def test_override_outside_the_window_still_counts():
    r = weekly(active=BUSINESS)
    o = ov(C, utc(2026, 11, 7, 10), utc(2026, 11, 7, 12), "weekend")
    assert on_call_at(r, [o], utc(2026, 11, 7, 11)).user == C
    assert on_call_at(r, [o], utc(2026, 11, 7, 12)) is None


def test_window_crossing_midnight():
    nights = ActiveWindow(frozenset(range(5)), time(22), time(6))  # opens Mon-Fri evenings
    r = weekly(active=nights)
    monday_night = on_call_at(r, [], utc(2026, 11, 2, 23))  # 00:00 CET Tuesday
    assert (monday_night.start, monday_night.end) == (utc(2026, 11, 2, 21), utc(2026, 11, 3, 5))
    assert on_call_at(r, [], utc(2026, 11, 3, 4, 59)) == monday_night
    assert on_call_at(r, [], utc(2026, 11, 3, 5)) is None
    assert on_call_at(r, [], utc(2026, 11, 7, 3)).user == A  # Friday night into Saturday
    assert on_call_at(r, [], utc(2026, 11, 8, 3)) is None  # Saturday night: not active
    assert on_call_at(r, [], utc(2026, 11, 2, 3)) is None  # Sunday night


def test_follow_the_sun_covers_every_hour_with_exactly_one_layer():
    everyday = frozenset(range(7))
    layers = [
        # In January: Tokyo 09-17 = 00-08 UTC, London 08-16 = 08-16 UTC,
        # Los Angeles 08-16 = 16-24 UTC.
        Rotation("apac", ("U0TOKYO",), datetime(2027, 1, 4, 9), WEEK, "Asia/Tokyo",
                 ActiveWindow(everyday, time(9), time(17))),
        Rotation("emea", ("U0LONDON",), datetime(2027, 1, 4, 8), WEEK, "Europe/London",
                 ActiveWindow(everyday, time(8), time(16))),
        Rotation("amer", ("U0LA",), datetime(2027, 1, 4, 8), WEEK, "America/Los_Angeles",
                 ActiveWindow(everyday, time(8), time(16))),
    ]  # fmt: skip
    for minutes in range(0, 7 * 24 * 60, 20):
        t = utc(2027, 1, 11) + timedelta(minutes=minutes)
        on = [s for s in (on_call_at(r, [], t) for r in layers) if s is not None]
        assert len(on) == 1, t
        expected = ["U0TOKYO", "U0LONDON", "U0LA"][t.hour // 8]
        assert on[0].user == expected


def test_business_hours_follow_local_time_across_dst():
    r = weekly(start=datetime(2026, 3, 23, 9), active=BUSINESS)
    friday = on_call_at(r, [], utc(2026, 3, 27, 12))  # CET
    monday = on_call_at(r, [], utc(2026, 3, 30, 12))  # CEST
    assert (friday.start, friday.end) == (utc(2026, 3, 27, 8), utc(2026, 3, 27, 17))
    assert (monday.start, monday.end) == (utc(2026, 3, 30, 7), utc(2026, 3, 30, 16))


# --- edges pinned down ----------------------------------------------------------


@pytest.mark.parametrize("start, end", [
    (datetime(2026, 11, 3), utc(2026, 11, 4)),  # naive start, aware end
    (utc(2026, 11, 3), datetime(2026, 11, 4)),  # aware start, naive end
])
def test_override_needs_aware_times_at_both_ends(start, end):
    with pytest.raises(ValueError) as err:
        ov(A, start, end)
    assert str(err.value) == "override start and end must be aware datetimes"


def test_override_of_zero_length_is_refused_and_one_microsecond_is_not():
    with pytest.raises(ValueError, match="before it starts"):
        ov(A, utc(2026, 11, 3), utc(2026, 11, 3))
    tiny = ov(A, utc(2026, 11, 3), utc(2026, 11, 3) + timedelta(microseconds=1), "o1")
    assert on_call_at(weekly(), [tiny], utc(2026, 11, 3)).override_id == "o1"


@pytest.mark.parametrize("days", [{7}, {-1}, {0, 6, 8}])
def test_active_window_days_are_monday_to_sunday(days):
    with pytest.raises(ValueError, match="0 \\(Monday\\) to 6 \\(Sunday\\)"):
        ActiveWindow(frozenset(days), time(9), time(18))
    assert ActiveWindow(frozenset({0, 6}), time(9), time(18)).days == {0, 6}


def test_rotation_refuses_a_negative_shift():
    with pytest.raises(ValueError, match="shift must be positive"):
        weekly(shift=-WEEK)


def test_window_whose_from_equals_its_to_lasts_a_whole_day():
    mondays = weekly(active=ActiveWindow(frozenset({0}), time(9), time(9)))
    got = on_call_at(mondays, [], utc(2026, 11, 3, 7))  # Tuesday 08:00 CET
    assert (got.user, got.start, got.end) == (A, utc(2026, 11, 2, 8), utc(2026, 11, 3, 8))
    assert on_call_at(mondays, [], utc(2026, 11, 3, 8)) is None
    assert brief(shifts_between(mondays, [], utc(2026, 11, 1), utc(2026, 11, 16))) == [
        (A, utc(2026, 11, 2, 8), utc(2026, 11, 3, 8)),
        (B, utc(2026, 11, 9, 8), utc(2026, 11, 10, 8)),
    ]


def test_on_call_at_is_cut_by_the_next_override_and_starts_after_the_last_one():
    r = weekly()
    first = ov(C, utc(2026, 11, 3), utc(2026, 11, 4), "o1")
    last = ov(B, utc(2026, 11, 5), utc(2026, 11, 6), "o2")
    before = on_call_at(r, [first, last], utc(2026, 11, 2, 12))
    assert before == Shift("primary", A, utc(2026, 11, 2, 8), utc(2026, 11, 3), None)
    between = on_call_at(r, [first, last], utc(2026, 11, 4, 12))
    assert (between.start, between.end) == (utc(2026, 11, 4), utc(2026, 11, 5))
    after = on_call_at(r, [first, last], utc(2026, 11, 7))
    assert (after.user, after.start, after.end) == (A, utc(2026, 11, 6), utc(2026, 11, 9, 8))
    # an override in the next shift does not cut this one
    next_week = ov(C, utc(2026, 11, 10), utc(2026, 11, 11), "o3")
    assert on_call_at(r, [next_week], utc(2026, 11, 3)).end == utc(2026, 11, 9, 8)
    assert on_call_at(r, [next_week], utc(2026, 11, 12)).start == utc(2026, 11, 11)


def test_clipped_and_merged_pieces_keep_their_extent_layer_and_override_id():
    r = weekly(name="secondary")
    o1 = ov(C, utc(2026, 11, 3), utc(2026, 11, 4), "o1", layer="secondary")
    o2 = ov(C, utc(2026, 11, 4), utc(2026, 11, 5), "o2", layer="secondary")
    o3 = ov(B, utc(2026, 11, 6), utc(2026, 11, 8), "o3", layer="secondary")
    got = shifts_between(r, [o1, o2, o3], utc(2026, 11, 3, 12), utc(2026, 11, 7))
    assert got == [
        Shift("secondary", C, utc(2026, 11, 3, 12), utc(2026, 11, 5), None),  # two overrides
        Shift("secondary", A, utc(2026, 11, 5), utc(2026, 11, 6), None),
        Shift("secondary", B, utc(2026, 11, 6), utc(2026, 11, 7), "o3"),  # clipped, still o3
    ]
    same = ov(C, utc(2026, 11, 4), utc(2026, 11, 5), "o1", layer="secondary")
    joined = shifts_between(r, [o1, same], utc(2026, 11, 1), utc(2026, 11, 8))
    assert joined[2] == Shift("secondary", C, utc(2026, 11, 3), utc(2026, 11, 5), "o1")


def test_shifts_between_a_range_inside_one_override():
    o = ov(C, utc(2026, 11, 3), utc(2026, 11, 5), "o1")
    got = shifts_between(weekly(), [o], utc(2026, 11, 3, 6), utc(2026, 11, 3, 7))
    assert got == [Shift("primary", C, utc(2026, 11, 3, 6), utc(2026, 11, 3, 7), "o1")]
    tiny = shifts_between(weekly(), [o], utc(2026, 11, 3), utc(2026, 11, 3) + timedelta(microseconds=1))
    assert brief(tiny) == [(C, utc(2026, 11, 3), utc(2026, 11, 3) + timedelta(microseconds=1))]


def test_next_shifts_waits_for_the_whole_nth_shift_before_answering():
    # Daily A/B; A's override on B's day and A's own next day make one three-day shift.
    daily = weekly(members=(A, B), shift=timedelta(days=1))
    o = ov(A, utc(2026, 11, 3, 8), utc(2026, 11, 4, 8), "o1")
    got = next_shifts(daily, [o], utc(2026, 11, 2, 8), 2)
    assert brief(got) == [
        (A, utc(2026, 11, 2, 8), utc(2026, 11, 5, 8)),
        (B, utc(2026, 11, 5, 8), utc(2026, 11, 6, 8)),
    ]
    assert brief(next_shifts(daily, [o], utc(2026, 11, 2, 8), 1)) == brief(got[:1])


def test_next_shifts_horizon_cuts_a_long_shift_but_keeps_the_whole_nth():
    # Two members on 300-day shifts: three shifts need more than the 400-day horizon.
    days = timedelta(days=1)
    r = weekly(members=(A, B), shift=300 * days, timezone="UTC")
    t = utc(2026, 11, 2, 9)
    got = next_shifts(r, [], t, 3)
    assert brief(got) == [(A, t, t + 300 * days), (B, t + 300 * days, t + 600 * days),
                          (A, t + 600 * days, t + 900 * days)]
    # One member: the shift is looked at up to (n + 1) shifts ahead when that is beyond 400 days.
    alone = weekly(members=(A,), shift=300 * days, timezone="UTC")
    assert brief(next_shifts(alone, [], t, 2)) == [(A, t, t + 900 * days)]
    assert brief(next_shifts(alone, [], t, 1)) == [(A, t, t + 600 * days)]
    one = weekly(members=(A,))
    (only,) = next_shifts(one, [], utc(2026, 11, 2, 8), 2)
    assert only.start == utc(2026, 11, 2, 8)
    assert utc(2027, 12, 6) <= only.end <= utc(2027, 12, 14)  # 400 days, to the next handoff


def test_user_shifts_orders_by_start_then_layer():
    primary = weekly()
    secondary = weekly(name="secondary", members=(A, C))
    got = user_shifts([secondary, primary], [], A, utc(2026, 11, 2, 8), utc(2026, 11, 9, 8))
    assert [(s.layer, s.start) for s in got] == [
        ("primary", utc(2026, 11, 2, 8)), ("secondary", utc(2026, 11, 2, 8))]


def test_ranges_that_start_where_a_window_closes_or_a_handoff_happens():
    r = weekly(active=BUSINESS)
    wednesday = [(A, utc(2026, 11, 4, 8), utc(2026, 11, 4, 17))]
    assert brief(next_shifts(r, [], utc(2026, 11, 3, 17), 1)) == wednesday
    noon = weekly(start=datetime(2026, 11, 2, 12), shift=timedelta(days=1), active=BUSINESS)
    bob = [(B, utc(2026, 11, 3, 11), utc(2026, 11, 3, 17))]
    assert brief(shifts_between(noon, [], utc(2026, 11, 3, 11), utc(2026, 11, 4))) == bob


def test_next_shifts_at_a_handoff_inside_the_window_starts_with_the_new_person():
    # Was a bug: the shift that had just ended was listed first (on_call_at said B, next_shifts A).
    noon = weekly(start=datetime(2026, 11, 2, 12), shift=timedelta(days=1), active=BUSINESS)
    t = utc(2026, 11, 3, 11)
    assert on_call_at(noon, [], t).user == B
    assert brief(next_shifts(noon, [], t, 2)) == [
        (B, utc(2026, 11, 3, 11), utc(2026, 11, 3, 17)),
        (B, utc(2026, 11, 4, 8), utc(2026, 11, 4, 11)),
    ]
