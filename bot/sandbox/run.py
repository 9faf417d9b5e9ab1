"""`atbat sandbox`: atbat with a local Slack-like page instead of a Slack workspace.

One `Sandbox` starts, in order: Redis (REDIS_URL when set, else a private
redis-server under `.atbat/`), the local phone (Twilio-, ntfy- and
SMTP-compatible servers, `bot.sandbox.phone`), the Slack-compatible server
with the page on `port`, the real web app (`bot.web.create_app`) on a free
port, and an RQ worker subprocess. `stop()` undoes it in reverse order. `run_sandbox` is the
command; tests use `Sandbox` directly.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import redis
from flask import Response, request
from werkzeug.serving import BaseWSGIServer, make_server

from bot import runtime as runtime_module
from bot.config import ConfigError, load_config
from bot.domain.config import Config
from bot.fakeslack import APP_TOKEN, BOT_TOKEN, SlackClient, Workspace, create_app
from bot.fakeslack.server import RunningServer, serve_in_thread
from bot.fakeslack.socket_mode import SocketModeServer
from bot.runtime import Runtime
from bot.sandbox import page
from bot.sandbox.people import build_workspace, people, user_name
from bot.sandbox.phone import SandboxPhone
from bot.sandbox.processes import (
    ROOT,
    SandboxError,
    atbat_env,
    start_atbat,
    start_redis,
    start_worker,
    stop_process,
    wait_for_worker,
)
from bot.services import paging
from bot.settings import load_settings
from bot.slack.sender import Sender
from bot.web import create_app as create_web_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("atbat.sandbox")

EXAMPLE_CONFIG = ROOT / "examples" / "atbat.yml"


def default_config_path() -> Path:
    """The example config shipped with atbat. Never $ATBAT_CONFIG or ./atbat.yml: in the
    sandbox anyone on the page acts as any manager, so a production config there would
    let them approve real commands. Another file must be given with --config."""
    return EXAMPLE_CONFIG


class Sandbox:
    """Everything `atbat sandbox` runs, started and stopped as one."""

    def __init__(self, config_path: str | Path | None = None, host: str = "127.0.0.1",
                 port: int = 3000, state_dir: str | Path = ".atbat",
                 redis_url: str | None = None, socket: bool = False) -> None:
        self.config_path = Path(config_path) if config_path else default_config_path()
        self.host = host
        self.port = port
        self.state_dir = Path(state_dir)
        self.redis_url = redis_url
        self.socket = socket
        self.socket_server: SocketModeServer | None = None
        self.socket_process: subprocess.Popen[bytes] | None = None
        self.signing_secret = secrets.token_hex(16)
        self.alert_token = secrets.token_urlsafe(24)
        self.config: Config | None = None
        self.workspace: Workspace | None = None
        self.client: SlackClient | None = None
        self.bot_url = ""
        self._redis_proc: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_env: dict[str, str] = {}
        self._page: RunningServer | None = None
        self._bot: BaseWSGIServer | None = None
        self._bot_thread: threading.Thread | None = None
        self._previous_runtime: Runtime | None = None
        self.runtime: Runtime | None = None
        self.phone = SandboxPhone()

    @property
    def url(self) -> str:
        return self._page.url if self._page else ""

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.config = load_config(self.config_path)
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.redis_url:
            self._redis_proc, self.redis_url = start_redis(self.state_dir / "redis",
                                                           self.logs / "redis.log")
        self.phone.start()
        self.workspace = build_workspace(self.config)
        slack_app = create_app(self.workspace)
        slack_app.before_request(self._same_host_only)
        slack_app.register_blueprint(page.blueprint(self))
        try:
            self._page = serve_in_thread(slack_app, self.host, self.port)
        except OSError as exc:
            raise SandboxError(f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                               "choose another port with --port") from None
        self._start_bot()
        self._seed_phones()
        if self.socket:
            self._start_socket_mode()
        self.client = SlackClient(self.workspace, self.bot_url, self.signing_secret,
                                  socket=self.socket_server)
        # The worker (and so every runbook) gets production's clean environment, not
        # the developer's: only this sandbox's settings.
        self.worker_env = atbat_env("worker", self.bot_env(), inherit=False)
        self.worker = start_worker(self.bot_env(), self.logs / "worker.log", inherit=False)
        wait_for_worker(redis.Redis.from_url(self.redis_url), self.worker,
                        self.logs / "worker.log")

    def _start_socket_mode(self) -> None:
        """Slack's Socket Mode endpoint, and `atbat socket` connected to it."""
        assert self.workspace is not None
        self.socket_server = SocketModeServer(self.workspace).start()
        log_file = self.logs / "socket.log"
        self.socket_process = start_atbat("socket", {**self.bot_env(), "SLACK_APP_TOKEN": APP_TOKEN},
                                          log_file)
        deadline = time.monotonic() + 30
        while self.socket_server.connects == 0:
            if self.socket_process.poll() is not None:
                raise SandboxError(f"atbat socket exited with status {self.socket_process.returncode}; "
                                   f"see {log_file}")
            if time.monotonic() > deadline:
                raise SandboxError(f"atbat socket did not connect within 30s; see {log_file}")
            time.sleep(0.05)

    def _same_host_only(self) -> Response | None:
        """Refuse any Host but this machine's: a DNS-rebinding page must not drive the sandbox."""
        port = self.url.rsplit(":", 1)[-1]
        names = {"127.0.0.1", "localhost", self.host}
        if request.host not in {f"{name}:{port}" for name in names}:
            return Response("atbat sandbox: wrong Host; open http://127.0.0.1:" + port + "/\n",
                            status=403, mimetype="text/plain")
        return None

    def bot_env(self) -> dict[str, str]:
        """atbat's environment: this sandbox's Slack, Redis, config and secrets."""
        assert self._page is not None and self.redis_url
        return {**self._config_env(),
                "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": self.signing_secret,
                "SLACK_API_URL": self._page.api_url, "REDIS_URL": self.redis_url,
                "ATBAT_CONFIG": str(self.config_path.resolve()),
                "ATBAT_ALERT_TOKEN": self.alert_token,
                "PORT": self.bot_url.rsplit(":", 1)[1], "ATBAT_PUBLIC_URL": self.bot_url,
                **self.phone.env()}

    def _config_env(self) -> dict[str, str]:
        """The variables the config refers to as ${VAR} (secrets of `people:` contacts), from
        this process's environment: the worker gets no other part of it."""
        names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", self.config_path.read_text()))
        return {name: os.environ[name] for name in sorted(names) if name in os.environ}

    def _seed_phones(self) -> None:
        """Everyone gets working push, SMS, call and e-mail on the sandbox's phone servers."""
        assert self.runtime is not None and self.config is not None
        everyone = {user: (user_name(user), paging.person(self.runtime, user))
                    for user in people(self.config)}
        self.phone.seed(self.runtime.redis, everyone, self.runtime.now())

    def phone_view(self, user: str) -> dict[str, Any]:
        """The Phone panel of `user`: what their push, SMS, e-mail and calls received, and
        whose other phones got something (a page may have gone to someone else)."""
        rt, config = self.runtime, self.config  # the page may still ask while the sandbox stops
        nothing = {"methods": [], "deliveries": [], "calls": [], "others": []}
        if rt is None or config is None:
            return nothing
        try:
            view = self.phone.view(paging.person(rt, user))
            others = []
            for other in people(config):
                if other == user:
                    continue
                theirs = self.phone.view(paging.person(rt, other))
                count = len(theirs["deliveries"]) + len(theirs["calls"])
                if count:
                    others.append({"user": other, "count": count,
                                   "ringing": any(c["waiting_for_key"] for c in theirs["calls"])})
        except redis.exceptions.RedisError:
            return nothing
        view["others"] = others
        return view

    def press(self, user: str, sid: str, digit: str) -> dict[str, Any]:
        """`user` presses `digit` on one of their calls."""
        rt = self.runtime
        if rt is None:
            return {"ok": False, "error": "the sandbox is stopping"}
        return self.phone.press(paging.person(rt, user), sid, digit)

    def _start_bot(self) -> None:
        """The real web app under a real HTTP server, in this process."""
        assert self.config is not None
        # Bind first: the app's settings name its own URL (ATBAT_PUBLIC_URL).
        app = _Deferred()
        self._bot = make_server("127.0.0.1", 0, app, threaded=True)
        self.bot_url = f"http://127.0.0.1:{self._bot.server_port}"
        settings = load_settings(self.bot_env())
        bot_runtime = Runtime(settings=settings, config=self.config,
                              redis=redis.Redis.from_url(settings.redis_url),
                              sender=Sender(settings.api_url, BOT_TOKEN))
        self._previous_runtime = runtime_module._current
        runtime_module.install(bot_runtime)
        self.runtime = bot_runtime
        app.app = create_web_app(bot_runtime)
        self._bot_thread = threading.Thread(target=self._bot.serve_forever,
                                            kwargs={"poll_interval": 0.05}, name="atbat-web",
                                            daemon=True)
        self._bot_thread.start()

    def stop(self) -> None:
        """Stop everything started, newest first; safe to call twice."""
        stop_process(self.worker)
        self.worker = None
        stop_process(self.socket_process)
        self.socket_process = None
        if self.socket_server is not None:
            self.socket_server.stop()
            self.socket_server = None
        if self._bot is not None:
            self._bot.shutdown()
            self._bot.server_close()
            self._bot = None
            runtime_module.install(self._previous_runtime)
            self.runtime = None
        if self._page is not None:
            self._page.stop()
            self._page = None
        self.phone.stop()
        stop_process(self._redis_proc)
        self._redis_proc = None

    def stopped_child(self) -> str | None:
        """Which child process stopped on its own, if one did."""
        if self.worker is None or self.worker.poll() is not None:
            return f"the worker stopped; see {self.logs / 'worker.log'}"
        if self.socket_process is not None and self.socket_process.poll() is not None:
            return f"atbat socket stopped; see {self.logs / 'socket.log'}"
        return None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


