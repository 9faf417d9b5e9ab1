"""The `/oncall` router: shell-like word splitting, subcommand table, help text.

Feature modules describe their subcommands with `@command(...)` and `bot/wiring.py`
lists the handlers the router serves; a
handler takes a `CommandContext` and returns a `Reply`. Problems the user
caused are raised as `UserError` and answered ephemerally, never as a
"dispatch_failed".
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.runtime import Runtime


class UserError(Exception):
    """Something the user can fix; str() is the ephemeral answer."""


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] | None = None
    in_channel: bool = False

    def to_ack(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "response_type": "in_channel" if self.in_channel else "ephemeral",
            "text": self.text,
        }
        if self.blocks:
            body["blocks"] = self.blocks
        return body


@dataclass
class CommandContext:
    runtime: Runtime
    user: str
    channel: str
    args: list[str]
    text: str
    now: datetime  # the runtime's clock, passed in
    response_url: str | None = None
    trigger_id: str | None = None
    router: Router | None = None  # what is served (for help)

    @property
    def config(self):
        return self.runtime.config


Handler = Callable[[CommandContext], Reply]


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    handler: Handler
    group: str
    free_text: bool = False
    aliases: tuple[str, ...] = ()


def command(
    name: str, *, usage: str, summary: str, group: str = "General",
    aliases: tuple[str, ...] = (), free_text: bool = False,
) -> Callable[[Handler], Handler]:
    """Describe the subcommand a handler answers; `free_text` ones take prose (`can't` is fine)
    from ctx.text. Nothing is registered here: `bot/wiring.py` lists the handlers served."""

    def decorate(handler: Handler) -> Handler:
        handler.subcommand = Subcommand(  # type: ignore[attr-defined]
            name, usage, summary, handler, group, free_text, aliases)
        return handler

    return decorate


# Help lists the everyday commands first; groups not named here follow, in declaration order.
HELP_ORDER = ("On call", "Swaps and overrides", "Rotations", "Alerts", "Incidents", "Remediation")

# Subcommands that only read. Their answer needs no claim on the request id before
# the ack: a Slack retry of one simply answers again. Everything else is claimed.
QUERIES = frozenset({"help", "who", "next", "schedule", "me", "calendar", "overrides",
                     "alerts", "incidents", "runbooks", "jobs", "audit", "silences"})


class Router:
    """The subcommands served, from handlers described with `@command`."""

    def __init__(self, handlers: Iterable[Handler] = ()) -> None:
        self._commands: dict[str, Subcommand] = {}
        self._aliases: dict[str, str] = {}
        self._usage: str | None = None  # built once: the subcommands never change
        for handler in handlers:
            sub: Subcommand = handler.subcommand  # type: ignore[attr-defined]
            if sub.name in self._commands:
                raise ValueError(f"/oncall {sub.name} is declared twice")
            self._commands[sub.name] = sub
            for alias in sub.aliases:
                self._aliases[alias] = sub.name

    @property
    def commands(self) -> list[Subcommand]:
        return list(self._commands.values())

    def find(self, name: str) -> Subcommand | None:
        name = name.lower()
        return self._commands.get(self._aliases.get(name, name))

    def only_reads(self, text: str) -> bool:
        """True when `text` runs a query (or no known subcommand): nothing to do twice."""
        first = text.split(None, 1)
        sub = self.find(first[0]) if first else self.find("who")
        return sub is None or sub.name in QUERIES

    def usage(self) -> str:
        if self._usage is None:
            self._usage = self._build_usage()
        return self._usage

    def _build_usage(self) -> str:
        groups: dict[str, list[Subcommand]] = {}
        for sub in self._commands.values():
            groups.setdefault(sub.group, []).append(sub)
        lines = ["*atbat* — on-call, alerts, incidents and runbooks from Slack."]
        order = {name: i for i, name in enumerate(HELP_ORDER)}
        for group, subs in sorted(groups.items(), key=lambda g: order.get(g[0], len(order))):
            lines.append(f"\n*{group}*")
            lines.extend(f"• `{s.usage}` — {s.summary}" for s in subs)
        lines.append("\nPeople are @mentions; quote values with spaces: msg=\"hello world\".")
        return "\n".join(lines)

    def dispatch(self, ctx_factory: Callable[[list[str]], CommandContext], text: str) -> Reply:
        first = text.split(None, 1)
        sub = self.find(first[0]) if first else None
        try:
            words = split_words(text)
        except UserError as exc:
            if sub is None or not sub.free_text:
                return Reply(f"{exc}\nUsage: `/oncall help`")
            words = text.split()  # prose with an apostrophe: words matter less than the text
        name = words[0].lower() if words else "who"
        sub = self.find(name)
        if sub is None:
            return Reply(f'Unknown command "{_safe(name)}". Try /oncall help.')
        ctx = ctx_factory(words[1:] if words else [])
        try:
            return sub.handler(ctx)
        except UserError as exc:
            return Reply(f"{exc}\nUsage: `{sub.usage}`")


def split_words(text: str) -> list[str]:
    """Split like a shell: `msg="hello world"` is one word; no expansion happens."""
    # Slack sends typographic quotes from some keyboards; treat them as plain quotes.
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace(
        "\u2019", "'")
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise UserError(f"Could not read the command: {exc} (check your quotes).") from None


def _safe(word: str) -> str:
    cleaned = "".join(ch for ch in word if ch.isprintable() and ch not in "<>&`*_~")
    return cleaned[:40] + ("…" if len(cleaned) > 40 else "")

