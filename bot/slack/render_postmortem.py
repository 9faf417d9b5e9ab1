"""The postmortem draft an incident's resolve uploads: Markdown, pure.

Sections: summary, impact (prompts for the author), severity history, the
timeline in order with authors, linked alerts with time to acknowledge,
remediation runs, follow-ups. Alert and run records are read loosely (dicts
from their stores), so a missing field shows as a blank, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.domain.incidents import BOT_AUTHOR, Incident
from bot.slack.render_incidents import _defuse, duration


def _author_md(user_id: str, names: Mapping[str, str] | None) -> str:
    if not user_id or user_id == BOT_AUTHOR:
        return "atbat"
    if names and user_id in names:
        return f"@{names[user_id]}"
    return f"<@{user_id}>"


def _moment(value: Any) -> datetime | None:
    """Alert and run records come from other modules: accept datetime, ISO or epoch."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc_text(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "—"


def _first(record: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if record.get(key) not in (None, ""):
            return record[key]
    return None


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


def _md_alert(alert: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    title = _first(alert, "title", "summary", "name", "key") or "alert"
    fired = _moment(_first(alert, "fired_at", "started_at", "created_at"))
    acked = _moment(_first(alert, "acked_at", "acknowledged_at"))
    ack = duration(acked - fired) if fired and acked else "not acknowledged"
    by = _first(alert, "acked_by", "acknowledged_by")
    by_text = f" by {_author_md(str(by), names)}" if by and acked else ""
    fired_text = _utc_text(fired)
    return f"- {_defuse(str(title))} — fired {fired_text}, time to acknowledge: {ack}{by_text}"


def _md_run(run: Mapping[str, Any], names: Mapping[str, str] | None) -> str:
    runbook = _first(run, "runbook", "name") or "runbook"
    params = run.get("params") or {}
    args = " ".join(f"{k}={v}" for k, v in sorted(params.items())) or "no parameters"
    approvers = run.get("approvers") or ([run["approver"]] if run.get("approver") else [])
    approved = ", ".join(_author_md(a, names) for a in approvers) or "not needed"
    result = _first(run, "result", "status", "state") or "unknown"
    code = run.get("exit_code")
    if code is not None:
        result = f"{result} (exit {code})"
    return (
        f"- `{runbook}` {args} — requested by {_author_md(run.get('requester', ''), names)}, "
        f"approved by {approved}, result: {_defuse(str(result))}"
    )


def postmortem_markdown(
    inc: Incident,
    alerts: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    now: datetime,
    names: Mapping[str, str] | None = None,
) -> str:
    """A postmortem draft for the author to complete. ``names`` maps user ids to names."""
    end = inc.resolved_at or now
    state = f"resolved {_utc_text(inc.resolved_at)}" if inc.resolved_at else "still open"
    out = [
        f"# Postmortem: {_defuse(inc.title)}",
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
