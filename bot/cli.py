"""The `atbat` command: run the web process, the worker, Socket Mode, the sandbox; check a config."""

from __future__ import annotations

import argparse
import logging
import os
import socket as sockets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.config import ConfigError, load_config
from bot.logs import setup_logging
from bot.runner import harden_process
from bot.runtime import QUEUE_NAMES, build_runtime, install
from bot.settings import Settings, SettingsError, load_settings, redact_url
from bot.store.base import UNAVAILABLE, ping

log = logging.getLogger("atbat.cli")

# Threads per web worker. Requests take turns holding the GIL; with 8 threads a slash
# command's ack waited behind up to 7 others at each turn (p99 46-53 ms at 50 concurrent
# against 28 ms with 4, at the same requests per second: bench/ack_latency.py).
WEB_THREADS = 4


def _fail(message: str) -> int:
    print(f"atbat: {message}", file=sys.stderr)
    return 2


def check_config(path: str | None) -> int:
    path = path or load_settings().config_path
    try:
        config = load_config(path)
    except ConfigError as exc:
        return _fail(str(exc))
    layers = sum(len(t.rotations) for t in config.teams.values())
    print(f"{path}: OK — {len(config.teams)} team(s), {layers} rotation layer(s), "
          f"{len(config.runbooks)} runbook(s)")
    return 0


