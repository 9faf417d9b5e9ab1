"""Handoff summaries: the incoming person's DM, also under the announcement, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.history import Event, Rule, note
from bot.store import history
from tests.test_alerts_e2e import fixture, post_am, text_of
from tests.test_handoffs import two_workers_check

DISK = Rule("payments", "DiskFull")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def seed(runtime) -> None:  # noqa: ANN001
    """carol's week on primary (26 Oct 08:00 .. 2 Nov 08:00 UTC): two pages, a note, a run."""
    r = runtime.redis
    history.remember_rule(r, DISK)
    for at in (utc(2026, 10, 28, 1, 0), utc(2026, 10, 29, 12, 0)):  # 02:00 and 13:00 in London
        history.append(r, "payments", Event("page", at, {
            "user": "U0CAROL", "tz": "Europe/London", "rule": DISK.ident, "group": "g", "occ": "1"}))
    history.append(r, "payments", Event("page", utc(2026, 10, 29, 13, 0), {  # not carol's page
        "user": "U0ERIN", "tz": "America/New_York", "rule": DISK.ident, "group": "g", "occ": "1"}))
    # (a stream takes its entries in time order)
    history.append(r, "payments", note("U0CAROL", "too old", utc(2026, 10, 20, 9)))
    history.append(r, "payments", note("U0CAROL", "disk on db-2 grows <fast>", utc(2026, 10, 30, 9)))
    history.append(r, "payments", Event("run", utc(2026, 10, 30, 10), {
        "action": "result", "runbook": "restart-api", "state": "succeeded", "user": "U0CAROL"}))


def summaries(workspace, user: str) -> list[dict]:  # noqa: ANN001
    return [m for m in workspace.dms(user) if "Handoff summary" in m.get("text", "")]


def test_the_incoming_person_gets_one_summary_in_a_dm_and_under_the_announcement(  # noqa: ANN001
        runtime, run_jobs, workspace, app_server) -> None:
    seed(runtime)
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    two_workers_check(runtime, run_jobs)
    two_workers_check(runtime, run_jobs)  # the next tick: nothing new
    [dm] = summaries(workspace, "U0ALICE")
    body = text_of(dm)
    assert "Handoff summary for *payments primary*, from <@U0CAROL>'s shift (7d)" in body
    assert "*Pages:* 2 (1 in sleep hours)" in body and ":zzz: sleep hours" in body
    assert "PaymentsApiHighErrorRate (triggered)" in body
    assert "*Noisiest rule:* DiskFull (2 pages)" in body
    assert "restart-api: succeeded" in body
    assert "disk on db-2 grows &lt;fast&gt;" in body and "too old" not in body
    [announcement] = [m for m in workspace.messages("C0PAYMENTS")
                      if "on call for *payments primary*" in m["text"]]
    thread = [m for m in workspace.replies("C0PAYMENTS", announcement["ts"])
              if "Handoff summary" in m["text"]]
    assert len(thread) == 1 and thread[0]["text"] == dm["text"]
    assert len(summaries(workspace, "U0DAVE")) == 1  # the secondary's handoff has its own


def test_handoff_note_is_kept_for_the_next_summary(slack, runtime, clock) -> None:  # noqa: ANN001
    answer = slack.slash('handoff note watch the "db-2" disk', user="U0ALICE",
                         channel="C0PAYMENTS").json()
    assert "next handoff summary" in answer["text"]
    [kept] = history.read(runtime.redis, "payments", "note", utc(2026, 1, 1), utc(2027, 1, 1))
    assert kept.fields == {"user": "U0ALICE", "text": 'watch the "db-2" disk'}
    assert kept.at == clock()
    answer = slack.slash("handoff note anything", user="U0OUTSIDER", channel="C0PAYMENTS").json()
    assert "not on call" in answer["text"]
