"""Hostile text in every text field of every feature, through the real endpoints.

The Slack-compatible server refuses any text Slack would parse as markup atbat does not
mean (bot/fakeslack/markup.py), and the `workspace` fixture fails a test that sent one,
even where atbat only logged the refusal. These tests push a broadcast, a mention,
`a & b <c>`, an ANSI escape, a bidi override and a 3,000-character text into each field a
person or an alert fills, and check that the text is still shown, escaped once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_alerts_e2e import fixture, post_am

# What Slack sends for typed text: a real @channel and @mention as markup, `&`, `<`, `>`
# escaped. Control and format characters arrive as typed.
TYPED = "<!channel> <@U0EVIL|evil> a &amp; b &lt;c&gt; \x1b[31m \u202e end"
LONG_TYPED = (TYPED + " ") + "x &amp; " * 370
# Alert text arrives raw.
RAW = "<!channel> <@U0EVIL> a & b <c> \x1b[31m \u202e end"
LONG_RAW = RAW + " " + "x & " * 740

TYPED_TEXTS = pytest.mark.parametrize("typed", [TYPED, LONG_TYPED], ids=["short", "3000"])
RAW_TEXTS = pytest.mark.parametrize("raw", [RAW, LONG_RAW], ids=["short", "3000"])


def parsed_texts(value: Any) -> Iterator[str]:
    """Every string of an API argument or payload a reader sees."""
    if isinstance(value, list):
        for item in value:
            yield from parsed_texts(item)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key in ("text", "topic", "purpose", "initial_comment", "initial_value") \
                and isinstance(item, str):
            yield item
        else:
            yield from parsed_texts(item)


class Seen:
    """What atbat sent: Web API calls, response_url posts and the answers collected."""

    def __init__(self, workspace) -> None:  # noqa: ANN001
        self.workspace = workspace
        self.answers: list[Any] = []
        self.start = (len(workspace.calls), len(workspace.responses))

    def texts(self) -> list[str]:
        calls = self.workspace.calls[self.start[0]:]
        posts = self.workspace.responses[self.start[1]:]
        texts = [t for c in calls for t in parsed_texts(c.args)]
        texts += [t for p in posts for t in parsed_texts(p.payload)]
        return texts + [t for a in self.answers for t in parsed_texts(a)]

    def check(self, shown: bool = True) -> list[str]:
        """No violation, nothing escaped twice, no control character; with `shown`, the
        hostile text visible, escaped once."""
        assert self.workspace.markup_violations == []
        texts = self.texts()
        assert texts, "atbat sent nothing"
        doubled = [t[:200] for t in texts if "&amp;amp;" in t or "&amp;lt;" in t]
        assert doubled == [], "escaped twice"
        assert not [t for t in texts if "\x1b" in t or "\u202e" in t]
        if shown:
            assert any("&lt;!channel&gt;" in t for t in texts), "the hostile text is not shown"
            assert any("a &amp; b &lt;c&gt;" in t for t in texts), "a & b <c> is not shown"
        return texts


def slash(slack, seen: Seen, text: str, user: str = "U0ALICE",  # noqa: ANN001
          channel: str = "C0PAYMENTS") -> dict[str, Any]:
    response = slack.slash(text, user=user, channel=channel)
    assert response.status_code == 200
    answer = response.json() if response.content.strip() else {}
    seen.answers.append(answer)
    return answer


# ---------------------------------------------------------------- every command

COMMANDS = [
    "{h}", "who {h}", "who payments at {h}", "next {h}", "next payments {h}", "schedule {h}",
    "me {h}", "calendar {h}", "swap {h}", "swap <@U0BOB|bob> {h}", "cover <@U0BOB|bob> {h}",
    "cover-request {h}", "take {h}", "take payments until {h}", "override <@U0BOB|bob> {h}",
    "override <@U0BOB|bob> tomorrow..+2h payments {h}", "overrides {h}", "rotation {h}",
    "rotation payments primary add {h}", "rotation payments primary handoff {h}",
    "alerts {h}", "maintenance {h}", "maintenance payments until {h}", "heartbeats {h}",
    "silences {h}", "incidents {h}", "runbooks {h}", "run {h}", "run restart-api service={h}",
    "run restart-api {h}", "jobs {h}", "audit {h}", "report {h}", "report payments {h}",
    "handoff {h}", "notify {h}", "help {h}", "page", "sev {h}", "lead {h}", "update {h}",
    "autoremediation {h}",
]


@TYPED_TEXTS
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_hostile_arguments_cleanly(slack, run_jobs, workspace,  # noqa: ANN001
                                                         command: str, typed: str) -> None:
    seen = Seen(workspace)
    for user in ("U0ALICE", "U0MANAGER"):
        slash(slack, seen, command.format(h=typed), user=user)
        run_jobs()
    seen.check(shown=False)


# ---------------------------------------------------------------- alert text, everywhere it goes


def hostile_alert(raw: str) -> dict[str, Any]:
    body = fixture("alertmanager_firing.json")
    alert = body["alerts"][0]
    alert["labels"].update(alertname=f"Disk {raw}", owner=raw)
    alert["annotations"].update(summary=f"summary {raw}", description=f"description {raw}")
    alert["generatorURL"] = "https://prometheus.example/graph?g0.expr=up&g0.tab=1"
    body["commonLabels"] = dict(alert["labels"])
    body["commonAnnotations"] = dict(alert["annotations"])
    body["groupLabels"] = {"alertname": alert["labels"]["alertname"], "team": "payments"}
    return body


def resolved(body: dict[str, Any]) -> dict[str, Any]:
    done = json.loads(json.dumps(body))
    done["status"] = "resolved"
    for alert in done["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-04T14:30:00Z"
    return done


def dms_with(workspace, user: str, words: str) -> list[dict[str, Any]]:  # noqa: ANN001
    return [m for m in workspace.dms(user) if words in json.dumps(m, ensure_ascii=False)]


def later(clock, run_scheduled, run_jobs, **delta: float) -> None:  # noqa: ANN001
    clock.advance(**delta)
    run_scheduled()
    run_jobs()


@RAW_TEXTS
def test_alert_text_in_messages_pages_threads_questions_feedback_home_and_reports(  # noqa: ANN001, PLR0913
        app_server, slack, workspace, run_jobs, run_scheduled, clock, raw: str) -> None:
    seen = Seen(workspace)
    body = hostile_alert(raw)
    assert post_am(app_server, body).status_code == 200
    run_jobs()
    [message] = [m for m in workspace.messages("C0PAYMENTS") if m.get("blocks")]
    later(clock, run_scheduled, run_jobs, minutes=10)  # the secondary is paged too
    [page] = workspace.dms("U0ALICE")
    slack.click(page, "alert_ack", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    later(clock, run_scheduled, run_jobs, hours=4)  # "Still on it?"
    [question] = dms_with(workspace, "U0ALICE", "Still on it?")
    slack.click(question, "ack_still_on_it", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    slack.app_home_opened("U0ALICE")
    run_jobs()
    assert post_am(app_server, resolved(body)).status_code == 200
    run_jobs()
    [asked] = dms_with(workspace, "U0ALICE", "Was this page worth it?")
    slack.click(asked, "feedback_noise", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    [asked] = dms_with(workspace, "U0ALICE", "Was this page worth it?")
    slack.click(asked, "feedback_note", user="U0ALICE", channel="D0ALICE")
    [form] = [v for v in workspace.open_views("U0ALICE") if v["type"] == "modal"]
    slack.submit_view(form, "U0ALICE", {"note": {"text": raw}})  # a modal's value is raw text
    run_jobs()
    slash(slack, seen, "report payments")
    run_jobs()
    slash(slack, seen, "alerts payments")
    texts = seen.check()
    assert any(t.startswith(":bar_chart:") or "report" in t.lower() for t in texts)
    assert message["ts"]
