"""The real Alertmanager (Debian's prometheus-alertmanager) on a free port, for the tests.

Started once per test session with a throwaway storage dir and clustering off;
`clear()` expires every silence between tests.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.sandbox.processes import free_port

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
CONFIG = """\
route:
  receiver: nowhere
receivers:
  - name: nowhere
"""


# bcrypt of BASIC_PASSWORD (cost 4, so checking it costs Alertmanager little).
BASIC_USER = "atbat"
BASIC_PASSWORD = "s3cret-am-pass"
BASIC_HASH = "$2b$04$.hDG6YtsjRPrh4YDWHbLzeqgKvA0TrNtT7aHB5q3bednv3OZIgjXu"


class AlertmanagerServer:
    def __init__(self, basic_auth: bool = False) -> None:
        self.basic_auth = basic_auth
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="atbat-am-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        (self.dir / "alertmanager.yml").write_text(CONFIG)
        extra = []
        if self.basic_auth:
            (self.dir / "web.yml").write_text(
                f"basic_auth_users:\n  {BASIC_USER}: '{BASIC_HASH}'\n")
            extra.append(f"--web.config.file={self.dir / 'web.yml'}")
        self.proc = subprocess.Popen(
            [BINARY, *extra, f"--config.file={self.dir / 'alertmanager.yml'}",
             f"--storage.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1,
                                auth=self.auth).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus-alertmanager did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    @property
    def auth(self) -> tuple[str, str] | None:
        return (BASIC_USER, BASIC_PASSWORD) if self.basic_auth else None

    def silences(self) -> list[dict]:
        return requests.get(f"{self.url}/api/v2/silences", timeout=5, auth=self.auth).json()

    def active(self) -> list[dict]:
        return [s for s in self.silences() if s["status"]["state"] == "active"]

    def clear(self) -> None:
        for s in self.active():
            requests.delete(f"{self.url}/api/v2/silence/{s['id']}", timeout=5, auth=self.auth)


@pytest.fixture(scope="session")
def alertmanager_server() -> Iterator[AlertmanagerServer]:
    if not Path(BINARY).exists():
        pytest.exit("prometheus-alertmanager is not installed (bash .ci/run installs it)", 3)
    server = AlertmanagerServer()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def alertmanager(alertmanager_server: AlertmanagerServer) -> AlertmanagerServer:
    alertmanager_server.clear()
    return alertmanager_server


@pytest.fixture(scope="session")
def alertmanager_basic_auth() -> Iterator[AlertmanagerServer]:
    """A second Alertmanager that wants HTTP basic auth (its web config)."""
    server = AlertmanagerServer(basic_auth=True)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)
