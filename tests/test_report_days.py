"""Reports from stored day tallies give exactly the figures of reading every event."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.domain.history import Event, Rule
from bot.services.reports import build_report, build_report_raw, roll_up_recent
from bot.store import history as store
from tests.conftest import utc

DISK = Rule("payments", "DiskFull", "http://prom/graph?g0.expr=disk")
CPU = Rule("payments", "HighCPU")
PEOPLE = (("U0ALICE", "Europe/Berlin"), ("U0DAVE", "America/New_York"), ("U0CAROL", "Asia/Tokyo"))
ANSWERS = ("actionable", "noise", "morning")


def seed(r, end: datetime) -> None:  # noqa: ANN001
    """A page every 97 minutes for 100 days before `end` (across Berlin's and New York's
    switch back from daylight saving time), acks, resolves, and answers changed days later."""
    for rule in (DISK, CPU):
        store.remember_rule(r, rule)
    at, i = end - timedelta(days=100), 0
    while at < end:
        user, tz = PEOPLE[i % 3]
        rule = (DISK, CPU)[i % 7 == 0]
        group = f"g{i}"
        store.append(r, "payments", Event("page", at, {"user": user, "tz": tz, "rule": rule.ident,
                                                        "group": group, "occ": "1"}))
        store.append(r, "payments", Event("ack", at + timedelta(seconds=30 + i % 11), {
            "user": user if i % 5 else "source", "tta": str(30 + i % 11), "rule": rule.ident}))
        if i % 2:
            store.append(r, "payments", Event("resolve", at + timedelta(minutes=20), {
                "user": "source", "ttr": str(1200 + i % 13), "rule": rule.ident}))
        if i % 4 == 0:
            for later, answer in ((timedelta(hours=1), ANSWERS[i % 3]),
                                  (timedelta(days=1, hours=3), ANSWERS[(i + 1) % 3])):
                store.append(r, "payments", Event("feedback", at + later, {
                    "user": user, "group": group, "occ": "1", "rule": rule.ident,
                    "answer": answer}))
        at += timedelta(minutes=97)
        i += 1


def day_keys(r) -> list[bytes]:  # noqa: ANN001
    return sorted(r.scan_iter("atbat:history-day:payments:*"))


@pytest.mark.parametrize("days", [7, 30, 45])
def test_day_tallies_give_the_figures_of_the_raw_streams(runtime, days: int) -> None:
    team = runtime.config.teams["payments"]
    now = utc(2026, 11, 4, 10, 0)
    seed(runtime.redis, now)
    raw = build_report_raw(runtime, team, days, now)
    assert raw.pages > 0 and raw.sleep_pages > 0 and raw.feedback
    assert build_report(runtime, team, days, now) == raw  # tallies missing: made and stored
    assert len(day_keys(runtime.redis)) >= 2 * days - 3
    assert build_report(runtime, team, days, now) == raw  # from the stored tallies


def test_lost_tallies_are_made_again_and_later_instants_still_match(runtime) -> None:
    team = runtime.config.teams["payments"]
    end = utc(2026, 11, 4, 10, 0)
    seed(runtime.redis, end)
    build_report(runtime, team, 30, end - timedelta(days=5))
    stored = day_keys(runtime.redis)
    runtime.redis.delete(*stored[::3])  # Redis lost some of them
    for now in (end - timedelta(days=5), end - timedelta(days=3, hours=7, minutes=13), end):
        for days in (7, 30):
            assert build_report(runtime, team, days, now) == build_report_raw(runtime, team, days,
                                                                              now)
    assert all(runtime.redis.ttl(k) > 300 * 86400 for k in day_keys(runtime.redis))


def test_the_hourly_check_tallies_the_last_days_and_not_today(runtime) -> None:
    team = runtime.config.teams["payments"]
    now = utc(2026, 11, 4, 10, 0)
    seed(runtime.redis, now)
    roll_up_recent(runtime, team, now)
    days = [k.decode().rsplit(":", 1)[1] for k in day_keys(runtime.redis)]
    assert days == ["2026-11-02", "2026-11-03"]  # whole Berlin days of the last 3 days, not today


def test_hours_on_call_follow_the_recorded_handoffs_not_todays_schedule(runtime, clock) -> None:
    from bot.domain.schedule import Override
    from bot.services.handoffs import check_handoffs
    from bot.store import schedules

    team = runtime.config.teams["payments"]
    clock.set(utc(2026, 11, 9, 8, 0, 30))  # Monday 09:00:30 Berlin: Bob takes over from Alice
    check_handoffs(runtime, clock())
    check_handoffs(runtime, clock())  # seen twice, recorded once
    [shift] = [e for e in store.read(runtime.redis, "payments", "shift", utc(2026, 11, 1),
                                     utc(2026, 12, 1)) if e.fields["layer"] == "primary"]
    assert shift.fields["user"] == "U0BOB"
    # Afterwards the schedule is changed for that past day (Carol instead of Bob): the report
    # still says what happened. Before the recording began, the schedule is all there is.
    schedules.save_overrides(runtime.redis, "payments", [schedules.StoredOverride(
        override=Override(layer="primary", user="U0CAROL", start=utc(2026, 11, 9, 8),
                          end=utc(2026, 11, 10, 8), id="ov-after-the-fact"),
        created_by="U0MANAGER", created_at=clock())])
    now = utc(2026, 11, 10, 10, 0)
    rows = {p.user: p for p in build_report(runtime, team, 7, now).people}
    assert rows["U0BOB"].hours == pytest.approx(26.0)  # Mon 08:00 UTC to Tue 10:00 UTC
    assert "U0CAROL" not in rows  # today's schedule would give her Monday
    assert rows["U0ALICE"].hours == pytest.approx(7 * 24 - 26.0)  # the schedule, before Monday
