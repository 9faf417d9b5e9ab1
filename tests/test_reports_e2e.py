"""`/oncall report`, the weekly post and `atbat report` over real HTTP, Redis and RQ."""

from __future__ import annotations

import json
import struct
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot import cli
from bot.domain.config import ReportEvery
from bot.domain.history import Event, Rule
from bot.services.reports import last_scheduled, post_scheduled_reports
from bot.store import history as store

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
