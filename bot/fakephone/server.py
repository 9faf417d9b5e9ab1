"""Local providers for pages that leave Slack: Twilio-compatible calls and SMS, ntfy-compatible push, SMTP.

Used by the tests and the sandbox only, never in production. The real client
libraries talk to them: the official `twilio` library (its HTTP client pointed
here), Apprise's ntfy and mailto plugins, and `smtplib` through Apprise.

- `POST /2010-04-01/Accounts/<sid>/Calls.json` and `.../Messages.json`: Twilio's
  REST shapes, HTTP Basic auth with the account SID and auth token, Twilio's
  error bodies. A call fetches its TwiML from `Url` with a correctly signed
  request (`X-Twilio-Signature`), reads out its `<Say>` text and waits at its
  `<Gather>` for a key.
- `POST /_phone/calls/<sid>/press` presses a key on that call: the server posts
  `Digits` to the gather's `action`, signed the same way.
- `POST /` (JSON with `topic`) and `POST|PUT /<topic>`: ntfy's publish API.
- `GET /_phone/state`: what arrived, for tests and the sandbox's Phone panel.
- `serve_smtp(phone)`: an `aiosmtpd` server recording each e-mail.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree

import requests
from aiosmtpd.controller import Controller
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from bot.fakephone.state import Call, Phone
from bot.fakeslack.server import RunningServer, serve_in_thread
from bot.sandbox.processes import free_port

__all__ = ["PhoneServers", "Phone", "create_app", "serve_smtp", "start_phone"]

E164 = re.compile(r"\+[1-9]\d{6,14}")
TWILIO_ERRORS = {
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


def create_app(phone: Phone, account_sid: str, auth_token: str, ntfy_token: str | None = None) -> Flask:
    app = Flask("fakephone")
    app.extensions["fakephone"] = phone
    validator = RequestValidator(auth_token)

    def authorized() -> bool:
        auth = request.authorization
        return auth is not None and auth.username == account_sid and auth.password == auth_token

    @app.post("/2010-04-01/Accounts/<sid>/Calls.json")
    def create_call(sid: str) -> Response:
        problem = _twilio_problem(phone, "call", sid, account_sid, authorized())
        if problem is not None:
            return problem
        to, url = request.form.get("To", ""), request.form.get("Url", "")
        if not E164.fullmatch(to):
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not url:
            return _twilio_error(400, 21205, "Url parameter is required.")
        with phone.lock:
            call = Call(sid=phone.new_sid("CA"), to=to, from_=request.form.get("From", ""), url=url)
            phone.calls[call.sid] = call
        phone.record("call", to=to, sid=call.sid)
        threading.Thread(target=_answer, args=(phone, validator, account_sid, call), daemon=True).start()
        return _json(_call_resource(call, account_sid), 201)

    @app.post("/2010-04-01/Accounts/<sid>/Messages.json")
    def create_message(sid: str) -> Response:
        problem = _twilio_problem(phone, "sms", sid, account_sid, authorized())
        if problem is not None:
            return problem
        to, body = request.form.get("To", ""), request.form.get("Body", "")
        if not E164.fullmatch(to):
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        message_sid = phone.new_sid("SM")
        phone.record("sms", to=to, body=body, sid=message_sid, from_=request.form.get("From", ""))
        return _json({"sid": message_sid, "account_sid": account_sid, "to": to, "body": body,
                      "status": "queued"}, 201)

    @app.post("/_phone/calls/<sid>/press")
    def press(sid: str) -> Response:
        digit = str((request.get_json(silent=True) or {}).get("digit") or request.form.get("digit", ""))
        with phone.lock:
            call = phone.calls.get(sid)
        if call is None:
            return _json({"ok": False, "error": "no such call"}, 404)
        if call.gather_action is None or not re.fullmatch(r"[0-9*#]", digit):
            return _json({"ok": False, "error": "the call is not waiting for a key"}, 409)
        _press(phone, validator, account_sid, call, digit)
        return _json({"ok": True, "call": call.to_dict()})

    @app.post("/")
    def ntfy_json() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("topic"):
            return _json({"code": 40010, "http": 400, "error": "invalid request: topic missing"}, 400)
        return _ntfy_publish(phone, ntfy_token, str(body["topic"]), body.get("title"), body.get("message"),
                             body.get("priority") or request.headers.get("X-Priority"))

    @app.route("/<topic>", methods=["POST", "PUT"])
    def ntfy_topic(topic: str) -> Response:
        return _ntfy_publish(phone, ntfy_token, topic,
                             request.headers.get("X-Title") or request.headers.get("Title"),
                             request.get_data(as_text=True),
                             request.headers.get("X-Priority") or request.headers.get("Priority"))

    @app.get("/_phone/state")
    def state() -> Response:
        return _json(phone.snapshot())

    return app


def _twilio_problem(phone: Phone, kind: str, sid: str, account_sid: str, authorized: bool) -> Response | None:
    if not authorized or sid != account_sid:
        return _twilio_error(401, *TWILIO_ERRORS[401])
    status = phone.fault_for(kind)
    if status is not None:
        code, message = TWILIO_ERRORS.get(status, (20500, "Internal Server Error"))
        return _twilio_error(status, code, message)
    return None


def _twilio_error(status: int, code: int, message: str) -> Response:
    return _json({"code": code, "message": message, "status": status,
                  "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status)


def _call_resource(call: Call, account_sid: str) -> dict[str, Any]:
    return {"sid": call.sid, "account_sid": account_sid, "to": call.to, "from": call.from_,
            "status": call.status, "direction": "outbound-api"}


def _signed_post(validator: RequestValidator, url: str, params: dict[str, str]) -> requests.Response:
    signature = validator.compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5)


def _call_params(call: Call, account_sid: str, **extra: str) -> dict[str, str]:
    return {"CallSid": call.sid, "AccountSid": account_sid, "From": call.from_, "To": call.to,
            "CallStatus": call.status, "Direction": "outbound-api", "ApiVersion": "2010-04-01", **extra}


def _answer(phone: Phone, validator: RequestValidator, account_sid: str, call: Call) -> None:
    """The callee picks up: fetch the call's TwiML and follow it."""
    with phone.lock:
        call.status = "in-progress"
    _follow(phone, call, call.url, lambda: _signed_post(validator, call.url, _call_params(call, account_sid)))


