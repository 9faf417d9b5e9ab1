"""The App Home tab: published on app_home_opened with my on-call, alerts and pages; its buttons."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from bot.domain.history import Event, Rule
from bot.store import history
from tests.test_alerts_e2e import fixture, post_am

DISK = Rule("payments", "DiskFull")


def home_of(workspace, user: str) -> dict:  # noqa: ANN001
    [view] = [v for v in workspace.open_views(user) if v["type"] == "home"]
    return view


def test_opening_the_home_tab_publishes_my_on_call_alerts_and_pages(  # noqa: ANN001
        slack, run_jobs, workspace, runtime, clock, app_server) -> None:
    history.remember_rule(runtime.redis, DISK)
    history.append(runtime.redis, "payments", Event("page", clock() - timedelta(hours=11), {
        "user": "U0ALICE", "tz": "Europe/Berlin", "rule": DISK.ident, "group": "g", "occ": "1"}))
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    assert slack.app_home_opened("U0ALICE").status_code == 200
    run_jobs()
    view = home_of(workspace, "U0ALICE")
    body = json.dumps(view["blocks"], ensure_ascii=False)
    assert "*On call now* for payments primary until" in body
    assert "Next: payments primary" in body
    assert "PaymentsApiHighErrorRate" in body and '"action_id": "alert_ack"' in body
    # Two pages this week: the escalation DM just now (11:00 Berlin) and DiskFull at 00:00 Berlin.
    assert "*My pages this week:* 2 (1 in sleep hours)" in body and "DiskFull :zzz:" in body
    assert [e["action_id"] for b in view["blocks"] if b.get("block_id") == "home_payments"
            for e in b["elements"]] == ["home_report", "home_cover_request"]
    # Opening again updates the same view.
    slack.app_home_opened("U0ALICE")
    run_jobs()
    assert len([v for v in workspace.open_views("U0ALICE") if v["type"] == "home"]) == 1


def test_home_buttons_post_my_report_and_ask_for_cover(slack, run_jobs, workspace) -> None:  # noqa: ANN001
    slack.app_home_opened("U0ALICE")
    run_jobs()
    view = home_of(workspace, "U0ALICE")
    slack.click(view, "home_report", user="U0ALICE", channel="")
    run_jobs()
    assert any(m["text"].startswith("On-call report for payments") for m in workspace.dms("U0ALICE"))
    slack.click(view, "home_cover_request", user="U0ALICE", channel="")
    run_jobs()
    assert any("needs cover" in m["text"] for m in workspace.messages("C0PAYMENTS"))
    assert any(m["text"].startswith("Asked payments who can cover your next shift")
               for m in workspace.dms("U0ALICE"))


def test_home_opens_my_notification_settings(slack, run_jobs, workspace) -> None:  # noqa: ANN001
    slack.app_home_opened("U0ALICE")
    run_jobs()
    view = home_of(workspace, "U0ALICE")
    assert slack.click(view, "home_notify", user="U0ALICE", channel="").status_code == 200
    [settings] = [v for v in workspace.open_views("U0ALICE") if v.get("callback_id") == "paging_notify"]
    assert "Slack DM (always)" in json.dumps(settings["blocks"])


def test_someone_in_no_team_is_told_so(slack, run_jobs, workspace) -> None:  # noqa: ANN001
    slack.app_home_opened("U0OUTSIDER")
    run_jobs()
    assert "not in any of atbat's teams" in json.dumps(home_of(workspace, "U0OUTSIDER")["blocks"])


def publishes(workspace, user: str) -> int:  # noqa: ANN001
    return len([c for c in workspace.calls_to("views.publish") if c.args.get("user_id") == user])


def test_the_tab_is_redrawn_when_what_it_shows_changes_for_those_who_opened_it(  # noqa: ANN001
        slack, run_jobs, workspace, runtime, clock, app_server) -> None:
    from bot.services.handoffs import check_handoffs

    for user in ("U0ALICE", "U0BOB"):
        slack.app_home_opened(user)
    run_jobs()
    assert publishes(workspace, "U0ALICE") == publishes(workspace, "U0BOB") == 1
    # An alert fires and pages Alice: both tabs list it, Alice's shows her page; Carol never
    # opened hers, so nothing is published for her.
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    alice = json.dumps(home_of(workspace, "U0ALICE")["blocks"])
    assert "PaymentsApiHighErrorRate" in alice and "*My pages this week:* 1" in alice
    assert "PaymentsApiHighErrorRate" in json.dumps(home_of(workspace, "U0BOB")["blocks"])
    assert publishes(workspace, "U0CAROL") == 0
    fired = publishes(workspace, "U0ALICE")
    assert 2 <= fired <= 3  # the alert and the page, coalesced when close together
    # Nothing changed: running the jobs and the message sync again redraws nothing.
    run_jobs()
    assert publishes(workspace, "U0ALICE") == fired
    # Acknowledged: the alert's Ack button goes from both tabs.
    slack.click(home_of(workspace, "U0ALICE"), "alert_ack", user="U0ALICE", channel="")
    run_jobs()
    assert publishes(workspace, "U0ALICE") == fired + 1
    assert '"alert_ack"' not in json.dumps(home_of(workspace, "U0BOB")["blocks"])
    # The weekly handoff (Monday 09:00 Berlin) moves the on-call from Alice to Bob.
    before = publishes(workspace, "U0BOB")
    clock.set(datetime(2026, 11, 9, 8, 0, 30, tzinfo=UTC))
    check_handoffs(runtime, clock())
    run_jobs()
    assert publishes(workspace, "U0BOB") == before + 1
    assert "*On call now* for payments primary" in json.dumps(home_of(workspace, "U0BOB")["blocks"])
    assert "*On call now*" not in json.dumps(home_of(workspace, "U0ALICE")["blocks"])


# ---------------------------------------------------------------- shifts changed elsewhere

PAY = "C0PAYMENTS"


def my_on_call(workspace, user: str) -> str:  # noqa: ANN001
    """The "My on-call" section of the user's published tab, its times as their fallbacks."""
    text = home_of(workspace, user)["blocks"][1]["text"]["text"]
    return re.sub(r"<!date\^\d+\^[^|]*\|([^>]*) UTC>", r"\1", text)


