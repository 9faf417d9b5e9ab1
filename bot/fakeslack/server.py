"""HTTP face of the local Slack-compatible workspace.

`create_app(workspace)` serves the Web API under `/api/<method>`,
response_url endpoints under `/response/<id>`, file uploads under
`/upload/<file id>` and a JSON view of the workspace at `/_sandbox/state`.
`serve_in_thread(app)` runs it on a free port for tests.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

from bot.fakeslack.api import call_method
from bot.fakeslack.files import store_upload
from bot.fakeslack.responses import post_to_response_url
from bot.fakeslack.state import Workspace

__all__ = ["RunningServer", "Workspace", "create_app", "serve_in_thread"]


def create_app(workspace: Workspace) -> Flask:
    app = Flask("fakeslack")
    app.extensions["fakeslack"] = workspace

    @app.before_request
    def remember_base_url() -> None:
        if workspace.base_url is None:
            workspace.base_url = request.host_url.rstrip("/")

    @app.route("/api/<method>", methods=["GET", "POST"])
    def web_api(method: str) -> Response:
        args = _request_args()
        result = call_method(workspace, method, args, _request_token(args))
        return _json(result.body, result.status, result.headers)

    @app.post("/response/<hook_id>")
    def response_url(hook_id: str) -> Response:
        payload = request.get_json(force=True, silent=True)
        status, body = post_to_response_url(workspace, hook_id, payload)
        return _json(body, status)

    @app.post("/upload/<file_id>")
    def upload(file_id: str) -> Response:
        # slack_sdk posts raw bytes (which urllib labels as a form); others send multipart.
        if request.mimetype == "multipart/form-data":
            uploaded = request.files.get("file") or request.files.get("filename")
            content = uploaded.read() if uploaded else b""
        else:
            content = request.get_data()
        with workspace.lock:
            stored = store_upload(workspace, file_id, content)
        if not stored:
            return Response("file not found", status=404, mimetype="text/plain")
        return Response(f"OK - {len(content)}", mimetype="text/plain")

    @app.get("/_sandbox/state")
    def sandbox_state() -> Response:
        return _json(workspace_snapshot(workspace))

    return app


def _request_args() -> dict[str, Any]:
    """Arguments from the query, a form (urlencoded or multipart) or a JSON body."""
    args: dict[str, Any] = dict(request.values.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            args.update(body)
    return args


def _request_token(args: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    token = args.get("token")
    return str(token) if token else None


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers or {},
        mimetype="application/json",
    )


def workspace_snapshot(ws: Workspace) -> dict[str, Any]:
    """Users, conversations with their messages and threads, and ephemerals per user."""
    with ws.lock:
        channels = []
        for channel in ws.channels.values():
            messages = []
            for message in ws.messages(channel.id):
                thread = ws.replies(channel.id, message["ts"]) if message.get("reply_count") else []
                messages.append({**message, "replies": thread})
            channels.append({**channel.to_api(), "members": list(channel.members),
                             "messages": messages, "pins": list(ws.pins.get(channel.id, []))})
        ephemerals: dict[str, list[dict[str, Any]]] = {}
        for ephemeral in ws.ephemerals():
            ephemerals.setdefault(ephemeral["user"], []).append(ephemeral)
        return {
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "bot_user_id": ws.bot_user_id,
            "users": copy.deepcopy(list(ws.users.values())),
            "channels": channels,
            "ephemerals": ephemerals,
            "usergroups": copy.deepcopy(list(ws.usergroups.values())),
            "views": ws.open_views(),
        }


@dataclass
class RunningServer:
    """A server answering in a background thread."""

    server: BaseWSGIServer
    thread: threading.Thread
    url: str

    @property
    def api_url(self) -> str:
        """What the bot's SLACK_API_URL (WebClient base_url) should be."""
        return f"{self.url}/api/"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


def serve_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    server = make_server(host, port, app, threaded=True)
    url = f"http://{host}:{server.server_port}"
    workspace = app.extensions.get("fakeslack")
    if isinstance(workspace, Workspace):
        workspace.base_url = url
    # A short poll interval keeps stop() quick; tests start and stop many servers.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakeslack", daemon=True
    )
    thread.start()
    return RunningServer(server=server, thread=thread, url=url)
