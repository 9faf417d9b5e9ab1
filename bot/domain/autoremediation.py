"""Automatic remediation ("self-healing"): which rule fires for an alert, and what it would run.

Pure: no Redis, no Slack, the clock is passed in. The rules come from the
config (`bot.domain.config.AutoRule`); the service (`bot.services.autoremediation`)
adds what lives in Redis: the kill switch, the circuit breaker, `max_runs`.

Label and annotation values are untrusted input. A rule's parameters are
rendered from them and then pass exactly the same typed validation as a
person's parameters (`bot.domain.runbooks.validate_params` and `build_argv`);
a value that is refused is never run, and the refusal is the reason the alert
pages at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.domain.alerts import AlertGroup
from bot.domain.config import AutoRule, Config, Runbook
from bot.domain.runbooks import ParamError, build_argv, describe_argv, validate_params
from bot.domain.schedule import ActiveWindow

# `{labels.instance}`, `{annotations.pod}`: the only placeholders a rule's params may use.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
REFERENCE = re.compile(r"(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)")
SOURCES = ("alertmanager", "events")  # a page sent from Slack by a person never self-heals


@dataclass(frozen=True)
class AlertFacts:
    """What a rule looks at: the alert's team, labels and annotations."""

    team: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    source: str = "alertmanager"


@dataclass(frozen=True)
class Plan:
    """What would happen for an alert: the rule that fires and its exact argv, or why not.

    `rule` is None when no rule applies (nothing runs, paging as usual). With a
    rule, `refused` is empty and `argv` is what runs, or `refused` says why this
    alert pages at once instead. `notes` say, per rule of the team, why it did not apply.
    """

    rule: AutoRule | None = None
    runbook: Runbook | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    refused: str = ""
    notes: tuple[str, ...] = ()

    @property
    def runs(self) -> bool:
        return self.rule is not None and not self.refused

    def describe(self) -> str:
        """One line for people: what runs, or why nothing does."""
        if self.rule is None:
            why = "; ".join(self.notes) or "no auto_remediation rule for this team"
            return f"No rule fires ({why}): paging as usual."
        if self.refused:
            return f"Rule {self.rule.name} matches but will not run: {self.refused}"
        return f"Rule {self.rule.name} runs {self.rule.runbook}: {describe_argv(self.argv)}"


def template_error(template: str) -> str | None:
    """Why a rule's parameter template is not allowed (the config loader reports it), or None."""
    for used in PLACEHOLDER.findall(template):
        if not REFERENCE.fullmatch(used):
            return (f'uses "{{{used}}}"; expected placeholders like {{labels.instance}} or '
                    "{annotations.pod}")
    if "{" in PLACEHOLDER.sub("", template) or "}" in PLACEHOLDER.sub("", template):
        return "has an unmatched { or }"
    return None


def facts_of(group: AlertGroup) -> AlertFacts:
    """The labels and annotations every firing alert of the group shares (all alerts once
    none fires), over the labels the group shows; so `alertname` and `severity` match too."""
    alerts = [a for a in group.alerts.values() if a.status == "firing"] or list(group.alerts.values())
    labels = _common([a.labels for a in alerts])
    annotations = _common([a.annotations for a in alerts])
    return AlertFacts(team=group.team, labels={**group.labels, **labels},
                      annotations=annotations, source=group.source)


def _common(maps: list[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def match(rule: AutoRule, alert: AlertFacts) -> bool:
    """Does the alert's team and every matcher of the rule hold (hours aside)?"""
    if alert.team != rule.team or alert.source not in SOURCES:
        return False
    for m in rule.matchers:
        value = alert.labels.get(m.label, "")
        if m.regex:
            if not re.fullmatch(m.value, value):
                return False
        elif value != m.value:
            return False
    return True


def within_hours(window: ActiveWindow | None, now: datetime, tz: str) -> bool:
    """Inside the rule's `hours` (local wall clock in `tz`); a window with `to` before
    `from` crosses midnight and belongs to the day it starts on."""
    if window is None:
        return True
    local = now.astimezone(ZoneInfo(tz))
    clock: time = local.time().replace(tzinfo=None)
    day = local.weekday()
    if window.start < window.end:
        return day in window.days and window.start <= clock < window.end
    return ((day in window.days and clock >= window.start)
            or ((day - 1) % 7 in window.days and clock < window.end))


def render_params(rule: AutoRule, alert: AlertFacts) -> dict[str, str]:
    """The rule's parameter templates filled from the alert, before validation.

    Raises ParamError when a template names a label or annotation the alert lacks.
    """
    values: dict[str, str] = {}
    for name, template in rule.params:
        def one(m: re.Match[str], name: str = name) -> str:
            kind, key = m.group(1).split(".", 1)
            source = alert.labels if kind == "labels" else alert.annotations
            if key not in source:
                raise ParamError(f"Parameter `{name}` takes {{{m.group(1)}}}, which this alert "
                                 "does not have.")
            return str(source[key])
        values[name] = PLACEHOLDER.sub(one, template)
    return values


def plan(config: Config, alert: AlertFacts, now: datetime) -> Plan:
    """Which rule fires for `alert` at `now`, and the exact argv or why it will not run.

    The first rule of the alert's team (in file order) that matches and applies at
    this hour fires. Its parameters pass the runbook's typed validation exactly
    as a person's would; a refusal means the alert pages at once with that reason.
    Redis state (kill switch, breaker, max_runs) is the service's to add.
    """
    notes: list[str] = []
    team = config.teams.get(alert.team or "")
    for rule in config.auto_remediation:
        if rule.team != alert.team:
            continue
        if not match(rule, alert):
            notes.append(f"{rule.name}: labels do not match")
            continue
        if team is not None and not within_hours(rule.hours, now, team.timezone):
            notes.append(f"{rule.name}: outside its hours")
            continue
        return _fire(config, rule, alert, tuple(notes))
    return Plan(notes=tuple(notes))


def _fire(config: Config, rule: AutoRule, alert: AlertFacts, notes: tuple[str, ...]) -> Plan:
    runbook = config.runbooks.get(rule.runbook)
    if runbook is None:  # the loader refuses this; a hand-built config may not
        return Plan(rule=rule, refused=f"runbook {rule.runbook} is not in the config", notes=notes)
    try:
        params = validate_params(runbook, render_params(rule, alert))
        argv = build_argv(runbook, params)
    except ParamError as exc:
        return Plan(rule=rule, runbook=runbook, refused=exc.message, notes=notes)
    return Plan(rule=rule, runbook=runbook, params=params, argv=argv, notes=notes)
