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

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.domain.alerts import NO_CHANGE, SOURCE_ACTOR, AlertGroup, Change, record_transition
from bot.domain.config import AutoRule, Config, Runbook, RunLimit
from bot.domain.remediation import RunRequest
from bot.domain.runbooks import ParamError, build_argv, describe_argv, validate_params
from bot.domain.schedule import ActiveWindow
from bot.domain.timefmt import human_duration

# `{labels.instance}`, `{annotations.pod}`: the only placeholders a rule's params may use.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
REFERENCE = re.compile(r"(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)")
SOURCES = ("alertmanager", "events")  # a page sent from Slack by a person never self-heals
REQUESTER_PREFIX = "rule "  # a rule's run is requested and approved by "rule NAME"


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


# ---------------------------------------------------------------- one alert occurrence

HealState = Literal["running", "refused", "paged", "healed", "ended"]
PAUSE_REASON = "self-healing"  # AlertGroup.paused while a rule holds paging back


@dataclass(frozen=True)
class Healing:
    """What self-healing decided for one alert occurrence, and how it went.

    `running`: the rule's run was queued and paging waits until `page_at`;
    `refused`: nothing ran (`reason` says why) and paging started at once;
    `paged`: paging started (`reason`: still firing, or the run did not succeed);
    `healed`: the alert resolved before anyone was paged: a page saved;
    `ended`: it resolved after a failed run, unpaged (acknowledged meanwhile): no page saved.
    `outcome` is the run's final state once known ("succeeded", "failed", ...).
    """

    group: str
    occurrence: int
    team: str
    rule: str
    runbook: str
    state: HealState
    fired_at: datetime
    page_at: datetime
    run: str = ""
    reason: str = ""
    outcome: str = ""
    exit_code: int | None = None
    seconds: float | None = None
    config_sha256: str = ""

    @property
    def open(self) -> bool:
        """Still waiting for the run's outcome or for paging to start or not."""
        return self.state == "running" or (bool(self.run) and not self.outcome)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("fired_at", "page_at"):
            data[key] = getattr(self, key).isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Healing:
        data: dict[str, Any] = json.loads(raw)
        for key in ("fired_at", "page_at"):
            data[key] = datetime.fromisoformat(data[key])
        return cls(**{k: v for k, v in data.items() if k in _HEALING_FIELDS})


_HEALING_FIELDS = frozenset(Healing.__dataclass_fields__)


def refused(h: Healing, reason: str) -> Healing:
    """The record of an occurrence for which nothing runs: paging starts at once."""
    return replace(h, state="refused", reason=reason, run="")


def max_runs_reason(rule: str, done: int, limit: RunLimit) -> str:
    return (f"rule {rule} already ran {done} times in the last "
            f"{human_duration(limit.window)} (max_runs {limit.count})")


def locked_reason(holder: RunRequest) -> str:
    return f"run {holder.id} of {holder.runbook} with the same parameters is still {holder.state}"


def outcome_text(runbook: str, outcome: str, exit_code: int | None = None,
                 seconds: float | None = None, reason: str = "") -> str:
    """`restart-api failed (exit 1) after 4s`, for the thread, the page and the managers."""
    took = "" if seconds is None else human_duration(timedelta(seconds=seconds))
    if outcome == "succeeded":
        return f"{runbook} succeeded" + (f" in {took}" if took else "")
    words = {"failed": "failed", "timed_out": "timed out", "cancelled": "was cancelled",
             "lost": "was lost", "expired": "expired", "denied": "was denied"}
    text = f"{runbook} {words.get(outcome, outcome.replace('_', ' '))}"
    if outcome == "failed" and exit_code is not None:
        text += f" (exit {exit_code})"
    if took and outcome != "lost":
        text += f" after {took}"
    if reason and outcome in ("lost", "cancelled"):
        text += f" ({reason})"
    return text


def ran(h: Healing, outcome: str, exit_code: int | None, seconds: float | None) -> Healing | None:
    """The record once its run ended; None when that was recorded already."""
    if not h.run or h.outcome:
        return None
    return replace(h, outcome=outcome, exit_code=exit_code, seconds=seconds)


