"""Every list renderer stays within Slack's Block Kit limits, however long the list.

Each payload is checked the way the Slack-compatible server checks what it
receives: Slack's SDK models plus the limits they do not check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import incidents
from bot.domain.alerts import AlertEvent, apply_event
from bot.domain.schedule import Override
from bot.fakeslack.blocks import block_errors, fallback_errors
from bot.slack import render_alerts, render_incidents, render_swaps
from bot.slack.format import cut_mrkdwn
from bot.store.schedules import StoredOverride

NOW = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)


def assert_fits(text: str, blocks: list) -> None:  # noqa: ANN001
    assert block_errors(blocks) + fallback_errors(text, blocks) == []


@pytest.mark.parametrize("n", [1, 49, 50, 51, 55, 200])
def test_open_alerts_list(n: int) -> None:
    groups = []
    for i in range(n):
        event = AlertEvent(routing_key="payments", action="trigger", dedup_key=f"k{i}",
                           summary=f"<!channel> & alert {i} " + "x" * 300).with_team("payments")
        group, _ = apply_event(None, event, NOW)
        groups.append(group)
    blocks = render_alerts.alerts_list(groups, NOW, team="payments")
    assert_fits(f"{n} open alerts", blocks)
    assert len(blocks) <= 50
    if n > 24:
        assert "more open alerts" in str(blocks[-1])


@pytest.mark.parametrize("n", [1, 50, 60, 120])
def test_incidents_list(n: int) -> None:
    items = [incidents.declare(f"i{i}", f"<!here> incident {i} & more " + "y" * 200, 2,
                               "payments", "U0ALICE", "U0ALICE", NOW - timedelta(hours=i))
             for i in range(n)]
    message = render_incidents.incidents_list(items, NOW)
    assert_fits(message["text"], message["blocks"])
    if n > render_incidents.LIST_MAX:
        assert f"and {n - render_incidents.LIST_MAX} more" in str(message["blocks"][-1])


@pytest.mark.parametrize("n", [1, 48, 49, 50, 55, 300])
def test_overrides_list(n: int) -> None:
    stored = [StoredOverride(Override(layer="primary", user="U0CAROL", id=f"ov-{i}",
                                      start=NOW + timedelta(days=i),
                                      end=NOW + timedelta(days=i, hours=1), replaces="U0ALICE"),
                             created_by="U0MANAGER", created_at=NOW) for i in range(n)]
    text, blocks = render_swaps.overrides_list("payments", stored)
    assert_fits(text, blocks)
    shown = sum(1 for b in blocks if "accessory" in b)
    assert shown == n or (shown == 48 and f"and {n - 48} more" in str(blocks[-1]))


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("a &amp; b", 5, "a …"),  # not "a &a…"
    ("x <!date^1793786400^{time}|10:00 UTC> y", 12, "x …"),
    ("hi <@U0ALICE> there", 8, "hi …"),
    ("x <https://e.example/" + "a" * 5000 + "|link> y", 3000, "x …"),  # a token longer than any window
    ("x &lt;" * 1000, 2999, "x &lt;" * 499 + "x …"),
    ("short", 10, "short"),
    ("abcdef", 4, "abc…"),
])
def test_cuts_never_split_an_entity_or_a_token(text: str, limit: int, expected: str) -> None:
    assert cut_mrkdwn(text, limit) == expected


def test_durations_never_write_a_raw_less_than() -> None:
    assert render_incidents.duration(timedelta(seconds=20)) == "under 1m"
