"""Swaps, covers, take-overs and overrides end to end: signed HTTP, Redis, RQ, the Web API."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from bot.oncall import team_schedule
from bot.periodic import run_checks
from bot.sandbox.page import run_slash
from bot.slack import render_swaps
from bot.store import audit, keys
from bot.store import swap_requests as pending
from bot.wiring import CHECKS
from tests.conftest import utc

PAY = "C0PAYMENTS"


def on_call(runtime, layer: str, at: datetime) -> str:
    sched = team_schedule(runtime.redis, runtime.config.teams["payments"])
    return next(s for r, s in sched.on_call(at) if r.name == layer).user


def overrides(runtime) -> list[Any]:
    sched = team_schedule(runtime.redis, runtime.config.teams["payments"])
    return sorted((s.override for s in sched.overrides), key=lambda o: o.start)


def shown(response) -> dict[str, Any]:
    """A slash command's ephemeral answer as a message one can click."""
    body = response.json()
    return {"ts": "1700000000.000001", "is_ephemeral": True, "text": body["text"],
            "blocks": body.get("blocks", [])}


def ask_swap(slack, run_jobs, workspace, requester: str, invitee: str) -> dict[str, Any]:
    body = slack.slash(f"swap {slack.mention(invitee)}", user=requester, channel=PAY).json()
    assert body["text"].startswith(f"Sent to <@{invitee}>"), body["text"]
    run_jobs()
    return workspace.dms(invitee)[-1]


def request_id(message: dict[str, Any]) -> str:
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    return actions["elements"][0]["value"]


def last_ephemeral(workspace, user: str) -> str:
    return workspace.ephemerals(user=user)[-1]["text"]


def test_swap_accepted_writes_both_overrides_and_tells_everyone(slack, runtime, run_jobs,
                                                                workspace) -> None:
    dm = ask_swap(slack, run_jobs, workspace, "U0ALICE", "U0BOB")
    # Both shifts, as date tokens: bob reads them in his own timezone.
    assert "<!date^" + str(int(utc(2026, 11, 9, 8).timestamp())) in dm["text"]
    assert "<!date^" + str(int(utc(2026, 11, 23, 8).timestamp())) in dm["text"]
    slack.click(dm, "swap_accept", user="U0BOB", channel="D0BOB")
    run_jobs()

    assert [(o.user, o.replaces, o.start, o.end) for o in overrides(runtime)] == [
        ("U0ALICE", "U0BOB", utc(2026, 11, 9, 8), utc(2026, 11, 16, 8)),
        ("U0BOB", "U0ALICE", utc(2026, 11, 23, 8), utc(2026, 11, 30, 8)),
    ]
    assert on_call(runtime, "primary", utc(2026, 11, 10)) == "U0ALICE"
    assert on_call(runtime, "primary", utc(2026, 11, 24)) == "U0BOB"
    assert "accepted your swap" in workspace.dms("U0ALICE")[-1]["text"]
    [announcement] = workspace.messages(PAY)
    assert "swapped shifts" in announcement["text"] and "<@U0BOB>" in announcement["text"]
    answered = workspace.dms("U0BOB")[-1]
    # bob's DM says what happened, and its buttons are gone.
    assert f"*Accepted by <@U0BOB>* <!date^{int(runtime.now().timestamp())}^" in answered["text"]
    assert "swap_accept" not in str(answered.get("blocks"))
    entries = {e["action"]: e for e in audit.recent(runtime.redis, 10)}
    assert {"swap.request", "swap.accept", "override.create"} <= set(entries)
    for action in ("swap.request", "swap.accept"):  # each entry carries the swap itself
        details = entries[action]["details"]
        assert (details["requester"], details["invitee"]) == ("U0ALICE", "U0BOB"), action
        assert sorted((s["start"], s["user"], s["replaces"]) for s in details["shifts"]) == [
            ("2026-11-09T08:00:00+00:00", "U0ALICE", "U0BOB"),
            ("2026-11-23T08:00:00+00:00", "U0BOB", "U0ALICE")], action
    shown = slack.slash("audit 3", user="U0MANAGER", channel=PAY).json()["text"]
    accept = next(line for line in shown.splitlines() if "*swap.accept*" in line)
    assert accept.startswith("• <!date^") and "<@U0BOB> *swap.accept*" in accept
    assert "<@U0ALICE> for <@U0BOB> <!date^" in accept and "<@U0BOB> for <@U0ALICE>" in accept


