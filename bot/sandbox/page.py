"""The sandbox page and its small JSON API, added onto the Slack-compatible server.

The page acts as Slack's client: it sends what a person types or clicks to
atbat as signed slash commands and interactions (through `SlackClient`), shows
what Slack would show (a slash command's ack body as an ephemeral or channel
message), and polls `/_sandbox/page-state` for everything else.
"""

from __future__ import annotations

import copy
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import requests
from flask import Blueprint, Response, abort, jsonify, request, send_file, send_from_directory

from bot.domain.config import Config
from bot.fakeslack import SlackClient, Workspace
from bot.fakeslack.chat import post_ephemeral, post_message
from bot.fakeslack.server import workspace_snapshot
from bot.fakeslack.state import StoredFile
from bot.fakeslack.typed import encode_typed
from bot.sandbox.alerts import alertmanager_payload
from bot.sandbox.files import markdown_html
from bot.sandbox.people import directory
from bot.slack.format import escape

STATIC = Path(__file__).parent / "static"
# The commands atbat's manifest declares (manifest.yml, features.slash_commands).
SLASH_COMMANDS = frozenset({"/oncall"})


class Parts(Protocol):
    """What the page needs from the running sandbox (filled in as it starts)."""

    config: Config | None
    workspace: Workspace | None
    client: SlackClient | None
    bot_url: str
    alert_token: str

    def phone_view(self, user: str) -> dict[str, Any]: ...

    def press(self, user: str, sid: str, digit: str) -> dict[str, Any]: ...


class BadRequest(Exception):
    """A request the page should not have sent; becomes a 400 with the message."""


