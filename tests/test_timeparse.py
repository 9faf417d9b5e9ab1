"""TIME, FROM..TO and durations as users type them, in two timezones and around DST."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.timeparse import TimeParseError, parse_duration, parse_range, parse_time
from tests.conftest import utc

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
# Friday 27 March 2026, 11:00 CET; Berlin switches to CEST on Sunday the 29th.
NOW_BERLIN = datetime(2026, 3, 27, 10, tzinfo=UTC)
# Friday 6 March 2026, 10:00 EST; New York switches to EDT on Sunday the 8th.
NOW_NEW_YORK = datetime(2026, 3, 6, 15, tzinfo=UTC)


def local(tz: str, *args: int) -> datetime:
    """An unambiguous local wall-clock time as UTC."""
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", utc(2026, 3, 27, 10)),
        ("today", local(BERLIN, 2026, 3, 27)),
        ("tomorrow", local(BERLIN, 2026, 3, 28)),
        ("yesterday", local(BERLIN, 2026, 3, 26)),
        ("tomorrow 9:00", local(BERLIN, 2026, 3, 28, 9)),
        ("Tomorrow 09:00", local(BERLIN, 2026, 3, 28, 9)),
        ("9:00 tomorrow", local(BERLIN, 2026, 3, 28, 9)),
        ("today 18:30", local(BERLIN, 2026, 3, 27, 18, 30)),
        ("friday", local(BERLIN, 2026, 4, 3)),  # 00:00 today is past: next Friday
        ("fri 14:00", local(BERLIN, 2026, 3, 27, 14)),  # today, still ahead
        ("FRI 10:00", local(BERLIN, 2026, 4, 3, 10)),  # today's is past: next week
        ("mon", local(BERLIN, 2026, 3, 30)),
        ("sunday 9:00", utc(2026, 3, 29, 7)),  # 09:00 CEST
        ("sun 2:30", utc(2026, 3, 29, 1)),  # inside the gap: 03:00 CEST
        ("14:00", local(BERLIN, 2026, 3, 27, 14)),  # still ahead today
        ("10:30", local(BERLIN, 2026, 3, 28, 10, 30)),  # past today: tomorrow
        ("9pm", local(BERLIN, 2026, 3, 27, 21)),
        ("9:30am", local(BERLIN, 2026, 3, 28, 9, 30)),
        ("12am", local(BERLIN, 2026, 3, 28)),
        ("12pm", local(BERLIN, 2026, 3, 27, 12)),
        ("+2h", utc(2026, 3, 27, 12)),
        ("+90m", utc(2026, 3, 27, 11, 30)),
        ("+3d", utc(2026, 3, 30, 9)),  # 11:00 CEST: same wall-clock time, 71h later
        ("+72h", utc(2026, 3, 30, 10)),  # absolute: 12:00 CEST
        ("+1w", utc(2026, 4, 3, 9)),
        ("+1d12h", utc(2026, 3, 28, 22)),
        ("2026-12-01", local(BERLIN, 2026, 12, 1)),
        ("2026-12-01T14:00", local(BERLIN, 2026, 12, 1, 14)),
        ("2026-12-01 14:00", local(BERLIN, 2026, 12, 1, 14)),
        ("2026-12-01T14:00:30", local(BERLIN, 2026, 12, 1, 14, 0, 30)),
        ("2026-12-01T14:00Z", utc(2026, 12, 1, 14)),  # an explicit offset is kept
        ("2026-12-01T14:00-05:00", utc(2026, 12, 1, 19)),
        ("2026-10-25 02:30", utc(2026, 10, 25, 0, 30)),  # ambiguous: first occurrence
        ("  tomorrow   9:00 ", local(BERLIN, 2026, 3, 28, 9)),
    ],
)
def test_berlin(text, expected):
    assert parse_time(text, NOW_BERLIN, BERLIN) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", utc(2026, 3, 6, 15)),
        ("today", local(NEW_YORK, 2026, 3, 6)),
        ("tomorrow", local(NEW_YORK, 2026, 3, 7)),
        ("tomorrow 9:00", utc(2026, 3, 7, 14)),  # EST
        ("today 18:30", local(NEW_YORK, 2026, 3, 6, 18, 30)),
        ("fri 10:00", utc(2026, 3, 13, 14)),  # exactly now is not ahead: next week, EDT
        ("fri 10:01", utc(2026, 3, 6, 15, 1)),
        ("sun 9:00", utc(2026, 3, 8, 13)),  # EDT
        ("sun 2:30", utc(2026, 3, 8, 7)),  # inside the gap: 03:00 EDT
        ("saturday", local(NEW_YORK, 2026, 3, 7)),
        ("10:30", utc(2026, 3, 6, 15, 30)),
        ("09:59", utc(2026, 3, 7, 14, 59)),
        ("+3d", utc(2026, 3, 9, 14)),  # 10:00 EDT
        ("+72h", utc(2026, 3, 9, 15)),  # 11:00 EDT
        ("+2h", utc(2026, 3, 6, 17)),
        ("2026-12-01", utc(2026, 12, 1, 5)),
        ("2026-12-01 14:00", utc(2026, 12, 1, 19)),
        ("2026-11-01T01:30", utc(2026, 11, 1, 5, 30)),  # ambiguous: first occurrence (EDT)
    ],
)
def test_new_york(text, expected):
    assert parse_time(text, NOW_NEW_YORK, NEW_YORK) == expected


def test_same_words_mean_different_instants_in_different_zones():
    berlin = parse_time("tomorrow 9:00", NOW_BERLIN, BERLIN)
    new_york = parse_time("tomorrow 9:00", NOW_BERLIN, NEW_YORK)
    assert new_york - berlin == timedelta(hours=5)  # CET vs EDT on 28 March


def test_results_are_utc():
    got = parse_time("tomorrow 9:00", NOW_BERLIN, BERLIN)
    assert got.utcoffset() == timedelta(0)
    assert parse_time("now", NOW_BERLIN.astimezone(ZoneInfo(BERLIN)), BERLIN).tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tomorow 9:00",
            'Could not read "tomorow 9:00" as a time: "tomorow" is not a day '
            "(try today, tomorrow, a weekday, 2026-12-01 or +3d).",
        ),
        (
            "tomorrow 25:00",
            'Could not read "tomorrow 25:00" as a time: understood "tomorrow" as a day, '
            'but "25:00" is not a time of day (try 9:00, 14:30 or 9pm).',
        ),
        ("9:00 blah", 'understood "9:00" as a time of day, but "blah" is not a day'),
        ("", "it is empty"),
        ("blah", '"blah" is not a day or a time'),
        ("2026-02-30", '"2026-02-30" is not a valid date'),
        ("2026-02-30T10:00", '"2026-02-30T10:00" is not a valid date and time'),
        ("+3x", '"+3x" is not a duration'),
        ("+0h", '"+0h" is not a duration'),
        ("9", '"9" is not a day or a time'),
        ("13pm", '"13pm" is not a day or a time'),
        ("today 9:60", '"9:60" is not a time of day'),
        ("next friday at 9", "got 4 words"),
    ],
)
def test_errors_say_what_was_not_understood(text, message):
    with pytest.raises(TimeParseError) as err:
        parse_time(text, NOW_BERLIN, BERLIN)
    assert message in str(err.value)
    assert str(err.value).startswith(f'Could not read "{text}" as a time')


def test_bad_timezone_and_naive_now():
    with pytest.raises(TimeParseError, match="Mars/Olympus"):
        parse_time("now", NOW_BERLIN, "Mars/Olympus")
    with pytest.raises(ValueError, match="aware"):
        parse_time("now", datetime(2026, 3, 27, 10), BERLIN)


# --- ranges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now..+8h", (utc(2026, 3, 27, 10), utc(2026, 3, 27, 18))),
        ("tomorrow 9:00..18:00", (local(BERLIN, 2026, 3, 28, 9), local(BERLIN, 2026, 3, 28, 18))),
        ("tomorrow 9:00..tomorrow 17:00", (utc(2026, 3, 28, 8), utc(2026, 3, 28, 16))),
        ("fri 18:00..mon 9:00", (utc(2026, 3, 27, 17), utc(2026, 3, 30, 7))),
        ("2026-12-01..2026-12-03", (utc(2026, 11, 30, 23), utc(2026, 12, 2, 23))),
        # Across the switch: +8h is absolute, "sun 6:00" is wall-clock.
        ("sat 22:00..+8h", (utc(2026, 3, 28, 21), utc(2026, 3, 29, 5))),
        ("sat 22:00..sun 6:00", (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))),
        ("sat 22:00 .. +1d", (utc(2026, 3, 28, 21), utc(2026, 3, 29, 20))),
        ("15:00..16:00", (utc(2026, 3, 27, 14), utc(2026, 3, 27, 15))),
        ("10:00..11:00", (utc(2026, 3, 28, 9), utc(2026, 3, 28, 10))),  # both tomorrow
    ],
)
def test_ranges(text, expected):
    assert parse_range(text, NOW_BERLIN, BERLIN) == expected


def test_range_in_new_york_end_is_on_the_start_day():
    start, end = parse_range("sun 1:00..9:00", NOW_NEW_YORK, NEW_YORK)
    assert (start, end) == (utc(2026, 3, 8, 6), utc(2026, 3, 8, 13))
    assert end - start == timedelta(hours=7)  # an hour is skipped that night


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tomorrow", "write FROM..TO"),
        ("..+8h", "the start is missing"),
        ("now..", "the end is missing"),
        ("tomorrow 22:00..06:00", 'before it starts (Sat 28 Mar 2026 22:00 CET); for an end on a '
                                  'later day, write e.g. "tomorrow 22:00..+8h"'),
        ("now..now", "before it starts"),
        ("tomorow..+8h", '"tomorow" is not a day or a time'),
        ("now..+8x", '"+8x" is not a duration'),
    ],
)  # fmt: skip
def test_range_errors(text, message):
    with pytest.raises(TimeParseError) as err:
        parse_range(text, NOW_BERLIN, BERLIN)
    assert message in str(err.value)


# --- durations --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("8h", timedelta(hours=8)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1w2d", timedelta(days=9)),
        ("120s", timedelta(minutes=2)),
        (" 12H ", timedelta(hours=12)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "0h0m", "-1h", "1.5h", "h", "8", "1x", "30m1h", "1 h"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match=f'"{text}" is not a duration'):
        parse_duration(text)