class _Deferred:
    """A WSGI app set after its server is bound."""

    app: WSGIApplication | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert self.app is not None
        return self.app(environ, start_response)


def _stop_once(signum: int, frame: FrameType | None) -> None:
    """The first SIGINT or SIGTERM stops the sandbox; later ones must not cut its clean-up short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _welcome(sandbox: Sandbox) -> str:
    return "\n".join([
        "",
        f"  atbat sandbox is running: {sandbox.url}/",
        "",
        "  Open it in a browser: pick who you are at the top, type /oncall help in a",
        "  channel, fire a test alert and press its buttons, run /oncall runbooks.",
        "  The Phone panel shows the pushes, SMS, e-mails and calls of the person you act",
        "  as: fire a test alert and act as who is on call, or /oncall page @alice sev1 Hello.",
        f"  Config: {sandbox.config_path}   Logs: {sandbox.logs}/",
        "  Nothing leaves this machine: Slack, Twilio, push and e-mail are simulated, Redis is private.",
        *(["  Socket Mode: commands and clicks reach `atbat socket` over a WebSocket "
           f"(log: {sandbox.logs / 'socket.log'})."] if sandbox.socket else []),
        "  Press Ctrl-C to stop.",
        "",
    ])


def run_sandbox(host: str = "127.0.0.1", port: int = 3000, config_path: str | None = None,
                socket: bool = False) -> int:
    """Run the sandbox until Ctrl-C (or SIGTERM); returns the exit status."""
    # The page polls several times a second; request lines would drown the bot's logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # the phone's SMTP server, per connection
    sandbox = Sandbox(config_path=config_path, host=host, port=port,
                      redis_url=os.environ.get("REDIS_URL", "").strip() or None, socket=socket)
    previous = {signum: signal.signal(signum, _stop_once)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        sandbox.start()
        print(_welcome(sandbox), flush=True)
        while (stopped := sandbox.stopped_child()) is None:
            time.sleep(0.5)
        print(f"atbat: {stopped}", flush=True)
        return 1
    except (SandboxError, ConfigError) as exc:
        print(f"atbat: {exc}", flush=True)
        return 2
    except KeyboardInterrupt:
        print("\natbat: stopping the sandbox ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sandbox.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
