"""Socket Mode end to end: the local server speaks Slack's protocol, `atbat socket` answers over it.

The protocol tests drive the server with slack_sdk's own Socket Mode client;
the end-to-end tests run the real `atbat socket` command (Bolt's handler on
that same client) and send it a slash command and a button click, then cut
the connection and ask it to refresh, as Slack does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bot.fakeslack import APP_TOKEN, BOT_TOKEN, SlackClient, Workspace
from bot.fakeslack.server import RunningServer
from bot.fakeslack.socket_mode import NotAcknowledged, SocketModeServer
from bot.sandbox.processes import start_atbat, stop_process
from tests.conftest import FIXTURES, SIGNING_SECRET, RedisServer


@pytest.fixture
def socket_server(workspace: Workspace, slack_server: RunningServer) -> Iterator[SocketModeServer]:
    # Slack waits 3 s for an acknowledgement; a loaded test machine gets more.
    server = SocketModeServer(workspace, ack_timeout=15).start()
    yield server
    server.stop()


def sdk_client(slack_server: RunningServer, token: str = APP_TOKEN) -> SocketModeClient:
    return SocketModeClient(app_token=token, web_client=WebClient(base_url=slack_server.api_url),
                            ping_interval=0.5)


Listener = Callable[[SocketModeClient, SocketModeRequest], None]


def answer_everything(received: list[dict[str, Any]]) -> Listener:
    def listener(client: SocketModeClient, req: SocketModeRequest) -> None:
        received.append({"type": req.type, "envelope_id": req.envelope_id, "payload": req.payload,
                         "accepts": req.accepts_response_payload, "retry": req.retry_attempt})
        payload = {"text": f"seen {req.type}"} if req.accepts_response_payload else None
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id,
                                                            payload=payload))

    return listener


# ---------------------------------------------------------------- the protocol


def test_connections_open_wants_an_app_level_token(socket_server: SocketModeServer,
                                                    slack_server: RunningServer) -> None:
    url = WebClient(base_url=slack_server.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(f"ws://127.0.0.1:{socket_server.port}/link/?ticket=")
    for token, error in [(BOT_TOKEN, "not_allowed_token_type"), ("xapp-wrong", "invalid_auth")]:
        with pytest.raises(SlackApiError) as refused:
            WebClient(base_url=slack_server.api_url).apps_connections_open(app_token=token)
        assert refused.value.response["error"] == error
    with pytest.raises(SlackApiError) as refused:
        WebClient(base_url=slack_server.api_url, token=APP_TOKEN).chat_postMessage(
            channel="C0PAYMENTS", text="hi")
    assert refused.value.response["error"] == "not_allowed_token_type"


def test_a_ticket_opens_one_connection_only(socket_server: SocketModeServer) -> None:
    url = socket_server.open_url()
    with connect(url) as first:
        hello = json.loads(first.recv(timeout=5))
        assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0ATBAT"
        assert hello["num_connections"] == 1
        with connect(url) as second, pytest.raises(ConnectionClosed) as closed:
            second.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_envelopes_are_acknowledged_by_envelope_id_with_a_payload_where_allowed(
        socket_server: SocketModeServer, slack_server: RunningServer) -> None:
    received: list[dict[str, Any]] = []
    hellos: list[str] = []
    client = sdk_client(slack_server)
    client.socket_mode_request_listeners.append(answer_everything(received))
    client.on_message_listeners.append(lambda raw: hellos.append(raw) if '"hello"' in raw else None)
    client.connect()
    try:
        socket_server.wait_connected(1)
        answer = socket_server.slash_command({"command": "/oncall", "text": "help"})
        assert answer == {"text": "seen slash_commands"}
        # A click cannot answer in its acknowledgement; a modal submission can.
        assert socket_server.interactive({"type": "block_actions", "actions": []}) == {}
        assert socket_server.interactive({"type": "view_submission", "view": {}}) == {
            "text": "seen interactive"}
        assert socket_server.event({"type": "app_home_opened", "user": "U0ALICE"}) == {}
        assert [(r["type"], r["accepts"]) for r in received] == [
            ("slash_commands", True), ("interactive", False), ("interactive", True),
            ("events_api", False)]
        event = received[-1]
        assert event["payload"]["event"]["type"] == "app_home_opened" and event["retry"] == 0
        assert [a["envelope_id"] for a in socket_server.acks] == [r["envelope_id"] for r in received]
        assert hellos and json.loads(hellos[0])["type"] == "hello"
    finally:
        client.close()


def test_an_envelope_nobody_acknowledges_times_out(socket_server: SocketModeServer,
                                                   slack_server: RunningServer) -> None:
    with pytest.raises(NotAcknowledged, match="no Socket Mode connection"):
        socket_server.slash_command({"text": "help"}, timeout=0.2)
    client = sdk_client(slack_server)  # connected, but with no listener: it never acks
    client.connect()
    try:
        socket_server.wait_connected(1)
        with pytest.raises(NotAcknowledged, match="no acknowledgement of slash_commands"):
            socket_server.slash_command({"text": "help"}, timeout=0.3)
    finally:
        client.close()


def test_the_client_reconnects_on_refresh_requested_and_after_a_lost_connection(
        socket_server: SocketModeServer, slack_server: RunningServer) -> None:
    received: list[dict[str, Any]] = []
    client = sdk_client(slack_server)
    client.socket_mode_request_listeners.append(answer_everything(received))
    client.connect()
    try:
        socket_server.wait_connected(1)
        socket_server.refresh()
        socket_server.wait_connected(2)
        assert socket_server.slash_command({"text": "after refresh"}) == {
            "text": "seen slash_commands"}
        socket_server.drop()
        socket_server.wait_connected(3)
        assert socket_server.slash_command({"text": "after drop"}) == {"text": "seen slash_commands"}
        # A silent network failure is noticed when pings go unanswered (4 ping intervals).
        socket_server.cut()
        socket_server.wait_connected(4, timeout=20)
        assert socket_server.slash_command({"text": "after cut"}) == {"text": "seen slash_commands"}
        assert [r["payload"]["text"] for r in received] == ["after refresh", "after drop",
                                                            "after cut"]
    finally:
        client.close()


# ---------------------------------------------------------------- `atbat socket`


@pytest.fixture
def atbat_socket(socket_server: SocketModeServer, slack_server: RunningServer,
                 redis_server: RedisServer, tmp_path: Path, runtime: Any) -> Iterator[SlackClient]:
    """The real `atbat socket` command, connected; a client that sends over Socket Mode."""
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
           "SLACK_API_URL": slack_server.api_url, "REDIS_URL": redis_server.url,
           "ATBAT_CONFIG": str(FIXTURES / "atbat.yml"), "SLACK_SIGNING_SECRET": ""}
    log_file = tmp_path / "socket.log"
    proc = start_atbat("socket", env, log_file)
    try:
        socket_server.wait_connected(1, timeout=30)
        yield SlackClient(socket_server.workspace, "http://unused.invalid", SIGNING_SECRET,
                          socket=socket_server)
    except TimeoutError:
        raise AssertionError(f"atbat socket did not connect:\n{log_file.read_text()}") from None
    finally:
        stop_process(proc)
    assert proc.returncode is not None


def test_atbat_socket_answers_a_slash_command_and_a_button_and_survives_reconnects(
        atbat_socket: SlackClient, socket_server: SocketModeServer, workspace: Workspace,
        run_jobs: Callable[..., int]) -> None:
    help_answer = atbat_socket.slash("help", user="U0ALICE", channel="C0PAYMENTS")
    assert help_answer.status_code == 200 and "/oncall who" in help_answer.text

    preview = atbat_socket.slash(f"rotation payments primary add {atbat_socket.mention('U0DAVE')}",
                                 user="U0MANAGER", channel="C0PAYMENTS").json()
    assert "rotation_confirm" in json.dumps(preview["blocks"])
    message = {"ts": "1700000000.000100", "is_ephemeral": True, "blocks": preview["blocks"]}
    clicked = atbat_socket.click(message, "rotation_confirm", user="U0MANAGER", channel="C0PAYMENTS")
    assert clicked.status_code == 200 and clicked.content == b""
    run_jobs()
    told = [m["text"] for m in workspace.ephemerals(user="U0MANAGER")]
    assert any(t.startswith("Applied: add") for t in told), told
    assert any("U0DAVE" in m["text"] for m in workspace.messages("C0PAYMENTS"))

    socket_server.drop()
    socket_server.wait_connected(2, timeout=20)
    assert atbat_socket.slash("help", user="U0BOB", channel="C0PAYMENTS").status_code == 200
    socket_server.refresh()
    socket_server.wait_connected(3, timeout=20)
    again = atbat_socket.slash("who payments", user="U0BOB", channel="C0PAYMENTS")
    assert again.status_code == 200 and "primary" in again.text


def test_the_sandbox_runs_over_socket_mode(tmp_path: Path, redis_server: RedisServer) -> None:
    from bot.sandbox.run import EXAMPLE_CONFIG, Sandbox

    with Sandbox(EXAMPLE_CONFIG, port=0, state_dir=tmp_path, redis_url=redis_server.url,
                 socket=True) as sandbox:
        assert sandbox.client is not None and sandbox.socket_server is not None
        info = requests.get(f"{sandbox.url}/_sandbox/info", timeout=5).json()
        assert info["socket_mode"] is True
        said = requests.post(f"{sandbox.url}/_sandbox/say", timeout=10, json={
            "user": "U0ALICE", "channel": "C0PAYMENTS", "text": "/oncall who"})
        assert said.json() == {"ok": True, "status": 200}
        replies = sandbox.workspace.ephemerals(user="U0ALICE")
        assert replies and "primary" in replies[-1]["text"]
        assert not sandbox.client.sent  # nothing went over signed HTTP
        assert sandbox.socket_server.acks
        process = sandbox.socket_process
        assert process is not None and process.poll() is None
    assert process.poll() is not None  # stopped with the sandbox
