#!/usr/bin/env python3
"""Set up and run atbat on a machine that has only Python 3.11+.

    python3 dev.py run     # atbat; without Slack tokens, the local sandbox
    python3 dev.py test    # lint and the whole test suite

Both create `.venv` and install the project into it when needed, then hand
over to the real commands (`atbat run`, `ruff` + `pytest`). Extra arguments
go through: `python3 dev.py test -k alerts`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".atbat-installed"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"atbat needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("Installing atbat and its dependencies into .venv ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-e", f"{ROOT}[test,sandbox]"], check=True)
    STAMP.write_text(wanted)


def run_forwarding_signals(argv: list[str]) -> int:
    """Run `argv` until it exits, passing Ctrl-C and SIGTERM on to it instead of dying first.

    The child gets its own session, so a Ctrl-C in the terminal reaches it once,
    through here, and it can stop its own children (Redis, the worker) in order.
    """
    child = subprocess.Popen(argv, start_new_session=True)

    hangup = getattr(signal, "SIGHUP", None)  # not on Windows

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM if signum == hangup else signum)

    for signum in (signal.SIGINT, signal.SIGTERM, hangup):
        if signum is not None:
            signal.signal(signum, forward)
    return child.wait()


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if command == "run":
        return run_forwarding_signals([str(BIN / "atbat"), "run", *rest])
    lint = subprocess.call([str(BIN / "ruff"), "check", "."])
    tests = subprocess.call([str(BIN / "python"), "-m", "pytest", *rest])
    return tests or lint


if __name__ == "__main__":
    sys.exit(main())
