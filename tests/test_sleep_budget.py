"""Sleep budget: after a night with >= sleep_budget sleep-hour pages, one offer at 07:00 their time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.history import Event, SleepHours
from bot.domain.sleep_budget import night_pages, offer_due, rest_of_morning
from bot.services.sleep_budget import offer_cover_after_rough_nights
from bot.store import history
from tests.test_alerts_e2e import text_of


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def page(at: datetime, user: str = "U0ALICE", tz: str = "Europe/Berlin") -> Event:
    return Event("page", at, {"user": user, "tz": tz, "rule": "r", "group": "g", "occ": "1"})


@pytest.mark.parametrize(("now", "tz", "due"), [
    (utc(2026, 11, 4, 6, 0), "Europe/Berlin", True),       # 07:00 CET
    (utc(2026, 11, 4, 6, 29), "Europe/Berlin", True),
    (utc(2026, 11, 4, 6, 30), "Europe/Berlin", False),
    (utc(2026, 11, 4, 5, 59), "Europe/Berlin", False),
    (utc(2026, 11, 4, 12, 0), "America/New_York", True),   # 07:00 EST
    (utc(2026, 11, 3, 22, 10), "Asia/Tokyo", True),        # 07:10 JST
    (utc(2026, 10, 24, 5, 0), "Europe/Berlin", True),      # 07:00 CEST, before the switch
    (utc(2026, 10, 25, 6, 0), "Europe/Berlin", True),      # 07:00 CET, the morning after it
])
def test_the_offer_is_due_when_the_night_ends_on_their_clock(now: datetime, tz: str,
                                                              due: bool) -> None:
    assert offer_due(now, tz, SleepHours()) is due


def test_night_pages_count_only_that_persons_night() -> None:
    pages = [page(utc(2026, 11, 3, 22, 30)), page(utc(2026, 11, 4, 2, 0)),
             page(utc(2026, 11, 3, 15, 0)),  # 16:00: awake
             page(utc(2026, 11, 4, 1, 0), user="U0BOB")]
    assert night_pages(pages, "U0ALICE", "Europe/Berlin", SleepHours(), utc(2026, 11, 4, 6)) == 2
    assert rest_of_morning(utc(2026, 11, 4, 6), "Europe/Berlin") == (utc(2026, 11, 4, 6),
                                                                    utc(2026, 11, 4, 11))
    assert rest_of_morning(utc(2026, 11, 4, 11), "Europe/Berlin") is None


def offers(workspace, user: str) -> list[dict]:  # noqa: ANN001
    return [m for m in workspace.dms(user) if "Rough night" in text_of(m)]


def test_a_rough_night_gets_one_offer_and_one_click_asks_the_team(  # noqa: ANN001
        runtime, run_jobs, workspace, clock, slack) -> None:
    for at in (utc(2026, 11, 3, 22, 30), utc(2026, 11, 4, 2, 0)):
        history.append(runtime.redis, "payments", page(at))
    clock.set(utc(2026, 11, 4, 5, 50))  # 06:50 Berlin: still night
    offer_cover_after_rough_nights(runtime, clock())
    clock.set(utc(2026, 11, 4, 6, 0, 30))
    offer_cover_after_rough_nights(runtime, clock())
    offer_cover_after_rough_nights(runtime, clock())
    run_jobs()
    [offer] = offers(workspace, "U0ALICE")
    assert "2 pages in your sleep hours (payments)" in text_of(offer)
    slack.click(offer, "cover_rest_of_morning", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    [request] = [m for m in workspace.messages("C0PAYMENTS") if "needs cover" in m["text"]]
    assert "after a rough night" in request["text"]
    assert "cover_take" in str(request["blocks"])


def test_one_sleep_page_is_within_budget(runtime, run_jobs, workspace, clock) -> None:  # noqa: ANN001
    history.append(runtime.redis, "payments", page(utc(2026, 11, 4, 2, 0)))
    clock.set(utc(2026, 11, 4, 6, 5))
    offer_cover_after_rough_nights(runtime, clock())
    run_jobs()
    assert offers(workspace, "U0ALICE") == []
