"""The postmortem draft an incident's resolve uploads: Markdown, pure.

Sections: summary, impact (prompts for the author), severity history, the
timeline in order with authors, linked alerts with time to acknowledge,
remediation runs, follow-ups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bot.domain.alerts import AlertGroup
from bot.domain.incidents import BOT_AUTHOR, Incident
from bot.domain.remediation import RunRequest
from bot.slack.format import clean, clean_title
from bot.slack.render_incidents import _defuse as _defuse_markup
from bot.slack.render_incidents import duration


def _defuse(text: str) -> str:
    """People's and alerts' text for the Markdown file: no broadcast markup, no control or
    format characters (an ESC, a bidi override)."""
    return clean(_defuse_markup(text))


def _author_md(user_id: str, names: Mapping[str, str] | None) -> str:
    if not user_id or user_id == BOT_AUTHOR:
        return "atbat"
    if names and user_id in names:
        return f"@{names[user_id]}"
    return f"<@{user_id}>"


def _utc_text(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "—"


def _md_timeline(inc: Incident, names: Mapping[str, str] | None) -> list[str]:
    lines: list[str] = []
    day = None
    multi_day = len({e.at.astimezone(UTC).date() for e in inc.timeline}) > 1
    for entry in inc.timeline:
        at = entry.at.astimezone(UTC)
        if multi_day and at.date() != day:
            day = at.date()
            lines.append(f"**{day.isoformat()}**")
        text = _defuse(entry.text).replace("\n", " ")
        lines.append(f"- {at:%H:%M} UTC — {_author_md(entry.author, names)} — {text}")
    return lines


def _md_severity_history(inc: Incident) -> list[str]:
    lines = []
    for entry in inc.timeline:
        if entry.kind == "declared":
            sev = entry.data.get("severity", inc.severity)
            lines.append(f"- {_utc_text(entry.at)}: declared SEV{sev}")
        elif entry.kind == "severity":
            lines.append(f"- {_utc_text(entry.at)}: SEV{entry.data.get('from')} → SEV{entry.data.get('to')}")
    return lines or [f"- SEV{inc.severity} throughout"]


def _md_alert(group: AlertGroup, names: Mapping[str, str] | None = None) -> str:
    fired, acked = group.created_at, group.acked_at
    ack = duration(acked - fired) if acked else "not acknowledged"
    by_text = f" by {_author_md(group.acked_by, names)}" if group.acked_by and acked else ""
    return (f"- {_defuse(group.title or group.key)} — fired {_utc_text(fired)}, "
            f"time to acknowledge: {ack}{by_text}")


def _md_run(run: RunRequest, names: Mapping[str, str] | None) -> str:
    args = " ".join(f"{k}={v}" for k, v in sorted(run.param_dict.items())) or "no parameters"
    approved = _author_md(run.approver, names) if run.approver else "not needed"
    result = run.state if run.exit_code is None else f"{run.state} (exit {run.exit_code})"
    return (
        f"- `{run.runbook}` {args} — requested by {_author_md(run.requester, names)}, "
        f"approved by {approved}, result: {_defuse(result)}"
    )


def postmortem_markdown(
    inc: Incident,
    alerts: Sequence[AlertGroup],
    runs: Sequence[RunRequest],
    now: datetime,
    names: Mapping[str, str] | None = None,
) -> str:
    """A postmortem draft for the author to complete. ``names`` maps user ids to names."""
    end = inc.resolved_at or now
    state = f"resolved {_utc_text(inc.resolved_at)}" if inc.resolved_at else "still open"
    out = [
        f"# Postmortem: {_defuse(clean_title(inc.title))}",
        "",
        f"- Severity: SEV{inc.severity}",
        f"- Lead: {_author_md(inc.lead, names)}",
        f"- Team: {inc.team or '—'}",
        f"- Channel: #{inc.channel_name}",
        f"- Started: {_utc_text(inc.created_at)}, {state}",
        f"- Duration: {duration(end - inc.created_at)}",
        f"- Draft generated {_utc_text(now)}",
        "",
        "## Summary",
        "",
        _defuse(inc.summary) if inc.summary else "_What happened, in two or three sentences?_",
        "",
        "## Impact",
        "",
        "_Who was affected, and how? For how long? What was lost (requests, revenue, data)?_",
        "_How was it detected: alert, customer report, someone noticed?_",
        "",
        "## Severity history",
        "",
        *_md_severity_history(inc),
        "",
        "## Timeline",
        "",
        *_md_timeline(inc, names),
        "",
        "## Alerts",
        "",
        *([_md_alert(a, names) for a in alerts] or ["_No alerts were linked._"]),
        "",
        "## Remediation runs",
        "",
        *([_md_run(r, names) for r in runs] or ["_No remediation runs were linked._"]),
        "",
        "## Follow-ups",
        "",
        "- [ ] _Action item — owner — due date_",
        "- [ ] _What would have detected this sooner?_",
        "- [ ] _What would have made recovery faster?_",
        "",
    ]
    return "\n".join(out)
