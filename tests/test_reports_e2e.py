"""`/oncall report`, the weekly post and `atbat report` over real HTTP, Redis and RQ."""

from __future__ import annotations

import json
import struct
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bot import cli
from bot.domain.config import ReportEvery
from bot.domain.history import Event, Rule
from bot.runtime import QUEUE_DEFAULT
from bot.services import deliveries, reports
from bot.services.reports import last_scheduled, post_scheduled_reports
from bot.store import history as store
from tests.test_owed_deliveries import METRICS, gauge, lose_every_job

CHANNEL = "C0PAYMENTS"
DISK = Rule("payments", "DiskFull <prod>")


def seed(runtime, now: datetime) -> None:
    """Three pages in the last week: two at night in Berlin, one by day in New York."""
    r = runtime.redis
    store.remember_rule(r, DISK)
    for at, user, tz in ((now - timedelta(days=2, hours=10), "U0ALICE", "Europe/Berlin"),  # 01:00
                         (now - timedelta(days=1, hours=11), "U0ALICE", "Europe/Berlin"),  # 00:00
                         (now - timedelta(hours=20), "U0DAVE", "America/New_York")):      # 09:00
        store.append(r, "payments", Event("page", at, {"user": user, "tz": tz, "rule": DISK.ident,
                                                       "group": "g", "occ": "1"}))
    store.append(r, "payments", Event("ack", now - timedelta(hours=20), {
        "user": "U0DAVE", "tta": "90", "rule": DISK.ident}))


def png_size(content: bytes) -> tuple[int, int]:
    assert content[:8] == b"\x89PNG\r\n\x1a\n" and content[12:16] == b"IHDR"
    return struct.unpack(">II", content[16:24])


def test_report_is_posted_with_its_chart(slack, workspace, runtime, run_jobs, clock) -> None:
    seed(runtime, clock())
    answer = slack.slash("report 7d", user="U0ALICE", channel=CHANNEL).json()
    assert "Building the 7-day on-call report for payments" in answer["text"]
    run_jobs()
    [message] = workspace.messages(CHANNEL)
    assert message["text"].startswith("On-call report for payments, last 7 days: 3 pages (+3")
    body = json.dumps(message["blocks"], ensure_ascii=False)
    assert "<@U0ALICE>: 1 shift, 50 h on call, 2 pages (+2), 2 in sleep hours (+2)" in body
    assert "<@U0DAVE>: 1 shift, 44 h on call, 1 page (+1), 0 in sleep hours (=), median ack 1m 30s" \
        in body
    assert "<@U0CAROL>: 1 shift, 118 h on call, 0 pages (=)" in body
    assert "DiskFull &lt;prod&gt;" in body and "<prod>" not in body  # escaped
    [upload] = workspace.replies(CHANNEL, message["ts"])
    [shared] = upload["files"]
    content = workspace.file_content(shared["id"])
    width, height = png_size(content)
    assert (width, height) == (1000, 500)
    assert 5_000 < len(content) < 500_000


def test_the_empty_report_says_so_and_has_no_chart(slack, workspace, run_jobs) -> None:
    slack.slash("report search 30d", user="U0FRANK", channel="C0SEARCH")
    run_jobs()
    [message] = workspace.messages("C0SEARCH")
    assert message["text"] == ("On-call report for search, last 30 days: no pages in this period, "
                               "nothing to report.")
    assert workspace.replies("C0SEARCH", message["ts"]) == []
    assert workspace.calls_to("files.getUploadURLExternal") == []


def test_a_period_that_cannot_be_read_is_refused(slack, workspace) -> None:
    answer = slack.slash("report payments 7w", user="U0ALICE", channel=CHANNEL).json()
    assert "is not a period" in answer["text"] and "Usage" in answer["text"]


