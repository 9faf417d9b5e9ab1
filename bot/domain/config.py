"""What the config file describes, as plain types: teams, escalation, runbooks, heartbeats.

`bot/config.py` reads and validates `atbat.yml` into these; the domain and
everything above it use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Literal

from bot.domain.escalation import EscalationPolicy
from bot.domain.history import DEFAULT_HISTORY_DAYS, SleepHours
from bot.domain.paging import PagingPolicy, Person
from bot.domain.schedule import ActiveWindow, Rotation

APPROVALS = ("none", "oncall", "manager", "two-person")
Approval = Literal["none", "oncall", "manager", "two-person"]


@dataclass(frozen=True)
class ReportEvery:
    """A weekly instant in the team's timezone: `report: {every: mon 09:00}`."""

    weekday: int  # 0 = Monday
    at: time


@dataclass(frozen=True)
class AlertmanagerAuth:
    """Basic or bearer credentials; the secret itself stays in the environment."""

    type: Literal["basic", "bearer"]
    secret_env: str  # password (basic) or token (bearer)
    username: str = ""


@dataclass(frozen=True)
class AlertmanagerConfig:
    url: str  # base URL, e.g. http://alertmanager:9093 (the API is under /api/v2/)
    auth: AlertmanagerAuth | None = None


@dataclass(frozen=True)
class Heartbeat:
    """A dead man's switch: a monitor must beat within `timeout` or the team is paged."""

    name: str
    team: str
    timeout: timedelta
    token_env: str


@dataclass(frozen=True)
class Team:
    name: str
    channel: str
    managers: tuple[str, ...]
    rotations: tuple[Rotation, ...]
    escalation: EscalationPolicy
    timezone: str
    usergroup: str | None = None
    usergroup_layers: tuple[str, ...] = ()
    routing_key: str | None = None
    handoff_reminder: timedelta = timedelta(hours=12)
    incident_update_reminder: timedelta = timedelta(minutes=30)
    sleep_hours: SleepHours = SleepHours()
    sleep_budget: int = 2  # sleep-hour pages in a night before a cover request is offered
    report_every: ReportEvery | None = None  # when the team's report is posted by itself
    paging: PagingPolicy = PagingPolicy()
    alertmanager: AlertmanagerConfig | None = None  # the team's own, else the global one

    @property
    def members(self) -> frozenset[str]:
        return frozenset(m for r in self.rotations for m in r.members)

    def rotation(self, name: str) -> Rotation | None:
        return next((r for r in self.rotations if r.name == name), None)

    def is_manager(self, user: str) -> bool:
        return user in self.managers


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: Literal["str", "int"] = "str"
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    min: int | None = None
    max: int | None = None
    required: bool = True
    default: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Runbook:
    name: str
    description: str
    command: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    teams: tuple[str, ...]
    approval: Approval
    timeout: timedelta
    approval_ttl: timedelta = timedelta(minutes=15)
    workdir: str | None = None
    env: tuple[str, ...] = ()  # names of environment variables passed through

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class Matcher:
    """One `match:` entry of an automatic remediation rule: a label equal to `value`,
    or (`regex`) whose whole value matches it. A missing label counts as ""."""

    label: str
    value: str
    regex: bool = False


@dataclass(frozen=True)
class RunLimit:
    """`max_runs: 3 per 1h`."""

    count: int
    window: timedelta


@dataclass(frozen=True)
class AutoRule:
    """An `auto_remediation:` rule: run `runbook` when a matching alert of `team` fires.

    `params` maps each runbook parameter the rule sets to a template such as
    ``"{labels.instance}"``; the rendered values pass the runbook's own checks.
    The rule is the approval: `approved_by` names the managers who approved it
    when the runbook needs manager or two-person approval.
    """

    name: str
    team: str
    matchers: tuple[Matcher, ...]
    runbook: str
    params: tuple[tuple[str, str], ...] = ()
    page_after: timedelta = timedelta(minutes=5)
    max_runs: RunLimit = RunLimit(3, timedelta(hours=1))
    hours: ActiveWindow | None = None  # in the team's timezone; None: always
    approved_by: tuple[str, ...] = ()
    breaker_after: int = 3  # failed runs in a row that open the circuit breaker


@dataclass(frozen=True)
class Config:
    path: str
    timezone: str
    teams: Mapping[str, Team]
    runbooks: Mapping[str, Runbook] = field(default_factory=dict)
    history_days: int = DEFAULT_HISTORY_DAYS
    heartbeats: Mapping[str, Heartbeat] = field(default_factory=dict)
    people: Mapping[str, Person] = field(default_factory=dict)
    runbook_user: str = "nobody"  # the account runbooks run as when the worker is root
    auto_remediation: tuple[AutoRule, ...] = ()
    sha256: str = ""  # of the file as read: the audit names the config a rule came from
    suggest_rules_after: int = 5  # fixes in a row before a rule is suggested (0: never)

    def auto_rule(self, name: str) -> AutoRule | None:
        return next((a for a in self.auto_remediation if a.name == name), None)

    def person(self, user: str) -> Person:
        """What `user` set up in the config, or nothing but Slack."""
        return self.people.get(user) or Person(user)

    def team_for_channel(self, channel: str) -> Team | None:
        return next((t for t in self.teams.values() if t.channel == channel), None)

    def teams_of(self, user: str) -> list[Team]:
        """Teams where the user is a rotation member or a manager."""
        return [t for t in self.teams.values() if user in t.members or t.is_manager(user)]

    def team_for(self, channel: str, user: str, among: Iterable[Team] | None = None) -> Team | None:
        """The team an unnamed request is for: the channel's team, else the asker's only team.

        `among` narrows the candidates (a runbook's teams); then the asker's first
        team among them, else the first candidate, is taken rather than none.
        (The whole rule, with a named team first, is in bot/slack/arguments.py.)
        """
        candidates = list(self.teams.values() if among is None else among)
        here = self.team_for_channel(channel)
        if here in candidates:
            return here
        mine = [t for t in self.teams_of(user) if t in candidates]
        if among is not None:
            return (mine or candidates or [None])[0]
        return mine[0] if len(mine) == 1 else None