def blueprint(parts: Parts) -> Blueprint:
    bp = Blueprint("sandbox", __name__, static_folder=str(STATIC),
                   static_url_path="/_sandbox/static")
    fired: dict[str, datetime] = {}  # team -> when its test alert started firing

    def ready() -> tuple[Config, Workspace, SlackClient]:
        if parts.config is None or parts.workspace is None or parts.client is None:
            raise BadRequest("the sandbox is still starting")
        return parts.config, parts.workspace, parts.client

    def acting(*fields: str) -> tuple[Workspace, SlackClient, dict[str, Any], list[str]]:
        """The opening of a person's action: the sandbox ready, the JSON body, and its
        `user` and `fields` (each required), the user one of the workspace's people."""
        _, ws, client = ready()
        body = _body()
        values = [_field(body, name) for name in ("user", *fields)]
        _check_user(ws, values[0])
        return ws, client, body, values

    @bp.errorhandler(BadRequest)
    def bad_request(error: BadRequest) -> tuple[Response, int]:
        return jsonify(ok=False, error=str(error)), 400

    @bp.get("/")
    def index() -> Response:
        return send_from_directory(STATIC, "index.html", max_age=0)

    @bp.get("/_sandbox/info")
    def info() -> Response:
        config, ws, client = ready()
        return jsonify({**directory(config, ws), "socket_mode": client.socket is not None})

    @bp.get("/_sandbox/page-state")
    def page_state() -> Response:
        _, ws, _ = ready()
        user = _field(request.args, "user")
        snapshot = workspace_snapshot(ws)
        snapshot["my_views"] = ws.open_views(user)
        with ws.lock:
            snapshot["last_read"] = dict(ws.last_read.get(user, {}))
        if user in ws.users:
            snapshot["phone"] = parts.phone_view(user)
        return jsonify(snapshot)

    @bp.post("/_sandbox/phone/press")
    def press() -> Response:
        """A key pressed on a ringing call of the acting person's phone."""
        _, _, _, (user, sid, digit) = acting("sid", "digit")
        if digit not in "0123456789*#" or len(digit) != 1:
            raise BadRequest("digit must be one key: 0-9, * or #")
        answer = parts.press(user, sid, digit)
        if not answer["ok"]:
            raise BadRequest(answer["error"] or "the call did not take the key")
        return jsonify(answer)

    @bp.post("/_sandbox/read")
    def read() -> Response:
        """The person has seen `channel` up to `ts` (Slack's conversations.mark)."""
        ws, _, _, (user, channel, ts) = acting("channel", "ts")
        with ws.lock:
            marks = ws.last_read.setdefault(user, {})
            if float(ts) > float(marks.get(channel, "0")):
                marks[channel] = ts
        return jsonify(ok=True)

    @bp.post("/_sandbox/join")
    def join() -> Response:
        ws, _, _, (user, channel_id) = acting("channel")
        with ws.lock:
            channel = ws.channels.get(channel_id)
            if channel is None or channel.is_im or channel.is_private or channel.is_archived:
                raise BadRequest("that channel cannot be joined")
            if user not in channel.members:
                channel.members.append(user)
                post_as_user(ws, user, channel_id, f"<@{user}> has joined the channel", None)
        return jsonify(ok=True)

    @bp.get("/_sandbox/files/<file_id>")
    def file_content(file_id: str) -> Response:
        stored = _uploaded(file_id)
        # Only pictures are shown in the page; anything else is a download, never a page of ours.
        inline = stored.mimetype.startswith("image/") and stored.mimetype != "image/svg+xml"
        response = send_file(io.BytesIO(stored.content or b""), mimetype=stored.mimetype,
                             as_attachment=bool(request.args.get("download")) or not inline,
                             download_name=stored.name, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @bp.get("/_sandbox/files/<file_id>/preview")
    def file_preview(file_id: str) -> Response:
        stored = _uploaded(file_id)
        if stored.filetype != "markdown":
            raise BadRequest("only Markdown files have a preview")
        return jsonify(ok=True, html=markdown_html((stored.content or b"").decode("utf-8", "replace")))

    def _uploaded(file_id: str) -> StoredFile:
        _, ws, _ = ready()
        with ws.lock:
            stored = ws.files.get(file_id)
        if stored is None or not stored.completed:
            abort(404)
        return stored

    @bp.post("/_sandbox/say")
    def say() -> Response:
        ws, client, body, (user, channel, text) = acting("channel", "text")
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            if command not in SLASH_COMMANDS:
                return jsonify(not_a_command(ws, user, channel, command))
            return jsonify(run_slash(ws, client, user, channel, command,
                                     encode_typed(ws, rest.strip())))
        return jsonify(post_as_user(ws, user, channel, encode_typed(ws, text, labels=False),
                                    body.get("thread_ts")))

    @bp.post("/_sandbox/home")
    def home() -> Response:
        """The person opens atbat's Home tab (Slack sends `app_home_opened`)."""
        _, client, _, (user,) = acting()
        response = client.app_home_opened(user)
        return jsonify(ok=response.status_code == 200, status=response.status_code)

    @bp.post("/_sandbox/click")
    def click() -> Response:
        ws, client, body, (user,) = acting()
        if body.get("view_id"):
            return _click_in_view(ws, client, user, _field(body, "view_id"), body)
        channel, ts = _field(body, "channel"), _field(body, "ts")
        with ws.lock:
            message = ws.find_ephemeral(ts) or ws.find_message(channel, ts)
            message = copy.deepcopy(message)
        if message is None:
            raise BadRequest("that message is gone")
        try:
            response = client.click(message, _field(body, "action_id"), user=user, channel=channel,
                                    selected_option=body.get("selected_option"))
        except LookupError as exc:
            raise BadRequest(str(exc)) from None
        return jsonify(ok=response.status_code == 200, status=response.status_code)

    def _click_in_view(ws: Workspace, client: SlackClient, user: str, view_id: str,
                       body: dict[str, Any]) -> Response:
        """A button in the Home tab (or a modal): the click carries the view, no message."""
        with ws.lock:
            view = copy.deepcopy(ws.views.get(view_id))
        if view is None or ws.view_users.get(view_id) != user:
            raise BadRequest("that view is not open for this user")
        try:
            response = client.click(view, _field(body, "action_id"), user=user, channel="")
        except LookupError as exc:
            raise BadRequest(str(exc)) from None
        return jsonify(ok=response.status_code == 200, status=response.status_code)

    @bp.post("/_sandbox/submit")
    def submit() -> Response:
        _, ws, client = ready()
        body = _body()
        user, view_id = _field(body, "user"), _field(body, "view_id")
        with ws.lock:
            view = copy.deepcopy(ws.views.get(view_id))
        if view is None or ws.view_users.get(view_id) != user:
            raise BadRequest("that view is not open for this user")
        response = client.submit_view(view, user, body.get("values") or {})
        answer = _json_or_empty(response)
        errors = answer.get("errors") if answer.get("response_action") == "errors" else None
        return jsonify(ok=response.status_code == 200, status=response.status_code, errors=errors)

    @bp.post("/_sandbox/close")
    def close() -> Response:
        _, ws, _ = ready()
        view_id = _field(_body(), "view_id")
        with ws.lock:
            ws.closed_views.add(view_id)
        return jsonify(ok=True)

    @bp.post("/_sandbox/alert")
    def alert() -> Response:
        config, _, _ = ready()
        body = _body()
        team = _field(body, "team")
        if team not in config.teams:
            raise BadRequest(f"no team {team!r} in the config")
        firing = body.get("action", "fire") != "resolve"
        now = datetime.now(UTC)
        started = fired.setdefault(team, now) if firing else fired.pop(team, now)
        payload = alertmanager_payload(config, team, firing, started, now)
        response = requests.post(f"{parts.bot_url}/alerts/alertmanager", json=payload,
                                 headers={"Authorization": f"Bearer {parts.alert_token}"},
                                 timeout=10)
        return jsonify(ok=response.ok, status=response.status_code, answer=response.text[:500])

    return bp


def run_slash(ws: Workspace, client: SlackClient, user: str, channel: str, command: str,
              text: str) -> dict[str, Any]:
    """Send a slash command and show its ack body as Slack does."""
    response = client.slash(text, user=user, channel=channel, command=command)
    if response.status_code != 200:
        # Slack's own wording when an app fails to answer a command (over Socket Mode: no ack in 3 s).
        if client.socket is not None:
            content = {"text": f'{command} failed with the error "operation_timeout"'}
        else:
            content = {"text": f'{command} failed with the error "http_service_error" '
                               f"(HTTP {response.status_code})"}
        with ws.lock:
            post_ephemeral(ws, channel, user, content, "slash_command")
        return {"ok": False, "status": response.status_code}
    answer = _json_or_empty(response)
    content = {k: answer[k] for k in ("text", "blocks", "attachments") if answer.get(k)}
    if content:
        with ws.lock:
            if answer.get("response_type") == "in_channel" and channel in ws.channels:
                post_message(ws, ws.channels[channel], content)
            else:
                post_ephemeral(ws, channel, user, content, "slash_command")
    return {"ok": True, "status": 200}


def not_a_command(ws: Workspace, user: str, channel: str, command: str) -> dict[str, Any]:
    """What Slack's client answers for a slash command no app in the workspace has."""
    text = (f"{escape(command)} is not a valid command. In Slack, all messages that start with "
            'the "/" character are interpreted as commands.')
    with ws.lock:
        post_ephemeral(ws, channel, user, {"text": text}, "slash_command")
    return {"ok": True, "valid": False}


def post_as_user(ws: Workspace, user: str, channel: str, text: str,
                 thread_ts: str | None) -> dict[str, Any]:
    """A plain message from a person (atbat reads no messages; others in the channel do).

    `text` is as Slack stores typed text (`encode_typed`): escaped, mentions as tokens.
    """
    with ws.lock:
        if channel not in ws.channels:
            raise BadRequest("no such channel")
        message: dict[str, Any] = {"type": "message", "user": user, "team": ws.team_id,
                                   "text": text, "ts": ws.new_ts()}
        parent = ws.find_message(channel, thread_ts) if thread_ts else None
        if parent is not None:
            message["thread_ts"] = parent["ts"]
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["reply_users"] = list(dict.fromkeys([*parent.get("reply_users", []), user]))
            parent["reply_users_count"] = len(parent["reply_users"])
            parent["latest_reply"] = message["ts"]
        ws.history.setdefault(channel, []).append(message)
    return {"ok": True, "ts": message["ts"]}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    return body


def _field(source: Any, name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} is required")
    return value.strip()


def _check_user(ws: Workspace, user: str) -> None:
    if user not in ws.users:
        raise BadRequest(f"unknown user {user}")


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json() if response.content.strip() else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


__all__ = ["blueprint", "not_a_command", "post_as_user", "run_slash"]