def open_tabs(slack, run_jobs, *users: str) -> None:  # noqa: ANN001
    for user in users:
        slack.app_home_opened(user)
    run_jobs()


def clicked(response) -> dict:  # noqa: ANN001
    """A slash command's ephemeral answer as a message one can click."""
    body = response.json()
    return {"ts": "1700000000.000001", "text": body["text"], "blocks": body.get("blocks", [])}


def test_a_swap_redraws_both_tabs_once(slack, run_jobs, workspace) -> None:  # noqa: ANN001
    open_tabs(slack, run_jobs, "U0ALICE", "U0BOB", "U0CAROL")
    assert "Next: payments primary, 2026-11-09 08:00 → 2026-11-16 08:00" in my_on_call(
        workspace, "U0BOB")
    slack.slash(f"swap {slack.mention('U0BOB')}", user="U0ALICE", channel=PAY)
    run_jobs()
    seen = {u: publishes(workspace, u) for u in ("U0ALICE", "U0BOB", "U0CAROL")}
    assert seen == {"U0ALICE": 1, "U0BOB": 1, "U0CAROL": 1}  # asking changes no shift
    dm = workspace.dms("U0BOB")[-1]
    slack.click(dm, "swap_accept", user="U0BOB", channel="D0BOB")
    slack.click(dm, "swap_accept", user="U0BOB", channel="D0BOB")  # a double click
    run_jobs()
    # Alice now has Bob's week of 9 November (straight after hers), Bob her week of 23 November.
    alice, bob = my_on_call(workspace, "U0ALICE"), my_on_call(workspace, "U0BOB")
    assert alice.startswith(":pager: *On call now* for payments primary until 2026-11-16 08:00")
    assert "2026-11-23" not in alice
    assert "Next: payments primary, 2026-11-23 08:00 → 2026-12-07 08:00" in bob  # and his own
    assert "2026-11-09" not in bob
    assert {u: publishes(workspace, u) for u in seen} == {"U0ALICE": 2, "U0BOB": 2, "U0CAROL": 1}
    run_jobs()
    assert publishes(workspace, "U0ALICE") == publishes(workspace, "U0BOB") == 2


