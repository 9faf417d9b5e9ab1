"""Test alerts the sandbox fires: Alertmanager webhook bodies (version 4) for a team."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.config import Config, Runbook

ALERTNAME = "SandboxHighErrorRate"
NEVER = "0001-01-01T00:00:00Z"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def runbook_for(config: Config, team: str) -> tuple[Runbook | None, dict[str, str]]:
    """The runbook a test alert names for `team`, and labels that fill its parameters.

    Prefers a runbook with parameters (it shows more of the flow) and a choice
    that starts with the team's name (restart-service service=payments-api).
    """
    usable = [rb for rb in config.runbooks.values() if team in rb.teams]
    usable.sort(key=lambda rb: not rb.params)
    if not usable:
        return None, {}
    runbook = usable[0]
    labels: dict[str, str] = {}
    for spec in runbook.params:
        if spec.choices:
            labels[spec.name] = next((c for c in spec.choices if c.startswith(team)),
                                     spec.choices[0])
        elif spec.default is not None:
            labels[spec.name] = spec.default
    return runbook, labels


def alertmanager_payload(config: Config, team: str, firing: bool, started: datetime,
                         now: datetime) -> dict[str, Any]:
    """One alert group for `team`, firing or resolved; the same groupKey either way."""
    runbook, params = runbook_for(config, team)
    service = params.get("service", f"{team}-api")
    labels = {"alertname": ALERTNAME, "severity": "critical", "team": team,
              "service": service, **params}
    annotations = {
        "summary": f"{service} answers 12% of requests with 5xx",
        "description": "A test alert fired from the atbat sandbox page.",
    }
    if runbook is not None:
        annotations["atbat_runbook"] = runbook.name
    status = "firing" if firing else "resolved"
    group_labels = {"alertname": ALERTNAME, "team": team}
    return {
        "version": "4",
        "groupKey": f'{{}}/{{team="{team}"}}:{{alertname="{ALERTNAME}", team="{team}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": f"atbat-{team}",
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.sandbox.invalid:9093",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": _stamp(started),
            "endsAt": NEVER if firing else _stamp(now),
            "generatorURL": "http://prometheus.sandbox.invalid:9090/graph",
            "fingerprint": f"sandbox{team}"[:16],
        }],
    }
