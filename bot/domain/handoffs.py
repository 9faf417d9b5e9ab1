"""The handoff summary: what the incoming person should know about the outgoing shift.

Pure Python, the clock is passed in. From the history of the outgoing shift
(pages to the outgoing person, runs, notes they left) and what is open now
(alert groups, incidents), build the summary the incoming person gets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.history import Event, Rule, SleepHours
from bot.domain.reports import is_sleep_page

MAX_LISTED = 10


@dataclass(frozen=True)
class PageLine:
    at: datetime
    rule: str  # the alert rule's name
    asleep: bool


@dataclass(frozen=True)
class Summary:
    team: str
    layer: str
    outgoing: str | None
    incoming: str
    start: datetime  # of the outgoing shift
    end: datetime  # the handoff
    pages: tuple[PageLine, ...]
    open_groups: tuple[tuple[str, str], ...]  # (state, title)
    incidents: tuple[str, ...]  # "inc-… title"
    runs: tuple[str, ...]  # "runbook: state"
    noisiest: tuple[str, int] | None  # (rule name, pages)
    notes: tuple[str, ...]

    @property
    def sleep_pages(self) -> int:
        return sum(1 for p in self.pages if p.asleep)


def summarize(team: str, layer: str, outgoing: str | None, incoming: str, start: datetime,
              end: datetime, pages: Sequence[Event], runs: Sequence[Event],
              notes: Sequence[Event], rules: Mapping[str, Rule],
              open_groups: Sequence[tuple[str, str]], incidents: Sequence[str],
              hours: SleepHours, tz: str) -> Summary:
    """Pages to the outgoing person and notes they left, runs of the team, during [start, end)."""
    mine = [p for p in pages if p.fields.get("user") == outgoing and start <= p.at < end]

    def name(ident: str) -> str:
        rule = rules.get(ident)
        return rule.alertname if rule else "an alert"

    counts = Counter(p.fields.get("rule", "") for p in mine)
    noisiest = None
    if counts:
        ident, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        noisiest = (name(ident), n)
    run_lines = tuple(f"{r.fields.get('runbook', 'a runbook')}: {r.fields.get('state', '')}"
                      for r in runs if start <= r.at < end and r.fields.get("action") == "result")
    return Summary(
        team=team, layer=layer, outgoing=outgoing, incoming=incoming, start=start, end=end,
        pages=tuple(PageLine(p.at, name(p.fields.get("rule", "")), is_sleep_page(p, hours, tz))
                    for p in mine),
        open_groups=tuple(open_groups), incidents=tuple(incidents), runs=run_lines,
        noisiest=noisiest,
        notes=tuple(n.fields.get("text", "") for n in notes
                    if n.fields.get("user") == outgoing and start <= n.at < end),
    )
