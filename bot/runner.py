"""Run one remediation command safely: no shell, a clean environment, a timeout
that kills the whole process group, bounded output.

No Redis and no Slack here: the RQ job around it passes callbacks for progress
and for "has someone asked to cancel?".

Known limit: a descendant that moves itself to another session (``setsid``)
leaves the process group and is not killed; containing that needs cgroups.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

PROGRESS_TAIL = 3000
_POLL = 0.05

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What happened. `exit_code` is None when the program could not be started
    and negative (-signal) when it was killed by a signal; `output` holds the
    last `max_output` bytes of stdout and stderr, interleaved as written."""

    exit_code: int | None
    duration: float
    output: str
    truncated: bool
    timed_out: bool
    cancelled: bool
    pid: int

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled


def tail(text: str, n: int = PROGRESS_TAIL) -> str:
    """The end of `text` in at most `n` characters, marked with … when cut."""
    if len(text) <= n:
        return text
    if n <= 1:
        return text[-n:] if n > 0 else ""
    return "…" + text[-(n - 1):]


def child_env(allowlist: Sequence[str] = ()) -> dict[str, str]:
    """The environment of a run: PATH, HOME, LANG=C.UTF-8 and the allowlisted names.

    Nothing else from the worker's environment (tokens, Redis URL) reaches a command.
    """
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    for name in allowlist:
        if name in os.environ:
            env[name] = os.environ[name]
    return env


class _TailBuffer:
    """Keeps the last `limit` bytes written to it; safe to read from another thread."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.data = bytearray()
        self.truncated = False
        self.lock = threading.Lock()

    def write(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk
            excess = len(self.data) - self.limit
            if excess > 0:
                del self.data[:excess]
                self.truncated = True

    def text(self) -> str:
        with self.lock:
            data = bytes(self.data)
            cut = self.truncated
        if cut:
            # The cut may fall inside a UTF-8 sequence: skip its continuation bytes.
            skip = 0
            while skip < min(3, len(data)) and 0x80 <= data[skip] <= 0xBF:
                skip += 1
            data = data[skip:]
        return data.decode("utf-8", errors="replace")


def _pump(stream: IO[bytes], buffer: _TailBuffer) -> None:
    try:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            buffer.write(chunk)
    except (OSError, ValueError):
        pass  # the pipe was closed under us at shutdown


def _group_alive(pgid: int) -> bool:
    """Does any live (non-zombie) process remain in the group?

    Zombies still answer kill(0); in a container whose init does not reap them
    they would make every run wait the full grace period, so /proc is read
    when it exists.
    """
    if os.path.isdir("/proc/self"):
        return _group_alive_proc(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive_proc(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after ")".
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL it."""
    pgid = proc.pid  # start_new_session makes the child its group's leader
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        if proc.returncode is not None and not _group_alive(pgid):
            break
        time.sleep(_POLL)
    # Children reparented to init may linger as zombies, which signals ignore; the
    # kill is harmless then and needed for anything that ignored SIGTERM.
    _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=max(grace, 1.0))


def _failed_start(message: str, started: float) -> RunResult:
    return RunResult(exit_code=None, duration=time.monotonic() - started, output=message,
                     truncated=False, timed_out=False, cancelled=False, pid=0)


def _spawn(argv: Sequence[str], env: dict[str, str], cwd: str) -> subprocess.Popen[bytes] | str:
    """Start the process, or return a message saying why it could not start."""
    program = argv[0] if argv else ""
    try:
        return subprocess.Popen(  # noqa: S603 - argv from a validated runbook, no shell
            list(argv), shell=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=cwd,
            close_fds=True,
        )
    except FileNotFoundError:
        return f"Cannot run {program!r}: program not found (PATH={env['PATH']})."
    except PermissionError:
        return f"Cannot run {program!r}: permission denied (is it executable?)."
    except OSError as exc:
        return f"Cannot run {program!r}: {exc.strerror or exc}."


def run_process(
    argv: Sequence[str], *, timeout: float, env_allowlist: Sequence[str] = (),
    workdir: str | None = None, on_progress: Callable[[float, str], None] | None = None,
    progress_every: float = 5.0, cancel_requested: Callable[[], bool] | None = None,
    max_output: int = 1_000_000, grace: float = 5.0, cancel_check_every: float = 0.5,
) -> RunResult:
    """Run `argv` (no shell) and return what happened; never raises for the command's sake.

    `on_progress(elapsed_seconds, output_tail)` is called every `progress_every`
    seconds while the process runs. `cancel_requested()` is polled every
    `cancel_check_every` seconds. On timeout or cancel the whole process group
    gets SIGTERM, then SIGKILL after `grace` seconds. When the program exits by
    itself, whatever it left running in its group is stopped the same way.
    """
    started = time.monotonic()
    if not argv:
        return _failed_start("Cannot run an empty command.", started)
    cwd = workdir or tempfile.gettempdir()
    if not os.path.isdir(cwd):
        return _failed_start(f"Cannot run {argv[0]!r}: working directory {cwd!r} not found.",
                             started)
    proc = _spawn(argv, child_env(env_allowlist), cwd)
    if isinstance(proc, str):
        return _failed_start(proc, started)

    buffer = _TailBuffer(max_output)
    reader = threading.Thread(target=_pump, args=(proc.stdout, buffer), daemon=True,
                              name=f"runner-output-{proc.pid}")
    reader.start()
    timed_out, cancelled = _supervise(proc, buffer, started, timeout, on_progress,
                                      progress_every, cancel_requested, cancel_check_every)
    _stop_group(proc, grace if (timed_out or cancelled) else min(grace, 1.0))
    duration = time.monotonic() - started
    reader.join(timeout=2.0)
    if not reader.is_alive() and proc.stdout is not None:
        # A process that escaped the group may still hold the pipe; then the
        # daemon reader is left behind rather than closing the pipe under it.
        proc.stdout.close()
    return RunResult(exit_code=proc.returncode, duration=duration, output=buffer.text(),
                     truncated=buffer.truncated, timed_out=timed_out, cancelled=cancelled,
                     pid=proc.pid)


def _supervise(
    proc: subprocess.Popen[bytes], buffer: _TailBuffer, started: float, timeout: float,
    on_progress: Callable[[float, str], None] | None, progress_every: float,
    cancel_requested: Callable[[], bool] | None, cancel_check_every: float,
) -> tuple[bool, bool]:
    """Wait for the process to exit, time out or be cancelled; returns (timed_out, cancelled)."""
    next_progress = started + progress_every
    next_cancel_check = started
    while proc.poll() is None:
        now = time.monotonic()
        if now - started >= timeout:
            return True, False
        if cancel_requested is not None and now >= next_cancel_check:
            next_cancel_check = now + cancel_check_every
            if _safe_call(cancel_requested):
                return False, True
        if on_progress is not None and now >= next_progress:
            next_progress = now + progress_every
            _safe_call(on_progress, now - started, tail(buffer.text()))
        time.sleep(_POLL)
    return False, False


def _safe_call(fn: Callable[..., object], *args: object) -> bool:
    """Call a callback; its failure (Slack or Redis down) must not abandon the process."""
    try:
        return bool(fn(*args))
    except Exception:
        log.warning("runner callback %s failed", getattr(fn, "__name__", fn), exc_info=True)
        return False
