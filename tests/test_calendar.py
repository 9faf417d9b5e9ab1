"""Calendar feeds over HTTP: RFC 5545 parsed back with icalendar, compared with the schedule."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import requests
from icalendar import Calendar

from bot.calendar import feed_token
from bot.domain.schedule import Override
from bot.oncall import team_schedule
from bot.store import schedules as schedule_store
from tests.conftest import SIGNING_SECRET, utc

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
HORIZON = NOW + timedelta(days=90)


def fetch(app_server, path: str) -> requests.Response:
    return requests.get(app_server.url + path, timeout=5)


def events(body: bytes) -> list[dict]:
    cal = Calendar.from_ical(body)
    assert str(cal["VERSION"]) == "2.0" and "atbat" in str(cal["PRODID"])
    found = []
    for ev in cal.walk("VEVENT"):
        start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
        assert start.utcoffset() == timedelta(0) and end.utcoffset() == timedelta(0)
        assert ev.to_ical().decode().count("Z\r\n") >= 3  # DTSTART, DTEND, DTSTAMP written in UTC
        found.append({"uid": str(ev["UID"]), "summary": str(ev["SUMMARY"]), "start": start,
                      "end": end, "stamp": ev.decoded("DTSTAMP"), "description": str(ev["DESCRIPTION"])})
    return found


def add_override(runtime) -> Override:
    override = Override(layer="primary", user="U0CAROL", start=utc(2026, 11, 12, 8),
                        end=utc(2026, 11, 13, 8), id="ov-feedtest")
    schedule_store.save_overrides(runtime.redis, "payments", [schedule_store.StoredOverride(
        override=override, created_by="U0MANAGER", created_at=NOW)])
    return override


def expected_shifts(runtime, team: str) -> list[tuple[str, str, datetime, datetime]]:
    """(layer, user, start, end) of the final schedule from the shift in progress to 90 days ahead."""
    sched = team_schedule(runtime.redis, runtime.config.teams[team], NOW)
    result = []
    for layer in sched.rotations:
        in_progress = sched.on_call(NOW)[sched.rotations.index(layer)][1]
        start = in_progress.start if in_progress else NOW
        result += [(s.layer, s.user, s.start, s.end) for s in sched.between(layer, start, HORIZON)]
    return result


def test_team_feed_matches_the_schedule_with_overrides(slack, app_server, runtime) -> None:
    add_override(runtime)
    text = slack.slash("calendar", user="U0ALICE", channel="C0PAYMENTS").json()["text"]
    url = re.search(r"https://atbat\.example\.org(/calendar/payments\.ics\?token=\w+)", text).group(1)
    response = fetch(app_server, url)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    got = events(response.content)

    assert sorted((e["summary"].split(" ")[3], e["description"].split()[2], e["start"], e["end"])
                  for e in got) == sorted(expected_shifts(runtime, "payments"))
    carol = [e for e in got if e["start"] == utc(2026, 11, 12, 8)]
    assert carol and carol[0]["summary"] == "On call: payments primary (U0CAROL)"
    assert carol[0]["description"] == "Slack user U0CAROL (override)"
    # the shift in progress keeps its real start; bob's week is cut in two by carol's day
    assert [(e["start"], e["end"]) for e in got if "U0ALICE" in e["description"]][:2] == [
        (utc(2026, 11, 2, 8), utc(2026, 11, 9, 8)), (utc(2026, 11, 23, 8), utc(2026, 11, 30, 8))]
    assert [(e["start"], e["end"]) for e in got if "U0BOB" in e["description"]][:2] == [
        (utc(2026, 11, 9, 8), utc(2026, 11, 12, 8)), (utc(2026, 11, 13, 8), utc(2026, 11, 16, 8))]
    assert all(e["stamp"] == NOW for e in got)
    assert len({e["uid"] for e in got}) == len(got)  # one UID per shift
    assert got[-1]["end"] <= HORIZON


def test_uids_are_stable_across_fetches_and_clock(app_server, runtime, clock) -> None:
    url = f"/calendar/payments.ics?token={feed_token(SIGNING_SECRET, 'team', 'payments')}"
    first = {e["uid"]: e["start"] for e in events(fetch(app_server, url).content)}
    clock.advance(hours=30)
    later = {e["uid"]: e["start"] for e in events(fetch(app_server, url).content)}
    common = first.keys() & later.keys()
    assert len(common) >= len(first) - 1
    assert all(first[uid] == later[uid] for uid in common)


def test_user_feed_has_the_users_shifts_in_every_team(app_server, runtime) -> None:
    add_override(runtime)
    token = feed_token(SIGNING_SECRET, "user", "U0CAROL")
    got = events(fetch(app_server, f"/calendar/user/U0CAROL.ics?token={token}").content)
    mine = [s for s in expected_shifts(runtime, "payments") if s[1] == "U0CAROL"]
    assert [(e["start"], e["end"]) for e in got] == [(s[2], s[3]) for s in mine]
    assert got[0]["summary"] == "On call: payments primary"  # the override
    assert got[0]["start"] == utc(2026, 11, 12, 8)


def test_wrong_or_missing_token_and_unknown_team_are_404(app_server) -> None:
    good = feed_token(SIGNING_SECRET, "team", "payments")
    assert fetch(app_server, f"/calendar/payments.ics?token={good}").status_code == 200
    for path in (
        "/calendar/payments.ics",
        "/calendar/payments.ics?token=" + "0" * 32,
        f"/calendar/search.ics?token={good}",  # another team's token
        f"/calendar/nope.ics?token={feed_token(SIGNING_SECRET, 'team', 'nope')}",  # valid token, no team
        f"/calendar/user/U0ALICE.ics?token={feed_token(SIGNING_SECRET, 'user', 'U0BOB')}",
        f"/calendar/user/U0ALICE.ics?token={feed_token(SIGNING_SECRET, 'team', 'U0ALICE')}",
        f"/calendar/payments.ics?token={feed_token('another-secret', 'team', 'payments')}",
    ):
        response = fetch(app_server, path)
        assert response.status_code == 404, path
        assert b"payments" not in response.content


def test_events_show_names_from_cached_profiles_and_ids_only_when_unknown(
        slack, app_server, runtime, run_jobs, workspace) -> None:
    add_override(runtime)
    url = f"/calendar/payments.ics?token={feed_token(SIGNING_SECRET, 'team', 'payments')}"
    first = events(fetch(app_server, url).content)
    carol = next(e for e in first if e["start"] == utc(2026, 11, 12, 8))
    assert carol["summary"] == "On call: payments primary (U0CAROL)"  # nothing cached yet
    run_jobs()  # the fetch asked for the missing names: one users.info per person
    assert sorted(c.args["user"] for c in workspace.calls_to("users.info")) == [
        "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"]
    again = events(fetch(app_server, url).content)
    carol = next(e for e in again if e["start"] == utc(2026, 11, 12, 8))
    assert carol["summary"] == "On call: payments primary (carol)"
    assert carol["description"] == "carol (Slack user U0CAROL) (override)"
    assert not any("(U0" in e["summary"] for e in again)
    assert run_jobs() == 0  # all known: nothing more to look up

    # Someone Slack does not know keeps their ID.
    schedule_store.save_overrides(runtime.redis, "search", [schedule_store.StoredOverride(
        override=Override(layer="primary", user="U0GONE", start=utc(2026, 11, 20, 8),
                          end=utc(2026, 11, 21, 8), id="ov-gone"),
        created_by="U0SMGR", created_at=NOW)])
    search_url = f"/calendar/search.ics?token={feed_token(SIGNING_SECRET, 'team', 'search')}"
    fetch(app_server, search_url)
    run_jobs()
    shown = events(fetch(app_server, search_url).content)
    assert any(e["summary"] == "On call: search primary (U0GONE)" for e in shown)
    assert any(e["summary"] == "On call: search primary (grace)" for e in shown)


def test_asking_for_the_links_looks_the_names_up_before_the_first_fetch(
        slack, app_server, runtime, run_jobs) -> None:
    text = slack.slash("calendar", user="U0FRANK", channel="C0SEARCH").json()["text"]
    run_jobs()
    url = re.search(r"https://atbat\.example\.org(/calendar/search\.ics\?token=\w+)", text).group(1)
    summaries = {e["summary"] for e in events(fetch(app_server, url).content)}
    assert summaries == {"On call: search primary (frank)", "On call: search primary (grace)"}
    token = feed_token(SIGNING_SECRET, "user", "U0FRANK")
    mine = events(fetch(app_server, f"/calendar/user/U0FRANK.ics?token={token}").content)
    assert mine[0]["summary"] == "On call: search primary"
    assert mine[0]["description"] == "frank (Slack user U0FRANK)"
