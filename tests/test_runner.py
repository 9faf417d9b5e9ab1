"""The process runner: no shell, clean env, group kill on timeout/cancel, bounded output.

End-to-end injection checks run a real process and compare what it received.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.config import ParamSpec, Runbook
from bot.domain.runbooks import ParamError, build_argv
from bot.runner import RunAs, run_process, tail

PY = sys.executable


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def gone(pid: int) -> bool:
    """True when the process no longer exists or is only a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def wait_gone(pid: int, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


def read_pid(path: Path, within: float = 2.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


# ---------------------------------------------------------------- injection, end to end

INJECTIONS = ["; rm -rf /", "$(id)", "`id`", "a\nb", "--output=/etc/passwd", "{other}",
              "x && touch pwned", "a|b > out", "'q' \"q\"", "$HOME", "*", "a\x00b", "-rf"]


def argv_recorder(tmp_path: Path) -> tuple[Runbook, Path]:
    out = tmp_path / "argv.json"
    helper = script(tmp_path, "record.py", """
        import json, sys
        with open(sys.argv[1], "w") as f:
            json.dump(sys.argv[2:], f)
    """)
    rb = Runbook(
        name="record", description="", timeout=timedelta(seconds=5), teams=("payments",),
        approval="two-person",
        command=(PY, helper, str(out), "{msg}", "--msg={msg}", "pre{other}post"),
        params=(ParamSpec(name="msg", pattern=".*"), ParamSpec(name="other", pattern=".*")),
    )
    return rb, out


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_refused_or_received_as_one_inert_element(tmp_path, value):
    rb, out = argv_recorder(tmp_path)
    try:
        argv = build_argv(rb, {"msg": value, "other": value})
    except ParamError as err:
        assert "\n" not in err.message and "\x00" not in err.message
        assert value[0] == "-" or not value.isprintable()  # only the universal rules refuse
        return
    result = run_process(argv, timeout=2, workdir=str(tmp_path))
    assert result.exit_code == 0, result.output
    received = json.loads(out.read_text())
    assert received == [value, f"--msg={value}", f"pre{value}post"]
    assert not (tmp_path / "pwned").exists()


def test_no_shell_is_involved(tmp_path):
    marker = tmp_path / "shell-ran"
    result = run_process(["echo", f"$(touch {marker})", ";", "touch", str(marker)], timeout=2)
    assert result.exit_code == 0
    assert not marker.exists()
    assert result.output == f"$(touch {marker}) ; touch {marker}\n"


# ---------------------------------------------------------------- process behaviour


def test_success_output_and_exit_code():
    result = run_process([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr);"
                          " sys.exit(3)"], timeout=2)
    assert result.exit_code == 3
    assert "out\n" in result.output and "err\n" in result.output
    assert not (result.timed_out or result.cancelled or result.truncated or result.succeeded)
    assert result.pid > 0 and result.duration < 2


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    parent = script(tmp_path, "parent.py", f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(30)
    """)
    started = time.monotonic()
    result = run_process([PY, parent], timeout=0.7, grace=0.5)
    assert time.monotonic() - started < 2.5
    assert result.timed_out and not result.cancelled
    assert result.exit_code is not None and result.exit_code < 0  # killed by a signal
    assert "started" in result.output
    assert wait_gone(read_pid(pidfile))
    assert gone(result.pid)


def test_sigterm_ignored_then_sigkill_after_grace(tmp_path):
    stubborn = script(tmp_path, "stubborn.py", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring", flush=True)
        time.sleep(30)
    """)
    result = run_process([PY, stubborn], timeout=0.5, grace=0.3)
    assert result.timed_out
    assert result.exit_code == -9
    assert result.duration < 2


def test_cancel_stops_the_run(tmp_path):
    started = time.monotonic()
    result = run_process([PY, "-c", "import time; time.sleep(30)"], timeout=10, grace=0.5,
                         cancel_requested=lambda: time.monotonic() - started > 0.3,
                         cancel_check_every=0.05)
    assert result.cancelled and not result.timed_out
    assert result.duration < 2
    assert gone(result.pid)


def test_leftover_children_are_stopped_after_normal_exit(tmp_path):
    pidfile = tmp_path / "bg.pid"
    parent = script(tmp_path, "bg.py", f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                 stdout=subprocess.DEVNULL)
        open({str(pidfile)!r}, "w").write(str(child.pid))
    """)
    result = run_process([PY, parent], timeout=2, grace=0.5)
    assert result.exit_code == 0 and not result.timed_out
    assert wait_gone(read_pid(pidfile))


def test_progress_reports_elapsed_and_output():
    calls: list[tuple[float, str]] = []
    result = run_process([PY, "-c", "import time; print('step 1', flush=True); time.sleep(0.7)"],
                         timeout=2, progress_every=0.2, on_progress=lambda t, o: calls.append((t, o)))
    assert result.exit_code == 0
    assert len(calls) >= 2
    assert all(b[0] > a[0] for a, b in zip(calls, calls[1:], strict=False))
    assert "step 1" in calls[-1][1]


def test_failing_callbacks_do_not_abandon_the_process():
    def boom(*_):
        raise RuntimeError("redis down")

    result = run_process([PY, "-c", "import time; time.sleep(0.3)"], timeout=2,
                         progress_every=0.05, on_progress=boom, cancel_requested=boom,
                         cancel_check_every=0.05)
    assert result.exit_code == 0 and not result.cancelled


def test_output_truncation_keeps_the_tail():
    code = ("import sys; sys.stdout.write('HEAD' + 'x' * 200000 + 'é' * 10 + 'TAIL-END');"
            " sys.stdout.flush()")
    result = run_process([PY, "-c", code], timeout=2, max_output=1000)
    assert result.truncated
    assert len(result.output.encode()) <= 1000
    assert result.output.endswith("é" * 10 + "TAIL-END")
    assert "HEAD" not in result.output
    assert "\ufffd" not in result.output


def test_env_allowlist(monkeypatch):
    monkeypatch.setenv("ATBAT_TEST_SECRET", "s3cret-token")
    monkeypatch.setenv("KUBECONFIG", "/etc/kube.conf")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    env = json.loads(run_process([PY, "-c", code], timeout=2).output)
    assert "ATBAT_TEST_SECRET" not in env and "KUBECONFIG" not in env
    assert env["LANG"] == "C.UTF-8" and env["PATH"] == os.environ["PATH"]
    assert "s3cret-token" not in json.dumps(env)
    env = json.loads(run_process([PY, "-c", code], timeout=2,
                                 env_allowlist=("KUBECONFIG",)).output)
    assert env["KUBECONFIG"] == "/etc/kube.conf" and "ATBAT_TEST_SECRET" not in env


def test_workdir_and_stdin(tmp_path):
    code = "import os, sys; print(os.getcwd()); print(repr(sys.stdin.read()))"
    result = run_process([PY, "-c", code], timeout=2, workdir=str(tmp_path))
    assert result.output.splitlines() == [str(tmp_path), "''"]


def test_program_not_found_is_a_result():
    result = run_process(["/nonexistent/atbat-tool", "--help"], timeout=2)
    assert result.exit_code is None and result.pid == 0
    assert "not found" in result.output and "atbat-tool" in result.output


def test_program_not_executable_is_a_result(tmp_path):
    plain = tmp_path / "tool.sh"
    plain.write_text("#!/bin/sh\necho hi\n")
    plain.chmod(0o644)
    result = run_process([str(plain)], timeout=2)
    assert result.exit_code is None and "permission denied" in result.output


def test_missing_workdir_is_a_result(tmp_path):
    result = run_process(["true"], timeout=2, workdir=str(tmp_path / "nope"))
    assert result.exit_code is None and "working directory" in result.output


def test_tail():
    assert tail("short", 10) == "short"
    cut = tail("a" * 50 + "END", 10)
    assert len(cut) == 10 and cut.startswith("…") and cut.endswith("END")


# ---------------------------------------------------------------- containment


def test_a_blocking_progress_edit_does_not_delay_the_timeout() -> None:
    def slow_edit(_elapsed: float, _output: str) -> None:
        time.sleep(4)  # a Slack edit stuck in retries

    result = run_process([PY, "-c", "import time; time.sleep(30)"], timeout=1.0,
                         on_progress=slow_edit, progress_every=0.1, grace=0.5)
    assert result.timed_out
    assert result.duration < 2.5


def test_rq_timeout_during_a_callback_kills_the_group_and_propagates(tmp_path: Path) -> None:
    from rq.timeouts import JobTimeoutException

    pidfile = tmp_path / "child.pid"
    parent = script(tmp_path, "parent.py", f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(60)
    """)

    def slow_cancel_check() -> bool:
        time.sleep(3)  # Redis answering slowly
        return False

    def deadline(_signum: int, _frame: object) -> None:
        raise JobTimeoutException("Task exceeded maximum timeout value")

    previous = signal.signal(signal.SIGALRM, deadline)
    started: list[int] = []
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(JobTimeoutException):
            run_process([PY, parent], timeout=30, cancel_requested=slow_cancel_check,
                        cancel_check_every=0.05, on_start=started.append)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert started and wait_gone(started[0])
    assert wait_gone(read_pid(pidfile))


