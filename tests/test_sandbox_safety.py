"""The sandbox never runs a production config or environment, and answers only to this machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from bot.sandbox.processes import start_redis, stop_process
from bot.sandbox.run import EXAMPLE_CONFIG, Sandbox, default_config_path


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    mp = pytest.MonkeyPatch()
    mp.setenv("DEVELOPER_CLOUD_SECRET", "do-not-pass-me")  # the developer's own environment
    try:
        with Sandbox(port=0, state_dir=tmp_path_factory.mktemp("atbat")) as running:
            yield running
    finally:
        mp.undo()


def test_the_sandbox_ignores_atbat_config_and_a_local_atbat_yml(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATBAT_CONFIG", "/etc/atbat/production.yml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "atbat.yml").write_text("teams: {}\n")
    assert default_config_path() == EXAMPLE_CONFIG


def test_the_sandbox_uses_the_example_config(sandbox: Sandbox) -> None:
    assert sandbox.config_path == EXAMPLE_CONFIG


def test_requests_naming_another_host_are_refused(sandbox: Sandbox) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert requests.get(f"{sandbox.url}/", headers={"Host": host}, timeout=5).status_code == 200
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{int(port) + 1}"):
        answer = requests.post(f"{sandbox.url}/_sandbox/say", headers={"Host": host}, timeout=5,
                               json={"user": "U0ALICE", "channel": "C0PAYMENTS",
                                     "text": "/oncall help"})
        assert answer.status_code == 403, host


def test_the_worker_gets_only_the_sandbox_settings(sandbox: Sandbox) -> None:
    assert sandbox.worker is not None
    # (/proc/<pid>/environ cannot tell: RQ overwrites that memory with its process title.)
    names = set(sandbox.worker_env)
    assert "DEVELOPER_CLOUD_SECRET" not in names
    assert {"PATH", "SLACK_BOT_TOKEN", "REDIS_URL", "ATBAT_CONFIG"} <= names


def test_the_private_redis_has_a_random_password(tmp_path: Path) -> None:
    proc, url = start_redis(tmp_path / "data", tmp_path / "redis.log")
    other_proc = None
    try:
        assert redis.Redis.from_url(url).ping()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()
        other_proc, other = start_redis(tmp_path / "data2", tmp_path / "redis2.log")
        assert other.split("@")[0] != url.split("@")[0]
    finally:
        stop_process(proc)
        if other_proc is not None:  # the second server is stopped too: a test leaves no process behind
            stop_process(other_proc)