def test_the_weekly_report_is_posted_exactly_once(runtime, run_jobs, workspace, clock,
                                                  monkeypatch) -> None:
    team = runtime.config.teams["payments"]
    weekly = type(team)(**{**team.__dict__, "report_every": ReportEvery(2, datetime.min.time()
                                                                         .replace(hour=9))})
    monkeypatch.setitem(runtime.config.teams, "payments", weekly)  # Wednesdays 09:00 Berlin
    assert last_scheduled(weekly, clock()) == datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
    barrier = threading.Barrier(2)

    def check() -> None:
        barrier.wait()
        post_scheduled_reports(runtime, clock())

    threads = [threading.Thread(target=check) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    post_scheduled_reports(runtime, clock() + timedelta(minutes=1))
    run_jobs()
    reports = [m for m in workspace.messages(CHANNEL) if m["text"].startswith("On-call report")]
    assert len(reports) == 1
    clock.advance(days=7)
    post_scheduled_reports(runtime, clock())
    run_jobs()
    assert len([m for m in workspace.messages(CHANNEL) if m["text"].startswith("On-call")]) == 2


@pytest.fixture
def cli_env(runtime, monkeypatch, redis_server):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("ATBAT_CONFIG", runtime.config.path)
    return runtime


def test_command_line_prints_the_same_numbers(cli_env, capsys) -> None:
    # The command line reads the real clock: seed around yesterday 10:00 UTC.
    seed(cli_env, (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0))
    assert cli.main(["report", "--team", "payments", "--since", "7d", "--format", "json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["pages"], figures["sleep_pages"], figures["median_tta_s"]) == (3, 2, 90.0)
    alice = next(p for p in figures["people"] if p["user"] == "U0ALICE")
    assert (alice["pages"], alice["sleep_pages"]) == (2, 2)
    assert cli.main(["report", "--team", "payments", "--since", "7d", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("section,user,shifts,hours,pages")
    assert any(line.startswith("rule,DiskFull <prod>,,3,0,2,0,0,0,") for line in lines)
    assert cli.main(["report", "--team", "payments", "--since", "7d"]) == 0
    table = capsys.readouterr().out
    assert "pages 3 (before 0), sleep-hour pages 2" in table and "DiskFull <prod>" in table


def test_command_line_errors(cli_env, capsys) -> None:
    assert cli.main(["report", "--team", "search", "--since", "30d"]) == 0
    assert "no pages in this period, nothing to report" in capsys.readouterr().out
    assert cli.main(["report", "--team", "nope"]) == 2
    assert "unknown team 'nope'" in capsys.readouterr().err
    assert cli.main(["report", "--team", "payments", "--since", "forever"]) == 2
    assert "--since" in capsys.readouterr().err


# ---------------------------------------------------------------- the weekly post is owed


@pytest.fixture
def weekly(runtime, monkeypatch):
    """payments posts its report on Wednesdays 09:00 Berlin (08:00 UTC, two hours before the
    test clock), with three pages in the week before; Slack outages fail fast."""
    team = runtime.config.teams["payments"]
    weekly = type(team)(**{**team.__dict__, "report_every": ReportEvery(2, datetime.min.time()
                                                                         .replace(hour=9))})
    monkeypatch.setitem(runtime.config.teams, "payments", weekly)
    monkeypatch.setattr(runtime.sender, "max_attempts", 2)
    seed(runtime, datetime(2026, 11, 4, 10, 0, tzinfo=UTC))
    return weekly


AT = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
REPORT_ID = f"payments:{int(AT.timestamp())}"


def ticks(runtime, clock, run_scheduled, run_jobs, minutes: int, step_seconds: int = 10) -> None:
    """Let time pass as the workers see it: ticks (the weekly check, the owed check) and the
    jobs that come due."""
    for _ in range(minutes * 60 // step_seconds):
        clock.advance(seconds=step_seconds)
        post_scheduled_reports(runtime, clock())
        deliveries.check_owed(runtime, clock())
        run_scheduled()
        run_jobs()


def reports_posted(workspace) -> list[dict]:
    return [m for m in workspace.messages(CHANNEL) if m["text"].startswith("On-call report")]


def files_shown(workspace) -> list[dict]:
    """Every file shared in the channel, threads included."""
    return [f for m in workspace.messages(CHANNEL, include_replies=True) for f in m.get("files", [])]


def assert_posted_once_with_its_chart(workspace) -> None:
    [message] = reports_posted(workspace)
    assert message["text"].startswith("On-call report for payments, last 7 days: 3 pages")
    [upload] = workspace.replies(CHANNEL, message["ts"])
    [shared] = upload["files"]
    assert png_size(workspace.file_content(shared["id"])) == (1000, 500)
    assert len(files_shown(workspace)) == 1


def test_a_weekly_report_due_during_a_slack_outage_is_posted_once_with_its_chart_after(
        weekly, runtime, run_jobs, run_scheduled, clock, workspace, app_server) -> None:
    for method in ("chat.postMessage", "files.getUploadURLExternal",
                   "files.completeUploadExternal"):
        workspace.fail_next(method, status=503, count=10_000)
    post_scheduled_reports(runtime, clock())
    run_jobs()
    ticks(runtime, clock, run_scheduled, run_jobs, minutes=10)
    assert reports_posted(workspace) == [] and files_shown(workspace) == []
    assert gauge(app_server, "report") == 1  # the message; its chart is owed once it is posted
    assert len(workspace.calls_to("chat.postMessage")) > 4  # tried all along

    lose_every_job(runtime)  # workers restarted with Redis failing over: the retry job is gone
    workspace.faults.clear()  # Slack is back
    clock.advance(minutes=10)
    run_scheduled()
    assert run_jobs() == 0
    ticks(runtime, clock, run_scheduled, run_jobs, minutes=2)  # the owed check finds it
    assert_posted_once_with_its_chart(workspace)
    assert gauge(app_server, "report") == 0
    ticks(runtime, clock, run_scheduled, run_jobs, minutes=10)  # nothing more, ever
    assert len(reports_posted(workspace)) == 1 and len(files_shown(workspace)) == 1
    # Once done, each record is kept (its claim) without what was sent, the chart included.
    kept = [json.loads(runtime.redis.get(k)) for k in runtime.redis.scan_iter("atbat:delivery:report:*")]
    assert len(kept) == 2
    assert all(d["state"] == "done" and d["args"] == {} and d["on_accepted"] == [] for d in kept)


def test_a_chart_uploaded_whose_completion_failed_is_shared_once_after_and_the_message_kept(
        weekly, runtime, run_jobs, run_scheduled, clock, workspace) -> None:
    workspace.fail_next("files.completeUploadExternal", status=503, count=10_000)
    post_scheduled_reports(runtime, clock())
    run_jobs()
    ticks(runtime, clock, run_scheduled, run_jobs, minutes=3)
    [message] = reports_posted(workspace)  # posted once, not again with each chart attempt
    assert workspace.replies(CHANNEL, message["ts"]) == [] and files_shown(workspace) == []
    uploaded = [f for f in workspace.files.values() if f.content is not None]
    assert len(uploaded) > 1 and not any(f.completed for f in uploaded)  # invisible until completed
    assert deliveries.owed(runtime)["report"] == 1  # the chart

    workspace.faults.clear()
    ticks(runtime, clock, run_scheduled, run_jobs, minutes=6)
    assert_posted_once_with_its_chart(workspace)
    assert len(workspace.calls_to("chat.postMessage")) == 1
    assert deliveries.owed(runtime)["report"] == 0


def test_two_workers_at_once_post_the_weekly_report_and_its_chart_once(
        weekly, runtime, run_jobs, run_scheduled, clock, workspace, monkeypatch) -> None:
    team = runtime.config.teams["payments"]
    at_once(lambda: post_scheduled_reports(runtime, clock()))  # two ticks: one build queued
    at_once(lambda: reports.owe_scheduled_report(runtime, team, AT))  # two builds: owed once
    assert deliveries.owed(runtime)["report"] == 1
    runtime.queue(QUEUE_DEFAULT).empty()  # the queued attempts: the workers below make them

    slow = runtime.sender.call

    def slow_slack(method: str, **args):  # both workers are in the middle of sending at once
        time.sleep(0.3)
        return slow(method, **args)

    monkeypatch.setattr(runtime.sender, "call", slow_slack)
    at_once(lambda: deliveries.send(runtime, f"report:{REPORT_ID}"))
    assert len(workspace.calls_to("chat.postMessage")) == 1
    workspace.fail_next("files.getUploadURLExternal", status=503, count=2)  # the chart is owed
    run_jobs()
    assert files_shown(workspace) == [] and deliveries.owed(runtime)["report"] == 1
    clock.advance(seconds=20)  # its next attempt is due
    at_once(lambda: deliveries.send(runtime, f"report:{REPORT_ID}:chart"))
    run_scheduled()
    run_jobs()
    assert_posted_once_with_its_chart(workspace)
    assert len(workspace.calls_to("files.completeUploadExternal")) == 1


def at_once(work, workers: int = 2) -> None:
    barrier = threading.Barrier(workers)

    def run() -> None:
        barrier.wait()
        work()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.parametrize(("at", "then"), [
    (datetime(2026, 11, 4, 8, 0, tzinfo=UTC), datetime(2026, 11, 11, 8, 0, tzinfo=UTC)),
    # Berlin leaves summer time on 25 October: 09:00 is 07:00 UTC before, 08:00 after.
    (datetime(2026, 10, 21, 7, 0, tzinfo=UTC), datetime(2026, 10, 28, 8, 0, tzinfo=UTC)),
    (datetime(2026, 3, 25, 8, 0, tzinfo=UTC), datetime(2026, 4, 1, 7, 0, tzinfo=UTC)),
])
def test_a_weekly_report_gives_way_at_the_next_instant_on_the_teams_clock(config, at,
                                                                          then) -> None:
    assert reports.next_scheduled(config.teams["payments"], at) == then


def test_a_weekly_report_still_owed_when_the_next_is_due_gives_way_to_it(
        weekly, runtime, run_jobs, run_scheduled, clock, workspace, app_server) -> None:
    workspace.fail_next("chat.postMessage", status=503, count=10_000)
    post_scheduled_reports(runtime, clock())
    run_jobs()
    for _ in range(7 * 4):  # a week without Slack, in 6-hour steps
        ticks(runtime, clock, run_scheduled, run_jobs, minutes=6 * 60, step_seconds=6 * 3600)
    assert clock() == datetime(2026, 11, 11, 10, 0, tzinfo=UTC)  # the next is due since 08:00
    assert reports_posted(workspace) == []
    workspace.faults.clear()
    ticks(runtime, clock, run_scheduled, run_jobs, minutes=6)
    [message] = reports_posted(workspace)  # this week's: last week's pages are before it
    assert message["text"].startswith("On-call report for payments, last 7 days: no pages")
    text = requests.get(f"{app_server.url}/metrics", timeout=5, headers=METRICS).text
    assert 'atbat_deliveries_failed_total{kind="report"} 1' in text  # last week's, expired
    assert gauge(app_server, "report") == 0
