"""`atbat web`: gunicorn as users get it, a listening socket per worker, and clear refusals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.cli import _port_taken, main
from bot.sandbox.processes import free_port
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, RedisServer

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "tests" / "fixtures" / "atbat.yml")


@pytest.fixture
def web_env(monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer) -> dict[str, str]:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "REDIS_URL": redis_server.url, "ATBAT_CONFIG": CONFIG, "ATBAT_LOG_LEVEL": "WARNING",
           "PORT": str(free_port())}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:`port`, from the kernel's own table."""
    local = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == local and row.split()[3] == "0A")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_each_worker_listens_on_the_port_itself(web_env: dict[str, str]) -> None:
    port = int(web_env["PORT"])
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "web", "--host", "127.0.0.1"],
                            env={**os.environ, **web_env, "WEB_CONCURRENCY": "3",
                                 "PYTHONPATH": str(ROOT)},
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while _listeners(port) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, "atbat web exited"
            time.sleep(0.05)
        # One socket per worker, none in the arbiter: the kernel spreads connections over them.
        assert _listeners(port) == 3
        answers = [requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
                   for _ in range(12)]  # a new connection each
        assert answers == [200] * 12
        # A second `atbat web` on the same port is refused, not let in to share it.
        second = subprocess.run([sys.executable, "-m", "bot.cli", "web", "--host", "127.0.0.1"],
                                env={**os.environ, **web_env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert f"atbat: PORT {port} on 127.0.0.1 cannot be served" in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert _listeners(port) == 0


def test_a_port_in_use_is_named(web_env: dict[str, str],
                                capsys: pytest.CaptureFixture[str]) -> None:
    port = int(web_env["PORT"])
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        assert main(["web", "--host", "127.0.0.1"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"atbat: PORT {port} on 127.0.0.1 cannot be served: Address already in use")


@pytest.mark.parametrize(("name", "value"), [("WEB_THREADS", "eight"),
                                             ("WEB_CONCURRENCY", "0"),
                                             ("WEB_CONCURRENCY", "\u00b2")])  # isdigit, no int
def test_a_malformed_process_or_thread_count_is_named(
        web_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    assert main(["web", "--host", "127.0.0.1"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"atbat: {name} must be a whole number of at least 1, not '{value}'")


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_host_in_brackets_is_probed_as_gunicorn_binds_it() -> None:
    # gunicorn takes an IPv6 host only in brackets ("[::1]:3000"); the probe binds the
    # address inside them, and sees an IPv6 listener on the port.
    with socket.socket(socket.AF_INET6) as other:
        other.bind(("::1", 0))
        port = other.getsockname()[1]
        other.listen()
        assert _port_taken("[::1]", port) == "Address already in use"
    assert _port_taken("[::1]", port) is None
