"""Pages saved by self-healing, per rule, in `/oncall report` and `atbat report`, from a
hand-built history of `selfheal` entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest

from bot import cli
from bot.domain.history import Event, SleepHours
from bot.domain.reports import History, build, period_ending, to_dict
from bot.store import history as store

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
CHANNEL = "C0PAYMENTS"


def selfheal(at: datetime, rule: str, outcome: str, seconds: int = 60,
             runbook: str = "restart-api") -> Event:
    return Event("selfheal", at, {"rule": rule, "runbook": runbook, "outcome": outcome,
                                  "run": "r1", "alert_rule": "abc", "group": "g",
                                  "occ": "1", "seconds": str(seconds)})


def hand_built(now: datetime) -> tuple[list[Event], list[Event]]:
    """This week: restart-stuck saved 3 pages (40 s, 80 s, 200 s to heal) and paged once;
    flush-cache saved 1 and was refused once. The week before: restart-stuck saved 1."""
    day = timedelta(days=1)
    this = [selfheal(now - 1 * day, "restart-stuck", "healed", 40),
            selfheal(now - 2 * day, "restart-stuck", "healed", 80),
            selfheal(now - 3 * day, "restart-stuck", "healed", 200),
            selfheal(now - 4 * day, "restart-stuck", "paged", 300),
            selfheal(now - 2 * day, "flush-cache", "healed", 30, runbook="flush"),
            selfheal(now - 5 * day, "flush-cache", "refused", 0, runbook="flush")]
    before = [selfheal(now - 9 * day, "restart-stuck", "healed", 50)]
    return this, before


def test_pages_saved_per_rule_from_a_hand_built_history() -> None:
    this, before = hand_built(NOW)
    report = build("payments", period_ending(NOW, 7), History(selfheal=this),
                   History(selfheal=before), [], {}, SleepHours(time(22), time(7)), "UTC")
    assert not report.empty  # no pages, yet something happened
    restart, flush = report.self_healing  # most pages saved first
    assert (restart.rule, restart.runbook, restart.saved, restart.paged, restart.refused,
            restart.median_heal, restart.saved_before) == ("restart-stuck", "restart-api", 3, 1,
                                                           0, 80, 1)
    assert (flush.rule, flush.saved, flush.refused, flush.median_heal) == ("flush-cache", 1, 1, 30)
    assert (report.pages_saved, report.pages_saved_before) == (4, 1)
    figures = to_dict(report)
    assert figures["pages_saved"] == 4
    assert figures["self_healing"][0] == {
        "rule": "restart-stuck", "runbook": "restart-api", "pages_saved": 3,
        "pages_saved_before": 1, "paged": 1, "refused": 0, "median_heal_s": 80.0}


def seed(runtime, now: datetime) -> None:
    this, before = hand_built(now)
    for event in sorted(this + before, key=lambda e: e.at):
        store.append(runtime.redis, "payments", event)


def test_the_report_in_slack_shows_pages_saved_per_rule(slack, workspace, runtime, run_jobs,
                                                         clock) -> None:
    seed(runtime, clock())
    slack.slash("report 7d", user="U0ALICE", channel=CHANNEL)
    run_jobs()
    [message] = workspace.messages(CHANNEL)
    assert message["text"].startswith("On-call report for payments, last 7 days: 0 pages")
    assert "4 pages saved by self-healing (+3)" in message["text"]
    body = json.dumps(message["blocks"], ensure_ascii=False)
    assert "*Self-healing, pages saved per rule*" in body
    assert ("• `restart-stuck` (`restart-api`): 3 pages saved (+2), 1 paged anyway, "
            "median 1m 20s to heal") in body
    assert "• `flush-cache` (`flush`): 1 page saved (+1), 1 not run, median 30s to heal" in body


@pytest.fixture
def cli_env(runtime, monkeypatch, redis_server):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("ATBAT_CONFIG", runtime.config.path)
    return runtime


def test_atbat_report_prints_pages_saved_per_rule(cli_env, capsys) -> None:
    seed(cli_env, datetime.now(UTC) - timedelta(minutes=5))  # the command line reads the real clock
    assert cli.main(["report", "--team", "payments", "--since", "7d", "--format", "json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["pages_saved"], figures["pages_saved_before"]) == (4, 1)
    assert [(r["rule"], r["pages_saved"]) for r in figures["self_healing"]] == [
        ("restart-stuck", 3), ("flush-cache", 1)]
    assert cli.main(["report", "--team", "payments", "--since", "7d", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "section,rule,runbook,pages_saved,pages_saved_before,paged,refused,median_heal_s" \
        in lines
    assert "selfheal,restart-stuck,restart-api,3,1,1,0,80.0" in lines
    assert cli.main(["report", "--team", "payments", "--since", "7d"]) == 0
    table = capsys.readouterr().out
    assert "pages saved by self-healing 4 (before 1)" in table
    assert "self-healing, pages saved per rule" in table
    assert "restart-stuck  restart-api  3" in table
