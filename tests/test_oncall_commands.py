"""`/oncall who|next|schedule|me|calendar` end to end: signed slash commands in, ack bodies out.

The fixture clock is Wed 2026-11-04 10:00 UTC: payments primary is alice (since
Mon 09:00 Berlin), secondary dave (since Mon 09:00 New York), search is grace.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import parse_config
from bot.domain.schedule import Override
from bot.oncall import team_schedule
from bot.slack.format import date_token
from bot.store import schedules as schedule_store
from bot.store import users as user_store
from tests.conftest import utc

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)

# Office hours only, plus a layer nobody staffs yet: the "nobody on call" cases. Added to the
# shared fixture config here (not in atbat.yml, whose team list other tests rely on).
FRONTDESK: dict[str, Any] = {
    "channel": "C0FRONTDESK",
    "managers": ["U0MANAGER"],
    "rotations": [
        {"name": "daytime", "members": ["U0BOB"], "start": "2026-11-02T09:00", "shift": "1d",
         "active": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}},
        {"name": "backup", "members": [], "start": "2026-11-02T09:00", "shift": "1w"},
    ],
}


def add_frontdesk(runtime, **extra: Any) -> None:
    """Re-read the fixture config with the frontdesk team added (and `extra` keys for it)."""
    raw = yaml.safe_load(Path(runtime.config.path).read_text())
    raw["teams"]["frontdesk"] = {**FRONTDESK, **extra}
    runtime.config = parse_config(raw, runtime.config.path)


@pytest.fixture(autouse=True)
def frontdesk(runtime) -> None:
    add_frontdesk(runtime)


def ask(slack, text: str, user: str = "U0ALICE", channel: str = "C0PAYMENTS") -> str:
    response = slack.slash(text, user=user, channel=channel)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    if "blocks" not in body:
        return body["text"]
    # The blocks say what the text says (the text, a notification fallback, may be cut short).
    shown = "\n".join(b["text"]["text"] for b in body["blocks"])
    assert all(len(b["text"]["text"]) <= 3000 for b in body["blocks"])
    assert shown.startswith(body["text"].rstrip("…"))
    return shown


def title_instant(text: str) -> datetime:
    """The instant of `On call at <!date^UNIX^...>` in a who reply."""
    m = re.search(r"On call at <!date\^(\d+)\^", text)
    assert m, text
    return datetime.fromtimestamp(int(m.group(1)), UTC)


def add_override(runtime, layer: str, user: str, start: datetime, end: datetime,
                 team: str = "payments") -> Override:
    override = Override(layer=layer, user=user, start=start, end=end,
                        id=schedule_store.new_override_id())
    schedule_store.save_overrides(runtime.redis, team, [schedule_store.StoredOverride(
        override=override, created_by="U0MANAGER", created_at=NOW)])
    return override


# ---------------------------------------------------------------- who


def test_who_in_a_team_channel_shows_every_layer_since_until_and_next(slack) -> None:
    text = ask(slack, "who")
    assert text.startswith("On call now:")
    assert "*payments*" in text and "*search*" not in text  # the channel's team only
    primary = next(line for line in text.splitlines() if "*primary*" in line)
    assert "<@U0ALICE>" in primary
    assert f"since {date_token(utc(2026, 11, 2, 8))}" in primary  # Mon 09:00 Berlin
    assert f"until {date_token(utc(2026, 11, 9, 8))}" in primary
    assert primary.endswith("next <@U0BOB>")
    secondary = next(line for line in text.splitlines() if "*secondary*" in line)
    assert "<@U0DAVE>" in secondary
    assert f"since {date_token(utc(2026, 11, 2, 14))}" in secondary  # Mon 09:00 New York (EST)
    assert secondary.endswith("next <@U0ERIN>")
    assert ask(slack, "") == text  # bare /oncall is who


def test_who_elsewhere_summarises_every_team(slack) -> None:
    text = ask(slack, "who", user="U0OUTSIDER", channel="C0GENERAL")
    for team in ("payments", "search", "frontdesk"):
        assert f"*{team}*" in text
    assert "<@U0GRACE>" in text  # search: grace's night shift, Tue 20:00 to Wed 08:00 New York
    assert f"until {date_token(utc(2026, 11, 4, 13))}" in text


def test_who_names_a_team_anywhere(slack) -> None:
    text = ask(slack, "who search", channel="C0PAYMENTS")
    assert "*search*" in text and "*payments*" not in text
    assert "next <@U0FRANK>" in text


def test_who_at_time_is_read_in_the_askers_timezone(slack, workspace) -> None:
    # alice (Berlin): Thu 09:00 CET = 08:00 UTC
    text = ask(slack, "who at tomorrow 9:00", user="U0ALICE")
    assert title_instant(text) == utc(2026, 11, 5, 8)
    assert "your timezone (Europe/Berlin)" in text
    # dave (New York): Thu 09:00 EST = 14:00 UTC
    text = ask(slack, "who payments at tomorrow 9:00", user="U0DAVE", channel="C0GENERAL")
    assert title_instant(text) == utc(2026, 11, 5, 14)
    assert "America/New_York" in text
    # grace (Tokyo): it is already Wed 19:00 there; tomorrow 9:00 JST = Thu 00:00 UTC
    text = ask(slack, "who search at tomorrow 9:00", user="U0GRACE", channel="C0SEARCH")
    assert title_instant(text) == utc(2026, 11, 5, 0)
    assert "*primary*: <@U0FRANK>" in text  # frank's day shift, 19:00 to 07:00 New York
    assert "next <@U0GRACE>" in text
    # other forms: weekday, ISO, relative
    assert title_instant(ask(slack, "who at mon 9:00")) == utc(2026, 11, 9, 8)
    assert title_instant(ask(slack, "who at 2026-11-20T12:00")) == utc(2026, 11, 20, 11)
    assert title_instant(ask(slack, "who at +3d")) == NOW + timedelta(days=3)
    at_monday = ask(slack, "who at mon 9:00")
    assert "*primary*: <@U0BOB>" in at_monday  # the handoff happened at that instant


def test_user_timezone_is_cached_after_one_lookup(slack, workspace, runtime) -> None:
    ask(slack, "who at tomorrow 9:00", user="U0DAVE")
    ask(slack, "who at today 18:00", user="U0DAVE")
    assert len([c for c in workspace.calls_to("users.info") if c.args.get("user") == "U0DAVE"]) == 1
    profile = user_store.cached_profile(runtime.redis, "U0DAVE")
    assert profile is not None and profile.tz == "America/New_York"
    ttl = runtime.redis.ttl("atbat:user:U0DAVE")
    assert 23 * 3600 < ttl <= 24 * 3600


def test_when_slack_cannot_tell_the_timezone_the_team_zone_is_used_and_said(slack, workspace) -> None:
    workspace.fail_next("users.info", status=500)
    text = ask(slack, "who at tomorrow 9:00", user="U0DAVE", channel="C0PAYMENTS")
    assert title_instant(text) == utc(2026, 11, 5, 8)  # 09:00 Berlin, payments' timezone
    assert "did not tell your timezone" in text and "Europe/Berlin" in text


def test_unknown_team_lists_the_known_ones(slack) -> None:
    text = ask(slack, "who nope")
    assert 'Unknown team "nope". Known teams: frontdesk, payments, search.' in text
    assert "Usage: `/oncall who [team] [at TIME]`" in text
    assert "Known teams: frontdesk, payments, search." in ask(slack, "next nope 3")


def test_a_layer_without_members_or_outside_its_hours_says_nobody(slack, clock) -> None:
    text = ask(slack, "who frontdesk")
    assert "*daytime*: <@U0BOB>" in text
    assert "*backup*: :warning: nobody — this layer has no members" in text
    assert "Nobody is on call" not in text
    clock.set(utc(2026, 11, 4, 18))  # 19:00 Berlin: after office hours
    text = ask(slack, "who frontdesk")
    assert "*daytime*: :warning: nobody on call (outside its active hours)" in text
    assert f"next <@U0BOB> from {date_token(utc(2026, 11, 5, 8))}" in text
    assert ":warning: Nobody is on call for frontdesk at that time." in text
    assert "nobody scheduled" in ask(slack, "next frontdesk 2")


def test_a_bad_time_echoes_what_was_understood(slack) -> None:
    text = ask(slack, "who at blursday 9:00")
    assert text.startswith('Could not read "blursday 9:00" as a time')
    assert "Usage: `/oncall who [team] [at TIME]`" in text
    assert "Say when after `at`" in ask(slack, "who at")


# ---------------------------------------------------------------- next, schedule, me


def shift_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• <!date")]


def test_next_lists_n_shifts_per_layer_as_the_schedule_says(slack, runtime) -> None:
    text = ask(slack, "next payments 3", channel="C0GENERAL")
    sched = team_schedule(runtime.redis, runtime.config.teams["payments"], NOW)
    expected = []
    for layer in sched.rotations:
        for s in sched.next_shifts(layer, NOW, 3):
            expected.append(f"• {date_token(s.start)} → {date_token(s.end)} <@{s.user}>")
    assert shift_lines(text) == expected  # the layer is the heading, not repeated per shift
    assert text.splitlines()[1:3] == ["_primary_", shift_lines(text)[0]]
    assert [line.split("<@")[1][:6] for line in expected] == ["U0ALIC", "U0BOB>", "U0CARO",
                                                               "U0DAVE", "U0ERIN", "U0DAVE"]
    assert len(shift_lines(ask(slack, "next"))) == 2 * 5  # defaults: channel team, 5 shifts
    assert len(shift_lines(ask(slack, "next 50"))) == 2 * 50
    assert "from 1 to 50" in ask(slack, "next 51")
    assert "from 1 to 50" in ask(slack, "next 0")


def test_schedule_merges_shifts_and_applies_overrides(slack, runtime) -> None:
    # bob covers Thu-Fri of alice's week; carol takes her own shift's first day twice over
    add_override(runtime, "primary", "U0BOB", utc(2026, 11, 5, 8), utc(2026, 11, 7, 8))
    add_override(runtime, "primary", "U0BOB", utc(2026, 11, 7, 8), utc(2026, 11, 9, 8))
    text = ask(slack, "schedule payments 14")
    lines = shift_lines(text)
    primary = lines[: len(text.split("_secondary_")[0].splitlines()) - 2]
    # bob's two overrides and his own week touch: one merged shift from Thu to Mon 16th
    assert primary == [
        f"• {date_token(utc(2026, 11, 2, 8))} → {date_token(utc(2026, 11, 5, 8))} <@U0ALICE>",
        f"• {date_token(utc(2026, 11, 5, 8))} → {date_token(utc(2026, 11, 16, 8))} <@U0BOB>",
        f"• {date_token(utc(2026, 11, 16, 8))} → {date_token(NOW + timedelta(days=14))} "
        "<@U0CAROL>",
    ]
    sched = team_schedule(runtime.redis, runtime.config.teams["payments"], NOW)
    secondary = sched.between(sched.layer("secondary"), NOW, NOW + timedelta(days=14))
    assert len(lines) - len(primary) == len(secondary)
    assert "from 1 to 90" in ask(slack, "schedule 91")
    assert len(shift_lines(ask(slack, "schedule search 1"))) == 3  # 12h shifts over one day


def test_me_tells_whether_i_am_on_call_and_my_next_shifts(slack, runtime) -> None:
    text = ask(slack, "me", user="U0ALICE", channel="C0GENERAL")
    assert text.startswith("You are on call now:")
    assert f"*payments* primary until {date_token(utc(2026, 11, 9, 8))}" in text
    upcoming = shift_lines(text)
    assert upcoming[0] == (f"• {date_token(utc(2026, 11, 23, 8))} → {date_token(utc(2026, 11, 30, 8))} "
                           "· *payments* primary")  # my own shifts: no @me on each
    assert len(upcoming) == 4  # every third week within 90 days
    add_override(runtime, "secondary", "U0ALICE", utc(2026, 11, 10, 14), utc(2026, 11, 11, 14))
    text = ask(slack, "me", user="U0ALICE")
    assert "· *payments* secondary (override)" in shift_lines(text)[0]
    assert "<@U0ALICE>" not in text

    text = ask(slack, "me", user="U0GRACE", channel="C0SEARCH")
    assert "*search* primary until" in text  # grace's night shift (Tokyo user, New York rotation)
    assert len(shift_lines(text)) == 10  # capped

    text = ask(slack, "me", user="U0OUTSIDER", channel="C0GENERAL")
    assert "You are not on call right now." in text and "No shifts for <@U0OUTSIDER>" in text


def test_calendar_command_gives_the_users_and_the_teams_feed(slack) -> None:
    text = ask(slack, "calendar")
    # Clickable links: <url|label> in mrkdwn.
    assert re.search(r"• <https://atbat\.example\.org/calendar/user/U0ALICE\.ics\?token=[0-9a-f]{32}"
                     r"\|your shifts, every team>", text)
    assert re.search(r"• <https://atbat\.example\.org/calendar/payments\.ics\?token=[0-9a-f]{32}"
                     r"\|team payments, every layer>", text)
    assert "search.ics" not in text
    assert "/calendar/search.ics?token=" in ask(slack, "calendar search")


def test_help_starts_with_the_everyday_commands(slack) -> None:
    text = ask(slack, "help")
    headings = [line for line in text.splitlines() if line.startswith("*") and line.endswith("*")]
    assert headings[:2] == ["*On call*", "*Swaps and overrides*"]
    assert headings.index("*Incidents*") > headings.index("*Alerts*")
    assert headings.index("*Remediation*") > headings.index("*Incidents*")
    on_call = text.split("*On call*\n")[1].splitlines()
    assert [line.split("`")[1].split()[1] for line in on_call[:3]] == ["who", "next", "me"]
