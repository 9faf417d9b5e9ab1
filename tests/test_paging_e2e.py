"""Paging people by their rules end to end: webhooks over HTTP, real Redis and RQ, the Slack-compatible
server, and the local Twilio-, ntfy- and SMTP-compatible servers driven by the real client libraries.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import yaml
from twilio.request_validator import RequestValidator

from bot.config import parse_config
from bot.fakephone.server import PhoneServers, start_phone
from bot.providers import Providers, TwilioAccount
from bot.runtime import Runtime
from bot.services import paging as paging_service
from bot.store import alerts as alert_store
from bot.store import pages as page_store
from tests.conftest import BOT_TOKEN, FIXTURES, AppServer
from tests.test_alerts_e2e import firing_key, fixture, post_am, the_message, thread

ALICE_PHONE = "+4915112345689"
CALLER = "+15005550006"


@pytest.fixture
def phone() -> Iterator[PhoneServers]:
    servers = start_phone()
    yield servers
    servers.stop()


@pytest.fixture
def paging(runtime: Runtime, app_server: AppServer, phone: PhoneServers) -> Runtime:
    """The runtime with alice's push, SMS and phone, Twilio and SMTP pointed at the local servers."""
    raw = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    push = f"ntfy://127.0.0.1:{phone.http.server.server_port}/alice-pager"
    raw["people"] = {"U0ALICE": {
        "contacts": {"push": push, "call": ALICE_PHONE, "sms": ALICE_PHONE, "email": "alice@example.com"},
        "notification_rules": {"high": "0m slack, 1m push, 3m call, 10m sms", "low": "0m slack, 5m push"},
    }}
    runtime.config = parse_config(raw, runtime.config.path)
    runtime.settings = dataclasses.replace(
        runtime.settings, public_url=app_server.url, twilio_account_sid=phone.account_sid,
        twilio_auth_token=phone.auth_token, twilio_from=CALLER, twilio_api_url=phone.url)
    smtp = f"mailto://127.0.0.1:{phone.smtp_port}?from=atbat@example.com&mode=insecure"
    runtime.providers = Providers(TwilioAccount(phone.account_sid, phone.auth_token, CALLER, phone.url),
                                  smtp_url=smtp, timeout=2)
    return runtime


def advance(paging: Runtime, clock: Any, run_scheduled: Callable[..., int], run_jobs: Callable[..., int],
            **delta: float) -> None:
    clock.advance(**delta)
    run_scheduled()
    run_jobs()


def wait_for_call(phone: PhoneServers) -> dict[str, Any]:
    for _ in range(250):
        calls = [c for c in phone.phone.snapshot()["calls"]
                 if c["waiting_for_key"] or c["status"] != "in-progress"]
        if calls and calls[-1]["said"]:
            return calls[-1]
        time.sleep(0.02)
    raise AssertionError(f"no answered call: {phone.phone.snapshot()}")


