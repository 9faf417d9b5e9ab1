"""Voice calls: `POST /twilio/voice/<page>` and its keypress and status callbacks.

Twilio fetches what the call says from the first route: the alert's title and
team, then "press 1 to acknowledge, 2 to escalate". The keypress arrives at
`/key`, the call's end at `/status`. Every request must carry a valid
`X-Twilio-Signature` for the URL atbat gave Twilio (its public URL), checked
with the official library's `RequestValidator`, and may be used once: a
forged or replayed request gets 403 and changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime
from xml.sax.saxutils import escape as xml_escape

from flask import Blueprint, Response, request
from twilio.request_validator import RequestValidator

from bot.domain.alerts import AlertGroup, AlertTransitionError, Change, acknowledge
from bot.domain.escalation import PAGED_USER_LABEL, escalate_now
from bot.domain.paging import Page, mask_phone, plain
from bot.runtime import Runtime
from bot.services import alerts, paging
from bot.store import alerts as alert_store
from bot.store import pages as store
from bot.store.base import UNAVAILABLE, Conflict

log = logging.getLogger("atbat.paging_webhooks")

UNANSWERED = {"no-answer": "no answer", "busy": "busy", "failed": "the call failed",
              "canceled": "the call was canceled"}


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("voice", __name__)

    @bp.post("/twilio/voice/test")
    def test_call() -> Response:
        refused = _refused(runtime, "test")
        if refused is not None:
            return refused
        return _twiml("<Say>This is a test call from atbat. Confirm in Slack that it arrived. Goodbye.</Say>")

    @bp.post("/twilio/voice/<page_id>")
    def answer(page_id: str) -> Response:
        page = _authentic(runtime, page_id)
        if isinstance(page, Response):
            return page
        group = alert_store.get_group(runtime.redis, page.group_key)
        if group is None or group.occurrence != page.occurrence:
            return _twiml("<Say>This alert is no longer open. Goodbye.</Say>")
        if group.state != "triggered":
            who = "acknowledged" if group.state == "acknowledged" else "resolved"
            return _twiml(f"<Say>This alert was already {who}. Goodbye.</Say>")
        speech = plain(f"atbat page for team {page.team}. {group.title}.", 300)
        action = f"{runtime.settings.public_url}/twilio/voice/{page_id}/key"
        return _twiml(f'<Gather numDigits="1" timeout="10" action="{xml_escape(action)}" method="POST">'
                      f"<Say>{xml_escape(speech)} Press 1 to acknowledge, 2 to escalate.</Say></Gather>"
                      "<Say>No key was pressed. Goodbye.</Say>")

    @bp.post("/twilio/voice/<page_id>/key")
    def key(page_id: str) -> Response:
        page = _authentic(runtime, page_id)
        if isinstance(page, Response):
            return page
        digit = request.form.get("Digits", "")
        if digit not in ("1", "2"):
            return _twiml("<Say>Press 1 to acknowledge, 2 to escalate. Goodbye.</Say>")
        answer_text = _act(runtime, page, digit)
        return _twiml(f"<Say>{xml_escape(answer_text)}</Say><Hangup/>")

    @bp.post("/twilio/voice/<page_id>/status")
    def status(page_id: str) -> Response:
        page = _authentic(runtime, page_id)
        if isinstance(page, Response):
            return page
        outcome = UNANSWERED.get(request.form.get("CallStatus", ""))
        if outcome is not None:
            paging.note(runtime, page, f"Called <@{page.user}> ({_masked(request.form.get('To', ''))}): "
                                       f"{outcome}")
        return Response("", status=204)

    return bp


def _refused(runtime: Runtime, page_id: str) -> Response | None:
    """The 403 (or 503) for a request that is not a genuine, first-seen Twilio callback; else None."""
    token = runtime.settings.twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    url = f"{runtime.settings.public_url}{request.full_path.rstrip('?')}"
    params = request.form.to_dict()
    if not token or not signature or not RequestValidator(token).validate(url, params, signature):
        log.warning("voice callback refused reason=bad-signature page=%s", page_id[:32])
        return Response("forbidden", status=403, mimetype="text/plain")
    digest = hashlib.sha256(f"{signature}\0{request.path}\0{sorted(params.items())}".encode())
    try:
        first = store.first_use_of_callback(runtime.redis, digest.hexdigest())
    except UNAVAILABLE:
        return Response("store unavailable", status=503, mimetype="text/plain")
    if not first:
        log.warning("voice callback refused reason=replay page=%s", page_id[:32])
        return Response("forbidden", status=403, mimetype="text/plain")
    return None


def _authentic(runtime: Runtime, page_id: str) -> Page | Response:
    """The page a genuine, first-seen Twilio callback is about; else the 403/404/503 to answer."""
    refused = _refused(runtime, page_id)
    if refused is not None:
        return refused
    try:
        page = store.get(runtime.redis, page_id)
    except UNAVAILABLE:
        return Response("store unavailable", status=503, mimetype="text/plain")
    return page if page is not None else Response("no such page", status=404, mimetype="text/plain")


def _act(runtime: Runtime, page: Page, digit: str) -> str:
    now: datetime = runtime.now()
    team = runtime.config.teams.get(page.team)
    number = _masked(request.form.get("To", ""))

    def apply(group: AlertGroup | None) -> tuple[AlertGroup, Change]:
        if group is None or group.occurrence != page.occurrence:
            raise AlertTransitionError("This alert is no longer open.")
        if digit == "1":
            return acknowledge(group, page.user, now)
        if group.labels.get(PAGED_USER_LABEL):
            raise AlertTransitionError("This page went to you alone, so there is nobody to escalate to.")
        return escalate_now(group, page.user, now, policy=alerts.policy_for(team, group) if team else None)

    try:
        alerts.transition(runtime, page.group_key, apply)
    except AlertTransitionError as exc:
        return _spoken(str(exc))
    except (*UNAVAILABLE, Conflict):
        return "atbat cannot reach its store right now. Please acknowledge in Slack."
    done = "acknowledged" if digit == "1" else "escalated"
    paging.note(runtime, page, f"Called <@{page.user}> ({number}): answered, pressed {digit}")
    log.info("voice keypress alert=%s team=%s user=%s digit=%s", page.group_key, page.team, page.user, digit)
    return f"The alert is {done}. Goodbye."


def _spoken(text: str) -> str:
    """A message for the call: "Already acknowledged by <@U0BOB>." is read as "Already acknowledged."."""
    return re.sub(r"\s*\(?\bby <[^>]*>\)?|<[^>]*>", "", text)


def _masked(number: str) -> str:
    return mask_phone(number) if number else "phone"


def _twiml(body: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    mimetype="text/xml")
