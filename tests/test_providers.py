"""Pages outside Slack through the real client libraries, against the local provider servers.

Apprise's ntfy plugin posts to the local ntfy-compatible endpoint, Apprise's
mailto plugin to a real SMTP server (aiosmtpd), and the official `twilio`
library to the local Twilio-compatible server, which calls the voice webhook
back with signed requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from bot.fakephone.server import PhoneServers, start_phone
from bot.fakeslack.server import serve_in_thread
from bot.providers import Providers, TwilioAccount, apprise_service, off_machine, redact_url

CALLER = "+15005550006"
ALICE = "+4915112345689"


@pytest.fixture
def servers() -> Iterator[PhoneServers]:
    running = start_phone()
    yield running
    running.stop()


@pytest.fixture
def providers(servers: PhoneServers) -> Providers:
    account = TwilioAccount(servers.account_sid, servers.auth_token, CALLER, api_url=servers.url)
    smtp = f"mailto://127.0.0.1:{servers.smtp_port}?from=atbat@example.com&mode=insecure"
    return Providers(twilio=account, smtp_url=smtp, timeout=2)


def push_url(servers: PhoneServers, topic: str = "alice-pager") -> str:
    return f"ntfy://127.0.0.1:{servers.http.server.server_port}/{topic}?priority=max"


def wait_for(check: Any, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_push_through_apprise_arrives(servers: PhoneServers, providers: Providers) -> None:
    sent = providers.notify(push_url(servers), "FIRING: checkout down", "payments · critical")
    assert sent.accepted and sent.detail == "accepted by ntfy"
    [push] = servers.phone.received("push", to="alice-pager")
    assert (push["title"], push["body"], push["priority"]) == ("FIRING: checkout down",
                                                                "payments · critical", "max")


def test_push_refused_by_the_server_is_retryable(servers: PhoneServers, providers: Providers) -> None:
    servers.phone.fail("push", 500, count=1)
    first = providers.notify(push_url(servers), "t", "b")
    assert not first.accepted and first.retryable
    assert servers.phone.received("push") == []
    assert providers.notify(push_url(servers), "t", "b").accepted  # the server is back
    assert len(servers.phone.received("push")) == 1


def test_email_to_a_plain_address_goes_through_smtp(servers: PhoneServers, providers: Providers) -> None:
    sent = providers.email("alice@example.com", "atbat page: checkout down", "Acknowledge in Slack.")
    assert sent.accepted
    [mail] = servers.phone.received("email", to="alice@example.com")
    assert mail["title"] == "atbat page: checkout down"
    assert "Acknowledge in Slack." in mail["body"]


def test_email_the_smtp_server_defers_is_retryable(servers: PhoneServers, providers: Providers) -> None:
    servers.phone.fail("email", count=1)
    sent = providers.email("alice@example.com", "s", "b")
    assert not sent.accepted and sent.retryable
    assert servers.phone.received("email") == []


def test_email_without_smtp_configured_says_so(servers: PhoneServers) -> None:
    sent = Providers().email("alice@example.com", "s", "b")
    assert not sent.accepted and "ATBAT_SMTP_URL" in sent.detail


def test_sms_to_a_number_goes_through_twilio(servers: PhoneServers, providers: Providers) -> None:
    sent = providers.sms(ALICE, "FIRING: checkout down")
    assert sent.accepted and sent.provider_id and sent.provider_id.startswith("SM")
    [sms] = servers.phone.received("sms", to=ALICE)
    assert sms["body"] == "FIRING: checkout down" and sms["from_"] == CALLER


def test_sms_to_an_invalid_number_is_refused_for_good(servers: PhoneServers, providers: Providers) -> None:
    sent = providers.sms("+49", "x")
    assert not sent.accepted and not sent.retryable
    assert "21211" in sent.detail and "not a valid phone number" in sent.detail
    masked = providers.sms("+49 151 1234 5670", "x").detail
    assert "…70" in masked and "1234" not in masked  # Twilio repeats the number; atbat does not


@pytest.mark.parametrize("status", [500, 503, 429])
def test_twilio_server_errors_are_retryable(servers: PhoneServers, providers: Providers,
                                            status: int) -> None:
    servers.phone.fail("call", status, count=1)
    sent = providers.call(ALICE, "http://127.0.0.1:9/voice")
    assert not sent.accepted and sent.retryable
    assert servers.phone.received("call") == []


def test_wrong_twilio_credentials_are_not_retried(servers: PhoneServers) -> None:
    wrong = Providers(twilio=TwilioAccount(servers.account_sid, "not-the-token", CALLER, servers.url))
    sent = wrong.sms(ALICE, "x")
    assert not sent.accepted and not sent.retryable and "20003" in sent.detail


def test_twilio_unreachable_is_retryable() -> None:
    down = Providers(twilio=TwilioAccount("AC" + "1" * 32, "t", CALLER, "http://127.0.0.1:9"), timeout=1)
    sent = down.call(ALICE, "http://127.0.0.1:9/voice")
    assert not sent.accepted and sent.retryable and "could not be reached" in sent.detail


def test_without_a_twilio_account_calls_say_so() -> None:
    sent = Providers().call(ALICE, "http://127.0.0.1:9/voice")
    assert not sent.accepted and "TWILIO_ACCOUNT_SID" in sent.detail


def test_a_call_reads_its_twiml_and_posts_the_keypress_signed(servers: PhoneServers,
                                                              providers: Providers) -> None:
    """The local Twilio server calls back like Twilio: every request carries a valid signature."""
    validator = RequestValidator(servers.auth_token)
    seen: list[dict[str, str]] = []
    voice = Flask("voice")

    def checked() -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        ok = validator.validate(request.url, request.form.to_dict(), signature)
        seen.append({**request.form.to_dict(), "valid": str(ok)})
        return ok

    @voice.post("/voice")
    def answer() -> Response:
        if not checked():
            return Response("forged", status=403)
        return Response('<?xml version="1.0"?><Response><Gather numDigits="1" action="/voice/key">'
                        "<Say>atbat: checkout down, team payments. Press 1 to acknowledge, 2 to escalate."
                        "</Say></Gather></Response>", mimetype="text/xml")

    @voice.post("/voice/key")
    def key() -> Response:
        if not checked():
            return Response("forged", status=403)
        return Response(f"<Response><Say>You pressed {request.form['Digits']}.</Say><Hangup/></Response>",
                        mimetype="text/xml")

    hook = serve_in_thread(voice)
    try:
        sent = providers.call(ALICE, f"{hook.url}/voice")
        assert sent.accepted and sent.provider_id
        call = wait_for(lambda: next((c for c in servers.phone.snapshot()["calls"]
                                      if c["waiting_for_key"]), None))
        assert call["said"] == ["atbat: checkout down, team payments. Press 1 to acknowledge, 2 to escalate."]
        pressed = requests.post(f"{servers.url}/_phone/calls/{call['sid']}/press", json={"digit": "1"},
                                timeout=5)
        assert pressed.status_code == 200
        done = pressed.json()["call"]
        assert done["status"] == "completed" and done["said"][-1] == "You pressed 1."
        assert [s["valid"] for s in seen] == ["True", "True"]
        assert seen[1]["Digits"] == "1" and seen[1]["CallSid"] == sent.provider_id
        again = requests.post(f"{servers.url}/_phone/calls/{call['sid']}/press", json={"digit": "1"},
                              timeout=5)
        assert again.status_code == 409  # the call no longer waits for a key
    finally:
        hook.stop()


def test_an_unanswered_call_stops_ringing_and_says_what_follows_its_gather() -> None:
    servers = start_phone(ring_seconds=0.2)
    voice = Flask("voice")

    @voice.post("/voice")
    def answer() -> Response:
        return Response('<Response><Gather numDigits="1" action="/voice/key"><Say>Press 1.</Say></Gather>'
                        "<Say>No key was pressed. Goodbye.</Say></Response>", mimetype="text/xml")

    hook = serve_in_thread(voice)
    try:
        account = TwilioAccount(servers.account_sid, servers.auth_token, CALLER, servers.url)
        assert Providers(account, timeout=2).call(ALICE, f"{hook.url}/voice").accepted
        ringing = wait_for(lambda: next((c for c in servers.phone.snapshot()["calls"]
                                         if c["waiting_for_key"]), None))
        assert ringing["said"] == ["Press 1."]  # not yet what follows the gather
        done = wait_for(lambda: next((c for c in servers.phone.snapshot()["calls"]
                                      if c["status"] == "completed"), None))
        assert done["said"] == ["Press 1.", "No key was pressed. Goodbye."] and not done["waiting_for_key"]
    finally:
        hook.stop()
        servers.stop()


def test_a_forged_callback_fails_validation(servers: PhoneServers) -> None:
    validator = RequestValidator(servers.auth_token)
    url, params = "https://atbat.example.com/twilio/voice/key", {"Digits": "1", "CallSid": "CA1"}
    good = validator.compute_signature(url, params)
    assert validator.validate(url, params, good)
    assert not validator.validate(url, {**params, "Digits": "2"}, good)
    assert not RequestValidator("other-token").validate(url, params, good)


@pytest.mark.parametrize(("url", "service"), [
    ("ntfys://ntfy.example.com/alice-pager?priority=max", "ntfy"),
    ("mailto://user:pass@mail.example.com?to=alice@example.com", "E-Mail"),
    ("bogus://nothing", None),
    ("not a url", None),
])
def test_apprise_urls_are_checked_before_use(url: str, service: str | None) -> None:
    assert apprise_service(url) == service


def test_unknown_apprise_url_is_refused_without_sending(servers: PhoneServers, providers: Providers) -> None:
    sent = providers.notify("bogus://x/secret-token", "t", "b")
    assert not sent.accepted and not sent.retryable and "secret-token" not in sent.detail


def test_redacted_urls_hide_credentials() -> None:
    assert redact_url("ntfys://user:hunter2@ntfy.example.com/alice?token=abc") == "ntfys://ntfy.example.com/…"


def test_local_only_refuses_urls_whose_service_is_elsewhere_though_they_name_this_machine(
        servers: PhoneServers, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sandbox (ATBAT_LOCAL_PROVIDERS_ONLY): the URL's host is not always where Apprise
    # sends. A cloud service takes it as a token, ntfy's mode=cloud goes to ntfy.sh, and
    # mailto's smtp= names the mail server.
    import apprise
    added: list[str] = []
    monkeypatch.setattr(apprise.Apprise, "add", lambda self, url, *a, **k: added.append(url))
    local = Providers(local_only=True)
    for url in ("discord://localhost/webhook-token", "pbul://localhost",
                "ntfy://localhost/topic?mode=cloud",
                f"mailto://127.0.0.1:{servers.smtp_port}?from=atbat@example.com&mode=insecure"
                "&smtp=smtp.example.org&to=bob@example.org"):
        sent = local.notify(url, "atbat", "hello")
        assert not sent.accepted and "sends nothing off this machine" in sent.detail, url
    assert "(smtp.example.org is another machine)" in sent.detail
    assert added == []
    assert off_machine("ntfy://127.0.0.1:8080/topic") is None
    assert off_machine("json://localhost:8080/hook") is None
    assert off_machine(f"mailto://127.0.0.1:{servers.smtp_port}?from=a@example.com&to=b@example.org") \
        is None