def test_rules_advance_step_by_step_and_stop_at_acknowledge(
        paging: Runtime, app_server: AppServer, workspace: Any, phone: PhoneServers, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    assert len(workspace.dms("U0ALICE")) == 1  # 0m slack
    assert phone.phone.received() == []

    advance(paging, clock, run_scheduled, run_jobs, seconds=59)
    assert phone.phone.received() == []
    advance(paging, clock, run_scheduled, run_jobs, seconds=1)  # 1m push
    [push] = phone.phone.received("push", to="alice-pager")
    assert "PaymentsApiHighErrorRate" in push["body"] and "payments" in push["title"]

    advance(paging, clock, run_scheduled, run_jobs, minutes=2)  # 3m call
    call = wait_for_call(phone)
    assert call["to"] == ALICE_PHONE
    assert "team payments" in call["said"][0] and "Press 1 to acknowledge, 2 to escalate" in call["said"][0]

    pressed = requests.post(f"{phone.url}/_phone/calls/{call['sid']}/press", json={"digit": "1"}, timeout=5)
    assert pressed.json()["call"]["said"][-1] == "The alert is acknowledged. Goodbye."
    group = alert_store.get_group(paging.redis, firing_key())
    assert group.state == "acknowledged" and group.acked_by == "U0ALICE"
    run_jobs()
    replies = thread(workspace, the_message(workspace))
    assert "Push to <@U0ALICE>: accepted by ntfy" in replies
    assert "Call to <@U0ALICE>: accepted by Twilio" in replies
    assert "Called <@U0ALICE> (…89): answered, pressed 1" in replies
    assert any(r.startswith("Acknowledged by <@U0ALICE>") for r in replies)

    advance(paging, clock, run_scheduled, run_jobs, minutes=10)  # 10m sms: not sent after the Ack
    assert phone.phone.received("sms") == []
    assert len(phone.phone.received("call")) == 1 and len(phone.phone.received("push")) == 1


def test_push_server_down_for_two_minutes_the_page_still_arrives_once(
        paging: Runtime, app_server: AppServer, phone: PhoneServers, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    phone.phone.fail("push", 503)  # down until healed
    advance(paging, clock, run_scheduled, run_jobs, minutes=1)
    for _ in range(4):  # 15 s, 30 s, 1 min ... of backoff, all within two minutes
        advance(paging, clock, run_scheduled, run_jobs, seconds=30)
    assert phone.phone.received("push") == []
    [page] = page_store.of_occurrence(paging.redis, firing_key(), 1)
    attempts = int(paging.redis.get(f"atbat:page-attempts:{page.page_id}:1"))
    assert attempts >= 3
    phone.phone.heal("push")
    advance(paging, clock, run_scheduled, run_jobs, minutes=5)
    assert len(phone.phone.received("push", to="alice-pager")) == 1
    advance(paging, clock, run_scheduled, run_jobs, minutes=5)
    assert len(phone.phone.received("push", to="alice-pager")) == 1  # delivered once, not again


def test_twilio_500_is_retried_and_the_next_method_follows(
        paging: Runtime, app_server: AppServer, workspace: Any, phone: PhoneServers, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    phone.phone.fail("call", 500, count=2)
    advance(paging, clock, run_scheduled, run_jobs, minutes=3)
    assert phone.phone.received("call") == []
    advance(paging, clock, run_scheduled, run_jobs, seconds=15)
    advance(paging, clock, run_scheduled, run_jobs, seconds=30)
    assert len(phone.phone.received("call")) == 1  # third try got through
    advance(paging, clock, run_scheduled, run_jobs, minutes=7)  # 10m: the SMS step follows
    [sms] = phone.phone.received("sms", to=ALICE_PHONE)
    assert "PaymentsApiHighErrorRate" in sms["body"]


def test_a_number_twilio_refuses_for_good_is_noted_and_not_retried(
        paging: Runtime, app_server: AppServer, workspace: Any, phone: PhoneServers, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    paging.providers = Providers(TwilioAccount(phone.account_sid, "wrong-token", CALLER, phone.url))
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    advance(paging, clock, run_scheduled, run_jobs, minutes=3)
    advance(paging, clock, run_scheduled, run_jobs, minutes=1)
    run_jobs()
    replies = thread(workspace, the_message(workspace))
    assert "Call to <@U0ALICE> failed: Twilio 20003: Authenticate" in replies
    assert phone.phone.received("call") == []


def _signed(phone: PhoneServers, url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(phone.auth_token).compute_signature(url, params)}


def test_forged_and_replayed_voice_callbacks_get_403_and_change_nothing(
        paging: Runtime, app_server: AppServer, phone: PhoneServers, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    [page] = page_store.of_occurrence(paging.redis, firing_key(), 1)
    url = f"{app_server.url}/twilio/voice/{page.page_id}/key"
    params = {"CallSid": "CA1", "Digits": "1", "To": ALICE_PHONE}
    forged = requests.post(url, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
                           timeout=5)
    unsigned = requests.post(url, data=params, timeout=5)
    tampered = requests.post(url, data={**params, "Digits": "2"}, headers=_signed(phone, url, params),
                             timeout=5)
    assert [forged.status_code, unsigned.status_code, tampered.status_code] == [403, 403, 403]
    assert alert_store.get_group(paging.redis, firing_key()).state == "triggered"

    genuine = requests.post(url, data=params, headers=_signed(phone, url, params), timeout=5)
    assert genuine.status_code == 200 and "acknowledged" in genuine.text
    assert alert_store.get_group(paging.redis, firing_key()).state == "acknowledged"
    replayed = requests.post(url, data=params, headers=_signed(phone, url, params), timeout=5)
    assert replayed.status_code == 403


def test_pressing_2_escalates(paging: Runtime, app_server: AppServer, phone: PhoneServers, clock: Any,
                             run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    [page] = page_store.of_occurrence(paging.redis, firing_key(), 1)
    url = f"{app_server.url}/twilio/voice/{page.page_id}/key"
    params = {"CallSid": "CA2", "Digits": "2", "To": ALICE_PHONE}
    answer = requests.post(url, data=params, headers=_signed(phone, url, params), timeout=5)
    assert "escalated" in answer.text
    assert alert_store.get_group(paging.redis, firing_key()).escalation_requested_by == "U0ALICE"


def _warning_alert() -> dict[str, Any]:
    body = copy.deepcopy(fixture("alertmanager_firing.json"))
    body["commonLabels"]["severity"] = "warning"
    for alert in body["alerts"]:
        alert["labels"]["severity"] = "warning"
    return body


def test_low_urgency_at_night_pages_at_the_start_of_working_hours(
        paging: Runtime, app_server: AppServer, workspace: Any, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    # Sunday 28 March 2027, 00:30 UTC: 00:30 in London, half an hour before the clocks go forward.
    # carol (primary that week, Slack timezone Europe/London) works Mon-Fri 09:00-18:00 (the team
    # default): Monday 09:00 BST, which is 08:00 UTC, not 09:00.
    clock.set(datetime(2027, 3, 28, 0, 30, tzinfo=UTC))
    assert post_am(app_server, _warning_alert()).status_code == 200
    run_jobs()
    assert workspace.dms("U0CAROL") == []
    assert any("<@U0CAROL> is paged at" in r and "low urgency waits for working hours" in r
               for r in thread(workspace, the_message(workspace)))
    advance(paging, clock, run_scheduled, run_jobs, hours=31, minutes=29)  # Monday 07:59 UTC
    assert workspace.dms("U0CAROL") == []
    advance(paging, clock, run_scheduled, run_jobs, minutes=1)  # 08:00 UTC = 09:00 BST
    assert len(workspace.dms("U0CAROL")) >= 1


def test_low_urgency_inside_working_hours_pages_at_once(
        paging: Runtime, app_server: AppServer, workspace: Any, run_jobs: Callable[..., int]) -> None:
    # The default clock: Wednesday 10:00 UTC, 11:00 in Berlin.
    assert post_am(app_server, _warning_alert()).status_code == 200
    run_jobs()
    assert len(workspace.dms("U0ALICE")) == 1


def test_history_records_one_page_per_person_with_the_method(
        paging: Runtime, app_server: AppServer, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    advance(paging, clock, run_scheduled, run_jobs, minutes=1)
    entries = paging.redis.xrange("atbat:history:payments:page")
    pages = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]
    assert [(p["user"], p["method"]) for p in pages] == [("U0ALICE", "slack")]
    assert json.dumps(pages)  # plain strings, readable by reports


# --- paging on demand: /oncall page ---------------------------------------------------------


def page_cmd(slack: Any, text: str, user: str = "U0OUTSIDER", channel: str = "C0GENERAL") -> str:
    response = slack.slash(f"page {text}", user=user, channel=channel)
    assert response.status_code == 200
    return response.json()["text"]


def slack_groups(paging: Runtime) -> list[Any]:
    return [g for g in alert_store.open_groups(paging.redis, "payments") if g.source == "slack"]


def test_anyone_may_page_a_team_through_its_escalation_policy(
        paging: Runtime, slack: Any, workspace: Any, run_jobs: Callable[..., int]) -> None:
    answer = page_cmd(slack, "payments sev2 checkout is failing for EU customers & <retries> don't help")
    assert answer.startswith("Paging team payments (error): checkout is failing for EU customers "
                             "&amp; &lt;retries&gt; don't help.")
    run_jobs()
    [group] = slack_groups(paging)
    assert group.severity == "error"
    assert group.title == "checkout is failing for EU customers & <retries> don't help"
    assert group.labels["sent_by"] == "U0OUTSIDER" and group.labels["sent_from"] == "C0GENERAL"
    message = the_message(workspace)
    assert "checkout is failing" in message["text"]
    assert len(workspace.dms("U0ALICE")) == 1  # the primary, by the team's policy
    entries = paging.redis.xrange("atbat:audit")
    assert any(b'"page.sent"' in json.dumps({k.decode(): v.decode() for k, v in f.items()}).encode()
               for _, f in entries)


def test_paging_a_person_uses_their_rules_alone(
        paging: Runtime, slack: Any, workspace: Any, phone: PhoneServers, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    answer = page_cmd(slack, "<@U0BOB|bob> the deploy is stuck, can you look", user="U0ALICE",
                      channel="C0PAYMENTS")
    assert answer.startswith("Paging <@U0BOB> (critical): the deploy is stuck, can you look.")
    run_jobs()
    assert len(workspace.dms("U0BOB")) == 1
    assert workspace.dms("U0ALICE") == []  # the primary is not paged: this page is for bob
    advance(paging, clock, run_scheduled, run_jobs, minutes=45)  # no further escalation steps
    assert workspace.dms("U0ALICE") == [] and workspace.dms("U0MANAGER") == []


def test_person_page_follows_their_phone_rules(
        paging: Runtime, slack: Any, workspace: Any, phone: PhoneServers, clock: Any,
        run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    page_cmd(slack, "<@U0ALICE> sev1 payments db failover", user="U0BOB", channel="C0PAYMENTS")
    run_jobs()
    advance(paging, clock, run_scheduled, run_jobs, minutes=1)
    [push] = phone.phone.received("push", to="alice-pager")
    assert "payments db failover" in push["body"]


def test_pressing_1_on_an_alert_acknowledged_meanwhile_says_so_without_slack_markup(
        paging: Runtime, app_server: AppServer, phone: PhoneServers, run_jobs: Callable[..., int]) -> None:
    assert post_am(app_server, fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()
    [page] = page_store.of_occurrence(paging.redis, firing_key(), 1)
    url = f"{app_server.url}/twilio/voice/{page.page_id}/key"
    answers = []
    for sid in ("CA4", "CA5"):  # two calls: the second is answered after the first acknowledged
        params = {"CallSid": sid, "Digits": "1", "To": ALICE_PHONE}
        answers.append(requests.post(url, data=params, headers=_signed(phone, url, params), timeout=5).text)
    assert "The alert is acknowledged" in answers[0]
    assert "<Say>Already acknowledged.</Say>" in answers[1], answers[1]


def test_pressing_2_on_a_page_to_one_person_says_there_is_nobody_to_escalate_to(
        paging: Runtime, slack: Any, app_server: AppServer, phone: PhoneServers,
        run_jobs: Callable[..., int]) -> None:
    page_cmd(slack, "<@U0ALICE> sev1 payments db failover", user="U0BOB", channel="C0PAYMENTS")
    run_jobs()
    [group] = slack_groups(paging)
    assert "Paged <@U0ALICE>" in [e.text for e in group.history]
    [page] = page_store.of_occurrence(paging.redis, group.key, group.occurrence)
    url = f"{app_server.url}/twilio/voice/{page.page_id}/key"
    params = {"CallSid": "CA3", "Digits": "2", "To": ALICE_PHONE}
    answer = requests.post(url, data=params, headers=_signed(phone, url, params), timeout=5)
    assert "This page went to you alone, so there is nobody to escalate to." in answer.text
    assert "<@" not in answer.text


@pytest.mark.parametrize(("text", "message"), [
    ("", "Whom should atbat page?"),
    ("billing it is down", "`billing` is neither a team (payments, search) nor an @mention"),
    ("payments sev2", "Say what the page is about"),
    ("<@U0OUTSIDER> hello", "is in no team"),
])
def test_bad_pages_are_answered_and_nothing_is_stored(
        paging: Runtime, slack: Any, workspace: Any, text: str, message: str) -> None:
    assert message in page_cmd(slack, text)
    assert alert_store.open_groups(paging.redis, "payments") == []
    assert paging.redis.xlen("atbat:audit") == 0


def test_pages_from_one_sender_are_rate_limited(paging: Runtime, slack: Any) -> None:
    for n in range(10):
        assert page_cmd(slack, f"payments sev4 page {n}").startswith("Paging team payments")
    refused = page_cmd(slack, "payments sev4 one too many")
    assert "You have sent 10 pages in the last hour" in refused
    assert len(slack_groups(paging)) == 10
    assert page_cmd(slack, "payments sev4 from someone else", user="U0CAROL").startswith("Paging")


# --- contact methods set in Slack: /oncall notify and the Send test ---------------------------


def open_settings(slack: Any, workspace: Any, user: str = "U0BOB") -> dict[str, Any]:
    response = slack.slash("notify", user=user, channel="C0PAYMENTS")
    assert response.json()["text"] == "Opening your notification settings…"
    [view] = [v for v in workspace.open_views(user) if v.get("callback_id") == "paging_notify"]
    return view


def add_method(slack: Any, view: dict[str, Any], method: str, target: str, user: str = "U0BOB",
               **rules: str) -> Any:
    values: dict[str, Any] = {"method": {"value": {"type": "static_select",
                                                   "selected_option": {"value": method}}},
                              "target": {"value": target}}
    for urgency, text in rules.items():
        values[f"rules_{urgency}"] = {"value": text}
    return slack.submit_view(view, user, values=values)


def test_a_method_set_in_slack_is_tested_as_it_is_saved_and_used_once_the_test_arrived(
        paging: Runtime, slack: Any, workspace: Any, phone: PhoneServers, app_server: AppServer,
        clock: Any, run_jobs: Callable[..., int], run_scheduled: Callable[..., int]) -> None:
    push = f"ntfy://127.0.0.1:{phone.http.server.server_port}/bob-pager"
    view = open_settings(slack, workspace)
    assert "Slack DM (always)" in json.dumps(view["blocks"])
    answer = add_method(slack, view, "push", push, high="0m slack, 1m push")
    assert answer.status_code == 200 and answer.text in ("", "null", "{}")
    [test] = phone.phone.received("push", to="bob-pager")  # sent while saving
    assert test["title"] == "atbat test page"
    run_jobs()
    [asked] = [m for m in workspace.dms("U0BOB") if "Test sent to" in m["text"]]
    assert "push via ntfy" in asked["text"] and "bob-pager" not in json.dumps(asked)
    assert "Did it arrive?" in json.dumps(asked["blocks"])
    settings = open_settings(slack, workspace)
    assert "push via ntfy (test sent, not confirmed yet" in json.dumps(settings["blocks"])

    # Not confirmed yet: a page to bob does not use it.
    page_cmd(slack, "<@U0BOB> first page", user="U0ALICE", channel="C0PAYMENTS")
    run_jobs()
    advance(paging, clock, run_scheduled, run_jobs, minutes=1)
    assert len(phone.phone.received("push")) == 1

    slack.click(asked, "paging_test_arrived", user="U0BOB", channel="D0BOB")
    run_jobs()
    [done] = [m for m in workspace.dms("U0BOB") if m["ts"] == asked["ts"]]
    assert "is tested" in done["text"] and not [b for b in done["blocks"] if b["type"] == "actions"]

    page_cmd(slack, "<@U0BOB> second page", user="U0ALICE", channel="C0PAYMENTS")
    run_jobs()
    advance(paging, clock, run_scheduled, run_jobs, minutes=1)
    assert [p["body"] for p in phone.phone.received("push", to="bob-pager")][1:] == ["[CRITICAL] second page"]
    audit = [f[b"action"].decode() for _, f in paging.redis.xrange("atbat:audit")]
    assert {"paging.contact_added", "paging.contact_verified", "paging.rules_set"} <= set(audit)


@pytest.mark.parametrize(("method", "target", "rules", "block", "message"), [
    ("call", "0151 1234", {}, "target", "expected a phone number with its country code"),
    ("push", "bogus://x/token", {}, "target", "Apprise does not know the scheme bogus://"),
    ("sms", "+49 151 123", {}, "target", "is not a valid phone number"),
    ("push", "", {}, "target", "Pick a method and give its number"),
    ("email", "bob@example.com", {"high": "0m slack, 1m pager"}, "rules_high", "unknown method 'pager'"),
    ("email", "bob@example.com", {"low": "0m slack, 2m call"}, "rules_low", "no call contact yet"),
])
def test_bad_settings_name_the_field_and_nothing_is_stored(
        paging: Runtime, slack: Any, workspace: Any, method: str, target: str, rules: dict[str, str],
        block: str, message: str) -> None:
    view = open_settings(slack, workspace)
    answer = add_method(slack, view, method, target, **rules).json()
    assert answer["response_action"] == "errors"
    assert message in answer["errors"][block]
    assert paging.redis.get("atbat:person-paging:U0BOB") is None
    assert "bogus://x/token" not in json.dumps(answer)


def test_a_method_that_fails_its_test_is_named_in_the_modal_and_nothing_is_stored(
        paging: Runtime, slack: Any, workspace: Any, phone: PhoneServers,
        run_jobs: Callable[..., int]) -> None:
    view = open_settings(slack, workspace)
    phone.phone.fail("sms", 400, count=1)
    answer = add_method(slack, view, "sms", "+49 151 1234 5670", high="0m slack, 1m sms").json()
    assert answer["response_action"] == "errors"
    assert answer["errors"]["target"].startswith("The test to sms …70 failed: Twilio 20500")
    assert "Nothing was saved" in answer["errors"]["target"]
    assert "1234" not in json.dumps(answer)
    assert paging.redis.get("atbat:person-paging:U0BOB") is None  # neither the method nor the rules
    run_jobs()
    assert not [m for m in workspace.dms("U0BOB") if "Test sent" in m["text"]]

    # Saved again once the provider takes it: the method is kept, waiting for "It arrived".
    assert add_method(slack, view, "sms", "+49 151 1234 5670").text in ("", "null", "{}")
    assert [c.shown() for c in paging_service.person(paging, "U0BOB").contacts] == ["sms …70"]


def test_sending_the_test_again_fails_and_an_unconfirmed_method_is_not_kept(
        paging: Runtime, slack: Any, workspace: Any, phone: PhoneServers,
        run_jobs: Callable[..., int]) -> None:
    add_method(slack, open_settings(slack, workspace), "sms", "+49 151 1234 5670")
    run_jobs()
    [asked] = [m for m in workspace.dms("U0BOB") if "Test sent to" in m["text"]]
    phone.phone.fail("sms", 400, count=1)
    slack.click(asked, "paging_send_test", user="U0BOB", channel="D0BOB")
    run_jobs()
    [failed] = [m for m in workspace.dms("U0BOB") if m["ts"] == asked["ts"]]
    assert "failed" in failed["text"] and "It is not kept" in json.dumps(failed["blocks"])
    assert not [b for b in failed["blocks"] if b["type"] == "actions"]
    assert paging_service.person(paging, "U0BOB").contacts == ()
    audit = [f[b"action"].decode() for _, f in paging.redis.xrange("atbat:audit")]
    assert audit[-1] == "paging.contact_dropped"


def test_methods_from_the_config_are_shown_as_such(
        paging: Runtime, slack: Any, workspace: Any) -> None:
    view = open_settings(slack, workspace, user="U0ALICE")
    assert "push via ntfy (from atbat.yml)" in json.dumps(view["blocks"])


def page_payments_about(slack: Any, workspace: Any, message: dict[str, Any]) -> None:
    """Carol pages payments (sev1) about `message`: its shortcut, then the modal."""
    answer = slack.message_shortcut(message, "page_message", user="U0CAROL", channel="C0GENERAL")
    assert answer.status_code == 200
    [view] = [v for v in workspace.open_views("U0CAROL") if v.get("callback_id") == "page_message_modal"]
    values = {"team": {"value": {"type": "static_select", "selected_option": {"value": "payments"}}},
              "severity": {"value": {"type": "static_select", "selected_option": {"value": "sev1"}}}}
    submitted = slack.submit_view(view, "U0CAROL", values=values)
    assert submitted.status_code == 200 and "errors" not in submitted.text


def test_page_on_call_about_a_message_from_the_shortcut(
        paging: Runtime, slack: Any, workspace: Any, run_jobs: Callable[..., int]) -> None:
    from slack_sdk import WebClient

    client = WebClient(token=BOT_TOKEN, base_url=paging.settings.api_url)
    ts = client.chat_postMessage(channel="C0GENERAL", text="checkout returns 502 for everyone in EU")["ts"]
    page_payments_about(slack, workspace, workspace.find_message("C0GENERAL", ts))
    run_jobs()
    [group] = slack_groups(paging)
    assert (group.title, group.severity) == ("checkout returns 502 for everyone in EU", "critical")
    assert group.links and "checkout returns" not in group.links[0].url
    assert group.labels["sent_by"] == "U0CAROL"
    assert len(workspace.dms("U0ALICE")) == 1  # the payments primary
