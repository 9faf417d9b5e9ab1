"""History streams: pages, acks, resolves and audited changes land in the team's streams, trimmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import history as domain
from bot.services.history import trim_history
from bot.store import history as store
from tests.test_alerts_e2e import firing_key, fixture, post_am

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def events(runtime, kind: str, team: str = "payments") -> list[domain.Event]:
    return store.read(runtime.redis, team, kind, EPOCH, FAR)


def test_page_ack_and_resolve_are_history(app_server, run_jobs, slack, workspace, clock,
                                          runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    [page] = events(runtime, "page")
    assert page.at == clock()
    # alice's profile says Europe/Berlin: 10:00 UTC is 11:00 there (CET).
    assert page.fields["user"] == "U0ALICE" and page.fields["method"] == "slack"
    assert page.fields["tz"] == "Europe/Berlin" and page.fields["local"] == "2026-11-04T11:00+01:00"
    assert page.fields["group"] == firing_key() and page.fields["occ"] == "1"
    rule = store.rules(runtime.redis, "payments")[page.fields["rule"]]
    assert rule.alertname == "PaymentsApiHighErrorRate"
    [escalation] = events(runtime, "escalation")
    assert escalation.fields["what"] == "notified"

    [dm] = workspace.dms("U0ALICE")
    clock.advance(minutes=2, seconds=10)
    slack.click(dm, "alert_ack", user="U0ALICE", channel="D0ALICE")
    [ack] = events(runtime, "ack")
    assert ack.fields["user"] == "U0ALICE" and ack.fields["tta"] == "130"
    assert ack.fields["rule"] == page.fields["rule"]

    clock.advance(minutes=5)
    post_am(app_server, fixture("alertmanager_resolved.json"))
    [resolve] = events(runtime, "resolve")
    assert resolve.fields["user"] == "source" and resolve.fields["ttr"] == str(7 * 60 + 10)


def test_an_older_instant_never_breaks_the_stream(runtime) -> None:
    later = datetime(2026, 11, 4, 10, 0, 1, tzinfo=UTC)
    store.append(runtime.redis, "payments", domain.note("U0ALICE", "first", later))
    # A second process a few ms behind: kept, at the stream's last instant.
    store.append(runtime.redis, "payments", domain.note("U0BOB", "second", later - timedelta(
        milliseconds=5)))
    assert [e.fields["user"] for e in events(runtime, "note")] == ["U0ALICE", "U0BOB"]


def test_overrides_go_to_history_through_the_audit(slack, runtime, run_jobs) -> None:
    answer = slack.slash('override <@U0BOB|bob> "2026-11-05 09:00..17:00" payments',
                         user="U0MANAGER", channel="C0PAYMENTS")
    assert "Override" in answer.json()["text"], answer.json()
    [override] = events(runtime, "override")
    assert override.fields["user"] == "U0MANAGER" and override.fields["action"] == "create"


def test_streams_are_trimmed_to_history_days(runtime, clock) -> None:
    r = runtime.redis
    old = clock() - timedelta(days=runtime.config.history_days + 30)
    for i in range(300):  # enough for MINID ~ to drop whole stream nodes
        store.append(r, "payments", domain.note("U0ALICE", str(i), old + timedelta(seconds=i)))
    store.append(r, "payments", domain.note("U0ALICE", "recent", clock() - timedelta(days=1)))
    trim_history(runtime, clock())
    assert [e.fields["text"] for e in events(runtime, "note")] == ["recent"]
    assert store.entries(r, "payments", "note") == 1
