"""Incident channels end to end: signed slash commands and clicks, Redis, RQ jobs, the Web API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from bot.periodic import run_checks
from bot.services import incidents as jobs
from bot.store import incidents as store
from bot.wiring import CHECKS
from tests.conftest import ALERT_TOKEN, FIXTURES

NAME = re.compile(r"^inc-20261104-[a-z0-9_-]+$")


# ---------------------------------------------------------------------------
# helpers


def incident_channels(workspace) -> list[Any]:
    return [c for c in workspace.channels.values() if c.name.startswith("inc-")]


def declare(slack, run_jobs, workspace, text: str, user: str = "U0ALICE",
            channel: str = "C0PAYMENTS") -> Any:
    body = slack.slash(f"incident {text}", user=user, channel=channel).json()
    assert body["text"].startswith("Opening incident channel…"), body
    run_jobs()
    created = incident_channels(workspace)
    assert created, "no incident channel was created"
    return created[-1]


def texts(workspace, channel: str) -> list[str]:
    return [m.get("text", "") for m in workspace.messages(channel)]


def pinned(workspace, channel: str) -> dict[str, Any]:
    [ts] = workspace.pins[channel]
    return workspace.find_message(channel, ts)


def say(slack, text: str, channel: str, user: str = "U0ALICE") -> str:
    return slack.slash(text, user=user, channel=channel).json()["text"]


def select(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value, "text": {"type": "plain_text",
                                                                                    "text": value}}}


# ---------------------------------------------------------------------------
# declaring


def test_declare_from_command_opens_a_channel_with_everything(slack, runtime, run_jobs,
                                                              workspace) -> None:
    body = slack.slash("incident Payments API 500s sev2", user="U0BOB", channel="C0PAYMENTS").json()
    assert body["response_type"] == "ephemeral"
    assert "Opening incident channel…" in body["text"] and "SEV2" in body["text"]
    # Acked before any Slack work: the incident is stored, the channel not created yet.
    [declaring] = store.list_open(runtime.redis)
    assert declaring.channel_id == "" and declaring.severity == 2 and declaring.team == "payments"
    assert incident_channels(workspace) == []

    run_jobs()
    [channel] = incident_channels(workspace)
    assert channel.name == "inc-20261104-payments-api-500s"
    assert [c.ok for c in workspace.calls_to("conversations.create")] == [True]
    assert channel.topic.startswith("SEV2 · Investigating · Lead: <@U0BOB> · Payments API 500s")
    # requester, primary (alice) and secondary (dave) on call, manager for a SEV2
    assert {"U0BOB", "U0ALICE", "U0DAVE", "U0MANAGER"} <= set(channel.members)
    summary = pinned(workspace, channel.id)
    buttons = [e["action_id"] for b in summary["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["incident_update", "incident_severity", "incident_resolve"]
    [announcement] = workspace.messages("C0PAYMENTS")
    assert f"<#{channel.id}>" in announcement["blocks"][0]["text"]["text"]
    assert store.by_channel(runtime.redis, channel.id).channel_name == channel.name


def test_sev3_default_and_no_managers_invited(slack, runtime, run_jobs, workspace) -> None:
    channel = declare(slack, run_jobs, workspace, "Slow search results", user="U0ALICE",
                      channel="C0GENERAL")
    inc = store.by_channel(runtime.redis, channel.id)
    assert inc.severity == 3 and inc.team == "payments"  # alice's only team
    assert "U0MANAGER" not in channel.members
    assert channel.topic.startswith("SEV3 ·")


def test_team_and_severity_words_are_recognised_and_team_asked_when_unknown(
        slack, runtime, run_jobs, workspace) -> None:
    asked = say(slack, "incident Login broken", "C0GENERAL", user="U0OUTSIDER")
    assert "Which team" in asked and "payments" in asked and "search" in asked
    assert store.list_open(runtime.redis) == []

    channel = declare(slack, run_jobs, workspace, "Index lag search SEV1", user="U0OUTSIDER",
                      channel="C0GENERAL")
    inc = store.by_channel(runtime.redis, channel.id)
    assert (inc.title, inc.team, inc.severity) == ("Index lag", "search", 1)
    assert channel.name == "inc-20261104-index-lag"
    assert {"U0OUTSIDER", "U0SMGR"} <= set(channel.members)
    assert any(f"<#{channel.id}>" in (m.get("blocks") or [{}])[0].get("text", {}).get("text", "")
               for m in workspace.messages("C0SEARCH"))


def test_name_collision_gets_a_suffix(slack, run_jobs, workspace) -> None:
    workspace.add_channel("C0TAKEN", "inc-20261104-db-down")
    channel = declare(slack, run_jobs, workspace, "DB down")
    assert channel.name == "inc-20261104-db-down-2"
    errors = [c.response.get("error") for c in workspace.calls_to("conversations.create")]
    assert errors == ["name_taken", None]


def test_wild_title_still_gives_a_valid_channel_name(slack, runtime, run_jobs, workspace) -> None:
    title = ("🔥🔥 ¡¡Checkout — FAILS!! for «Über» users??? (EU/US) #$%^* "
             "ÆØÅ straße 💥 &lt;script&gt; &amp; more… ")
    title = (title * 4)[:200]
    assert len(title) == 200
    channel = declare(slack, run_jobs, workspace, title)
    assert NAME.match(channel.name) and len(channel.name) <= 80, channel.name
    assert channel.name.startswith("inc-20261104-checkout-fails-for-uber-users-eu-us-aeoa-strasse")
    assert workspace.calls_to("conversations.create")[-1].ok
    inc = store.by_channel(runtime.redis, channel.id)
    assert "<script> & more" in inc.title  # Slack's escaping undone before storing
    assert len(channel.topic) <= 250


def test_emoji_only_title_falls_back(slack, run_jobs, workspace) -> None:
    channel = declare(slack, run_jobs, workspace, "🔥🔥🔥 !!!")
    assert channel.name == "inc-20261104-incident"


# ---------------------------------------------------------------------------
# from an alert, double clicks and retried jobs


@pytest.fixture
def alert_message(app_server, run_jobs, workspace) -> dict[str, Any]:
    """The alert message the alerts feature posts for a real Alertmanager notification."""
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    answer = requests.post(f"{app_server.url}/alerts/alertmanager", data=body, timeout=10,
                           headers={"Authorization": f"Bearer {ALERT_TOKEN}"})
    assert answer.status_code == 200, answer.text
    run_jobs()
    [message] = workspace.messages("C0PAYMENTS")
    return message


def alert_key(message: dict[str, Any]) -> str:
    return next(e["value"] for b in message["blocks"] if b["type"] == "actions"
                for e in b["elements"] if e["action_id"] == "alert_incident")


def test_double_click_on_declare_makes_one_incident(slack, runtime, run_jobs, workspace,
                                                    alert_message) -> None:
    first = slack.click(alert_message, "alert_incident", user="U0BOB", channel="C0PAYMENTS")
    second = slack.click(alert_message, "alert_incident", user="U0BOB", channel="C0PAYMENTS")
    assert first.status_code == second.status_code == 200
    run_jobs()
    [channel] = incident_channels(workspace)
    assert channel.name == "inc-20261104-paymentsapihigherrorrate"
    [inc] = store.list_open(runtime.redis)
    assert inc.alert_keys == (alert_key(alert_message),) and inc.requester == "U0BOB"
    assert [e.text for e in inc.timeline if e.kind == "alert"] == [
        "Alert linked: PaymentsApiHighErrorRate"]
    told = [m["text"] for m in workspace.ephemerals("C0PAYMENTS", "U0BOB")]
    assert any(t.startswith("Opening incident channel") for t in told)
    # The second click came before the channel existed: it names the channel to be.
    assert any("already open for this alert" in t and channel.name in t for t in told)
    notes = [m["text"] for m in workspace.replies("C0PAYMENTS", alert_message["ts"])
             if "Incident declared" in m["text"]]
    assert len(notes) == 1 and f"<#{channel.id}>" in notes[0]

    # The alert's Declare incident is spent while the incident is open: the message links it.
    def shown() -> dict[str, Any]:
        return next(m for m in workspace.messages("C0PAYMENTS") if m["ts"] == alert_message["ts"])

    buttons = [e["action_id"] for b in shown()["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert "alert_incident" not in buttons and "alert_ack" in buttons
    assert f":rotating_light: Incident: <#{channel.id}>" in json.dumps(shown()["blocks"])
    slack.slash("resolve rolled back", user="U0BOB", channel=channel.id)
    run_jobs()
    buttons = [e["action_id"] for b in shown()["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert "alert_incident" in buttons and "Incident:" not in json.dumps(shown()["blocks"])


def test_retried_setup_job_creates_no_second_channel(slack, runtime, run_jobs, run_scheduled,
                                                     workspace) -> None:
    # The job dies after creating the channel (pinning keeps failing) ...
    workspace.fail_next("pins.add", status=200, error="internal_error", count=1)
    slack.slash("incident Queue backlog", user="U0ALICE", channel="C0PAYMENTS")
    run_jobs(allow_failures=True)
    assert len(incident_channels(workspace)) == 1
    assert workspace.messages("C0PAYMENTS") == []  # not announced yet
    # ... and RQ retries it: the remaining steps happen, the channel is not created twice.
    assert run_scheduled(datetime.now(UTC) + timedelta(minutes=5)) == 1
    run_jobs()
    # A duplicated job afterwards does nothing at all.
    [inc] = store.list_open(runtime.redis)
    jobs.enqueue_setup(runtime, inc.id)
    run_jobs()
    [channel] = incident_channels(workspace)
    assert len(workspace.calls_to("conversations.create")) == 1
    assert len(workspace.messages(channel.id)) == 1  # the summary, once
    assert pinned(workspace, channel.id)["ts"] == workspace.messages(channel.id)[0]["ts"]
    assert len(workspace.messages("C0PAYMENTS")) == 1  # one announcement


def test_setup_that_died_after_creating_adopts_its_channel(slack, runtime, run_jobs,
                                                           workspace) -> None:
    slack.slash("incident Cache stampede", user="U0ALICE", channel="C0PAYMENTS")
    [inc] = store.list_open(runtime.redis)
    # As if a worker created the channel and died before recording its id.
    made = runtime.sender.call("conversations.create", name=inc.channel_name)["channel"]
    store.mark(runtime.redis, inc.id, attempt=inc.channel_name)
    run_jobs()
    assert [c.id for c in incident_channels(workspace)] == [made["id"]]
    assert store.get(runtime.redis, inc.id).channel_id == made["id"]


# ---------------------------------------------------------------------------
# running the incident


def test_in_channel_commands_change_timeline_topic_and_summary(slack, runtime, run_jobs,
                                                               workspace, clock) -> None:
    channel = declare(slack, run_jobs, workspace, "Checkout errors")
    cid = channel.id
    clock.advance(minutes=5)
    assert say(slack, "update p99 &lt; 200ms &amp; falling, rollback started", cid, "U0BOB") == \
        "Update posted."
    assert say(slack, "note  suspect the 10:02 deploy", cid) == "Note added to the timeline."
    assert say(slack, "sev 1", cid) == "Severity changed."
    assert "already SEV1" in say(slack, "sev sev1", cid)
    assert "Unknown severity" in say(slack, "sev 7", cid)
    assert say(slack, f"lead {slack.mention('U0CAROL')}", cid) == "Lead changed."
    assert "not a Slack user" in say(slack, "lead nobody", cid)
    run_jobs()

    inc = store.by_channel(runtime.redis, cid)
    assert [(e.kind, e.author) for e in inc.timeline] == [
        ("declared", "U0ALICE"), ("update", "U0BOB"), ("note", "U0ALICE"),
        ("severity", "U0ALICE"), ("lead", "U0ALICE")]
    assert inc.timeline[1].text == "p99 < 200ms & falling, rollback started"
    assert inc.timeline[2].text == "suspect the 10:02 deploy"
    posted = texts(workspace, cid)[1:]
    assert "📣 *Update*" in posted[0] and "p99 &lt; 200ms &amp; falling" in posted[0]
    assert "SEV3 → SEV1" in posted[2] and "<@U0CAROL>" in posted[3]
    assert channel.topic.startswith("SEV1 · Investigating · Lead: <@U0CAROL>")
    assert {"U0CAROL", "U0MANAGER"} <= set(channel.members)  # new lead, managers on SEV1
    summary = pinned(workspace, cid)
    rendered = str(summary["blocks"])
    assert "SEV1" in rendered and "<@U0CAROL>" in rendered and "p99 &lt; 200ms" in rendered


def test_refusals_outside_an_incident_channel(slack, run_jobs, workspace) -> None:
    for command in ("update all good", "note x", "sev 2", "lead @bob", "resolve"):
        answer = say(slack, command, "C0GENERAL")
        assert "works in an incident channel" in answer and "no open incident" in answer
    channel = declare(slack, run_jobs, workspace, "Disk full")
    answer = say(slack, "update all good", "C0PAYMENTS")
    assert "works in an incident channel" in answer and f"<#{channel.id}>" in answer


def test_buttons_open_modals_and_submissions_apply(slack, runtime, run_jobs, workspace) -> None:
    channel = declare(slack, run_jobs, workspace, "Webhook delays")
    cid = channel.id

    slack.click(pinned(workspace, cid), "incident_update", user="U0BOB", channel=cid)
    [view] = workspace.open_views("U0BOB")
    assert view["callback_id"] == "incident_update_modal"
    assert workspace.calls_to("views.open")[-1].ok
    slack.submit_view(view, "U0BOB", {"update": {"text": "Rolled back the consumer"},
                                      "status": {"status": select("monitoring")}})
    assert workspace.open_views("U0BOB") == []

    slack.click(pinned(workspace, cid), "incident_severity", user="U0BOB", channel=cid)
    [view] = workspace.open_views("U0BOB")
    refused = slack.submit_view(view, "U0BOB", {"severity": {"severity": select("sev3")}})
    assert refused.json()["errors"]["severity"].startswith("The incident is already SEV3")
    slack.submit_view(view, "U0BOB", {"severity": {"severity": select("sev2")}})

    run_jobs()
    slack.click(pinned(workspace, cid), "incident_resolve", user="U0ALICE", channel=cid)
    [view] = workspace.open_views("U0ALICE")
    assert view["callback_id"] == "incident_resolve_modal"
    slack.submit_view(view, "U0ALICE", {"summary": {"text": "Consumer rolled back"}})
    run_jobs()

    inc = store.get(runtime.redis, store.by_channel(runtime.redis, cid).id)
    assert [e.kind for e in inc.timeline] == ["declared", "status", "update", "severity", "resolved"]
    assert inc.status == "resolved" and inc.summary == "Consumer rolled back"
    assert "SEV3 → SEV2" in " ".join(texts(workspace, cid))
    summary = pinned(workspace, cid)
    assert not [b for b in summary["blocks"] if b["type"] == "actions"]  # no buttons once resolved
    # A late click on a resolved incident opens nothing and says why.
    slack.click(summary | {"blocks": [{"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Post update"},
         "action_id": "incident_update", "value": inc.id}]}]}, "incident_update",
        user="U0BOB", channel=cid)
    run_jobs()
    assert workspace.open_views("U0BOB") == []
    assert "resolved" in workspace.ephemerals(cid, "U0BOB")[-1]["text"]


def test_resolve_posts_postmortem_with_ordered_timeline(slack, runtime, run_jobs, workspace,
                                                        clock) -> None:
    channel = declare(slack, run_jobs, workspace, "Payments timeout sev2")
    cid = channel.id
    clock.advance(minutes=3)
    say(slack, "update Found a bad config push", cid, "U0BOB")
    clock.advance(minutes=4)
    say(slack, "note Rolled config back", cid, "U0CAROL")
    clock.advance(minutes=8)
    assert "resolved" in say(slack, "resolve Config rollback fixed it", cid, "U0ALICE")
    assert "already resolved" in say(slack, "update too late", cid)
    run_jobs()

    [upload] = [m for m in workspace.messages(cid) if m.get("files")]
    content = workspace.file_content(upload["files"][0]["id"]).decode()
    assert content.startswith("# Postmortem: Payments timeout")
    assert "Config rollback fixed it" in content and "- Duration: 15m" in content
    timeline = content.split("## Timeline")[1].split("##")[0].strip().splitlines()
    assert timeline == [
        "- 10:00 UTC — @alice — Declared SEV2: Payments timeout",
        "- 10:03 UTC — @bob — Found a bad config push",
        "- 10:07 UTC — @carol — Rolled config back",
        "- 10:15 UTC — @alice — Resolved: Config rollback fixed it",
    ]
    assert "- 2026-11-04 10:00 UTC: declared SEV2" in content
    assert "✅ SEV2 incident resolved" in texts(workspace, "C0PAYMENTS")[-1]
    assert store.list_open(runtime.redis) == []
    listed = slack.slash("incidents", user="U0OUTSIDER", channel="C0GENERAL").json()
    assert "Recently resolved" in str(listed["blocks"])


def test_postmortem_lists_alerts_with_time_to_ack_and_runs(slack, runtime, run_jobs, workspace,
                                                          alert_message, clock) -> None:
    clock.advance(minutes=4)
    slack.click(alert_message, "alert_ack", user="U0BOB", channel="C0PAYMENTS")
    slack.click(alert_message, "alert_incident", user="U0BOB", channel="C0PAYMENTS")
    run_jobs()
    [channel] = incident_channels(workspace)
    # A real run asked in the incident channel (its request goes to the team channel),
    # approved by a manager, run by the worker.
    asked = say(slack, "run restart-api service=payments-api", channel.id)
    run_id = re.search(r"`(r[0-9a-f]{10})`", asked).group(1)
    run_jobs()
    [request] = [m for m in workspace.messages("C0PAYMENTS") if f"Run request {run_id}" in m["text"]]
    slack.click(request, "run_approve", user="U0MANAGER", channel="C0PAYMENTS")
    run_jobs()
    assert jobs.link_run(runtime, "C0GENERAL", "r2", "U0ALICE") is None  # not an incident channel
    say(slack, "resolve", channel.id, "U0BOB")
    run_jobs()
    [upload] = [m for m in workspace.messages(channel.id) if m.get("files")]
    content = workspace.file_content(upload["files"][0]["id"]).decode()
    alerts = content.split("## Alerts")[1].split("##")[0]
    assert "- PaymentsApiHighErrorRate — fired 2026-11-04 10:00 UTC, time to acknowledge: 4m by @bob" \
        in alerts
    runs = content.split("## Remediation runs")[1].split("##")[0]
    assert "`restart-api` service=payments-api — requested by @alice, approved by @manager, " \
        "result: succeeded (exit 0)" in runs
    assert f"requested restart-api (`{run_id}`)" in content


def test_incidents_lists_open_ones_anywhere(slack, run_jobs, workspace) -> None:
    assert "No incidents" in say(slack, "incidents", "C0GENERAL", "U0OUTSIDER")
    first = declare(slack, run_jobs, workspace, "Search down search sev1", user="U0FRANK",
                    channel="C0SEARCH")
    second = declare(slack, run_jobs, workspace, "Refunds stuck")
    body = slack.slash("incidents", user="U0OUTSIDER", channel="C0GENERAL").json()
    listing = str(body["blocks"])
    assert "Open incidents* (2)" in listing
    assert listing.index(f"<#{first.id}>") < listing.index(f"<#{second.id}>")  # SEV1 first


# ---------------------------------------------------------------------------
# reminders


def test_sev1_reminder_fires_once_after_interval_not_for_sev3(slack, runtime, run_jobs,
                                                              workspace, clock) -> None:
    sev1 = declare(slack, run_jobs, workspace, "Everything is down sev1")
    sev3 = declare(slack, run_jobs, workspace, "Typo on the status page")

    def reminders(channel: str) -> list[str]:
        return [t for t in texts(workspace, channel) if t.startswith("⏰")]

    clock.advance(minutes=29)
    run_checks(runtime, runtime.now(), CHECKS)
    run_jobs()
    assert reminders(sev1.id) == []

    clock.advance(minutes=2)
    run_checks(runtime, runtime.now(), CHECKS)
    run_checks(runtime, runtime.now(), CHECKS)  # a second worker, or the same tick again
    run_jobs()
    assert reminders(sev1.id) == [
        "⏰ <@U0ALICE>, no update for 31m on this SEV1. Post one so people know where things stand."]
    assert reminders(sev3.id) == []

    # An update resets the clock; the next reminder comes a full interval later.
    clock.advance(minutes=10)
    say(slack, "update Failing over to the other region", sev1.id)
    clock.advance(minutes=25)
    run_checks(runtime, runtime.now(), CHECKS)
    run_jobs()
    assert len(reminders(sev1.id)) == 1
    clock.advance(minutes=6)
    run_checks(runtime, runtime.now(), CHECKS)
    run_jobs()
    assert len(reminders(sev1.id)) == 2
    assert reminders(sev3.id) == []
