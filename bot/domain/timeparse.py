"""Reading TIME, FROM..TO and durations as people type them in Slack.

Times are read in the typing user's own timezone ``tz`` and returned as aware
UTC datetimes. Rules:

* ``now`` is ``now``.
* A day without a time means the start of that day, 00:00 local:
  ``today``, ``tomorrow``, ``yesterday``, ``2026-12-01``.
* A day with a time: ``tomorrow 9:00``, ``today 18:30``, ``2026-12-01 14:00``,
  ``2026-12-01T14:00`` (seconds allowed; an ISO time with an offset or ``Z``
  is taken as written, whatever ``tz`` is). The time may come first
  (``9:00 tomorrow``). Times of day: ``9:00``, ``09:00``, ``14:30``, ``9am``,
  ``9:30pm``, ``12am`` (midnight), ``12pm`` (noon).
* A weekday, full or abbreviated (``friday``, ``fri``, ``fri 14:00``): the
  first such day-and-time strictly after now. So ``fri 14:00`` typed on a
  Friday morning is today, typed at 15:00 it is next week; ``fri`` alone
  (00:00) typed on a Friday is next Friday (use ``today`` for today).
* A bare time (``14:00``): today if still ahead, otherwise tomorrow.
* Relative: ``+90m``, ``+2h``, ``+3d``, ``+1w``, combined ``+1d12h``. Days and
  weeks move the calendar (same wall-clock time, even across a DST switch);
  hours and minutes are absolute time.
* A local time that does not exist (spring-forward gap) moves to the end of
  the gap; an ambiguous one takes its first occurrence (as in schedules).

Ranges ``FROM..TO`` (``parse_range``): FROM is a TIME as above. TO is either
a TIME, a relative ``+8h`` counted from FROM, a bare time of day meaning on
FROM's day (``tomorrow 9:00..18:00``), or a weekday meaning the first one after
FROM (``fri 18:00..mon 9:00``). TO must be after FROM.

Durations (``parse_duration``): a positive whole number and a unit, ``w`` ``d``
``h`` ``m`` ``s``, units combinable largest first: ``30m``, ``8h``, ``1w``,
``1h30m``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.schedule import localize, zone

DAY_HINT = "try today, tomorrow, a weekday, 2026-12-01 or +3d"
TIME_HINT = "try 9:00, 14:30 or 9pm"
ANY_HINT = "try now, today, tomorrow 9:00, fri 14:00, 14:00, 2026-12-01 or +3d"
DURATION_HINT = "use a whole number and a unit, e.g. 30m, 8h, 1d, 1w or 1h30m"
RANGE_HINT = "write FROM..TO, e.g. now..+8h, tomorrow 9:00..18:00 or 2026-12-01..2026-12-03"

_WEEKDAYS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip
_RELATIVE_DAYS = {"yesterday": -1, "today": 0, "tomorrow": 1}
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
          "m": timedelta(minutes=1), "s": timedelta(seconds=1)}  # fmt: skip
_DURATION_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_CLOCK_RE = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm)?")
_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[tT ].+")


class TimeParseError(ValueError):
    """A TIME the user typed could not be read; ``str(err)`` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- durations ------------------------------------------------------------