def test_take_override_and_cancel_redraw_who_is_on_call_now(  # noqa: ANN001
        slack, run_jobs, workspace) -> None:
    open_tabs(slack, run_jobs, "U0ALICE", "U0BOB", "U0CAROL")
    assert my_on_call(workspace, "U0ALICE").startswith(":pager: *On call now* for payments primary")
    slack.slash("take", user="U0BOB", channel=PAY)
    run_jobs()
    assert my_on_call(workspace, "U0BOB").startswith(  # Alice's week, then his own
        ":pager: *On call now* for payments primary until 2026-11-16 08:00")
    assert my_on_call(workspace, "U0ALICE").startswith("You are not on call now.")
    assert publishes(workspace, "U0CAROL") == 1

    slack.slash(f"override {slack.mention('U0CAROL')} now..+2h", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert my_on_call(workspace, "U0CAROL").startswith(
        ":pager: *On call now* for payments primary until 2026-11-04 12:00")
    assert my_on_call(workspace, "U0BOB").startswith("You are not on call now.")

    listing = clicked(slack.slash("overrides", user="U0MANAGER", channel=PAY))
    carols = next(b for b in listing["blocks"] if "U0CAROL" in b["text"]["text"])
    slack.click({**listing, "blocks": [carols]}, "override_cancel", user="U0MANAGER", channel=PAY)
    run_jobs()
    # Under Carol's cancelled override, Bob's take shows again.
    assert my_on_call(workspace, "U0CAROL").startswith("You are not on call now.")
    assert my_on_call(workspace, "U0BOB").startswith(":pager: *On call now*")
    assert my_on_call(workspace, "U0ALICE").startswith("You are not on call now.")


def test_a_rotation_edit_redraws_its_members_tabs(slack, run_jobs, workspace) -> None:  # noqa: ANN001
    open_tabs(slack, run_jobs, "U0ALICE", "U0BOB", "U0DAVE", "U0FRANK")
    preview = clicked(slack.slash(f"rotation payments primary add {slack.mention('U0DAVE')} at 2",
                                  user="U0MANAGER", channel=PAY))
    run_jobs()
    assert publishes(workspace, "U0DAVE") == 1  # a preview changes nothing
    slack.click(preview, "rotation_confirm", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert "Next: payments primary, 2026-11-09 08:00 → 2026-11-16 08:00" in my_on_call(
        workspace, "U0DAVE")
    bob = my_on_call(workspace, "U0BOB")
    assert "Next: payments primary, 2026-11-16 08:00 → 2026-11-23 08:00" in bob
    assert "2026-11-09" not in bob
    assert publishes(workspace, "U0FRANK") == 1  # search's rotation did not change


def test_a_rotation_changed_in_the_config_file_redraws_its_members_tabs(  # noqa: ANN001
        slack, run_jobs, workspace, runtime) -> None:
    import dataclasses

    from bot.services import rotations

    assert rotations.announce_config_changes(runtime) == 0  # first start: remembers the file
    open_tabs(slack, run_jobs, "U0BOB", "U0CAROL", "U0DAVE")
    team = runtime.config.teams["payments"]
    edited = dataclasses.replace(team.rotations[0], members=("U0ALICE", "U0CAROL", "U0BOB"))
    runtime.config = dataclasses.replace(runtime.config, teams={
        **runtime.config.teams, "payments": dataclasses.replace(team, rotations=(
            edited, *team.rotations[1:]))})
    assert rotations.announce_config_changes(runtime) == 1
    run_jobs()
    assert "Next: payments primary, 2026-11-09 08:00 → 2026-11-16 08:00" in my_on_call(
        workspace, "U0CAROL")
    assert "Next: payments primary, 2026-11-16 08:00 → 2026-11-23 08:00" in my_on_call(
        workspace, "U0BOB")
    assert publishes(workspace, "U0DAVE") == 1  # secondary did not change


def test_a_redraw_during_a_slack_outage_is_owed_and_arrives_once_after(  # noqa: ANN001
        slack, run_jobs, run_scheduled, workspace, runtime, clock, monkeypatch) -> None:
    from tests.test_owed_deliveries import wait_out

    monkeypatch.setattr(runtime.sender, "max_attempts", 2)  # an outage fails fast
    open_tabs(slack, run_jobs, "U0ALICE", "U0BOB")
    workspace.fail_next("views.publish", status=503, count=10_000)
    slack.slash("take", user="U0BOB", channel=PAY)
    run_jobs()
    wait_out(clock, run_scheduled, run_jobs, minutes=2)
    assert my_on_call(workspace, "U0BOB").startswith("You are not on call now.")  # as it was
    workspace.faults.clear()  # Slack is back
    wait_out(clock, run_scheduled, run_jobs, minutes=3)
    assert my_on_call(workspace, "U0BOB").startswith(":pager: *On call now*")
    assert my_on_call(workspace, "U0ALICE").startswith("You are not on call now.")
    accepted = [c for c in workspace.calls_to("views.publish") if c.response.get("ok")]
    assert [c.args["user_id"] for c in accepted].count("U0BOB") == 2  # opened, then the take
    assert not list(runtime.redis.scan_iter("atbat:delivery:home:*"))  # nothing kept once done


def test_a_change_redraws_each_tab_once_even_if_its_job_runs_twice(  # noqa: ANN001
        slack, run_jobs, workspace, runtime) -> None:
    from bot.services import home

    open_tabs(slack, run_jobs, "U0ALICE", "U0BOB")
    # Two workers picking up copies of one change's job (a re-queued job, a retried request):
    home.shifts_changed(runtime, ["U0ALICE", "U0BOB"], "take")
    home.shifts_changed(runtime, ["U0BOB", "U0ALICE", ""], "take")
    run_jobs()
    assert publishes(workspace, "U0ALICE") == publishes(workspace, "U0BOB") == 2
    home.shifts_changed(runtime, [], "nothing")  # nobody: no job at all
    assert run_jobs() == 0
