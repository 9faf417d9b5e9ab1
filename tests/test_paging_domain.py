"""Paging rules, urgency, working hours and contact methods: pure, with the clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.paging import (
    ContactMethod,
    RuleStep,
    WorkingHours,
    mask_phone,
    next_step_at,
    normalise_phone,
    parse_rule,
    parse_working_hours,
    steps_due,
    urgency_of,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))


# --- rules ---------------------------------------------------------------------


def test_rule_steps_in_order_with_their_delays() -> None:
    steps = parse_rule("0m slack, 1m push, 3m call, 10m call")
    assert steps == (
        RuleStep(timedelta(0), "slack"), RuleStep(timedelta(minutes=1), "push"),
        RuleStep(timedelta(minutes=3), "call"), RuleStep(timedelta(minutes=10), "call"),
    )


def test_rule_given_as_a_list_reads_the_same() -> None:
    assert parse_rule(["0m slack", "2m sms"]) == parse_rule("0m slack, 2m sms")


@pytest.mark.parametrize(("text", "message"), [
    ("0m slack, 1m pager", "step 2: unknown method 'pager'"),
    ("slack", "step 1 ('slack'): expected 'DELAY METHOD'"),
    ("0m slack, soon push", "step 2: "),
    ("5m call, 1m push", "step 2 (push after 1m) comes before"),
    ("", "at least one step"),
])
def test_rule_mistakes_name_the_step(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_rule(text)
    assert message in str(info.value)


def test_steps_come_due_as_the_clock_moves() -> None:
    steps = parse_rule("0m slack, 1m push, 3m call")
    paged = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert steps_due(steps, paged, paged) == [0]
    assert steps_due(steps, paged, paged + timedelta(seconds=59)) == [0]
    assert steps_due(steps, paged, paged + timedelta(minutes=1)) == [0, 1]
    assert steps_due(steps, paged, paged + timedelta(minutes=3)) == [0, 1, 2]
    assert next_step_at(steps, paged, 1) == paged + timedelta(minutes=1)
    assert next_step_at(steps, paged, 3) is None


# --- urgency -------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "urgency"), [
    ("critical", "high"), ("error", "high"), ("warning", "low"), ("info", "low"), ("unheard-of", "high"),
])
def test_default_urgency(severity: str, urgency: str) -> None:
    assert urgency_of(severity) == urgency


def test_team_mapping_decides_urgency() -> None:
    mapping = {"high": ["critical"], "low": ["error", "warning", "info"]}
    assert urgency_of("error", mapping) == "low"
    assert urgency_of("critical", mapping) == "high"


# --- working hours -------------------------------------------------------------


def test_inside_working_hours_pages_now() -> None:
    hours = WorkingHours()
    at = local(BERLIN, 2026, 12, 1, 10, 0)  # a Tuesday
    assert hours.contains(at, BERLIN)
    assert hours.next_start(at, BERLIN) == at


@pytest.mark.parametrize(("tz", "at", "expected"), [
    # 03:00 on a Tuesday waits for 09:00 the same day
    (BERLIN, (2026, 12, 1, 3, 0), (2026, 12, 1, 9, 0)),
    # 18:00 is already outside: the next morning
    (BERLIN, (2026, 12, 1, 18, 0), (2026, 12, 2, 9, 0)),
    # Friday night waits for Monday
    (BERLIN, (2026, 12, 4, 23, 0), (2026, 12, 7, 9, 0)),
    # the same instant read in New York is a different local day and hour
    (NEW_YORK, (2026, 12, 1, 3, 0), (2026, 12, 1, 9, 0)),
    # across the spring-forward night in Berlin (29 March 2026): still 09:00 local, now CEST
    (BERLIN, (2026, 3, 29, 3, 30), (2026, 3, 30, 9, 0)),
    # across the fall-back night in New York (1 November 2026)
    (NEW_YORK, (2026, 11, 1, 1, 30), (2026, 11, 2, 9, 0)),
])
def test_low_urgency_waits_for_working_hours(tz: str, at: tuple[int, ...], expected: tuple[int, ...]) -> None:
    start = WorkingHours().next_start(local(tz, *at), tz)
    assert start == local(tz, *expected)
    assert start.astimezone(ZoneInfo(tz)).time() == time(9, 0)


def test_working_hours_across_dst_keep_the_wall_clock() -> None:
    # 03:00 Berlin on the Monday after the switch: 09:00 CEST is 07:00 UTC, not 08:00.
    start = WorkingHours().next_start(local(BERLIN, 2026, 3, 30, 3, 0), BERLIN)
    assert start.astimezone(UTC) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    before = WorkingHours().next_start(local(BERLIN, 2026, 3, 27, 3, 0), BERLIN)
    assert before.astimezone(UTC) == datetime(2026, 3, 27, 8, 0, tzinfo=UTC)


def test_working_hours_boundaries() -> None:
    hours = WorkingHours()
    assert hours.contains(local(BERLIN, 2026, 12, 1, 9, 0), BERLIN)
    assert not hours.contains(local(BERLIN, 2026, 12, 1, 8, 59), BERLIN)
    assert hours.contains(local(BERLIN, 2026, 12, 1, 17, 59), BERLIN)
    assert not hours.contains(local(BERLIN, 2026, 12, 1, 18, 0), BERLIN)
    assert not hours.contains(local(BERLIN, 2026, 12, 5, 10, 0), BERLIN)  # Saturday


def test_custom_working_hours_from_config() -> None:
    hours = parse_working_hours({"days": ["sat", "sun"], "from": "10:00", "to": "14:00"})
    assert hours.days == frozenset({5, 6})
    assert hours.next_start(local(BERLIN, 2026, 12, 1, 12, 0), BERLIN) == local(BERLIN, 2026, 12, 5, 10, 0)


@pytest.mark.parametrize(("raw", "message"), [
    ({"days": ["mon", "funday"]}, "unknown weekday 'funday'"),
    ({"days": []}, "days: expected a list"),
    ({"from": "9 o'clock"}, "from: expected a time of day"),
    ({"from": "18:00", "to": "09:00"}, "must be after their start"),
])
def test_bad_working_hours_are_refused(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_working_hours(raw)
    assert message in str(info.value)


# --- contact methods -----------------------------------------------------------


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("+49 151 1234 5689", None, "+4915112345689"),
    ("0151 12345689", "DE", "+4915112345689"),
    ("(415) 555-2671", "US", "+14155552671"),
])
def test_phone_numbers_are_normalised(raw: str, region: str | None, e164: str) -> None:
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize(("raw", "message"), [
    ("12345", "country code"),
    ("+49 151 123", "is not a valid phone number"),
    ("call me", "is not a phone number"),
])
def test_invalid_phone_numbers_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        normalise_phone(raw)
    assert message in str(info.value)


def test_contact_methods_are_shown_masked() -> None:
    assert ContactMethod("call", "+4915112345689").shown() == "call …89"
    assert ContactMethod("email", "alice@example.com").shown() == "email a…@example.com"
    assert ContactMethod("push", "ntfys://ntfy.example.com/alice?token=secret").shown() == "push via ntfys"
    assert "secret" not in ContactMethod("sms", "twilio://AC1:token@15551234567/15557654321").shown()
    assert mask_phone("+4915112345689") == "…89"