def test_the_command_dies_with_its_supervisor(tmp_path: Path) -> None:
    pidfile = tmp_path / "run.pid"
    supervisor = script(tmp_path, "supervisor.py", f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from bot.runner import run_process
        run_process([sys.executable, "-c", "import time; time.sleep(60)"], timeout=60,
                    on_start=lambda pid: open({str(pidfile)!r}, "w").write(str(pid)))
    """)
    proc = subprocess.Popen([PY, supervisor])
    try:
        pid = read_pid(pidfile, within=10)
        assert not gone(pid)
        proc.kill()  # SIGKILL: no finally runs in the supervisor
        proc.wait(5)
        assert wait_gone(pid), "the command outlived its supervisor"
    finally:
        proc.kill()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


@needs_root
def test_runs_as_the_runbook_user_in_a_private_workdir(tmp_path: Path) -> None:
    nobody = RunAs.lookup("nobody")
    probe = ("import os, json; d = os.getcwd(); "
             "print(json.dumps([os.getuid(), os.getgid(), os.getgroups(), d, "
             "oct(os.stat(d).st_mode & 0o777), os.environ['HOME']]))")
    result = run_process([PY, "-c", probe], timeout=10, user=nobody)
    assert result.exit_code == 0, result.output
    uid, gid, groups, cwd, mode, home = json.loads(result.output)
    assert (uid, gid, groups) == (nobody.uid, nobody.gid, [])
    assert Path(cwd).name.startswith("atbat-run-") and mode == "0o700"
    assert home == nobody.home
    assert not Path(cwd).exists()  # removed after the run


@needs_root
def test_a_runbook_cannot_read_the_environ_of_root_processes(tmp_path: Path) -> None:
    holder = subprocess.Popen(["sleep", "30"], env={"PATH": os.defpath,
                                                     "SLACK_BOT_TOKEN": "xoxb-do-not-leak"})
    reader = ("import glob\n"
              "for p in glob.glob('/proc/*/environ'):\n"
              "    try: print(open(p, 'rb').read().replace(b'\\0', b' ').decode(errors='replace'))\n"
              "    except OSError: pass\n")
    try:
        as_root = run_process([PY, "-c", reader], timeout=10)
        assert "xoxb-do-not-leak" in as_root.output  # the probe works
        as_nobody = run_process([PY, "-c", reader], timeout=10, user=RunAs.lookup("nobody"))
        assert as_nobody.exit_code == 0
        assert "xoxb-do-not-leak" not in as_nobody.output
    finally:
        holder.kill()
        holder.wait()


@needs_root
def test_a_non_dumpable_worker_hides_its_environ_from_runbooks_of_its_own_user() -> None:
    shared = Path(tempfile.mkdtemp(prefix="atbat-test-"))  # pytest's tmp_path is root-only
    shared.chmod(0o755)
    worker = script(shared, "worker.py", f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from bot.runner import harden_process, run_process
        if sys.argv[1] == "hardened":
            harden_process()
        reader = "import os; print(open(f'/proc/{{os.getppid()}}/environ', 'rb').read())"
        result = run_process([sys.executable, "-c", reader], timeout=10)
        print(result.output)
    """)
    nobody = RunAs.lookup("nobody")
    env = {"PATH": os.defpath, "SLACK_BOT_TOKEN": "xoxb-do-not-leak"}

    def run(mode: str) -> str:
        return subprocess.run([PY, worker, mode], env=env, user=nobody.uid, group=nobody.gid,
                              extra_groups=[], capture_output=True, text=True, timeout=30,
                              cwd="/").stdout

    try:
        assert "xoxb-do-not-leak" in run("plain")  # same user, dumpable: readable
        hardened = run("hardened")
    finally:
        shutil.rmtree(shared)
    assert "xoxb-do-not-leak" not in hardened and "Permission denied" in hardened
