"""Run one remediation command safely: no shell, a clean environment, a timeout
that kills the whole process group, bounded output.

No Redis and no Slack here: the RQ job around it passes callbacks for progress
and for "has someone asked to cancel?".

Containment: the command runs in its own process group, as `user` (when the
worker is root), and gets SIGKILL from the kernel if the thread that started
it dies (``PR_SET_PDEATHSIG``). Supervision is wrapped in try/finally, so any
exception in the supervisor (RQ's job timeout, a stop signal) still kills the
whole group. Progress and cancel callbacks run in their own threads: a Slack
edit that blocks never delays the timeout.

Known limit: a descendant that moves itself to another session (``setsid``)
leaves the process group and is not killed; containing that needs cgroups.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

PROGRESS_TAIL = 3000
MARKER = "ATBAT_RUN"
_POLL = 0.05

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def harden_process() -> None:
    """Mark this process non-dumpable: processes of the same user can then read
    neither its memory nor /proc/<pid>/environ (Slack tokens, the Redis password).
    Inherited by forked children; a runbook's own execve resets it for the runbook."""
    _prctl(_PR_SET_DUMPABLE, 0)


def die_with_parent(sig: int, parent: int) -> None:
    """Ask the kernel to send `sig` to this process when the thread that forked it
    dies; if the parent is already gone (`parent` no longer our parent), act now."""
    _prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account for runbooks (used when the worker runs as root)."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def lookup(cls, name: str) -> RunAs:
        entry = pwd.getpwnam(name)
        return cls(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)


def runbook_account(name: str) -> RunAs | None:
    """The account runbooks run as: `name` when this process is root, else None (the
    worker's own, already unprivileged, user)."""
    return RunAs.lookup(name) if os.geteuid() == 0 else None


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


def child_env(allowlist: Sequence[str] = (), home: str | None = None) -> dict[str, str]:
    """The environment of a run: PATH, HOME, LANG=C.UTF-8 and the allowlisted names.

    Nothing else from the worker's environment (tokens, Redis URL) reaches a command.
    `home` replaces HOME (the runbook account's own home).
    """
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
    if home is not None:
        env["HOME"] = home
    elif "HOME" in os.environ:
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


def kill_marked_group(pgid: int, marker: str) -> bool:
    """SIGKILL process group `pgid` if one of its processes was started with
    ATBAT_RUN=`marker`; returns whether it did."""
    needle = f"{MARKER}={marker}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    _signal_group(pgid, signal.SIGKILL)
                    return True
        except OSError:
            continue
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


def _spawn(argv: Sequence[str], env: dict[str, str], cwd: str,
           user: RunAs | None) -> subprocess.Popen[bytes] | str:
    """Start the process, or return a message saying why it could not start."""
    program = argv[0] if argv else ""
    supervisor = os.getpid()
    account: dict[str, object] = {}
    if user is not None:
        account = {"user": user.uid, "group": user.gid, "extra_groups": []}
    try:
        return subprocess.Popen(  # noqa: S603 - argv from a validated runbook, no shell
            list(argv), shell=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=cwd,
            close_fds=True, umask=0o077,
            # After the switch of user (which would clear it): die with the supervisor.
            preexec_fn=lambda: die_with_parent(signal.SIGKILL, supervisor),  # noqa: PLW1509
            **account,  # type: ignore[arg-type]
        )
    except FileNotFoundError:
        return f"Cannot run {program!r}: program not found (PATH={env['PATH']})."
    except PermissionError:
        return f"Cannot run {program!r}: permission denied (is it executable?)."
    except OSError as exc:
        return f"Cannot run {program!r}: {exc.strerror or exc}."


def private_workdir(user: RunAs | None) -> str:
    """A fresh directory only the run's account can enter (mode 0700)."""
    path = tempfile.mkdtemp(prefix="atbat-run-")
    if user is not None:
        os.chown(path, user.uid, user.gid)
    return path


