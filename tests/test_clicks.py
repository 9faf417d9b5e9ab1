"""The click pipeline: every feature's buttons behave the same when the store is down."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.slack.clicks import STORE_DOWN
from bot.store import swap_requests as pending

# Every button atbat puts on a message, by feature.
BUTTONS = {
    "alerts": ["alert_ack", "alert_resolve", "alert_escalate"],
    "incidents": ["alert_incident", "incident_update", "incident_severity", "incident_resolve"],
    "remediation": ["run_approve", "run_deny", "run_cancel", "alert_runbook"],
    "swaps": ["swap_accept", "swap_decline"],
    "overrides": ["override_cancel"],
    "rotations": ["rotation_confirm", "rotation_cancel"],
    "silences": ["alert_silence", "silence_expire", "silence_extend"],
    "graduation": ["graduation_dismiss"],
}

# Ids of the right shape, so that only the store can tell they are unknown.
VALUES = {"remediation": "r0123456789", "swaps": pending.new_id("swap"),
          "rotations": pending.new_id("rot"), "silences": "payments:0a1b2c3d",
          "graduation": "g0123456789"}


@pytest.fixture
def message_with_every_button(runtime, workspace) -> dict[str, Any]:
    elements = [{"type": "button", "text": {"type": "plain_text", "text": action_id},
                 "action_id": action_id, "value": VALUES.get(feature, "some-id")}
                for feature, ids in BUTTONS.items() for action_id in ids]
    blocks = [{"type": "actions", "elements": elements[i:i + 5]} for i in range(0, len(elements), 5)]
    posted = runtime.sender.call("chat.postMessage", channel="C0PAYMENTS", text="buttons",
                                 blocks=blocks)
    return workspace.find_message("C0PAYMENTS", posted["ts"])


def _answers(workspace, user: str, n: int) -> list[str]:
    """The presser's ephemerals, once `n` have arrived (they are sent after the ack)."""
    deadline = time.monotonic() + 10
    while len(shown := workspace.ephemerals("C0PAYMENTS", user)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return [m["text"] for m in shown]


@pytest.mark.parametrize("feature", sorted(BUTTONS))
def test_a_click_while_the_store_is_down_is_acked_and_told_so(
        feature, slack, redis_server, workspace, message_with_every_button) -> None:
    redis_server.stop()
    try:
        for action_id in BUTTONS[feature]:
            response = slack.click(message_with_every_button, action_id, user="U0ALICE",
                                   channel="C0PAYMENTS")
            assert response.status_code == 200, action_id
        answers = _answers(workspace, "U0ALICE", len(BUTTONS[feature]))
    finally:
        redis_server.start()
    assert answers == [STORE_DOWN] * len(BUTTONS[feature])
    # Nothing went to the Web API (Bolt checks its token once): no form, no message.
    assert [c.method for c in workspace.calls
            if c.method not in ("chat.postMessage", "auth.test")] == []
