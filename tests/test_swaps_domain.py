"""Planning swaps, covers, take-overs and rotation edits (pure, no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.domain import schedule, swaps
from bot.domain.schedule import OverrideIndex, Rotation
from tests.conftest import utc

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)  # Wed; alice on call since Mon 09:00 Berlin
WEEK = timedelta(weeks=1)
PRIMARY = Rotation("primary", ("U0ALICE", "U0BOB", "U0CAROL"), datetime(2026, 11, 2, 9), WEEK,
                   "Europe/Berlin")
SECONDARY = Rotation("secondary", ("U0DAVE", "U0ERIN"), datetime(2026, 11, 2, 9), WEEK, "America/New_York")
LAYERS = (PRIMARY, SECONDARY)
EMPTY = OverrideIndex()


def apply(plan: swaps.Plan) -> OverrideIndex:
    return OverrideIndex(p.to_override(f"o{i}") for i, p in enumerate(plan.pieces))


def test_swap_trades_both_next_shifts_with_their_exact_instants() -> None:
    plan = swaps.plan_swap(LAYERS, EMPTY, "U0ALICE", "U0BOB", NOW)
    bob_gets, alice_gets = plan.pieces
    # alice's next shift is her second week (the current one is already running).
    assert (bob_gets.user, bob_gets.replaces, bob_gets.start, bob_gets.end) == (
        "U0BOB", "U0ALICE", utc(2026, 11, 23, 8), utc(2026, 11, 30, 8))
    assert (alice_gets.user, alice_gets.replaces, alice_gets.start, alice_gets.end) == (
        "U0ALICE", "U0BOB", utc(2026, 11, 9, 8), utc(2026, 11, 16, 8))
    assert plan.expires_at == utc(2026, 11, 9, 8)
    index = apply(plan)
    assert schedule.on_call_at(PRIMARY, index, utc(2026, 11, 10)).user == "U0ALICE"
    assert schedule.on_call_at(PRIMARY, index, utc(2026, 11, 24)).user == "U0BOB"
    assert schedule.on_call_at(PRIMARY, index, utc(2026, 11, 17)).user == "U0CAROL"


def test_swap_across_both_dst_switches_keeps_instants() -> None:
    now = utc(2026, 10, 16, 12)  # Berlin leaves summer time on 25 Oct, New York on 1 Nov
    primary = swaps.plan_swap(LAYERS, EMPTY, "U0BOB", "U0CAROL", now)
    assert [(p.start, p.end) for p in primary.pieces] == [
        (utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)),  # 169 hours: 09:00 CEST -> 09:00 CET
        (utc(2026, 10, 26, 8), utc(2026, 11, 2, 8)),
    ]
    secondary = swaps.plan_swap(LAYERS, EMPTY, "U0DAVE", "U0ERIN", now)
    assert [(p.start, p.end) for p in secondary.pieces] == [
        (utc(2026, 10, 19, 13), utc(2026, 10, 26, 13)),
        (utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)),  # 09:00 EDT -> 09:00 EST
    ]


@pytest.mark.parametrize(("requester", "invitee", "message"), [
    ("U0ALICE", "U0ALICE", "yourself"),
    ("U0ALICE", "U0DAVE", "not both in"),
    ("U0OUTSIDER", "U0BOB", "not both in"),
])
def test_swap_refusals(requester: str, invitee: str, message: str) -> None:
    with pytest.raises(swaps.PlanError, match=message):
        swaps.plan_swap(LAYERS, EMPTY, requester, invitee, NOW)


def test_swap_without_an_upcoming_shift_is_refused() -> None:
    solo_bob = OverrideIndex([schedule.Override("primary", "U0ALICE", NOW, NOW + timedelta(days=400))])
    with pytest.raises(swaps.PlanError, match="upcoming shift"):
        swaps.plan_swap(LAYERS, solo_bob, "U0ALICE", "U0BOB", NOW)


def test_cover_defaults_to_the_rest_of_the_current_shift() -> None:
    plan = swaps.plan_cover(LAYERS, EMPTY, "U0ALICE", "U0CAROL", NOW)
    assert [(p.start, p.end, p.user, p.replaces) for p in plan.pieces] == [
        (NOW, utc(2026, 11, 9, 8), "U0CAROL", "U0ALICE")]
    assert plan.expires_at == utc(2026, 11, 9, 8)  # in progress: answerable while it lasts


def test_cover_only_takes_my_time_inside_when_one_piece_each() -> None:
    when = (utc(2026, 11, 7, 23), utc(2026, 11, 23, 23))  # two partial overlaps with alice's weeks
    plan = swaps.plan_cover(LAYERS, EMPTY, "U0ALICE", "U0CAROL", NOW, when)
    assert [(p.start, p.end) for p in plan.pieces] == [
        (utc(2026, 11, 7, 23), utc(2026, 11, 9, 8)),
        (utc(2026, 11, 23, 8), utc(2026, 11, 23, 23)),
    ]
    assert plan.expires_at == utc(2026, 11, 7, 23)
    with pytest.raises(swaps.PlanError, match="not on call"):
        swaps.plan_cover(LAYERS, EMPTY, "U0ALICE", "U0CAROL", NOW, (utc(2026, 11, 10), utc(2026, 11, 12)))


def test_take_until_the_shift_ends_or_later() -> None:
    plan = swaps.plan_take(LAYERS, EMPTY, "U0BOB", NOW)
    assert [(p.start, p.end, p.replaces) for p in plan.pieces] == [(NOW, utc(2026, 11, 9, 8), "U0ALICE")]
    longer = swaps.plan_take(LAYERS, EMPTY, "U0CAROL", NOW, until=utc(2026, 11, 10, 8))
    assert [(p.end, p.replaces) for p in longer.pieces] == [
        (utc(2026, 11, 9, 8), "U0ALICE"), (utc(2026, 11, 10, 8), "U0BOB")]
    assert swaps.relieved(longer) == ["U0ALICE", "U0BOB"]
    with pytest.raises(swaps.PlanError, match="member"):
        swaps.plan_take(LAYERS, EMPTY, "U0OUTSIDER", NOW)
    with pytest.raises(swaps.PlanError, match="already on call"):
        swaps.plan_take(LAYERS, EMPTY, "U0ALICE", NOW)


def test_verify_refuses_a_plan_overtaken_by_another() -> None:
    first = swaps.plan_swap(LAYERS, EMPTY, "U0ALICE", "U0BOB", NOW)
    cover = swaps.plan_cover(LAYERS, EMPTY, "U0ALICE", "U0CAROL", NOW,
                             (utc(2026, 11, 23, 8), utc(2026, 11, 30, 8)))
    swaps.verify_still_valid(cover.pieces, LAYERS, EMPTY, NOW)
    with pytest.raises(swaps.PlanError, match="changed"):
        swaps.verify_still_valid(cover.pieces, LAYERS, apply(first), NOW)


def _who(rotation: Rotation, start: datetime, n: int) -> list[tuple[str, datetime]]:
    return [(s.user, s.start) for s in schedule.next_shifts(rotation, EMPTY, start, n)]


def test_add_keeps_the_current_shift_and_handoff_instants() -> None:
    after = swaps.apply_edit(PRIMARY, swaps.Edit("add", "U0DAVE", 2), NOW)
    assert after.members == ("U0ALICE", "U0DAVE", "U0BOB", "U0CAROL")
    assert _who(after, NOW, 5) == [
        ("U0ALICE", utc(2026, 11, 2, 8)), ("U0DAVE", utc(2026, 11, 9, 8)),
        ("U0BOB", utc(2026, 11, 16, 8)), ("U0CAROL", utc(2026, 11, 23, 8)),
        ("U0ALICE", utc(2026, 11, 30, 8))]


def test_removing_the_person_on_call_hands_the_shift_to_their_successor() -> None:
    after = swaps.apply_edit(PRIMARY, swaps.Edit("remove", "U0ALICE"), NOW)
    assert _who(after, NOW, 3) == [
        ("U0BOB", utc(2026, 11, 2, 8)), ("U0CAROL", utc(2026, 11, 9, 8)), ("U0BOB", utc(2026, 11, 16, 8))]
    with pytest.raises(swaps.PlanError, match="not in"):
        swaps.apply_edit(PRIMARY, swaps.Edit("remove", "U0DAVE"), NOW)


def test_move_reorders_from_the_next_handoff() -> None:
    after = swaps.apply_edit(PRIMARY, swaps.Edit("move", "U0CAROL", 2), NOW)
    assert after.members == ("U0ALICE", "U0CAROL", "U0BOB")
    assert [u for u, _ in _who(after, NOW, 4)] == ["U0ALICE", "U0CAROL", "U0BOB", "U0ALICE"]
    with pytest.raises(swaps.PlanError, match="already at position"):
        swaps.apply_edit(PRIMARY, swaps.Edit("move", "U0ALICE", 1), NOW)


def test_handoff_and_shift_changes_start_at_the_first_new_handoff() -> None:
    tuesday = swaps.apply_edit(PRIMARY, swaps.Edit("handoff", weekday=1, at=time(10)), NOW)
    assert _who(tuesday, NOW, 3) == [
        ("U0ALICE", utc(2026, 11, 3, 9)), ("U0BOB", utc(2026, 11, 10, 9)), ("U0CAROL", utc(2026, 11, 17, 9))]
    daily = swaps.apply_edit(PRIMARY, swaps.Edit("shift", shift=timedelta(days=1)), NOW)
    assert _who(daily, NOW, 3) == [
        ("U0ALICE", utc(2026, 11, 4, 8)), ("U0BOB", utc(2026, 11, 5, 8)), ("U0CAROL", utc(2026, 11, 6, 8))]
    with pytest.raises(swaps.PlanError, match="already"):
        swaps.apply_edit(PRIMARY, swaps.Edit("handoff", weekday=0, at=time(9)), NOW)
    with pytest.raises(swaps.PlanError, match="whole number of hours"):
        swaps.apply_edit(PRIMARY, swaps.Edit("shift", shift=timedelta(minutes=90)), NOW)


def test_preview_names_everyone_whose_shifts_moved() -> None:
    after = swaps.apply_edit(PRIMARY, swaps.Edit("move", "U0CAROL", 2), NOW)
    p = swaps.preview(PRIMARY, after, EMPTY, NOW)
    assert len(p.before) == len(p.after) == swaps.PREVIEW_SHIFTS
    assert p.before[0] == p.after[0]  # alice keeps the running shift
    assert p.moved == ["U0BOB", "U0CAROL"]
