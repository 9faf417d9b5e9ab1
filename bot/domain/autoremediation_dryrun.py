"""`atbat remediation test ALERT.json`: what self-healing would do for an alert, without Redis.

Pure. The file is read the way the webhooks read it (an Alertmanager webhook
payload, one alert of one, or an Events API v2 trigger), the alert becomes a
group as on ingest, and `bot.domain.autoremediation.plan` says which rule fires
and the exact argv, or why nothing runs (per rule of the team why not).
What lives in Redis (the kill switch, circuit breakers, `max_runs`, the one-run
lock) is not looked at, and the report says so.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import autoremediation
from bot.domain.alert_payloads import PayloadError, load_object, parse_alertmanager, parse_events_v2
from bot.domain.alerts import AlertGroup, apply_batch, apply_event
from bot.domain.config import Config
from bot.domain.runbooks import describe_argv
from bot.domain.timefmt import human_duration

DRY_RUN_KEY = "atbat-remediation-test"
NOT_CHECKED = ("Not checked here (they live in Redis): the kill switch, circuit breakers, "
               "max_runs and the one-run lock.")


class DryRunError(ValueError):
    """The file cannot be tested: one line for the user."""


@dataclass(frozen=True)
class DryRun:
    facts: autoremediation.AlertFacts
    plan: autoremediation.Plan
    at: datetime
    team_rules: int = 0  # auto_remediation rules of the alert's team

    @property
    def runs(self) -> bool:
        return self.plan.runs


def _single_alert(data: Mapping[str, Any]) -> dict[str, Any]:
    """One alert of a webhook payload, wrapped into a payload of its own."""
    labels = data.get("labels")
    annotations = data.get("annotations") or {}
    return {"version": "4", "groupKey": DRY_RUN_KEY, "status": data.get("status") or "firing",
            "alerts": [{"status": "firing", **data}],
            "commonLabels": labels if isinstance(labels, dict) else {},
            "commonAnnotations": annotations if isinstance(annotations, dict) else {}}


def _known_team(config: Config, team: str | None) -> str:
    known = ", ".join(sorted(config.teams)) or "none"
    if not team:
        raise DryRunError(f"no team: set a team label on the alert or pass --team (known teams: "
                          f"{known})")
    if team not in config.teams:
        raise DryRunError(f'unknown team "{team[:80]}" (known teams: {known})')
    return team


def _events_team(config: Config, routing_key: str, team: str | None) -> str:
    if team:
        return _known_team(config, team)
    for t in config.teams.values():
        if t.routing_key and hmac.compare_digest(t.routing_key.encode(), routing_key.encode()):
            return t.name
    return _known_team(config, routing_key)  # with a bearer token, routing_key may name the team


def group_of(body: str | bytes, config: Config, now: datetime, team: str | None = None
             ) -> AlertGroup:
    """The alert group atbat would make of the file's alert; DryRunError saying what is wrong."""
    try:
        data = load_object(body)
        if "routing_key" in data or "event_action" in data:
            event = parse_events_v2(data, new_key=lambda: DRY_RUN_KEY)
            if event.action != "trigger":
                raise DryRunError(f"event_action is {event.action}: only a trigger can fire a rule")
            event = event.with_team(_events_team(config, event.routing_key, team))
            group, _ = apply_event(None, event, now)
        else:
            if "version" not in data and "alerts" not in data and "labels" in data:
                data = _single_alert(data)
            batch = parse_alertmanager(data, team)
            _known_team(config, batch.team)
            group, _ = apply_batch(None, batch, now)
    except PayloadError as exc:
        raise DryRunError(exc.reason) from None
    if group is None:
        raise DryRunError("the event opens no alert")
    return group


def dry_run(body: str | bytes, config: Config, now: datetime, team: str | None = None) -> DryRun:
    group = group_of(body, config, now, team)
    facts = autoremediation.facts_of(group)
    rules = sum(1 for r in config.auto_remediation if r.team == facts.team)
    return DryRun(facts=facts, plan=autoremediation.plan(config, facts, now), at=now,
                  team_rules=rules)


def report_lines(result: DryRun) -> list[str]:
    """What `atbat remediation test` prints."""
    facts, plan = result.facts, result.plan
    labels = ", ".join(f"{k}={v!r}" for k, v in sorted(facts.labels.items())) or "none"
    lines = [f"alert: team {facts.team}, source {facts.source}, at {result.at.isoformat()}",
             f"labels: {labels}"]
    if facts.annotations:
        lines.append("annotations: " + ", ".join(f"{k}={v!r}"
                                                 for k, v in sorted(facts.annotations.items())))
    for note in plan.notes:
        lines.append(f"rule {note}")
    if plan.rule is None:
        if not result.team_rules:
            lines.append(f"no auto_remediation rule for team {facts.team}")
        lines.append("nothing would run: paging as usual")
        return lines
    rule = plan.rule
    if plan.refused:
        lines.append(f"rule {rule.name}: matches, but {rule.runbook} would not run: "
                     f"{plan.refused}")
        lines.append("nothing would run: the alert pages at once with that reason")
        return lines
    lines.append(f"rule {rule.name} fires: runs {rule.runbook}")
    if plan.params:
        lines.append("params: " + ", ".join(f"{k}={v!r}" for k, v in sorted(plan.params.items())))
    lines.append(f"argv: {describe_argv(plan.argv)}")
    lines.append(f"argv (JSON): {json.dumps(list(plan.argv))}")
    pages = (f"pages after {human_duration(rule.page_after)} if still firing" if rule.page_after
             else "pages at once, the run alongside")
    lines.append(f"{pages}; at most {rule.max_runs.count} runs per "
                 f"{human_duration(rule.max_runs.window)}")
    lines.append(NOT_CHECKED)
    return lines


