"""The on-call health report: Block Kit message and the pages-per-day chart (PNG), pure.

The chart is drawn with matplotlib's Agg backend into bytes: pages per day
stacked by person; each person's sleep-hour pages are the hatched part of
their bar.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.dates import (  # noqa: E402  (after choosing the backend)
    AutoDateLocator,
    ConciseDateFormatter,
    date2num,
)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bot.domain.alerts import plural  # noqa: E402
from bot.domain.reports import PersonRow, Report, RuleRow, SavedRow  # noqa: E402
from bot.domain.timefmt import human_duration  # noqa: E402
from bot.slack.format import date_token, escape, mention  # noqa: E402

MAX_LINES_PER_SECTION = 12
MAX_RULES = 10
ANSWER_LABELS = {"actionable": "actionable", "noise": "noise", "morning": "could wait"}


def _trend(now: int, before: int) -> str:
    if now == before:
        return "="
    return f"+{now - before}" if now > before else f"-{before - now}"


def _duration(seconds: float | None) -> str:
    return "–" if seconds is None else human_duration(timedelta(seconds=round(seconds)))


def person_line(row: PersonRow) -> str:
    """Shifts, hours, pages; sleep-hour pages and median ack only for someone paged."""
    shifts = (f"{plural(row.shifts, 'shift')}, {row.hours:.0f} h on call" if row.shifts
              else "not on call")
    line = (f"• {mention(row.user)}: {shifts}, {plural(row.pages, 'page')} "
            f"({_trend(row.pages, row.pages_before)})")
    if row.pages or row.sleep_pages_before:
        line += (f", {row.sleep_pages} in sleep hours "
                 f"({_trend(row.sleep_pages, row.sleep_pages_before)})")
    if row.median_tta is not None:
        line += f", median ack {_duration(row.median_tta)}"
    elif row.pages:
        line += ", no acks"
    return line


def rule_line(row: RuleRow) -> str:
    answers = ", ".join(f"{n} {ANSWER_LABELS[a]}" for a, n in row.feedback.items() if n)
    resolve = (f", median resolve {_duration(row.median_ttr)}" if row.median_ttr is not None
               else "")
    return (f"• *{escape(row.alertname)}*: {plural(row.pages, 'page')} "
            f"({_trend(row.pages, row.pages_before)}),"
            f" {row.sleep_pages} in sleep hours, feedback: {answers or 'none yet'}{resolve}")


def saved_line(row: SavedRow) -> str:
    missed = [f"{row.paged} paged anyway" if row.paged else "",
              f"{row.refused} not run" if row.refused else ""]
    heal = f", median {_duration(row.median_heal)} to heal" if row.saved else ""
    return (f"• `{escape(row.rule)}` (`{escape(row.runbook)}`): "
            f"{plural(row.saved, 'page')} saved ({_trend(row.saved, row.saved_before)})"
            + "".join(f", {m}" for m in missed if m) + heal)


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
        lines[i:i + MAX_LINES_PER_SECTION])}} for i in range(0, len(lines), MAX_LINES_PER_SECTION)]


def _saved(report: Report) -> str:
    """", N pages saved by self-healing (trend)" when the team has self-healing, else ""."""
    if not report.self_healing:
        return ""
    return (f", {plural(report.pages_saved, 'page')} saved by self-healing "
            f"({_trend(report.pages_saved, report.pages_saved_before)})")


def headline(report: Report) -> str:
    saved = _saved(report)
    return (f"On-call report for {escape(report.team)}, last {report.period.days} days: "
            f"{plural(report.pages, 'page')} ({_trend(report.pages, report.pages_before)} vs the "
            f"{report.period.days} days before), {report.sleep_pages} in sleep hours "
            f"({_trend(report.sleep_pages, report.sleep_pages_before)}){saved}.")


def report_message(report: Report) -> dict[str, Any]:
    """`text` and `blocks` of the report; the empty report says there is nothing to show."""
    span = (f"{date_token(report.period.start, '{date_short}')} to "
            f"{date_token(report.period.end, '{date_short}')}")
    if report.empty:
        text = (f"On-call report for {escape(report.team)}, last {report.period.days} days: "
                "no pages in this period, nothing to report.")
        return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                       "text": text}}]}
    text = headline(report)
    was = (f" (was {_duration(report.median_tta_before)})"
           if report.median_tta_before is not None else "")
    ack = (f" · median ack {_duration(report.median_tta)}{was}"
           if report.median_tta is not None else "")
    saved = _saved(report)
    summary = (f"*{plural(report.pages, 'page')}* ({_trend(report.pages, report.pages_before)}), "
               f"*{report.sleep_pages} in sleep hours* "
               f"({_trend(report.sleep_pages, report.sleep_pages_before)}){saved}{ack}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": (
            f"On-call report: {report.team}, last {report.period.days} days")[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"{span}. In brackets: the change against the {report.period.days} days before. "
            "Sleep hours are on each person's own clock. The chart is in the thread.")}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*People*"}},
    ]
    blocks += _sections([person_line(p) for p in report.people] or ["• nobody was on call"])
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Alert rules, noisiest first*"}})
    rules = [rule_line(r) for r in report.rules[:MAX_RULES]] or ["• no pages"]
    if len(report.rules) > MAX_RULES:
        rules.append(f"• … and {len(report.rules) - MAX_RULES} more rules")
    blocks += _sections(rules)
    if report.self_healing:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "*Self-healing, pages saved per rule*"}})
        saved = [saved_line(r) for r in report.self_healing[:MAX_RULES]]
        if len(report.self_healing) > MAX_RULES:
            saved.append(f"• … and {len(report.self_healing) - MAX_RULES} more rules")
        blocks += _sections(saved)
    return {"text": text, "blocks": blocks}


def chart_png(report: Report, names: Mapping[str, str] | None = None) -> bytes:
    """Pages per day, stacked by person; sleep-hour pages as a black line. A PNG of 1000×500.

    Each person is one filled step polygon over all days (`fill_between`), not one
    rectangle per day nor a patch whose limits matplotlib works out curve by curve,
    so a year draws about as fast as a week.
    """
    names = names or {}
    fig = Figure(figsize=(10, 5), dpi=100)
    ax = fig.add_subplot()
    ax.set_autoscale_on(False)  # the limits are set below, once
    first = report.days[0].day if report.days else report.period.end.date()
    edges = date2num(first) + np.arange(len(report.days) + 1)
    bottom = np.zeros(len(report.days) + 1)
    colours = matplotlib.colormaps["tab20"]
    for i, user in enumerate(p.user for p in report.people if p.pages):
        counts = np.array([d.pages.get(user, 0) for d in report.days], dtype=float)
        top = bottom + np.append(counts, counts[-1:] if len(counts) else [0.0])
        ax.fill_between(edges, bottom, top, step="post", color=colours(i % 20), linewidth=0,
                        label=names.get(user, user))
        bottom = top
    sleep = np.array([d.sleep_pages for d in report.days], dtype=float)
    ax.stairs(sleep, edges, color="black", linewidth=1.5, baseline=None,
              label="of which in sleep hours")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, max(1.0, float(bottom.max()) * 1.08))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    locator = AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_title(f"{report.team}: pages per day, last {report.period.days} days")
    ax.set_ylabel("pages per day")
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(length=0)  # no tick marks (each is drawn on its own): labels and grid say it
    handles, labels = ax.get_legend_handles_labels()
    people = len(handles) - 1  # the top of the stack first, as drawn; the sleep line last
    order = [*reversed(range(people)), people]
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize="small",
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.subplots_adjust(left=0.07, right=0.8, bottom=0.1)
    out = io.BytesIO()
    fig.savefig(out, format="png", pil_kwargs={"compress_level": 3})
    return out.getvalue()