def run_process(
    argv: Sequence[str], *, timeout: float, env_allowlist: Sequence[str] = (),
    workdir: str | None = None, on_progress: Callable[[float, str], None] | None = None,
    progress_every: float = 5.0, cancel_requested: Callable[[], bool] | None = None,
    max_output: int = 1_000_000, grace: float = 5.0, cancel_check_every: float = 0.5,
    user: RunAs | None = None, on_start: Callable[[int], None] | None = None,
    marker: str | None = None,
) -> RunResult:
    """Run `argv` (no shell) and return what happened; never raises for the command's sake.

    `on_progress(elapsed_seconds, output_tail)` is called every `progress_every`
    seconds while the process runs, and `cancel_requested()` every
    `cancel_check_every` seconds, each from its own thread. On timeout or cancel
    the whole process group gets SIGTERM, then SIGKILL after `grace` seconds.
    When the program exits by itself, whatever it left running in its group is
    stopped the same way; so it is when the supervisor itself is interrupted (the
    exception then propagates). `user` is the account to run as; without a
    `workdir` the command runs in a private directory removed afterwards.
    `on_start(pid)` is told the process (and group) id once it runs. `marker`
    goes into the environment as ATBAT_RUN, so `kill_marked_group` can tell
    the group apart from an unrelated one that reused its id.
    """
    started = time.monotonic()
    if not argv:
        return _failed_start("Cannot run an empty command.", started)
    if workdir is not None and not os.path.isdir(workdir):
        return _failed_start(f"Cannot run {argv[0]!r}: working directory {workdir!r} not found.",
                             started)
    cwd = workdir or private_workdir(user)
    try:
        env = child_env(env_allowlist, user.home if user else None)
        if marker:
            env[MARKER] = marker
        proc = _spawn(argv, env, cwd, user)
        if isinstance(proc, str):
            return _failed_start(proc, started)
        return _contain(proc, started, timeout, on_progress, progress_every, cancel_requested,
                        max_output, grace, cancel_check_every, on_start)
    finally:
        if workdir is None:
            shutil.rmtree(cwd, ignore_errors=True)


def _contain(
    proc: subprocess.Popen[bytes], started: float, timeout: float,
    on_progress: Callable[[float, str], None] | None, progress_every: float,
    cancel_requested: Callable[[], bool] | None, max_output: int, grace: float,
    cancel_check_every: float, on_start: Callable[[int], None] | None,
) -> RunResult:
    buffer = _TailBuffer(max_output)
    reader = threading.Thread(target=_pump, args=(proc.stdout, buffer), daemon=True,
                              name=f"runner-output-{proc.pid}")
    done = threading.Event()
    cancel = threading.Event()
    starter = threading.Thread(target=_safe_call, args=(lambda: on_start(proc.pid),),
                               daemon=True, name=f"runner-start-{proc.pid}") \
        if on_start is not None else None
    timed_out = cancelled = False
    interrupted = True
    try:  # from here on, whatever interrupts the supervisor still stops the group
        reader.start()
        if starter is not None:
            starter.start()
        if on_progress is not None:
            _every(done, progress_every,
                   lambda: on_progress(time.monotonic() - started, tail(buffer.text())))
        if cancel_requested is not None:
            _every(done, cancel_check_every, lambda: cancel_requested() and cancel.set(),
                   first=0.0)
        timed_out, cancelled = _supervise(proc, started, timeout, cancel)
        interrupted = False
    finally:
        done.set()
        # Interrupted (RQ's timeout, a stop signal): no grace, the worker is going away.
        _stop_group(proc, 0.2 if interrupted else grace if (timed_out or cancelled)
                    else min(grace, 1.0))
    duration = time.monotonic() - started
    if starter is not None:
        # A command quicker than `on_start`'s thread: the caller hears of the start before
        # the end (its "running" message exists to be edited into the result).
        starter.join(timeout=5.0)
    reader.join(timeout=2.0)
    if not reader.is_alive() and proc.stdout is not None:
        # A process that escaped the group may still hold the pipe; then the
        # daemon reader is left behind rather than closing the pipe under it.
        proc.stdout.close()
    return RunResult(exit_code=proc.returncode, duration=duration, output=buffer.text(),
                     truncated=buffer.truncated, timed_out=timed_out, cancelled=cancelled,
                     pid=proc.pid)


def _supervise(proc: subprocess.Popen[bytes], started: float, timeout: float,
               cancel: threading.Event) -> tuple[bool, bool]:
    """Wait for the process to exit, time out or be cancelled; returns (timed_out, cancelled).

    Nothing here calls out (Slack, Redis): the deadline holds whatever they do."""
    while proc.poll() is None:
        if time.monotonic() - started >= timeout:
            return True, False
        if cancel.is_set():
            return False, True
        time.sleep(_POLL)
    return False, False


def _every(done: threading.Event, period: float, fn: Callable[[], object],
           first: float | None = None) -> None:
    """Call `fn` every `period` seconds (after `first`, default one period) until `done`."""

    def loop() -> None:
        wait = period if first is None else first
        while not done.wait(wait):
            _safe_call(fn)
            wait = period

    threading.Thread(target=loop, daemon=True, name="runner-callback").start()


def _safe_call(fn: Callable[[], object]) -> None:
    """Call a callback; its failure (Slack or Redis down) must not abandon the process."""
    try:
        fn()
    except Exception:
        log.warning("runner callback failed", exc_info=True)