def test_decline_tells_the_requester_and_changes_nothing(slack, runtime, run_jobs, workspace) -> None:
    dm = ask_swap(slack, run_jobs, workspace, "U0ALICE", "U0BOB")
    slack.click(dm, "swap_decline", user="U0BOB", channel="D0BOB")
    run_jobs()
    assert overrides(runtime) == []
    assert "declined your swap" in workspace.dms("U0ALICE")[-1]["text"]
    answered = workspace.dms("U0BOB")[-1]
    assert "*Declined by <@U0BOB>*" in answered["text"] and "actions" not in str(answered["blocks"])
    slack.click(dm, "swap_accept", user="U0BOB", channel="D0BOB")
    run_jobs()
    assert overrides(runtime) == [] and "already declined" in last_ephemeral(workspace, "U0BOB")


def test_accept_by_someone_else_twice_or_late_is_refused(slack, runtime, run_jobs, workspace,
                                                         clock) -> None:
    dm = ask_swap(slack, run_jobs, workspace, "U0ALICE", "U0BOB")
    slack.click(dm, "swap_accept", user="U0CAROL", channel="D0BOB")
    run_jobs()
    assert overrides(runtime) == []
    assert "Only <@U0BOB> can answer" in last_ephemeral(workspace, "U0CAROL")

    slack.click(dm, "swap_accept", user="U0BOB", channel="D0BOB")
    slack.click(dm, "swap_accept", user="U0BOB", channel="D0BOB")
    run_jobs()
    assert len(overrides(runtime)) == 2
    assert "already accepted" in last_ephemeral(workspace, "U0BOB")
    assert len(workspace.messages(PAY)) == 1

    late = ask_swap(slack, run_jobs, workspace, "U0CAROL", "U0ALICE")
    req = pending.get(runtime.redis, request_id(late))
    assert req is not None and req.expires_at == min(o.start for o in req.overrides())
    clock.set(req.expires_at)  # the first of the two shifts starts
    slack.click(late, "swap_accept", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    assert len(overrides(runtime)) == 2
    assert "expired" in last_ephemeral(workspace, "U0ALICE")


def test_an_unanswered_request_says_it_expired_and_loses_its_buttons(
        slack, runtime, run_jobs, workspace, clock) -> None:
    answered = ask_swap(slack, run_jobs, workspace, "U0ALICE", "U0BOB")
    slack.click(answered, "swap_accept", user="U0BOB", channel="D0BOB")
    unanswered = ask_swap(slack, run_jobs, workspace, "U0DAVE", "U0ERIN")
    run_jobs()
    req = pending.get(runtime.redis, request_id(unanswered))
    clock.set(req.expires_at - timedelta(seconds=1))
    run_checks(runtime, runtime.now(), CHECKS)
    run_jobs()
    def erins_dm() -> dict[str, Any]:
        return next(m for m in workspace.dms("U0ERIN") if m["ts"] == unanswered["ts"])

    assert "swap_accept" in str(erins_dm()["blocks"])  # not yet

    clock.set(req.expires_at + timedelta(seconds=20))
    run_checks(runtime, runtime.now(), CHECKS)
    run_checks(runtime, runtime.now(), CHECKS)  # a second worker's check changes nothing
    run_jobs()
    dm = erins_dm()
    assert "actions" not in str(dm["blocks"])
    assert f"*Expired* <!date^{int(req.expires_at.timestamp())}^" in dm["text"]
    assert pending.get(runtime.redis, req.id).state == "expired"
    assert [e["action"] for e in audit.recent(runtime.redis, 10)].count("swap.expire") == 1
    # The answered request's DM still says who accepted it.
    assert "*Accepted by <@U0BOB>*" in next(m for m in workspace.dms("U0BOB")
                                            if m["ts"] == answered["ts"])["text"]
    slack.click(unanswered, "swap_accept", user="U0ERIN", channel="D0ERIN")
    run_jobs()
    assert "already expired" in last_ephemeral(workspace, "U0ERIN")


def test_swap_refusals(slack) -> None:
    def answer(text: str, user: str = "U0ALICE") -> str:
        return slack.slash(text, user=user, channel=PAY).json()["text"]

    assert "yourself" in answer(f"swap {slack.mention('U0ALICE')}")
    assert "not both in" in answer(f"swap {slack.mention('U0DAVE')}")
    assert "Usage: `/oncall swap" in answer("swap")
    assert answer(f"swap {slack.mention('U0BOB')}").startswith("Sent to")
    # alice's next shift is already asked for.
    assert "already a pending request" in answer(f"swap {slack.mention('U0CAROL')}")
    assert "already a pending request" in answer(f"swap {slack.mention('U0BOB')}", user="U0CAROL")


def test_concurrent_requests_for_one_shift_cannot_both_succeed(slack, runtime, run_jobs,
                                                               workspace) -> None:
    answers: list[str] = []

    def ask(invitee: str) -> None:
        answers.append(slack.slash(f"swap {slack.mention(invitee)}", user="U0ALICE",
                                   channel=PAY).json()["text"])

    threads = [threading.Thread(target=ask, args=(u,)) for u in ("U0BOB", "U0CAROL")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.startswith("Sent to") for a in answers) == [False, True]

    # Even two requests that both got stored (an index that expired, a race) cannot both be
    # accepted: the second finds the shift already moved.
    run_jobs()
    invitee = "U0BOB" if workspace.dms("U0BOB") else "U0CAROL"
    first = workspace.dms(invitee)[-1]
    now = runtime.now()
    rival = pending.PendingRequest(
        id=pending.new_id("cover"), kind="cover", team="payments", requester="U0ALICE",
        invitee="U0ERIN", created_at=now, expires_at=utc(2026, 11, 23, 8),
        pieces=[pending.piece_dict("primary", "U0ERIN", "U0ALICE", utc(2026, 11, 23, 8),
                                   utc(2026, 11, 30, 8), "ov-rival-0")])
    runtime.redis.set(keys.pending("cover", rival.id), rival.to_json())
    rival_dm = {"ts": "1700000000.000002", **render_swaps.request_message(rival)}
    slack.click(first, "swap_accept", user=invitee, channel="D" + invitee[1:])
    slack.click(rival_dm, "swap_accept", user="U0ERIN", channel="D0ERIN")
    run_jobs()
    assert len(overrides(runtime)) == 2
    assert on_call(runtime, "primary", utc(2026, 11, 24)) == invitee
    assert "schedule changed" in last_ephemeral(workspace, "U0ERIN")


def test_cover_default_and_partial_overlap(slack, runtime, run_jobs, workspace) -> None:
    body = slack.slash(f"cover {slack.mention('U0CAROL')} 2026-11-08..2026-11-24", user="U0ALICE",
                       channel=PAY).json()
    assert body["text"].startswith("Sent to <@U0CAROL>")
    run_jobs()
    dm = workspace.dms("U0CAROL")[-1]
    assert "cover" in dm["text"]
    slack.click(dm, "swap_accept", user="U0CAROL", channel="D0CAROL")
    run_jobs()
    # Only alice's on-call inside 8 Nov 00:00 .. 24 Nov 00:00 Berlin, one override per piece.
    assert [(o.user, o.start, o.end) for o in overrides(runtime)] == [
        ("U0CAROL", utc(2026, 11, 7, 23), utc(2026, 11, 9, 8)),
        ("U0CAROL", utc(2026, 11, 23, 8), utc(2026, 11, 23, 23)),
    ]
    assert on_call(runtime, "primary", utc(2026, 11, 8, 12)) == "U0CAROL"
    assert on_call(runtime, "primary", utc(2026, 11, 7, 12)) == "U0ALICE"
    assert on_call(runtime, "primary", utc(2026, 11, 24, 12)) == "U0ALICE"
    assert "agreed on a cover" in workspace.messages(PAY)[-1]["text"]

    # Default WHEN: the rest of dave's running secondary shift.
    slack.slash(f"cover {slack.mention('U0OUTSIDER')}", user="U0DAVE", channel=PAY)
    run_jobs()
    dm = workspace.dms("U0OUTSIDER")[-1]
    slack.click(dm, "swap_accept", user="U0OUTSIDER", channel="D0OUTSIDER")
    run_jobs()
    assert on_call(runtime, "secondary", runtime.now() + timedelta(hours=1)) == "U0OUTSIDER"
    assert "not on call" in slack.slash(f"cover {slack.mention('U0ALICE')} 2026-11-10", user="U0CAROL",
                                        channel=PAY).json()["text"]
    assert "a day" in slack.slash(f"cover {slack.mention('U0ALICE')} tomorrow 9:00", user="U0CAROL",
                                  channel=PAY).json()["text"]


def test_take_relieves_the_person_on_call(slack, runtime, run_jobs, workspace, clock) -> None:
    body = slack.slash("take", user="U0BOB", channel=PAY).json()
    assert body["text"].startswith("You are on call now")
    run_jobs()
    assert on_call(runtime, "primary", clock() + timedelta(minutes=1)) == "U0BOB"
    assert on_call(runtime, "primary", utc(2026, 11, 9, 8)) == "U0BOB"  # bob's own week follows
    assert on_call(runtime, "primary", clock() - timedelta(minutes=1)) == "U0ALICE"
    assert "took the on-call from you" in workspace.dms("U0ALICE")[-1]["text"]
    assert "took the on-call" in workspace.messages(PAY)[-1]["text"]
    assert "member" in slack.slash("take payments", user="U0OUTSIDER", channel=PAY).json()["text"]

    # until TIME is read in the typing user's timezone: carol is in London (UTC in November).
    taken = slack.slash("take until tomorrow 9:00", user="U0CAROL", channel=PAY).json()["text"]
    assert taken.startswith("You are on call now"), taken
    run_jobs()
    assert on_call(runtime, "primary", utc(2026, 11, 5, 8, 59)) == "U0CAROL"
    assert on_call(runtime, "primary", utc(2026, 11, 5, 9, 1)) == "U0BOB"


def test_manager_override_list_and_cancel(slack, runtime, run_jobs, workspace) -> None:
    refused = slack.slash(f"override {slack.mention('U0ERIN')} \"2026-11-05 09:00..18:00\"",
                          user="U0ALICE", channel=PAY).json()["text"]
    assert "Only managers of payments" in refused and overrides(runtime) == []

    ok = slack.slash(f"override {slack.mention('U0ERIN')} \"2026-11-05 09:00..18:00\" secondary",
                     user="U0MANAGER", channel=PAY).json()["text"]
    assert ok.startswith("Override set"), ok
    run_jobs()
    [o] = overrides(runtime)
    assert (o.layer, o.user, o.replaces, o.start, o.end) == (
        "secondary", "U0ERIN", "U0DAVE", utc(2026, 11, 5, 8), utc(2026, 11, 5, 17))
    assert "set an override" in workspace.messages(PAY)[-1]["text"]
    slack.slash(f"override {slack.mention('U0CAROL')} now..+2h", user="U0MANAGER", channel=PAY)
    assert on_call(runtime, "primary", runtime.now() + timedelta(hours=1)) == "U0CAROL"

    listing = slack.slash("overrides", user="U0OUTSIDER", channel=PAY)
    assert "2 upcoming override" in listing.json()["text"]
    message = shown(listing)
    cancel = next(b for b in message["blocks"] if "U0ERIN" in b["text"]["text"])
    one = {**message, "blocks": [cancel]}
    # dave's own list, shown as Slack shows a command's answer: the click replaces it.
    run_slash(workspace, slack, "U0DAVE", PAY, "/oncall", "overrides")
    daves_list = workspace.ephemerals(user="U0DAVE")[-1]
    slack.click(one, "override_cancel", user="U0OUTSIDER", channel=PAY)
    run_jobs()
    assert "Only <@U0ERIN> or <@U0DAVE> or a manager" in last_ephemeral(workspace, "U0OUTSIDER")
    assert len(overrides(runtime)) == 2

    erins = next(b for b in daves_list["blocks"] if "U0ERIN" in b["text"]["text"])
    slack.click({**daves_list, "blocks": [erins]}, "override_cancel", user="U0DAVE",
                channel=PAY)  # the person replaced
    run_jobs()
    assert last_ephemeral(workspace, "U0DAVE") == "Override cancelled."
    [replaced] = [m for m in workspace.ephemerals(user="U0DAVE") if m["ts"] == daves_list["ts"]]
    texts = [b["text"]["text"] for b in replaced["blocks"]]
    assert texts[0].startswith("*Cancelled by <@U0DAVE>* <!date^") and "<@U0ERIN>" in texts[0]
    cancels = [b["accessory"]["value"] for b in replaced["blocks"] if "accessory" in b]
    assert len(cancels) == 1 and "U0ERIN" not in " ".join(texts[1:])  # only carol's is left
    assert [x.user for x in overrides(runtime)] == ["U0CAROL"]
    assert "cancelled the override" in workspace.messages(PAY)[-1]["text"]
    slack.click(one, "override_cancel", user="U0MANAGER", channel=PAY)
    run_jobs()
    assert "already gone" in last_ephemeral(workspace, "U0MANAGER")
    assert [e["action"] for e in audit.recent(runtime.redis, 1)] == ["override.cancel"]


def test_swap_across_dst_keeps_exact_instants(slack, runtime, run_jobs, workspace, clock) -> None:
    clock.set(utc(2026, 10, 16, 12))  # next weekly shifts straddle 25 Oct (Berlin), 1 Nov (New York)
    for requester, invitee in (("U0BOB", "U0CAROL"), ("U0DAVE", "U0ERIN")):
        dm = ask_swap(slack, run_jobs, workspace, requester, invitee)
        slack.click(dm, "swap_accept", user=invitee, channel="D" + invitee[1:])
        run_jobs()
    got = [(o.layer, o.user, o.start, o.end) for o in overrides(runtime)]
    assert got == [
        ("primary", "U0CAROL", utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)),  # 09:00 CEST..09:00 CET
        ("secondary", "U0ERIN", utc(2026, 10, 19, 13), utc(2026, 10, 26, 13)),
        ("primary", "U0BOB", utc(2026, 10, 26, 8), utc(2026, 11, 2, 8)),
        ("secondary", "U0DAVE", utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)),  # 09:00 EDT..09:00 EST
    ]
    assert on_call(runtime, "primary", utc(2026, 10, 25, 12)) == "U0CAROL"
    assert on_call(runtime, "secondary", utc(2026, 11, 1, 12)) == "U0DAVE"


