"""Graduation suggestions: a fix people keep running for the same alert becomes a rule.

Pure: no Redis, no Slack, the clock is passed in. When a person's run of a
runbook, asked for from an alert's Run button, has ended, `fix_outcome` says
whether it fixed the alert (it succeeded and the alert occurrence resolved
between the run's start and 10 minutes after its end). Each such run is one
`fix` history entry of the team, keyed by the alert rule (team + alertname),
the runbook, and its parameters with the labels they came from (`fix_key`).
When the last N entries of a key (`suggest_rules_after`, default 5) all fixed
the alert, `suggested_rule` is the `auto_remediation:` rule to paste: it
matches the labels those alerts shared and takes each parameter from the label
it equalled (`{labels.service}`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.domain.config import Runbook, Team
from bot.domain.history import Event

FIX_WINDOW = timedelta(minutes=10)  # the alert resolved within this of the run's end
DEFAULT_AFTER = 5
FIXED = "fixed"
MAX_LABEL_VALUE = 100  # longer label values are not matched on (they identify nothing)
MAX_YAML = 2800  # the suggestion shows the YAML in one Slack section (3,000 characters)
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_MATCHED = frozenset({"team"})  # the rule's `team` says it already
_ENDED = {"timed_out": "timed out", "cancelled": "was cancelled", "lost": "was lost"}


class GraduationError(Exception):
    """A click that is not allowed; str() is the reason for the clicker."""


@dataclass(frozen=True)
class RunEvidence:
    """A person's run of a runbook from an alert, as recorded on the run request."""

    team: str
    alertname: str
    runbook: str
    params: Mapping[str, str]
    labels: Mapping[str, str]  # the alert's labels when the run was asked for
    run: str
    requester: str
    approver: str
    group: str
    occurrence: int


def templates(params: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, str]:
    """Each parameter as the label it equals (`{labels.service}`; the label of the same name
    first), else its value as written."""
    out = {}
    for name, value in sorted(params.items()):
        same = sorted(k for k, v in labels.items() if v == value and _LABEL.match(k))
        label = name if name in same else (same[0] if same else None)
        out[name] = "{labels." + label + "}" if label else value
    return out


