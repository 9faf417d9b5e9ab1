"""Open cover requests: posted to the team, the first eligible click wins, expiry at shift start."""

from __future__ import annotations

import threading

from bot.services.covers import expire_open_covers
from bot.store import schedules
from tests.test_alerts_e2e import action_ids, text_of

CHANNEL = "C0PAYMENTS"


def ask(slack, run_jobs, workspace, text: str = "tomorrow payments the dentist <3") -> dict:  # noqa: ANN001
    answer = slack.slash(f"cover-request {text}", user="U0ALICE", channel=CHANNEL).json()
    assert answer["text"].startswith("Asked payments who can cover you"), answer
    run_jobs()
    [message] = [m for m in workspace.messages(CHANNEL) if "needs cover" in m["text"]]
    return message


def test_the_request_is_posted_with_the_note_escaped(slack, run_jobs, workspace) -> None:  # noqa: ANN001
    message = ask(slack, run_jobs, workspace)
    assert message["text"].startswith(":raising_hand: <@U0ALICE> needs cover (payments):\n• primary:")
    assert "> the dentist &lt;3" in message["text"] and "<3" not in message["text"]
    assert action_ids(message) == ["cover_take", "cover_cancel"]


def test_two_simultaneous_takers_one_wins_and_the_other_is_told(slack, run_jobs, workspace,  # noqa: ANN001
                                                                 runtime) -> None:
    message = ask(slack, run_jobs, workspace)
    barrier = threading.Barrier(2)

    def take(user: str) -> None:
        barrier.wait()
        slack.click(message, "cover_take", user=user, channel=CHANNEL)

    threads = [threading.Thread(target=take, args=(u,)) for u in ("U0BOB", "U0CAROL")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run_jobs()
    written = [s.override for s in schedules.list_overrides(runtime.redis, "payments")]
    assert len(written) == 1 and written[0].replaces == "U0ALICE"
    winner = written[0].user
    loser = "U0CAROL" if winner == "U0BOB" else "U0BOB"
    told = [m["text"] for m in workspace.ephemerals(user=loser)]
    assert told == [f"<@{winner}> took this cover already."]
    [updated] = [m for m in workspace.messages(CHANNEL) if "needs cover" in m["text"]]
    assert action_ids(updated) == [] and f"Taken by <@{winner}>." in updated["text"]
    assert any(f"<@{winner}> took your cover request" in text_of(m) for m in workspace.dms("U0ALICE"))
    assert any("You are covering for <@U0ALICE>" in text_of(m) for m in workspace.dms(winner))
    assert any(m["text"].startswith(f"<@{winner}> covers for <@U0ALICE>")
               for m in workspace.messages(CHANNEL))


def test_only_members_of_the_layer_may_take_it(slack, run_jobs, workspace, runtime) -> None:  # noqa: ANN001
    message = ask(slack, run_jobs, workspace)
    slack.click(message, "cover_take", user="U0DAVE", channel=CHANNEL)
    slack.click(message, "cover_take", user="U0ALICE", channel=CHANNEL)
    run_jobs()
    assert [m["text"] for m in workspace.ephemerals(user="U0DAVE")] == [
        "Only members of the primary rotation can take this cover."]
    assert "your own request" in workspace.ephemerals(user="U0ALICE")[-1]["text"]
    assert schedules.list_overrides(runtime.redis, "payments") == []


def test_it_expires_when_the_shift_starts_and_the_requester_is_told_once(  # noqa: ANN001
        slack, run_jobs, workspace, runtime, clock) -> None:
    message = ask(slack, run_jobs, workspace)
    expire_open_covers(runtime, clock())
    run_jobs()
    assert action_ids([m for m in workspace.messages(CHANNEL) if m["ts"] == message["ts"]][0])
    clock.advance(days=1)  # Thursday 10:00 UTC: past the start of Thursday in Berlin
    expire_open_covers(runtime, clock())
    expire_open_covers(runtime, clock())
    run_jobs()
    [updated] = [m for m in workspace.messages(CHANNEL) if m["ts"] == message["ts"]]
    assert action_ids(updated) == [] and "Nobody took it before the shift started." in updated["text"]
    told = [m for m in workspace.dms("U0ALICE") if "Nobody took your cover request" in text_of(m)]
    assert len(told) == 1
    slack.click(message, "cover_take", user="U0BOB", channel=CHANNEL)
    run_jobs()
    assert "already expired" in workspace.ephemerals(user="U0BOB")[-1]["text"]


def test_the_requester_or_a_manager_cancels(slack, run_jobs, workspace, runtime) -> None:  # noqa: ANN001
    message = ask(slack, run_jobs, workspace)
    slack.click(message, "cover_cancel", user="U0BOB", channel=CHANNEL)
    run_jobs()
    assert "Only the requester or a manager" in workspace.ephemerals(user="U0BOB")[-1]["text"]
    slack.click(message, "cover_cancel", user="U0MANAGER", channel=CHANNEL)
    run_jobs()
    [updated] = [m for m in workspace.messages(CHANNEL) if m["ts"] == message["ts"]]
    assert action_ids(updated) == [] and "Cancelled by <@U0MANAGER>." in updated["text"]
    assert any("<@U0MANAGER> cancelled your cover request" in text_of(m)
               for m in workspace.dms("U0ALICE"))


def test_a_cover_for_a_shift_i_do_not_have_is_refused(slack, workspace) -> None:  # noqa: ANN001
    answer = slack.slash("cover-request tomorrow payments", user="U0BOB", channel=CHANNEL).json()
    assert "not on call at that time" in answer["text"]
    answer = slack.slash("cover-request", user="U0BOB", channel=CHANNEL).json()
    assert "Say WHEN" in answer["text"]


def test_no_request_stays_in_the_open_index_after_it_is_over(slack, run_jobs, workspace, runtime,  # noqa: ANN001
                                                             clock) -> None:
    from bot.store import keys

    r = runtime.redis
    message = ask(slack, run_jobs, workspace)
    assert r.zcard(keys.open_covers()) == 1
    clock.advance(days=1)
    expire_open_covers(runtime, clock())
    assert r.zcard(keys.open_covers()) == 0 and list(r.scan_iter(keys.pending_index("shift", "*"))) == []
    # A request Redis lost (or that ended without leaving the index) leaves it at the next check.
    r.zadd(keys.open_covers(), {"open-lost": clock().timestamp() - 60})
    expire_open_covers(runtime, clock())
    assert r.zcard(keys.open_covers()) == 0
    run_jobs()
    assert action_ids([m for m in workspace.messages(CHANNEL) if m["ts"] == message["ts"]][0]) == []
