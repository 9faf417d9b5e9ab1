"""Hostile text in every text field of every feature, through the real endpoints.

The Slack-compatible server refuses any text Slack would parse as markup atbat does not
mean (bot/fakeslack/markup.py), and the `workspace` fixture fails a test that sent one,
even where atbat only logged the refusal. These tests push a broadcast, a mention,
`a & b <c>`, an ANSI escape, a bidi override and a 3,000-character text into each field a
person or an alert fills, and check that the text is still shown, escaped once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from slack_sdk import WebClient

from bot.domain.config import AlertmanagerConfig
from bot.services.handoffs import check_handoffs
from tests.conftest import ALERT_TOKEN, BOT_TOKEN
from tests.test_alerts_e2e import fixture, post_am
from tests.test_paging_e2e import (  # noqa: F401  (paging and phone are fixtures)
    add_method,
    open_settings,
    page_payments_about,
    paging,
    phone,
    wait_for_call,
)
from tests.test_remediation_e2e import config  # noqa: F401  (the shared config plus harmless runbooks)
from tests.test_silences_e2e import on_call, open_modal, silence_message, submit

pytest_plugins = ("tests.alertmanager",)

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


@pytest.fixture
def seen(workspace) -> Seen:  # noqa: ANN001
    """What atbat sends from here on; a test names it after its other fixtures."""
    return Seen(workspace)


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
def test_every_command_answers_hostile_arguments_cleanly(slack, run_jobs, seen,  # noqa: ANN001
                                                         command: str, typed: str) -> None:
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
        app_server, slack, workspace, run_jobs, run_scheduled, clock, seen, raw: str) -> None:
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


@RAW_TEXTS
def test_events_v2_text_in_the_message_links_images_and_thread(app_server, slack, run_jobs,  # noqa: ANN001
                                                               seen, raw: str) -> None:
    body = fixture("events_trigger.json")
    body["payload"].update(summary=f"summary {raw}", source=raw, component=raw, group=raw,
                           custom_details={"why": raw, raw[:50]: "key"})
    body.update(client=raw, client_url="https://x.example/a?b=1&c=<2>",
                links=[{"href": "https://x.example/?a=1&b=2", "text": raw},
                       {"href": "javascript:alert(1)", "text": "js"}],
                images=[{"src": "https://x.example/i.png", "href": "https://x.example/",
                         "alt": raw}])
    for action in ("trigger", "acknowledge", "resolve"):
        answer = requests.post(f"{app_server.url}/alerts/events", json=dict(body, event_action=action),
                               headers={"Authorization": f"Bearer {ALERT_TOKEN}"}, timeout=10)
        assert answer.status_code == 202, answer.text
        run_jobs()
    texts = seen.check()
    assert not [t for t in texts if "javascript:" in t and "<javascript" in t]


# ---------------------------------------------------------------- people's notes and requests


@TYPED_TEXTS
def test_cover_request_note_in_the_request_its_end_and_the_dms(slack, run_jobs, workspace,  # noqa: ANN001
                                                               seen, typed: str) -> None:
    answer = slash(slack, seen, f"cover-request tomorrow payments {typed}")
    assert answer["text"].startswith("Asked payments who can cover you"), answer
    run_jobs()
    [message] = [m for m in workspace.messages("C0PAYMENTS") if "needs cover" in m["text"]]
    slack.click(message, "cover_take", user="U0BOB", channel="C0PAYMENTS")
    run_jobs()
    seen.check()


@TYPED_TEXTS
def test_handoff_note_in_the_next_handoff_summary(slack, run_jobs, workspace, runtime,  # noqa: ANN001
                                                  clock, seen, typed: str) -> None:
    assert "next handoff summary" in slash(slack, seen, f"handoff note {typed}")["text"]
    check_handoffs(runtime, runtime.now())
    run_jobs()
    clock.advance(days=4, hours=22, seconds=20)  # Monday 9 November 08:00 UTC: bob's turn
    check_handoffs(runtime, runtime.now())
    run_jobs()
    assert dms_with(workspace, "U0BOB", "Handoff summary")
    seen.check()


@TYPED_TEXTS
def test_maintenance_reason_in_answers_announcements_and_who(slack, run_jobs, run_scheduled,  # noqa: ANN001
                                                             clock, seen, typed: str) -> None:
    answer = slash(slack, seen, f"maintenance payments 2h from +1h {typed}", user="U0MANAGER")
    assert "scheduled from" in answer["text"], answer
    run_jobs()
    slash(slack, seen, "who payments")
    later(clock, run_scheduled, run_jobs, hours=1)
    slash(slack, seen, "maintenance payments")
    slash(slack, seen, "maintenance payments end", user="U0MANAGER")
    run_jobs()
    seen.check()


@TYPED_TEXTS
def test_pages_from_slack_to_a_team_and_a_person(app_server, slack, run_jobs, workspace,  # noqa: ANN001
                                                 seen, typed: str) -> None:
    for target in ("payments sev2", "<@U0BOB|bob>"):
        answer = slash(slack, seen, f"page {target} {typed}", user="U0CAROL", channel="C0GENERAL")
        assert answer["text"].startswith("Paging"), answer
        run_jobs()
    bob = dms_with(workspace, "U0BOB", "")
    slack.click(bob[0], "alert_ack", user="U0BOB", channel="D0BOB")
    run_jobs()
    seen.check()


@RAW_TEXTS
def test_page_about_a_message_from_the_shortcut(app_server, slack, run_jobs, workspace,  # noqa: ANN001
                                                runtime, seen, raw: str) -> None:
    # A person's message as Slack stores it: typed text escaped, a typed @channel as markup.
    typed = raw.replace("&", "&amp;").replace("<c>", "&lt;c&gt;")
    workspace.check_markup = False  # the person's message, not atbat's
    client = WebClient(token=BOT_TOKEN, base_url=runtime.settings.api_url)
    ts = client.chat_postMessage(channel="C0GENERAL", text=typed)["ts"]
    workspace.check_markup = True
    seen.start = (len(workspace.calls), len(workspace.responses))
    page_payments_about(slack, workspace, workspace.find_message("C0GENERAL", ts))
    run_jobs()
    seen.check()


# ---------------------------------------------------------------- runs


RUN_VALUES = ["<!channel> <@U0EVIL|evil> a &amp; b &lt;c&gt; end",
              "a &amp; b &lt;c&gt; " + "x" * 2900, TYPED]


@pytest.mark.parametrize("value", RUN_VALUES, ids=["ascii", "3000", "control"])
def test_run_parameters_and_output_in_the_request_thread_and_listings(  # noqa: ANN001
        slack, run_jobs, workspace, seen, value: str) -> None:
    answer = slash(slack, seen, f'run echo-args "target={value}" mode=slow')
    run_jobs()
    if value != RUN_VALUES[0]:  # control characters and 256+ characters are refused
        assert "`r" not in answer["text"]
        seen.check(shown=False)
        return
    [request] = [m for m in workspace.messages("C0PAYMENTS") if "Run request" in m.get("text", "")]
    for approver in ("U0BOB", "U0MANAGER"):
        slack.click(request, "run_approve", user=approver, channel="C0PAYMENTS")
        run_jobs()
    slash(slack, seen, "jobs")
    slash(slack, seen, "audit", user="U0MANAGER")
    texts = seen.check()
    assert any("Exit code 0" in t and "&lt;!channel&gt;" in t for t in texts)


# ---------------------------------------------------------------- incidents


@TYPED_TEXTS
def test_incident_modals_updates_timeline_and_postmortem(slack, run_jobs, workspace,  # noqa: ANN001
                                                         seen, typed: str) -> None:
    raw = typed.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    slash(slack, seen, f"incident {TYPED} sev2")  # a title is at most 250 characters
    run_jobs()
    channel = [c for c in workspace.channels.values() if c.name.startswith("inc-")][-1].id

    def summary() -> dict[str, Any]:
        [ts] = workspace.pins[channel]
        return workspace.find_message(channel, ts)

    select = {"type": "static_select", "selected_option": {"value": "monitoring"}}
    slack.click(summary(), "incident_update", user="U0BOB", channel=channel)
    [view] = workspace.open_views("U0BOB")
    slack.submit_view(view, "U0BOB", {"update": {"text": raw}, "status": {"status": select}})
    run_jobs()
    for command in (f"update {typed}", f"note {typed}", "lead <@U0BOB|bob>", "sev 1"):
        slash(slack, seen, command, channel=channel)
        run_jobs()
    slack.click(summary(), "incident_resolve", user="U0ALICE", channel=channel)
    [view] = workspace.open_views("U0ALICE")
    slack.submit_view(view, "U0ALICE", {"summary": {"text": raw}})
    run_jobs()
    slash(slack, seen, "incidents")
    seen.check()
    [upload] = [m for m in workspace.messages(channel) if m.get("files")]
    content = workspace.file_content(upload["files"][0]["id"]).decode()
    assert "<!channel>" not in content and "\x1b" not in content and "\u202e" not in content, \
        [line for line in content.splitlines() if "<!channel>" in line or "\x1b" in line]


# ---------------------------------------------------------------- paging by push, call and SMS


@RAW_TEXTS
def test_alert_text_in_push_call_and_sms_pages_and_their_thread_lines(  # noqa: ANN001
        paging, app_server, slack, phone, clock, run_jobs, run_scheduled, seen,  # noqa: F811
        raw: str) -> None:
    assert post_am(app_server, hostile_alert(raw)).status_code == 200
    run_jobs()
    later(clock, run_scheduled, run_jobs, minutes=1)  # push
    later(clock, run_scheduled, run_jobs, minutes=2)  # call
    call = wait_for_call(phone)
    assert "\x1b" not in " ".join(call["said"])
    later(clock, run_scheduled, run_jobs, minutes=7)  # sms
    texts = seen.check()
    assert any("Push to <@U0ALICE>: accepted by" in t for t in texts)


# ---------------------------------------------------------------- silences


@pytest.fixture
def silencing_config(runtime, alertmanager, clock) -> None:  # noqa: ANN001
    """Each team's Alertmanager is the local one, on the real time (it refuses silences
    that end in the past)."""
    clock.set(datetime.now(UTC).replace(microsecond=0))
    teams = {name: dataclasses.replace(t, alertmanager=AlertmanagerConfig(alertmanager.url))
             for name, t in runtime.config.teams.items()}
    runtime.config = dataclasses.replace(runtime.config, teams=teams)


@RAW_TEXTS
def test_silence_modal_matchers_comment_and_thread(silencing_config, app_server, slack,  # noqa: ANN001
                                                   workspace, runtime, run_jobs, seen,
                                                   raw: str) -> None:
    assert post_am(app_server, hostile_alert(raw)).status_code == 200
    run_jobs()
    user = on_call(runtime)
    view = open_modal(slack, workspace, user)
    answer = submit(slack, view, user, comment=raw)  # matchers prefilled from the labels
    assert answer.status_code == 200 and not answer.content.strip(), answer.text
    run_jobs()
    shown = silence_message(workspace)
    slack.click(shown, "silence_extend", user, "C0PAYMENTS")
    run_jobs()
    slash(slack, seen, "silences payments")
    refused = submit(slack, open_modal(slack, workspace, user), user, matchers=f'{raw}="x"')
    assert "errors" in refused.json()
    seen.check()


# ---------------------------------------------------------------- notification settings


@RAW_TEXTS
def test_notification_settings_modal_refuses_hostile_methods_and_rules_cleanly(  # noqa: ANN001
        paging, slack, workspace, phone, run_jobs, seen, raw: str) -> None:  # noqa: F811
    view = open_settings(slack, workspace)
    for method in ("push", "sms", "call", "email"):
        answer = add_method(slack, view, method, raw[:500], high=raw[:300])  # stays open
        errors = answer.json()["errors"]
        assert errors and not [e for e in errors.values() if "\x1b" in e or "\u202e" in e]
        run_jobs()
    push = f"ntfy://127.0.0.1:{phone.http.server.server_port}/bob-pager"
    answer = add_method(slack, view, "push", push, high=raw[:300])
    assert not [e for e in answer.json().get("errors", {}).values() if "\x1b" in e]
    run_jobs()
    seen.check(shown=False)


def test_a_providers_words_in_the_thread_are_escaped(  # noqa: ANN001
        paging, app_server, slack, phone, clock, run_jobs, run_scheduled, seen) -> None:  # noqa: F811
    alice = paging.config.people["U0ALICE"]
    contacts = tuple(dataclasses.replace(c, target="nope://<!channel>&x=<c>")
                     if c.method == "push" else c for c in alice.contacts)
    people = {**paging.config.people, "U0ALICE": dataclasses.replace(alice, contacts=contacts)}
    paging.config = dataclasses.replace(paging.config, people=people)
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    later(clock, run_scheduled, run_jobs, minutes=1)  # push: a URL no provider knows
    texts = seen.check(shown=False)
    assert any("Push to <@U0ALICE>" in t for t in texts), texts