def fix_key(e: RunEvidence) -> str:
    """Same team, alertname, runbook, and parameters derived the same way from the same labels."""
    shaped = templates(e.params, e.labels)
    canonical = json.dumps([e.team, e.alertname, e.runbook,
                            sorted((k, v, shaped[k]) for k, v in e.params.items())],
                           separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def fix_outcome(run_state: str, started: datetime | None, finished: datetime | None,
                resolved: datetime | None) -> str:
    """`fixed`, or why the run did not count as fixing its alert."""
    if run_state != "succeeded":
        return "the run " + _ENDED.get(run_state, run_state.replace("_", " "))
    if started is None or finished is None:
        return "the run has no start or end"
    if resolved is None or resolved > finished + FIX_WINDOW:
        return "the alert did not resolve within 10 minutes of the run"
    if resolved < started:
        return "the alert resolved before the run"
    return FIXED


def fix_event(e: RunEvidence, outcome: str, at: datetime, seconds: float | None) -> Event:
    """The team's `fix` history entry for one run (seconds: from the run's end to the resolve)."""
    return Event("fix", at, {
        "key": fix_key(e), "alertname": e.alertname, "runbook": e.runbook,
        "params": json.dumps(dict(sorted(e.params.items()))),
        "labels": json.dumps(dict(sorted(e.labels.items()))), "outcome": outcome, "run": e.run,
        "requester": e.requester, "approver": e.approver, "group": e.group,
        "occ": str(e.occurrence), "seconds": "" if seconds is None else f"{max(0.0, seconds):.0f}"})


def streak(events: Sequence[Event], key: str, n: int) -> list[Event] | None:
    """The last `n` entries of `key` when there are `n` and every one fixed its alert."""
    mine = [e for e in events if e.get("key") == key][-n:] if n > 0 else []
    if len(mine) < n or n <= 0 or any(e.get("outcome") != FIXED for e in mine):
        return None
    return mine


def _labels(event: Event) -> dict[str, str]:
    return dict(json.loads(event.get("labels") or "{}"))


def common_labels(events: Sequence[Event]) -> dict[str, str]:
    """The labels every alert of the streak had with the same value: what the rule matches."""
    first, *rest = [_labels(e) for e in events]
    return {k: v for k, v in sorted(first.items())
            if k not in _NOT_MATCHED and _LABEL.match(k) and len(v) <= MAX_LABEL_VALUE
            and all(m.get(k) == v for m in rest)}


def rule_name(alertname: str, runbook: str, taken: Sequence[str]) -> str:
    """`apistuck-restart-api`: lowercase letters, digits and -, unlike the names taken."""
    slug = re.sub(r"[^a-z0-9]+", "-", alertname.lower()).strip("-")[:40] or "alert"
    base = f"{slug}-{runbook}"[:72].strip("-_")
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


@dataclass(frozen=True)
class Suggestion:
    """A rule atbat suggested to a team's managers, once per key."""

    id: str
    key: str
    team: str
    alertname: str
    runbook: str
    rule: str  # the suggested rule's name
    yaml: str  # the exact `auto_remediation:` YAML to paste
    runs: tuple[str, ...]  # the runs that fixed it
    people: tuple[str, ...]  # who asked for and approved them
    created_at: datetime
    state: Literal["open", "dismissed"] = "open"
    dismissed_by: str = ""
    dismissed_at: datetime | None = None
    messages: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # manager -> (channel, ts)

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["dismissed_at"] = self.dismissed_at.isoformat() if self.dismissed_at else None
        data["messages"] = {k: list(v) for k, v in self.messages.items()}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Suggestion:
        data: dict[str, Any] = json.loads(raw)
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["dismissed_at"] = (datetime.fromisoformat(data["dismissed_at"])
                                if data.get("dismissed_at") else None)
        data["runs"], data["people"] = tuple(data["runs"]), tuple(data["people"])
        data["messages"] = {k: (v[0], v[1]) for k, v in data.get("messages", {}).items()}
        return cls(**data)


def suggested_rule(events: Sequence[Event], team: Team, runbook: Runbook,
                   taken: Sequence[str]) -> dict[str, Any]:
    """The `auto_remediation:` rule (plain data, in the order to write it) for a streak."""
    last = events[-1]
    params = json.loads(last.get("params") or "{}")
    shaped = templates(params, _labels(last))
    rule: dict[str, Any] = {
        "name": rule_name(last.get("alertname"), runbook.name, taken),
        "team": team.name,
        "match": common_labels(events),
        "runbook": runbook.name,
    }
    defaults = {p.name: p.default for p in runbook.params}
    given = {k: v for k, v in shaped.items()
             if v.startswith("{labels.") or defaults.get(k) is None or str(defaults[k]) != v}
    if given:
        rule["params"] = given
    rule["page_after"] = "5m"
    rule["max_runs"] = "3 per 1h"
    if runbook.approval in ("manager", "two-person"):
        people = {e.get("approver") for e in events} | {e.get("requester") for e in events}
        approvers = [m for m in team.managers if m in people] or list(team.managers)
        rule["approved_by"] = approvers
    return rule


def new_suggestion(ident: str, key: str, events: Sequence[Event], team: Team, rule: Mapping[str, Any],
                   yaml_text: str, now: datetime) -> Suggestion:
    people = []
    for e in events:
        for who in (e.get("requester"), e.get("approver")):
            if who and who not in people and who != "policy":
                people.append(who)
    return Suggestion(id=ident, key=key, team=team.name, alertname=events[-1].get("alertname"),
                      runbook=str(rule["runbook"]), rule=str(rule["name"]), yaml=yaml_text,
                      runs=tuple(e.get("run") for e in events), people=tuple(people),
                      created_at=now)


def dismiss(s: Suggestion, user: str, now: datetime) -> Suggestion:
    if s.state == "dismissed":
        raise GraduationError(f"Already dismissed by <@{s.dismissed_by}>.")
    return replace(s, state="dismissed", dismissed_by=user, dismissed_at=now)


def with_message(s: Suggestion, manager: str, channel: str, ts: str) -> Suggestion:
    return replace(s, messages={**s.messages, manager: (channel, ts)})
