"""Slack's side of Socket Mode, for a local workspace.

`apps.connections.open` (with an app-level `xapp-` token) hands out a one-use
`ws://…/link/?ticket=…` URL on this server. A client that connects gets
`hello`, then envelopes of type `slash_commands`, `interactive` and
`events_api`, each with an `envelope_id` it must send back (with a `payload`
when the envelope `accepts_response_payload`). `refresh()` sends `disconnect`
with reason `refresh_requested`, as Slack does every few hours; `drop()`
closes every connection from the server's side; `cut()` breaks them with no
closing handshake, as a network failure would.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.fakeslack.args import ApiError, Args
from bot.fakeslack.state import Workspace

log = logging.getLogger("atbat.fakeslack.socket")

# Slack waits this long for an envelope's acknowledgement.
ACK_TIMEOUT = 3.0


class NotAcknowledged(Exception):
    """No connection, or no acknowledgement in time; str() says which."""


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None


@dataclass
class _Link:
    connection: ServerConnection
    ticket: str
    opened: float
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: dict[str, Any]) -> None:
        with self.send_lock:
            self.connection.send(json.dumps(message))


class SocketModeServer:
    """The WebSocket endpoint of Socket Mode, on its own port."""

    def __init__(self, ws: Workspace, host: str = "127.0.0.1", port: int = 0,
                 ack_timeout: float = ACK_TIMEOUT) -> None:
        self.workspace = ws
        self.ack_timeout = ack_timeout
        self.host = host
        self.port = port
        self.tickets: set[str] = set()
        self.links: list[_Link] = []
        self.acks: list[dict[str, Any]] = []  # every acknowledgement received, oldest first
        self.connects = 0
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> SocketModeServer:
        self._server = serve(self._serve_link, self.host, self.port)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode",
                                        daemon=True)
        self._thread.start()
        self.workspace.socket_mode = self
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        for link in self._open_links():
            link.connection.close(code=1001, reason="server stopping")
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self.workspace.socket_mode = None

    def open_url(self) -> str:
        """A new one-use URL, as apps.connections.open returns it."""
        ticket = secrets.token_hex(16)
        with self._lock:
            self.tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.workspace.app_id}"

    # ------------------------------------------------------------ sending what people do

    def deliver(self, kind: str, payload: dict[str, Any], accepts_response_payload: bool,
                timeout: float | None = None, **extra: Any) -> dict[str, Any]:
        """Send one envelope on the newest connection; the acknowledgement's payload ({} if none)."""
        timeout = self.ack_timeout if timeout is None else timeout
        link = self._newest()
        envelope_id = secrets.token_hex(8) + "-" + secrets.token_hex(4)
        pending = _Pending()
        with self._lock:
            self._pending[envelope_id] = pending
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": kind,
                    "accepts_response_payload": accepts_response_payload, **extra}
        try:
            link.send(envelope)
            if not pending.done.wait(timeout):
                raise NotAcknowledged(f"no acknowledgement of {kind} within {timeout:g}s")
        except ConnectionClosed:
            raise NotAcknowledged("the connection closed before the acknowledgement") from None
        finally:
            with self._lock:
                self._pending.pop(envelope_id, None)
        answer = pending.answer or {}
        payload_back = answer.get("payload")
        return payload_back if accepts_response_payload and isinstance(payload_back, dict) else {}

    def slash_command(self, fields: dict[str, str], timeout: float | None = None) -> dict[str, Any]:
        return self.deliver("slash_commands", fields, True, timeout)

    def interactive(self, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        # Only these interactions can answer in their acknowledgement (errors, view updates, options).
        answers = payload.get("type") in ("view_submission", "block_suggestion")
        return self.deliver("interactive", payload, answers, timeout)

    def event(self, event: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        ws = self.workspace
        payload = {"token": "verification-token-unused", "team_id": ws.team_id,
                   "api_app_id": ws.app_id, "event": event, "type": "event_callback",
                   "event_id": ws.new_id("Ev"), "event_time": int(ws.clock()),
                   "authorizations": [{"team_id": ws.team_id, "user_id": ws.bot_user_id,
                                       "is_bot": True}]}
        return self.deliver("events_api", payload, False, timeout, retry_attempt=0,
                            retry_reason="")

    # ------------------------------------------------------------ what Slack does to connections

    def refresh(self) -> None:
        """Ask every client to reconnect (`disconnect`, reason `refresh_requested`)."""
        for link in self._open_links():
            with contextlib.suppress(ConnectionClosed):
                link.send({"type": "disconnect", "reason": "refresh_requested",
                           "debug_info": {"host": "atbat-local"}})

    def drop(self) -> None:
        """Close every connection from the server's side, as Slack does when a host goes away."""
        for link in self._open_links():
            link.connection.close(code=1001, reason="going away")

    def cut(self) -> None:
        """Cut every connection with no closing handshake, as a network failure does."""
        for link in self._open_links():
            with contextlib.suppress(OSError):
                link.connection.socket.shutdown(socket.SHUT_RDWR)

    def wait_connected(self, connects: int, timeout: float = 10.0) -> None:
        """Until `connects` connections in all have said hello, and one is open."""
        deadline = time.monotonic() + timeout
        while self.connects < connects or not self._open_links():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.connects} Socket Mode connection(s), wanted {connects}")
            time.sleep(0.02)

    # ------------------------------------------------------------ plumbing

    def _open_links(self) -> list[_Link]:
        with self._lock:
            return [link for link in self.links if link.connection.state.name == "OPEN"]

    def _newest(self) -> _Link:
        links = self._open_links()
        if not links:
            raise NotAcknowledged("no Socket Mode connection is open")
        return links[-1]

    def _serve_link(self, connection: ServerConnection) -> None:
        request = connection.request
        query = parse_qs(urlsplit(request.path if request else "").query)
        ticket = (query.get("ticket") or [""])[0]
        with self._lock:
            valid = ticket in self.tickets
            self.tickets.discard(ticket)
        if not valid:
            connection.close(code=1008, reason="invalid or used ticket")
            return
        link = _Link(connection, ticket, time.time())
        with self._lock:
            self.links.append(link)
            count = len([x for x in self.links if x.connection.state.name == "OPEN"])
        link.send({"type": "hello", "num_connections": count,
                   "debug_info": {"host": "atbat-local", "approximate_connection_time": 18060},
                   "connection_info": {"app_id": self.workspace.app_id}})
        with self._lock:
            self.connects += 1
        log.info("socket mode connected connections=%d", count)
        try:
            for raw in connection:
                self._receive(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self.links.remove(link)

    def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        with self._lock:
            self.acks.append(message)
            pending = self._pending.get(str(message["envelope_id"]))
        if pending is not None:
            pending.answer = message
            pending.done.set()


def apps_connections_open(ws: Workspace, args: Args) -> dict[str, Any]:
    server = ws.socket_mode
    if server is None:
        raise ApiError("not_allowed")  # Socket Mode is off for this app
    return {"url": server.open_url()}


# Methods called with an app-level token; every other method refuses one.
APP_METHODS = {"apps.connections.open": apps_connections_open}