def _duration_parts(text: str) -> dict[str, int] | None:
    """{'w': 1, 'h': 2} for '1w2h', or None if it is not a duration."""
    m = _DURATION_RE.fullmatch(text.strip().lower())
    if m is None or not any(m.groups()):
        return None
    return {u: int(v) for u, v in zip("wdhms", m.groups(), strict=True) if v is not None}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``8h``, ``1d``, ``1w``, ``1h30m`` ... as a positive timedelta."""
    parts = _duration_parts(text)
    if parts is None:
        raise ValueError(f'"{text}" is not a duration: {DURATION_HINT}')
    total = sum((_UNITS[u] * n for u, n in parts.items()), timedelta(0))
    if total <= timedelta(0):
        raise ValueError(f'"{text}" is not a duration: it must be longer than zero')
    return total


# --- pieces of a TIME -----------------------------------------------------


def _clock(word: str) -> time | None:
    """A time of day typed as 9:00, 14:30, 9am, 9:30pm; None if it is not one."""
    m = _CLOCK_RE.fullmatch(word.lower())
    if m is None:
        return None
    hour_s, minute_s, second_s, meridiem = m.groups()
    if minute_s is None and meridiem is None:
        return None  # a lone "9" is too ambiguous to guess
    hour, minute, second = int(hour_s), int(minute_s or 0), int(second_s or 0)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


@dataclass(frozen=True)
class _Day:
    """A day the user named: a fixed date, or a weekday to resolve later."""

    fixed: date | None = None
    weekday: int | None = None


def _day(word: str, today: date, text: str) -> _Day | None:
    w = word.lower()
    if w in _RELATIVE_DAYS:
        return _Day(fixed=today + timedelta(days=_RELATIVE_DAYS[w]))
    if w in _WEEKDAYS:
        return _Day(weekday=_WEEKDAYS[w])
    if _ISO_DATE_RE.fullmatch(w):
        try:
            return _Day(fixed=date.fromisoformat(w))
        except ValueError:
            _fail(text, f'"{word}" is not a valid date ({DAY_HINT})')
    return None


def _fail(text: str, reason: str) -> None:
    raise TimeParseError(f'Could not read "{text}" as a time: {reason}.')


def _local_now(now: datetime, z: ZoneInfo) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(z)


def _relative(word: str, base: datetime, z: ZoneInfo, text: str) -> datetime:
    """``+3d`` etc. from ``base``: days and weeks on the calendar, h/m/s absolute."""
    parts = _duration_parts(word[1:])
    if parts is None or not any(parts.values()):
        _fail(text, f'"{word}" is not a duration (try +30m, +2h, +3d or +1w)')
    assert parts is not None
    days = 7 * parts.get("w", 0) + parts.get("d", 0)
    rest = sum((_UNITS[u] * parts.get(u, 0) for u in "hms"), timedelta(0))
    result = base.astimezone(UTC)
    if days:
        wall = base.astimezone(z).replace(tzinfo=None) + timedelta(days=days)
        result = localize(wall, z)
    return result + rest


def _on_weekday(weekday: int, at: time, after: datetime, z: ZoneInfo) -> datetime:
    """The first ``weekday`` at ``at`` (local) strictly after ``after``."""
    start = after.astimezone(z).date()
    for offset in range(8):
        day = start + timedelta(days=offset)
        if day.weekday() == weekday:
            candidate = localize(datetime.combine(day, at), z)
            if candidate > after:
                return candidate
    raise AssertionError("a weekday recurs within 8 days")  # pragma: no cover


def _resolve(day: _Day, at: time, after: datetime, z: ZoneInfo) -> datetime:
    if day.fixed is not None:
        return localize(datetime.combine(day.fixed, at), z)
    assert day.weekday is not None
    return _on_weekday(day.weekday, at, after, z)


def _iso_datetime(word: str, z: ZoneInfo, text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(word)
    except ValueError:
        _fail(text, f'"{word}" is not a valid date and time (try 2026-12-01T14:00)')
        raise  # pragma: no cover - _fail always raises
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return localize(parsed, z)


def _parse(text: str, now: datetime, z: ZoneInfo, anchor: datetime | None = None) -> datetime:
    """Read one TIME. ``anchor`` (for the end of a range) replaces now for
    weekdays, bare times of day and relative times."""
    words = text.split()
    if not words:
        _fail(text, f"it is empty ({ANY_HINT})")
    base = now if anchor is None else anchor
    # today/tomorrow always count from now; "tomorrow 9:00..tomorrow 17:00" is one day.
    today = now.astimezone(z).date()
    if len(words) == 1:
        return _single(words[0], now, base, today, z, text, anchor is not None)
    if len(words) > 2:
        _fail(text, f"expected a day and a time of day, got {len(words)} words ({ANY_HINT})")
    first, second = words
    day = _day(first, today, text)
    if day is not None:
        at = _clock(second)
        if at is None:
            _fail(
                text,
                f'understood "{first}" as a day, but "{second}" is not a time of day ({TIME_HINT})',
            )
        assert at is not None
        return _resolve(day, at, base, z)
    at = _clock(first)
    if at is None:
        _fail(text, f'"{first}" is not a day ({DAY_HINT})')
    assert at is not None
    day = _day(second, today, text)
    if day is None:
        _fail(text, f'understood "{first}" as a time of day, but "{second}" is not a day ({DAY_HINT})')
    assert day is not None
    return _resolve(day, at, base, z)


def _single(
    word: str, now: datetime, base: datetime, today: date, z: ZoneInfo, text: str, on_base_day: bool
) -> datetime:
    lowered = word.lower()
    if lowered == "now":
        return now.astimezone(UTC)
    if word.startswith("+"):
        return _relative(word, base, z, text)
    if _ISO_DATETIME_RE.fullmatch(word):
        return _iso_datetime(word, z, text)
    day = _day(word, today, text)
    if day is not None:
        return _resolve(day, time(0), base, z)
    at = _clock(word)
    if at is not None:
        base_day = base.astimezone(z).date()
        candidate = localize(datetime.combine(base_day, at), z)
        if on_base_day or candidate > base:
            return candidate
        return localize(datetime.combine(base_day + timedelta(days=1), at), z)
    _fail(text, f'"{word}" is not a day or a time ({ANY_HINT})')
    raise AssertionError  # pragma: no cover - _fail always raises


def _zone(tz: str) -> ZoneInfo:
    try:
        return zone(tz)
    except ValueError as exc:
        raise TimeParseError(f"Could not read times in the timezone {tz!r}: it is unknown.") from exc


# --- public API -----------------------------------------------------------


def parse_time(text: str, now: datetime, tz: str) -> datetime:
    """Read TIME typed by a user in timezone ``tz``; aware UTC result.

    Raises TimeParseError whose message says what was and was not understood.
    """
    z = _zone(tz)
    _local_now(now, z)
    return _parse(text.strip(), now, z)


def parse_range(text: str, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """Read ``FROM..TO`` (see the module docstring); both aware UTC, TO > FROM."""
    z = _zone(tz)
    _local_now(now, z)
    if ".." not in text:
        raise TimeParseError(f'Could not read "{text}" as a time range: {RANGE_HINT}.')
    first, second = (part.strip() for part in text.split("..", 1))
    if not first or not second:
        missing = "start" if not first else "end"
        raise TimeParseError(
            f'Could not read "{text}" as a time range: the {missing} is missing ({RANGE_HINT}).'
        )
    start = _parse(first, now, z)
    end = _parse(second, now, z, anchor=start)
    if end <= start:
        raise TimeParseError(
            f'Could not read "{text}" as a time range: it ends ({_show(end, z)}) '
            f"before it starts ({_show(start, z)}); for an end on a later day, "
            f'write e.g. "{first}..+8h".'
        )
    return start, end


def _show(t: datetime, z: ZoneInfo) -> str:
    return t.astimezone(z).strftime("%a %d %b %Y %H:%M %Z")
