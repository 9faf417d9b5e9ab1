"""Rotation changes from Slack (preview, Confirm / Cancel) and from the config file, end to end."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.config import parse_config
from bot.oncall import team_schedule
from bot.periodic import run_checks
from bot.sandbox.page import run_slash
from bot.services import rotations as announce
from bot.slack.format import date_token
from bot.store import audit
from bot.store.schedules import effective_rotations
from bot.wiring import CHECKS
from tests.conftest import utc

PAY = "C0PAYMENTS"


def shown(response) -> dict[str, Any]:
    body = response.json()
    return {"ts": "1700000000.000001", "is_ephemeral": True, "text": body["text"],
            "blocks": body.get("blocks", [])}


def primary(runtime):
    team = runtime.config.teams["payments"]
    return effective_rotations(runtime.redis, "payments", team.rotations)[0]


def who(runtime, at: datetime, layer: str = "primary") -> str:
    sched = team_schedule(runtime.redis, runtime.config.teams["payments"])
    return next(s for r, s in sched.on_call(at) if r.name == layer).user


def test_rotation_shows_layers_to_anyone(slack) -> None:
    text = slack.slash("rotation payments", user="U0OUTSIDER", channel="C0GENERAL").json()["text"]
    assert "*primary*" in text and "*secondary*" in text
    assert "1. <@U0ALICE>, 2. <@U0BOB>, 3. <@U0CAROL>" in text


def test_non_manager_change_is_refused(slack, runtime) -> None:
    before = primary(runtime)
    text = slack.slash(f"rotation add {slack.mention('U0DAVE')}", user="U0ALICE", channel=PAY).json()["text"]
    assert "Only managers of payments (<@U0MANAGER>)" in text
    assert primary(runtime) == before


def test_preview_cancel_changes_nothing(slack, runtime, run_jobs, workspace) -> None:
    before = primary(runtime)
    preview = slack.slash(f"rotation add {slack.mention('U0DAVE')} at 2", user="U0MANAGER", channel=PAY)
    message = shown(preview)
    assert message["text"].startswith("Preview: add <@U0DAVE> at position 2")
    assert "*Before*" in message["blocks"][0]["text"]["text"]
    slack.click(message, "rotation_cancel", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert primary(runtime) == before
    assert workspace.messages(PAY) == []
    assert "Cancelled: nothing changed" in workspace.ephemerals(user="U0MANAGER")[-1]["text"]
    slack.click(message, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert primary(runtime) == before
    assert "already cancelled" in workspace.ephemerals(user="U0MANAGER")[-1]["text"]


def test_confirmed_add_is_stored_and_announced_with_before_after(slack, runtime, run_jobs,
                                                                 workspace) -> None:
    message = shown(slack.slash(f"rotation payments primary add {slack.mention('U0DAVE')} at 2",
                                user="U0MANAGER", channel=PAY))
    slack.click(message, "rotation_confirm", user="U0ALICE", channel=PAY)  # not the manager who asked
    run_jobs()
    assert primary(runtime).members == ("U0ALICE", "U0BOB", "U0CAROL")
    assert "Only managers" in workspace.ephemerals(user="U0ALICE")[-1]["text"]

    slack.click(message, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert primary(runtime).members == ("U0ALICE", "U0DAVE", "U0BOB", "U0CAROL")
    assert who(runtime, utc(2026, 11, 5)) == "U0ALICE"  # the running shift is kept
    assert who(runtime, utc(2026, 11, 10)) == "U0DAVE"
    [announcement] = workspace.messages(PAY)
    text = announcement["text"]
    assert "<@U0MANAGER> changed rotation primary of payments" in text
    assert "*Before*" in text and "*After*" in text
    assert "Shifts moved for:" in text and "<@U0DAVE>" in text.split("Shifts moved for:")[1]
    [entry] = audit.recent(runtime.redis, 1, action_prefix="rotation.edit")
    assert entry["details"]["after"]["members"] == ["U0ALICE", "U0DAVE", "U0BOB", "U0CAROL"]
    # One noun, "rotation", for the request, its confirmation and the edit; each with details.
    entries = audit.recent(runtime.redis, 10)
    assert not [e for e in entries if e["action"].startswith("rot.")]
    assert [e["action"] for e in entries if e["action"].startswith("rotation.")] == [
        "rotation.confirm", "rotation.edit", "rotation.request"]
    for entry in entries:
        if entry["action"] in ("rotation.confirm", "rotation.request"):
            assert entry["details"]["layer"] == "primary"
            assert entry["details"]["change"] == "add <@U0DAVE> at position 2"


def test_stale_preview_is_refused(slack, runtime, run_jobs, workspace) -> None:
    first = shown(slack.slash(f"rotation remove {slack.mention('U0CAROL')}", user="U0MANAGER", channel=PAY))
    second = shown(slack.slash(f"rotation move {slack.mention('U0CAROL')} 1", user="U0MANAGER",
                               channel=PAY))
    slack.click(first, "rotation_confirm", user="U0MANAGER", channel=PAY)
    slack.click(second, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert primary(runtime).members == ("U0ALICE", "U0BOB")
    assert "changed since this preview" in workspace.ephemerals(user="U0MANAGER")[-1]["text"]


def test_handoff_and_shift_changes(slack, runtime, run_jobs) -> None:
    message = shown(slack.slash("rotation secondary handoff tue 10:00", user="U0MANAGER", channel=PAY))
    slack.click(message, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    # dave keeps the running shift until the first Tuesday 10:00 New York time, then erin.
    assert who(runtime, utc(2026, 11, 10, 14, 59), "secondary") == "U0DAVE"
    assert who(runtime, utc(2026, 11, 10, 15, 1), "secondary") == "U0ERIN"

    message = shown(slack.slash("rotation shift 1d", user="U0MANAGER", channel=PAY))
    slack.click(message, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert [who(runtime, utc(2026, 11, d, 12)) for d in (4, 5, 6, 7)] == [
        "U0ALICE", "U0BOB", "U0CAROL", "U0ALICE"]
    bad = slack.slash("rotation shift 90m", user="U0MANAGER", channel=PAY).json()["text"]
    assert "whole number of hours" in bad and "Usage:" in bad


def test_config_file_change_is_announced_once_and_wins_over_slack_edit(slack, runtime, run_jobs,
                                                                        workspace) -> None:
    assert announce.announce_config_changes(runtime) == 0  # first start: remembers the file
    message = shown(slack.slash(f"rotation add {slack.mention('U0DAVE')}", user="U0MANAGER", channel=PAY))
    slack.click(message, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert len(primary(runtime).members) == 4

    # The file is edited and atbat restarts with it.
    team = runtime.config.teams["payments"]
    edited = dataclasses.replace(team.rotations[0], members=("U0CAROL", "U0BOB", "U0ALICE"))
    new_team = dataclasses.replace(team, rotations=(edited, *team.rotations[1:]))
    runtime.config = dataclasses.replace(runtime.config, teams={**runtime.config.teams,
                                                                "payments": new_team})
    run_checks(runtime, runtime.now(), CHECKS)  # the periodic tick after start
    run_checks(runtime, runtime.now(), CHECKS)
    run_jobs()
    assert primary(runtime).members == ("U0CAROL", "U0BOB", "U0ALICE")  # the file wins again
    announcements = [m["text"] for m in workspace.messages(PAY) if "config file" in m["text"]]
    assert len(announcements) == 1
    text = announcements[0]
    assert "The config file changed rotation primary of payments" in text
    before = text.split("*After*")[0]
    assert "<@U0DAVE>" in before  # "before" is what was in force: the Slack edit
    assert announce.announce_config_changes(runtime) == 0


def test_confirm_and_cancel_replace_the_preview_and_its_buttons(slack, runtime, run_jobs,
                                                                 workspace) -> None:
    # Shown as Slack shows a command's answer, so the click can replace it.
    run_slash(workspace, slack, "U0MANAGER", PAY, "/oncall", "rotation add <@U0DAVE|dave>")
    preview = workspace.ephemerals(user="U0MANAGER")[-1]
    slack.click(preview, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    [shown_now] = [m for m in workspace.ephemerals(user="U0MANAGER") if m["ts"] == preview["ts"]]
    assert all(b["type"] != "actions" for b in shown_now["blocks"])  # Confirm / Cancel are gone
    at = int(runtime.now().timestamp())
    assert shown_now["blocks"][-1]["text"]["text"].startswith(
        f"*Confirmed by <@U0MANAGER>* <!date^{at}^")
    assert "*Before*" in shown_now["blocks"][0]["text"]["text"]  # what was confirmed stays

    run_slash(workspace, slack, "U0MANAGER", PAY, "/oncall", "rotation remove <@U0DAVE|dave>")
    preview = workspace.ephemerals(user="U0MANAGER")[-1]
    slack.click(preview, "rotation_cancel", user="U0MANAGER", channel=PAY)
    run_jobs()
    [shown_now] = [m for m in workspace.ephemerals(user="U0MANAGER") if m["ts"] == preview["ts"]]
    assert all(b["type"] != "actions" for b in shown_now["blocks"])
    assert shown_now["text"].endswith(f"*Cancelled by <@U0MANAGER>* <!date^{at}^"
                                      "{date_short_pretty} {time}|2026-11-04 10:00 UTC>: "
                                      "nothing changed.")


def test_the_preview_shows_where_an_added_person_lands_beyond_the_first_shifts(
        slack, runtime) -> None:
    raw = yaml.safe_load(Path(runtime.config.path).read_text())
    raw["teams"]["payments"]["rotations"][0]["members"] = [
        "U0ALICE", "U0BOB", "U0CAROL", "U0ERIN", "U0FRANK", "U0GRACE", "U0SMGR"]
    runtime.config = parse_config(raw, runtime.config.path)
    text = slack.slash(f"rotation add {slack.mention('U0DAVE')}", user="U0MANAGER",
                       channel=PAY).json()["blocks"][0]["text"]["text"]
    after = text.split("*After*\n")[1].splitlines()
    # Six shifts, then dave's first one (the eighth: he is added last), after an ellipsis.
    assert len(after) == 8 and after[6] == "…"
    assert after[7].startswith("• <@U0DAVE> ") and "<@U0DAVE>" not in "\n".join(after[:6])
    assert after[7] == (f"• <@U0DAVE> {date_token(utc(2026, 12, 21, 8))} → "
                        f"{date_token(utc(2026, 12, 28, 8))}")  # after smgr, 7 weeks on
