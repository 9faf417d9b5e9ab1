#!/usr/bin/env python3
"""Set up and run atbat on a machine that has only Python 3.11+.

    python3 dev.py run     # atbat; without Slack tokens, the local sandbox
    python3 dev.py test    # lint and the whole test suite
    python3 dev.py mutate [--again] [module ...]  # mutation score of domain modules (by hand)

All create `.venv` and install the project into it when needed, then hand
over to the real commands (`atbat run`, `ruff` + `pytest`, `mutmut`). Extra
arguments go through: `python3 dev.py test -k alerts`.

`mutate` runs mutmut on each module named in `[tool.atbat.mutate]` of
pyproject.toml (all of them, or those named: `python3 dev.py mutate schedule`)
against that module's own unit tests only, one test process at a time, in
`.mutmut/<module>/`, and prints mutants, killed, survived, equivalent and the
score per module. Equivalent mutants are listed in `mutmut-equivalent.txt`.
`--again` keeps the previous results: it tests only the mutants that are new
or changed since, then re-tests the ones that survived (after adding tests).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
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


MUTATE_DIR = ROOT / ".mutmut"
EQUIVALENT = ROOT / "mutmut-equivalent.txt"
KILLED = {1, 3, -24, 24, 152, 255, 36}  # mutmut's exit codes for a failing test run or a timeout


def toml_value(value: object) -> str:
    # strings, numbers, booleans and lists of them: their JSON spelling is valid TOML
    return json.dumps(value)


def mutate_workdir(module: str, tests: list[str], pyproject: dict, keep: bool) -> Path:
    """A directory where mutmut sees one module to mutate and that module's tests."""
    work = MUTATE_DIR / Path(module).stem
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    settings = dict(pyproject["tool"]["mutmut"])
    settings["only_mutate"] = [module]
    settings["pytest_add_cli_args_test_selection"] = tests
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    pytest_options = pyproject["tool"]["pytest"]["ini_options"]
    lines += [f"{key} = {toml_value(value)}" for key, value in pytest_options.items()]
    (work / "pyproject.toml").write_text("\n".join(lines) + "\n")
    for name in ("bot", "tests"):
        if not (work / name).exists():
            (work / name).symlink_to(ROOT / name)
    return work


def equivalent_mutants() -> set[str]:
    if not EQUIVALENT.exists():
        return set()
    names = (line.split("#")[0].strip() for line in EQUIVALENT.read_text().splitlines())
    return {name for name in names if name}


def mutant_results(work: Path, module: str) -> dict[str, int | None]:
    meta = work / "mutants" / f"{module}.meta"
    return json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}


def run_mutmut(work: Path, module: str, again: bool) -> int:
    """A fresh run; or, `again`, the mutants that are new or changed, then last time's survivors
    that are not listed as equivalent."""
    mutmut = [str(BIN / "mutmut"), "run", "--max-children", "1"]
    survivors = [name for name, code in mutant_results(work, module).items() if code not in KILLED]
    code = subprocess.call(mutmut, cwd=work)
    current = mutant_results(work, module)
    survivors = [name for name in survivors if name in current and name not in equivalent_mutants()]
    if code or not again or not survivors:
        return code
    return subprocess.call([*mutmut, *survivors], cwd=work)


def mutation_score(work: Path, module: str) -> dict[str, int]:
    codes = mutant_results(work, module)
    equivalent = {name for name in codes if name in equivalent_mutants()}
    killed = sum(1 for name, code in codes.items() if code in KILLED and name not in equivalent)
    counted = len(codes) - len(equivalent)
    return {
        "mutants": len(codes),
        "killed": killed,
        "survived": counted - killed,
        "equivalent": len(equivalent),
        "score": round(100 * killed / counted) if counted else 100,
    }


def mutate(names: list[str]) -> int:
    import tomllib

    again = "--again" in names
    names = [name for name in names if name != "--again"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    modules: dict[str, list[str]] = pyproject["tool"]["atbat"]["mutate"]
    chosen = [m for m in modules if not names or Path(m).stem in names]
    unknown = set(names) - {Path(m).stem for m in modules}
    if unknown:
        print(f"unknown module(s): {', '.join(sorted(unknown))}; known: "
              + ", ".join(Path(m).stem for m in modules))
        return 2
    scores = {}
    for module in chosen:
        work = mutate_workdir(module, modules[module], pyproject, keep=again)
        print(f"== {module} against {' '.join(modules[module])}", flush=True)
        code = run_mutmut(work, module, again)
        if code:
            print(f"mutmut failed on {module} (exit {code})")
            return code
        scores[module] = mutation_score(work, module)
        subprocess.call([str(BIN / "mutmut"), "results"], cwd=work)
    print("\n| module | mutants | killed | survived | equivalent | score |\n|---|---|---|---|---|---|")
    for module, s in scores.items():
        counts = " | ".join(str(s[key]) for key in ("mutants", "killed", "survived", "equivalent"))
        print(f"| `{module}` | {counts} | {s['score']}% |")
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test", "mutate"):
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if command == "run":
        return run_forwarding_signals([str(BIN / "atbat"), "run", *rest])
    if command == "mutate":
        return mutate(rest)
    lint = subprocess.call([str(BIN / "ruff"), "check", "."])
    tests = subprocess.call([str(BIN / "python"), "-m", "pytest", *rest])
    return tests or lint


if __name__ == "__main__":
    sys.exit(main())