def _runtime_or_exit():
    settings = load_settings()
    return build_runtime(settings, load_config(settings.config_path))


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or int(raw) < 1:  # isdigit() would let "²" through to int()
        raise SettingsError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def _port_taken(host: str, port: int) -> str | None:
    """Why `host:port` cannot be served, or None. Each gunicorn worker binds the port itself
    (SO_REUSEPORT), which would let a second `atbat web` share the port unnoticed: a plain
    bind, which fails while anyone holds the port, says so first."""
    # As gunicorn reads the bind: an IPv6 address in brackets ("[::1]"), the brackets not
    # part of the address.
    address = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    family = sockets.AF_INET6 if ":" in address else sockets.AF_INET
    with sockets.socket(family, sockets.SOCK_STREAM) as probe:
        # As gunicorn binds: a restart's connections still in TIME_WAIT do not count.
        probe.setsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def web(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    settings = load_settings()
    settings.require_http()
    workers = _positive_env("WEB_CONCURRENCY", 2)
    threads = _positive_env("WEB_THREADS", WEB_THREADS)
    load_config(settings.config_path)  # fail before forking workers
    taken = _port_taken(args.host, settings.port)
    if taken:
        return _fail(f"PORT {settings.port} on {args.host} cannot be served: {taken}")
    harden_process()  # inherited by gunicorn's workers

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{settings.port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            # A listening socket per worker: the kernel spreads new connections evenly over
            # them. Sharing one, whichever worker woke first took each connection, and kept
            # -alive connections stayed where they landed (36 of 50 on one worker, measured).
            self.cfg.set("reuse_port", True)
            self.cfg.set("timeout", 30)
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", os.environ.get("ATBAT_LOG_LEVEL", "info").lower())

        def load(self):
            from bot.wsgi import app

            return app

    Server().run()
    return 0


def worker(args: argparse.Namespace) -> int:
    from bot.rq_worker import Worker

    runtime = _runtime_or_exit()
    try:
        ping(runtime.redis)
    except UNAVAILABLE:
        return _fail(f"REDIS_URL: Redis does not answer at {redact_url(runtime.settings.redis_url)}")
    # Start as the Procfile's worker does: its settings module installs the runtime, hardens
    # the process, seeds the tick and imports every job module, so each forked work horse
    # starts warm (without it every job imported its module, matplotlib included, again).
    from bot import rq_settings

    runtime = rq_settings.runtime
    queues = [runtime.queue(name) for name in QUEUE_NAMES]
    Worker(queues, connection=runtime.redis).work(with_scheduler=True, burst=args.burst)
    return 0


def report(args: argparse.Namespace) -> int:
    """Print a team's on-call report (the same figures as `/oncall report`)."""
    from bot.domain.reports import ReportError, parse_since, to_dict
    from bot.services.reports import build_report

    runtime = _runtime_or_exit()
    team = runtime.config.teams.get(args.team)
    if team is None:
        return _fail(f"--team: unknown team {args.team!r}; known teams: "
                     + ", ".join(sorted(runtime.config.teams)))
    try:
        days = parse_since(args.since)
    except ReportError as exc:
        return _fail(f"--since: {exc}")
    try:
        figures = to_dict(build_report(runtime, team, days, runtime.now()))
    except UNAVAILABLE:
        return _fail(f"REDIS_URL: Redis does not answer at {runtime.settings.redis_url}")
    sys.stdout.write(format_report(figures, args.format))
    return 0


def format_report(figures: dict, fmt: str) -> str:
    import csv
    import io
    import json

    from bot.domain.reports import PERSON_COLUMNS, RULE_COLUMNS, SAVED_COLUMNS

    if fmt == "json":
        return json.dumps(figures, indent=2) + "\n"
    out = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("section", *PERSON_COLUMNS))
        writer.writerows(("person", *(p[c] for c in PERSON_COLUMNS)) for p in figures["people"])
        writer.writerow(("section", *RULE_COLUMNS))
        writer.writerows(("rule", *(r[c] for c in RULE_COLUMNS)) for r in figures["rules"])
        writer.writerow(("section", *SAVED_COLUMNS))
        writer.writerows(("selfheal", *(r[c] for c in SAVED_COLUMNS))
                         for r in figures["self_healing"])
        return out.getvalue()
    out.write(f"{figures['team']}: {figures['days']} days from {figures['start']} to "
              f"{figures['end']}\n")
    out.write(f"pages {figures['pages']} (before {figures['pages_before']}), sleep-hour pages "
              f"{figures['sleep_pages']} (before {figures['sleep_pages_before']}), median TTA "
              f"{figures['median_tta_s']} s\n")
    if figures["self_healing"]:
        out.write(f"pages saved by self-healing {figures['pages_saved']} (before "
                  f"{figures['pages_saved_before']})\n")
    if not figures["pages"] and not figures["rules"] and not figures["self_healing"]:
        out.write("no pages in this period, nothing to report\n")
        return out.getvalue()
    tables = [("people", PERSON_COLUMNS, figures["people"]),
              ("rules, noisiest first", RULE_COLUMNS, figures["rules"])]
    if figures["self_healing"]:
        tables.append(("self-healing, pages saved per rule", SAVED_COLUMNS,
                       figures["self_healing"]))
    for title, columns, rows in tables:
        out.write(f"\n{title}\n")
        cells = [[str(c) for c in columns]] + [["-" if r[c] is None else str(r[c]) for c in columns]
                                               for r in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        for row in cells:
            out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return out.getvalue()


def remediation_test(args: argparse.Namespace) -> int:
    """`atbat remediation test ALERT.json`: which self-healing rule would fire, and what it runs.

    Exit 0 when a rule would run, 1 when nothing would, 2 when the file or the team is wrong.
    """
    from bot.domain.alerts import parse_iso
    from bot.domain.autoremediation_dryrun import DryRunError, dry_run, report_lines

    config = load_config(args.config or load_settings().config_path)
    try:
        body = sys.stdin.buffer.read() if args.alert == "-" else Path(args.alert).read_bytes()
    except OSError as exc:
        return _fail(f"{args.alert}: cannot be read ({exc.strerror})")
    try:
        at = parse_iso(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        return _fail(f"--at: expected an ISO 8601 time like 2026-12-01T03:00:00Z, got {args.at!r}")
    try:
        result = dry_run(body, config, at, args.team)
    except DryRunError as exc:
        return _fail(f"{args.alert}: {exc}")
    print("\n".join(report_lines(result)))
    return 0 if result.runs else 1


def socket(args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.slack.app import build_app

    runtime = _runtime_or_exit()
    runtime.settings.require_socket()
    install(runtime)
    harden_process()
    SocketModeHandler(build_app(runtime), runtime.settings.app_token).start()
    return 0


def sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox.run import run_sandbox

    return run_sandbox(host=args.host, port=args.port, config_path=args.config,
                       socket=getattr(args, "socket", False))


def run(args: argparse.Namespace) -> int:
    """The README's run command: real Slack when tokens are set, else the sandbox."""
    settings = load_settings()
    half = _half_set(settings)
    if half:
        return _fail(half)
    if settings.has_slack_credentials or settings.app_token:
        from bot.devrun import run_connected

        return run_connected(settings)
    return sandbox(args)


def _half_set(settings: Settings) -> str | None:
    """One Slack setting without its partner is a mistake, not a wish for the sandbox."""
    if settings.app_token and not settings.bot_token:
        return "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: set both for Socket Mode"
    if settings.app_token:
        return None
    pair = (("SLACK_BOT_TOKEN", settings.bot_token), ("SLACK_SIGNING_SECRET", settings.signing_secret))
    missing = [name for name, value in pair if not value]
    if len(missing) == 1:
        present = next(name for name, value in pair if value)
        return (f"{missing[0]} is not set but {present} is: set both to use Slack, or neither "
                "for the sandbox")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atbat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check-config", help="validate a config file (default $ATBAT_CONFIG)")
    p.add_argument("file", nargs="?")
    p = sub.add_parser("web", help="serve HTTP (Slack events, webhooks, feeds) with gunicorn")
    p.add_argument("--host", default="0.0.0.0")
    p = sub.add_parser("worker", help="run an RQ worker with the scheduler on atbat's queues")
    p.add_argument("--burst", action="store_true", help="quit when the queues are empty")
    sub.add_parser("socket", help="Socket Mode instead of HTTP (needs SLACK_APP_TOKEN)")
    p = sub.add_parser("report", help="print a team's on-call report (as /oncall report)")
    p.add_argument("--team", required=True)
    p.add_argument("--since", default="30d", help="7d, 30d, 90d ... (default 30d)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p = sub.add_parser("remediation", help="self-healing tools")
    rsub = p.add_subparsers(dest="action", required=True)
    p = rsub.add_parser("test", help="which auto_remediation rule an alert would fire, the exact "
                        "argv, or why nothing would run")
    p.add_argument("alert", metavar="ALERT.json", help="an Alertmanager webhook payload, one alert "
                   "of one, or an Events API v2 trigger (- reads standard input)")
    p.add_argument("--config", default=None, help="the config file (default $ATBAT_CONFIG)")
    p.add_argument("--team", default=None, help="the team, as ?team= on the webhook")
    p.add_argument("--at", default=None, help="evaluate `hours` at this time (default now)")
    sub.add_parser("doctor", help="check that the Redis at REDIS_URL is set up to lose nothing")
    for name in ("sandbox", "run"):
        p = sub.add_parser(name, help="local sandbox in a browser" if name == "sandbox" else
                           "run everything: Slack when tokens are set, else the sandbox")
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
        p.add_argument("--config", default=None)
        p.add_argument("--socket", action="store_true",
                       help="talk to atbat over Socket Mode (`atbat socket`) instead of HTTP")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if args.command == "check-config":
            return check_config(args.file)
        if args.command == "doctor":
            from bot import doctor

            return doctor.run(load_settings())
        return {"web": web, "worker": worker, "socket": socket, "sandbox": sandbox,
                "run": run, "report": report, "remediation": remediation_test}[args.command](args)
    except (SettingsError, ConfigError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
