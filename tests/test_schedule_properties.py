"""Properties of the final schedule, for random rotations, overrides and instants."""

import os
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.schedule import (
    NEXT_SHIFTS_HORIZON,
    ActiveWindow,
    Override,
    OverrideIndex,
    Rotation,
    handoff_at,
    next_shifts,
    on_call_at,
    rotation_shift_at,
    shift_index_at,
    shifts_between,
    user_shifts,
)

# Zones with 1h switches both ways, a 30-minute switch, none at all, and UTC.
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
USERS = ["U1", "U2", "U3", "U4", "U5"]
# 2026 around both switches of Berlin and New York.
ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_S = 300 * 24 * 3600
TICK = timedelta(microseconds=1)

# Under mutation testing (mutmut sets MUTANT_UNDER_TEST) every surviving mutant runs all of
# these; 30 examples each keep `dev.py mutate schedule` within the hour on a shared machine.
EXAMPLES = 30 if "MUTANT_UNDER_TEST" in os.environ else 150
settings.register_profile("schedule", max_examples=EXAMPLES, deadline=None)
settings.load_profile("schedule")

instants = st.integers(0, SPAN_S).map(lambda s: ORIGIN + timedelta(seconds=s))


@st.composite
def rotations(draw, with_window: bool = False) -> Rotation:
    members = tuple(draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=4)))
    # Starts on whole minutes in 2026 (so some land in gaps and folds), sometimes
    # exactly on a switch night.
    start = draw(
        st.one_of(
            st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31)).map(
                lambda d: d.replace(second=0, microsecond=0)
            ),
            st.sampled_from(
                [datetime(2026, 3, 29, 2, 30), datetime(2026, 10, 25, 2, 30),
                 datetime(2026, 3, 8, 2), datetime(2026, 11, 1, 1, 30)]
            ),
        )
    )  # fmt: skip
    hours = draw(st.sampled_from([1, 2, 3, 8, 12, 24, 48, 168, 336]))
    active = None
    if with_window:
        days = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
        opens = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30])))
        closes = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30])))
        active = ActiveWindow(days, opens, closes)
    return Rotation("layer", members, start, timedelta(hours=hours), draw(st.sampled_from(ZONES)),
                    active)  # fmt: skip


@st.composite
def override_lists(draw) -> list[Override]:
    found = []
    for i in range(draw(st.integers(0, 6))):
        start = draw(instants)
        length = timedelta(minutes=draw(st.integers(1, 60 * 24 * 10)))
        layer = draw(st.sampled_from(["layer", "layer", "layer", "other"]))
        found.append(Override(layer, draw(st.sampled_from([*USERS, "UX"])), start,
                              start + length, id=f"o{i}"))  # fmt: skip
    return found


def expected_user(rotation, overrides, t):
    """The rule stated plainly: the last override of this layer covering t, else the rotation."""
    winners = [o for o in overrides if o.layer == rotation.name and o.start <= t < o.end]
    if winners:
        return winners[-1].user
    own = rotation_shift_at(rotation, t)
    return None if own is None else own.user


@given(rotations(), instants)
def test_exactly_one_person_at_every_instant(rotation, t):
    k = shift_index_at(rotation, t)
    assert handoff_at(rotation, k) <= t < handoff_at(rotation, k + 1)
    shift = rotation_shift_at(rotation, t)
    assert shift is not None
    assert shift.start <= t < shift.end
    assert shift.user == rotation.members[k % len(rotation.members)]
    assert (shift.start, shift.end) == (handoff_at(rotation, k), handoff_at(rotation, k + 1))


@given(rotations(), st.integers(-50, 50))
def test_handoffs_never_go_backwards(rotation, k):
    assert handoff_at(rotation, k) <= handoff_at(rotation, k + 1)
    # Two handoffs can only coincide when a whole shift lies inside a gap, and
    # then the shift is never reported.
    if handoff_at(rotation, k) == handoff_at(rotation, k + 1):
        assert shift_index_at(rotation, handoff_at(rotation, k)) != k


