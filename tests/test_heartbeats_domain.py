"""Heartbeats, pure: when one goes missing, what its alert says, and recovering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.config import Heartbeat
from bot.domain.heartbeats import HeartbeatState, beat, check, missing_alert, recovered_alert

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
HB = Heartbeat(name="prometheus", team="payments", timeout=timedelta(seconds=5),
               token_env="T")
S = timedelta(seconds=1)


@pytest.mark.parametrize(("last_beat", "at", "missing_since"), [
    (NOW, NOW + 5 * S, None),                # exactly the timeout: still fine
    (NOW, NOW + 6 * S, NOW + 5 * S),         # past it: missing since the beat was due
    (None, NOW + 5 * S, None),               # never beat: counts from watching
    (None, NOW + 6 * S, NOW + 5 * S),
])
def test_missing_after_the_timeout(last_beat: datetime | None, at: datetime,
                                   missing_since: datetime | None) -> None:
    state = HeartbeatState("prometheus", watching_since=NOW, last_beat=last_beat)
    assert check(state, HB, at).missing_since == missing_since


def test_watching_starts_at_the_first_check_and_missing_stays_put() -> None:
    first = check(None, HB, NOW)
    assert first == HeartbeatState("prometheus", watching_since=NOW)
    gone = check(first, HB, NOW + 10 * S)
    assert check(gone, HB, NOW + 100 * S) == gone  # no second transition


def test_a_beat_recovers_and_forgets_the_outage() -> None:
    gone = HeartbeatState("prometheus", NOW, last_beat=NOW, missing_since=NOW + 5 * S,
                          opened=True)
    back = beat(gone, "prometheus", NOW + 60 * S)
    assert (back.missing, back.opened, back.last_beat) == (False, False, NOW + 60 * S)
    assert beat(None, "prometheus", NOW).last_beat == NOW
    assert HeartbeatState.from_dict(gone.to_dict()) == gone


def test_the_missing_alert_names_the_heartbeat_and_since_when() -> None:
    state = check(HeartbeatState("prometheus", NOW, last_beat=NOW), HB, NOW + 9 * S)
    event = missing_alert(HB, state)
    assert event.summary == "Heartbeat prometheus missing since 2026-11-04 10:00:00 UTC"
    assert (event.action, event.team, event.severity) == ("trigger", "payments", "critical")
    resolved = recovered_alert(HB)
    assert (resolved.action, resolved.key) == ("resolve", event.key)