def test_times_fall_back_to_the_team_timezone_and_the_reply_says_so(slack, runtime,
                                                                   workspace) -> None:
    # Slack cannot tell the manager's timezone (Berlin either way): payments' own is used, and said.
    workspace.fail_next("users.info", status=500)
    ok = slack.slash(f"override {slack.mention('U0ERIN')} \"2026-11-05 09:00..18:00\" secondary",
                     user="U0MANAGER", channel=PAY).json()["text"]
    assert ok.startswith("Override set"), ok
    assert "did not tell your timezone" in ok and "team payments's timezone (Europe/Berlin)" in ok
    [o] = overrides(runtime)
    assert (o.start, o.end) == (utc(2026, 11, 5, 8), utc(2026, 11, 5, 17))

    # Carol is in London; read in Berlin instead, "until tomorrow 9:00" ends at 08:00 UTC.
    workspace.fail_next("users.info", status=500)
    taken = slack.slash("take until tomorrow 9:00", user="U0CAROL", channel=PAY).json()["text"]
    assert taken.startswith("You are on call now") and "did not tell your timezone" in taken
    assert on_call(runtime, "primary", utc(2026, 11, 5, 7, 59)) == "U0CAROL"
    assert on_call(runtime, "primary", utc(2026, 11, 5, 8, 1)) != "U0CAROL"

    workspace.fail_next("users.info", status=500)
    covered = slack.slash(f"cover {slack.mention('U0BOB')} tomorrow", user="U0CAROL",
                          channel=PAY).json()["text"]
    assert "did not tell your timezone" in covered, covered

    # When Slack answers, nothing is said about timezones.
    plain = slack.slash(f"override {slack.mention('U0ERIN')} \"2026-11-06 09:00..18:00\"",
                        user="U0MANAGER", channel=PAY).json()["text"]
    assert plain.startswith("Override set") and "timezone" not in plain


def test_55_overrides_list_within_slack_limits(slack, runtime) -> None:  # noqa: ANN001
    from bot.domain.schedule import Override
    from bot.store.schedules import StoredOverride, save_overrides

    now = runtime.now()
    save_overrides(runtime.redis, "payments", [
        StoredOverride(Override(layer="primary", user="U0CAROL", id=f"ov-{i:03d}",
                                start=now + timedelta(days=i, hours=1),
                                end=now + timedelta(days=i, hours=2), replaces="U0ALICE"),
                       created_by="U0MANAGER", created_at=now)
        for i in range(55)])
    listing = slack.slash("overrides", user="U0MANAGER", channel=PAY)  # the client validates it
    body = listing.json()
    assert body["text"] == "55 upcoming override(s) in payments."
    assert len(body["blocks"]) == 50
    assert "… and 7 more" in body["blocks"][-1]["elements"][0]["text"]
    cancels = [b for b in body["blocks"] if "accessory" in b]
    assert len(cancels) == 48 and cancels[0]["accessory"]["value"] == "ov-000"