@given(rotations(), override_lists(), instants, st.integers(1, 30 * 24 * 60))
def test_shifts_between_tiles_the_range(rotation, overrides, lo, minutes):
    hi = lo + timedelta(minutes=minutes)
    got = shifts_between(rotation, overrides, lo, hi)
    assert got[0].start == lo and got[-1].end == hi
    for s in got:
        assert s.end > s.start
    for a, b in zip(got, got[1:], strict=False):
        assert a.end == b.start  # no gap, no overlap
        assert a.user != b.user  # touching shifts of one user are merged


@given(rotations(), override_lists(), instants)
def test_override_wins_inside_its_window_and_nowhere_else(rotation, overrides, t):
    index = OverrideIndex(overrides)
    probes = [t] + [x for o in overrides for x in (o.start, o.end - TICK, o.end)]
    for p in probes:
        got = on_call_at(rotation, index, p)
        assert got is not None and got.start <= p < got.end
        assert got.user == expected_user(rotation, overrides, p)
        assert got == on_call_at(rotation, overrides, p)
        covering = [o for o in overrides if o.layer == rotation.name and o.start <= p < o.end]
        assert got.override_id == (covering[-1].id if covering else None)


@given(rotations(), override_lists(), instants, st.integers(1, 6))
def test_next_shifts_agree_with_on_call_at(rotation, overrides, t, n):
    got = next_shifts(rotation, overrides, t, n)
    # Fewer only when one person's merged shift runs past the look-ahead horizon.
    assert len(got) == n or got[-1].end >= t + NEXT_SHIFTS_HORIZON
    current = on_call_at(rotation, overrides, t)
    assert got[0].start == current.start and got[0].user == current.user
    assert got[0].start <= t < got[0].end
    for s in got:
        assert on_call_at(rotation, overrides, s.start).user == s.user
        assert on_call_at(rotation, overrides, s.end - TICK).user == s.user
    for a, b in zip(got, got[1:], strict=False):
        assert a.end == b.start and a.user != b.user


@given(rotations(with_window=True), override_lists(), instants, st.integers(1, 10 * 24 * 60))
def test_active_windows_schedule_matches_point_lookups(rotation, overrides, lo, minutes):
    hi = lo + timedelta(minutes=minutes)
    got = shifts_between(rotation, overrides, lo, hi)
    for s in got:
        assert lo <= s.start < s.end <= hi
    for a, b in zip(got, got[1:], strict=False):
        assert a.end <= b.start
        assert a.end < b.start or a.user != b.user
    # Sample the range: the point answer is the shift covering that point, or nobody.
    step = (hi - lo) / 23
    for i in range(24):
        p = min(lo + step * i, hi - TICK)
        point = on_call_at(rotation, overrides, p)
        covering = [s for s in got if s.start <= p < s.end]
        assert len(covering) <= 1
        if point is None:
            assert covering == []
        else:
            assert [s.user for s in covering] == [point.user]
        assert (point.user if point else None) == expected_user(rotation, overrides, p)


@given(rotations(with_window=True), instants)
def test_windowed_shift_lies_inside_the_rotation_shift(rotation, t):
    got = rotation_shift_at(rotation, t)
    k = shift_index_at(rotation, t)
    if got is not None:
        assert handoff_at(rotation, k) <= got.start <= t < got.end <= handoff_at(rotation, k + 1)
        assert got.user == rotation.members[k % len(rotation.members)]


@given(st.lists(rotations(), min_size=1, max_size=3), override_lists(), instants)
def test_user_shifts_are_that_users_part_of_each_layer(rotations_, overrides, lo):
    layers = [
        Rotation(f"layer{i}" if i else "layer", r.members, r.start, r.shift, r.timezone)
        for i, r in enumerate(rotations_)
    ]
    hi = lo + timedelta(days=20)
    got = user_shifts(layers, overrides, "U1", lo, hi)
    assert [(s.start, s.layer) for s in got] == sorted((s.start, s.layer) for s in got)
    by_name = {r.name: r for r in layers}
    for s in got:
        assert s.user == "U1" and lo <= s.start < s.end <= hi
        assert on_call_at(by_name[s.layer], overrides, s.start).user == "U1"
        assert on_call_at(by_name[s.layer], overrides, s.end - TICK).user == "U1"
    for hour in range(0, 20 * 24, 7):
        p = lo + timedelta(hours=hour)
        for r in layers:
            if on_call_at(r, overrides, p).user == "U1":
                assert any(s.layer == r.name and s.start <= p < s.end for s in got)
