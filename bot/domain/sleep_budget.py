"""Sleep budget: after a rough night, offer the on-call person cover for the rest of the morning.

Pure Python, the clock is passed in. A night is the team's sleep hours on the
person's own clock; the offer is due when their night ends (07:00 by default)
if it held at least `sleep_budget` pages, and covers until noon their time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.history import Event, SleepHours, in_sleep_hours

OFFER_WINDOW = timedelta(minutes=30)  # the tick may run a little after the night ends
MORNING_ENDS = time(12, 0)


def offer_due(now: datetime, tz: str, hours: SleepHours) -> bool:
    """Whether `now` is within the half hour after the night ends on the person's clock."""
    local = now.astimezone(ZoneInfo(tz))
    end = datetime.combine(local.date(), hours.end, ZoneInfo(tz))
    return end <= local < end + OFFER_WINDOW


def night_pages(pages: Iterable[Event], user: str, tz: str, hours: SleepHours,
                now: datetime) -> int:
    """Sleep-hour pages to `user` in the night that just ended (the last 24 h before now)."""
    return sum(1 for p in pages if p.fields.get("user") == user
               and now - timedelta(hours=24) <= p.at < now
               and in_sleep_hours(p.at, p.fields.get("tz") or tz, hours))


def rest_of_morning(now: datetime, tz: str) -> tuple[datetime, datetime] | None:
    """[now, noon) on the person's clock, or None when the morning is over."""
    zone = ZoneInfo(tz)
    noon = datetime.combine(now.astimezone(zone).date(), MORNING_ENDS, zone)
    return (now, noon) if now < noon else None