def paging_starts(h: Healing, reason: str) -> Healing | None:
    """Paging starts for this occurrence; None when it already had (or it was saved)."""
    if h.state != "running":
        return None
    return replace(h, state="paged", reason=reason)


def healed(h: Healing) -> Healing | None:
    """The alert resolved before anyone was paged (and the run did not fail): a page saved."""
    if h.state != "running" or (h.outcome and h.outcome != "succeeded"):
        return None
    return replace(h, state="healed")


def ended(h: Healing) -> Healing | None:
    """The alert resolved while the record still waited, and it was no page saved."""
    return replace(h, state="ended") if h.state == "running" else None


def hold_reason(h: Healing, run_state: str | None, now: datetime) -> str | None:
    """Why paging must start now, or None while the hold stands.

    `run_state` is the run request's state (None: the request is gone).
    """
    if run_state is None:
        return f"the run {h.run} of {h.runbook} is gone"
    if run_state in ("failed", "timed_out", "cancelled", "lost", "expired", "denied"):
        return outcome_text(h.runbook, run_state, h.exit_code, h.seconds)
    if h.page_at <= h.fired_at:
        return f"page_after is 0: paging at once while {h.runbook} runs"
    if now >= h.page_at:
        took = human_duration(h.page_at - h.fired_at)
        done = ("; " + outcome_text(h.runbook, run_state, h.exit_code, h.seconds)
                if run_state == "succeeded" else f"; {h.runbook} is still {run_state}")
        return f"still firing after {took}{done}"
    return None


_DATE_TOKEN = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def without_tokens(line: str) -> str:
    """The self-healing line for a push, SMS, e-mail or voice: Slack date tokens as their text."""
    return _DATE_TOKEN.sub(lambda m: m.group(1), line)


def note(group: AlertGroup | None, occurrence: int, text: str, line: str, now: datetime, *,
         pause: bool = False, resolved_ok: bool = False) -> tuple[AlertGroup | None, Change]:
    """Say `text` in the alert's thread and show `line` on its message (and pages).

    With `pause`, paging is held back (`paused` = "self-healing") in the same change.
    A note about another occurrence, or about a resolved group (unless `resolved_ok`),
    changes nothing.
    """
    if group is None or group.occurrence != occurrence or (not group.is_open and not resolved_ok):
        return group, NO_CHANGE
    if group.self_healing == line and not pause:
        return group, NO_CHANGE
    updates: dict[str, Any] = {"self_healing": line}
    kind = "healing"
    if pause:
        if group.state != "triggered" or group.paused is not None:
            return group, NO_CHANGE
        updates["paused"] = PAUSE_REASON
        kind = "paused"
    new = record_transition(group, now, SOURCE_ACTOR, kind, text, **updates)
    return new, Change(kind, text, rerender=True)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the circuit breaker


@dataclass(frozen=True)
class Breaker:
    """Failed runs in a row of one rule; open from `breaker_after` of them until a success
    or a manager's `/oncall autoremediation on`."""

    failures: int = 0
    open: bool = False
    opened_at: datetime | None = None

    def to_json(self) -> str:
        return json.dumps({"failures": self.failures, "open": self.open,
                           "opened_at": None if self.opened_at is None
                           else self.opened_at.isoformat()})

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> Breaker:
        if raw is None:
            return cls()
        data = json.loads(raw)
        opened = data.get("opened_at")
        return cls(int(data.get("failures", 0)), bool(data.get("open", False)),
                   None if opened is None else datetime.fromisoformat(opened))


def after_run(breaker: Breaker, succeeded: bool, threshold: int,
              now: datetime) -> tuple[Breaker, bool]:
    """The breaker after one run of its rule, and whether this run opened it."""
    if succeeded:
        return Breaker(), False
    failures = breaker.failures + 1
    opens = not breaker.open and failures >= threshold
    return Breaker(failures, breaker.open or opens, now if opens else breaker.opened_at), opens