def _press(phone: Phone, validator: RequestValidator, account_sid: str, call: Call, digit: str) -> None:
    with phone.lock:
        action, call.gather_action = call.gather_action, None
        call.digits.append(digit)
    assert action is not None
    _follow(phone, call, action,
            lambda: _signed_post(validator, action, _call_params(call, account_sid, Digits=digit)))


def _follow(phone: Phone, call: Call, url: str, fetch: Any) -> None:
    try:
        response = fetch()
        twiml = response.text if response.status_code == 200 else ""
    except requests.RequestException:
        twiml = ""
    said, gather, unanswered = _read_twiml(twiml, url)
    with phone.lock:
        call.said.extend(said)
        call.gather_action = gather
        if not twiml:
            call.said.append("An application error has occurred. Goodbye.")
        if gather is None:
            call.status = "completed"
    if gather is not None and phone.ring_seconds is not None:
        timer = threading.Timer(phone.ring_seconds, _no_key, args=(phone, call, gather, unanswered))
        timer.daemon = True
        timer.start()


def _no_key(phone: Phone, call: Call, gather: str, unanswered: list[str]) -> None:
    """Nobody pressed a key in time: the call says what follows its <Gather> and ends."""
    with phone.lock:
        if call.gather_action != gather or call.status == "completed":
            return
        call.gather_action = None
        call.said.extend(unanswered)
        call.status = "completed"


def _read_twiml(twiml: str, base_url: str) -> tuple[list[str], str | None, list[str]]:
    """A TwiML document as a call follows it: the `<Say>` texts up to and in its `<Gather>`,
    the gather's action (None when it waits for no key), and what is said when no key comes."""
    if not twiml.strip():
        return [], None, []
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return [], None, []
    said: list[str] = []
    verbs = list(root)
    for i, verb in enumerate(verbs):
        if verb.tag == "Gather":
            said.extend((el.text or "").strip() for el in verb.iter("Say"))
            rest = [(el.text or "").strip() for later in verbs[i + 1:] for el in later.iter("Say")]
            return said, urljoin(base_url, verb.get("action") or base_url), rest
        said.extend((el.text or "").strip() for el in verb.iter("Say"))
    return said, None, []


def _ntfy_publish(phone: Phone, token: str | None, topic: str, title: Any, message: Any,
                  priority: Any) -> Response:
    if token is not None and request.headers.get("Authorization") != f"Bearer {token}":
        return _json({"code": 40101, "http": 401, "error": "unauthorized"}, 401)
    status = phone.fault_for("push")
    if status is not None:
        return _json({"code": status * 100, "http": status, "error": "server error"}, status)
    entry = phone.record("push", to=topic, title=str(title or ""), body=str(message or ""),
                         priority=str(priority or ""))
    return _json({"id": f"m{int(entry['at'] * 1000)}", "time": int(entry["at"]), "event": "message",
                  "topic": topic, "title": entry["title"], "message": entry["body"]})


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class _SmtpHandler:
    """aiosmtpd handler: every accepted e-mail goes on the phone, one entry per recipient."""

    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        if self.phone.fault_for("email") is not None:
            return "451 4.3.0 Temporary failure, try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        for rcpt in envelope.rcpt_tos:
            self.phone.record("email", to=rcpt, from_=envelope.mail_from,
                              title=str(message.get("Subject", "")), body=text)
        return "250 Message accepted for delivery"


def serve_smtp(phone: Phone, host: str = "127.0.0.1", port: int = 0) -> Controller:
    """Start an SMTP server recording into `phone`; `controller.port` says where it listens."""
    controller = Controller(_SmtpHandler(phone), hostname=host, port=port or free_port())
    controller.start()
    return controller


@dataclass
class PhoneServers:
    """The Twilio/ntfy HTTP server and the SMTP server, sharing one `Phone`."""

    phone: Phone
    http: RunningServer
    smtp: Controller
    account_sid: str
    auth_token: str

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def smtp_port(self) -> int:
        return int(self.smtp.port)

    def stop(self) -> None:
        self.http.stop()
        self.smtp.stop()


def start_phone(account_sid: str = "AC" + "0" * 32, auth_token: str = "phone-auth-token",
                ntfy_token: str | None = None, ring_seconds: float | None = None) -> PhoneServers:
    phone = Phone(ring_seconds)
    http = serve_in_thread(create_app(phone, account_sid, auth_token, ntfy_token))
    smtp = serve_smtp(phone)
    return PhoneServers(phone=phone, http=http, smtp=smtp, account_sid=account_sid, auth_token=auth_token)
