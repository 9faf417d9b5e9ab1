"""Sends the app what Slack sends it: slash commands and interactions, signed.

Bodies are form-encoded with Slack's field names (interactions as a single
`payload=` JSON field) and carry `X-Slack-Request-Timestamp` and
`X-Slack-Signature` computed as Slack does, so the app's real signature check
and parsing run in tests.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from bot.fakeslack import markup
from bot.fakeslack.blocks import block_errors, fallback_errors
from bot.fakeslack.socket_mode import NotAcknowledged, SocketModeServer
from bot.fakeslack.state import Workspace

__all__ = ["SignedRequest", "SlackClient", "sign"]


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """Slack's request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class SignedRequest:
    """Exactly what was sent, so it can be sent again byte for byte."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def payload(self) -> dict[str, Any] | None:
        """The decoded `payload=` JSON of an interaction, None for a slash command."""
        raw = self.form.get("payload")
        return json.loads(raw) if raw else None


class SlackClient:
    """Plays Slack's side towards the app at `app_url` (POST {app_url}/slack/events).

    With `socket`, slash commands and interactions go as Socket Mode envelopes
    to the app connected there instead, and the acknowledgement comes back as
    the HTTP answer it stands for (status 200 and its payload, or 504 when
    none came within Slack's 3 seconds).
    """

    def __init__(
        self,
        workspace: Workspace,
        app_url: str,
        signing_secret: str,
        path: str = "/slack/events",
        timeout: float = 10.0,
        socket: SocketModeServer | None = None,
    ) -> None:
        self.workspace = workspace
        self.socket = socket
        self.url = app_url.rstrip("/") + path
        self.signing_secret = signing_secret
        self.timeout = timeout
        self.session = requests.Session()
        self.sent: list[SignedRequest] = []

    @property
    def last_request(self) -> SignedRequest:
        return self.sent[-1]

    # ------------------------------------------------------------ what users do

    def slash(
        self,
        command_text: str,
        user: str,
        channel: str,
        command: str = "/oncall",
        retry_num: int | None = None,
        timestamp: int | None = None,
        trigger_id: str | None = None,
        retry_reason: str = "http_timeout",
    ) -> requests.Response:
        """Run a slash command as `user` in `channel`."""
        ws = self.workspace
        fields = {
            "token": "verification-token-unused",
            "team_id": ws.team_id,
            "team_domain": ws.team_domain,
            "channel_id": channel,
            "channel_name": self._channel_name(channel),
            "user_id": user,
            "user_name": self._user_name(user),
            "command": command,
            "text": command_text,
            "api_app_id": ws.app_id,
            "is_enterprise_install": "false",
            "response_url": ws.new_response_url(channel, user),
            "trigger_id": trigger_id or ws.new_trigger_id(user),
        }
        if self.socket is not None:
            socket = self.socket
            response = _acknowledgement(lambda: socket.slash_command(fields))
        else:
            response = self._send(urlencode(fields), timestamp, retry_num, retry_reason)
        _check_answer(ws, response)
        return response

    def click(
        self,
        message: dict[str, Any],
        action_id: str,
        user: str,
        channel: str,
        value: str | None = None,
        selected_option: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        retry_num: int | None = None,
        timestamp: int | None = None,
    ) -> requests.Response:
        """Press the element `action_id` of `message` (a stored message or ephemeral).

        As in Slack, a click on an ephemeral message carries no `message`.
        """
        ws = self.workspace
        block_id, element = find_element(message, action_id)
        is_ephemeral = bool(message.get("is_ephemeral"))
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "type": element.get("type", "button"),
            "action_ts": f"{ws.clock():.6f}",
        }
        if "text" in element:
            action["text"] = element["text"]
        if element.get("type", "button") == "button":
            action["value"] = value if value is not None else element.get("value", "")
            if element.get("style"):
                action["style"] = element["style"]
        if selected_option is not None:
            action["selected_option"] = selected_option
        if message.get("type") in ("home", "modal") and "id" in message:
            return self._send_payload(self._view_click(message, action, user, trigger_id),
                                      timestamp, retry_num)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_ref(user),
            "api_app_id": ws.app_id,
            "token": "verification-token-unused",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": is_ephemeral,
            },
            "trigger_id": trigger_id or ws.new_trigger_id(user),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "state": {"values": {}},
            "response_url": ws.new_response_url(
                channel, user, original_ts=message["ts"], original_ephemeral=is_ephemeral
            ),
            "actions": [action],
        }
        if not is_ephemeral:
            payload["message"] = copy.deepcopy(message)
        return self._send_payload(payload, timestamp, retry_num)

    def _view_click(self, view: dict[str, Any], action: dict[str, Any], user: str,
                    trigger_id: str | None) -> dict[str, Any]:
        """A button pressed in a view (the Home tab, a modal): no channel, no response_url."""
        ws = self.workspace
        return {
            "type": "block_actions", "user": self._user_ref(user), "api_app_id": ws.app_id,
            "token": "verification-token-unused",
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": trigger_id or ws.new_trigger_id(user),
            "team": {"id": ws.team_id, "domain": ws.team_domain}, "enterprise": None,
            "is_enterprise_install": False, "view": copy.deepcopy(view), "actions": [action],
        }

    def submit_view(
        self,
        view: dict[str, Any],
        user: str,
        values: dict[str, dict[str, Any]] | None = None,
        timestamp: int | None = None,
    ) -> requests.Response:
        """Submit a modal. `values`: block_id → action_id → text or a full state value.

        The view is closed in the workspace when the app answers with an empty
        body (or `response_action: clear`), and replaced on `update`.
        """
        ws = self.workspace
        submitted = copy.deepcopy(view)
        submitted["state"] = {"values": _state_values(values or {})}
        payload = {
            "type": "view_submission",
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "user": self._user_ref(user),
            "api_app_id": ws.app_id,
            "token": "verification-token-unused",
            "trigger_id": ws.new_trigger_id(user),
            "view": submitted,
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        response = self._send_payload(payload, timestamp, None)
        self._apply_view_response(view, response)
        return response

    def replay(
        self,
        request: SignedRequest | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> requests.Response:
        """Send a request again with identical bytes and signature (default: the last one)."""
        original = request or self.last_request
        headers = dict(original.headers)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        again = SignedRequest(original.url, original.body, headers)
        self.sent.append(again)
        return self.session.post(again.url, data=again.body, headers=headers, timeout=self.timeout)

    def event(self, event: dict[str, Any], timestamp: int | None = None) -> requests.Response:
        """Deliver an Events API event (e.g. `app_home_opened`) as Slack does: a signed JSON
        `event_callback` envelope over HTTP, or an `events_api` envelope in Socket Mode."""
        ws = self.workspace
        if self.socket is not None:
            socket = self.socket
            return _acknowledgement(lambda: socket.event(event))
        body = json.dumps({
            "token": "verification-token-unused", "team_id": ws.team_id, "api_app_id": ws.app_id,
            "event": event, "type": "event_callback", "event_id": ws.new_id("Ev"),
            "event_time": int(ws.clock()),
            "authorizations": [{"team_id": ws.team_id, "user_id": ws.bot_user_id, "is_bot": True}],
        })
        return self._send(body, timestamp, None, content_type="application/json")

    def app_home_opened(self, user: str) -> requests.Response:
        """`user` opens the app's Home tab."""
        channel = self.workspace.im_with(user).id
        return self.event({"type": "app_home_opened", "user": user, "channel": channel,
                           "tab": "home", "event_ts": f"{self.workspace.clock():.6f}"})

    def mention(self, user_id: str) -> str:
        """A user as Slack writes them in command text with escaping on: `<@U123|name>`."""
        return f"<@{user_id}|{self._user_name(user_id)}>"

    # ------------------------------------------------------------ plumbing

    def message_shortcut(self, message: dict[str, Any], callback_id: str, user: str,
                         channel: str) -> requests.Response:
        """Run the message shortcut `callback_id` on `message` as `user`, as Slack does."""
        ws = self.workspace
        payload = {
            "type": "message_action", "callback_id": callback_id, "token": "verification-token-unused",
            "action_ts": f"{time.time():.6f}", "team": {"id": ws.team_id, "domain": ws.team_domain},
            "user": self._user_ref(user), "channel": {"id": channel, "name": self._channel_name(channel)},
            "is_enterprise_install": False, "enterprise": None, "message_ts": message["ts"],
            "message": message, "trigger_id": ws.new_trigger_id(user),
            "response_url": ws.new_response_url(channel, user),
        }
        return self._send_payload(payload, None, None)

    def _send_payload(
        self, payload: dict[str, Any], timestamp: int | None, retry_num: int | None
    ) -> requests.Response:
        if self.socket is not None:
            socket = self.socket
            return _acknowledgement(lambda: socket.interactive(payload))
        return self._send(urlencode({"payload": json.dumps(payload)}), timestamp, retry_num)

    def _send(
        self,
        body: str,
        timestamp: int | None,
        retry_num: int | None,
        retry_reason: str = "http_timeout",
        content_type: str = "application/x-www-form-urlencoded",
    ) -> requests.Response:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(self.signing_secret, ts, body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        signed = SignedRequest(self.url, body.encode(), headers)
        self.sent.append(signed)
        return self.session.post(signed.url, data=signed.body, headers=headers, timeout=self.timeout)

    def _apply_view_response(self, view: dict[str, Any], response: requests.Response) -> None:
        if response.status_code != 200 or "id" not in view:
            return
        try:
            answer = response.json() if response.content.strip() else {}
        except ValueError:
            answer = {}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        ws = self.workspace
        errors = markup.answer_errors(answer) if ws.check_markup and isinstance(answer, dict) \
            else []
        if errors:
            ws.markup_violations.append(("view_submission answer", errors))
            raise RefusedAnswer(f"unescaped markup in this modal answer: {errors[:5]}")
        with ws.lock:
            if action in (None, "clear"):
                ws.closed_views.add(view["id"])
            elif action == "update" and isinstance(answer.get("view"), dict):
                ws.views[view["id"]] = {**ws.views.get(view["id"], view), **answer["view"]}

    def _channel_name(self, channel_id: str) -> str:
        channel = self.workspace.channels.get(channel_id)
        if channel is None or channel.is_im or channel_id.startswith("D"):
            return "directmessage"
        return "privategroup" if channel.is_private else channel.name

    def _user_name(self, user_id: str) -> str:
        user = self.workspace.users.get(user_id)
        return user["name"] if user else user_id.lower()

    def _user_ref(self, user_id: str) -> dict[str, str]:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.workspace.team_id}


def _acknowledgement(deliver: Any) -> requests.Response:
    """A Socket Mode acknowledgement as the HTTP response it replaces."""
    response = requests.Response()
    response.headers["Content-Type"] = "application/json"
    try:
        answer = deliver()
    except NotAcknowledged as exc:
        response.status_code = 504
        response._content = json.dumps({"error": str(exc)}).encode()
        return response
    response.status_code = 200
    response._content = json.dumps(answer).encode() if answer else b""
    return response


def find_element(message: dict[str, Any], action_id: str) -> tuple[str, dict[str, Any]]:
    """The block id and interactive element with `action_id` in a message's blocks."""
    seen: list[str] = []
    for block in message.get("blocks") or []:
        candidates = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if not isinstance(element, dict) or "action_id" not in element:
                continue
            if element["action_id"] == action_id:
                return block.get("block_id", ""), element
            seen.append(element["action_id"])
    raise LookupError(f"no element {action_id!r} in the message; it has {seen}")


def _state_values(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        state[block_id] = {
            action_id: value
            if isinstance(value, dict)
            else {"type": "plain_text_input", "value": value}
            for action_id, value in actions.items()
        }
    return state


class RefusedAnswer(AssertionError):
    """Slack would refuse this command answer and show the user nothing but an error."""


def _check_answer(ws: Workspace, response: requests.Response) -> None:
    """Validate a slash command's answer as Slack does before showing it, and its
    markup as the server checks every call's (markup.py)."""
    if response.status_code != 200 or "json" not in response.headers.get("Content-Type", ""):
        return
    body = response.json()
    if not isinstance(body, dict):
        return
    errors = markup.message_errors(body) if ws.check_markup else []
    if errors:
        ws.markup_violations.append(("slash command answer", errors))
        raise RefusedAnswer(f"unescaped markup in this answer: {errors[:5]}")
    if "blocks" not in body:
        return
    errors = block_errors(body["blocks"]) + fallback_errors(body.get("text"), body["blocks"])
    if errors:
        raise RefusedAnswer(f"Slack refuses this answer (invalid_blocks): {errors[:5]}")
