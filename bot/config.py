"""The `atbat.yml` loader: teams, rotations, escalation and runbooks, read into the
types of `bot.domain.config`.

Validation is strict and up front. Every error names the file, the key path
and what was expected, e.g.::

    atbat.yml: teams.payments.rotations[0].shift: expected a duration like 12h, 1d or 1w, got "weekly"

Unknown keys are errors: a typo must never silently disable a rotation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.domain.autoremediation import PLACEHOLDER, template_error
from bot.domain.config import (
    APPROVALS,
    AlertmanagerAuth,
    AlertmanagerConfig,
    AutoRule,
    Config,
    Heartbeat,
    Matcher,
    ParamSpec,
    ReportEvery,
    Runbook,
    RunLimit,
    Team,
)
from bot.domain.escalation import EscalationPolicy, EscalationStep
from bot.domain.history import DEFAULT_HISTORY_DAYS, SleepHours
from bot.domain.paging import (
    METHODS,
    URGENCIES,
    ContactMethod,
    PagingPolicy,
    Person,
    RuleStep,
    Urgency,
    WorkingHours,
    contact_target,
    parse_rule,
    parse_working_hours,
)
from bot.domain.runbooks import ParamError, check_default
from bot.domain.schedule import ActiveWindow, Rotation

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_DURATION_PART = re.compile(r"(\d+)(w|d|h|m|s)")
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# atbat's own secrets and settings: a runbook's `env` may never pass them through.
_RESERVED_ENV = re.compile(r"^(SLACK_.*|REDIS_URL|ATBAT_.*)$")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$")


class ConfigError(Exception):
    """One precise problem in the config file; str() is the line to show."""


# ---------------------------------------------------------------- parsing


def parse_duration(text: str) -> timedelta:
    """`90s`, `10m`, `12h`, `1d`, `2w`, or combinations such as `1h30m`."""
    text = text.strip().lower()
    if not _DURATION.match(text):
        raise ValueError(text)
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text)))


class _Reader:
    """Walks the YAML tree keeping the key path for error messages."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, path: str, expected: str, got: Any = ...) -> ConfigError:
        where = f"{self.filename}: {path}" if path else self.filename
        message = f"{where}: {expected}"
        if got is not ...:
            message += f", got {_show(got)}"
        return ConfigError(message)

    def mapping(
        self, value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping of keys", value)
        allowed = required + optional
        for key in value:
            if key not in allowed:
                raise self.fail(
                    _join(path, str(key)),
                    f"unknown key (expected one of: {', '.join(allowed)})",
                )
        for key in required:
            if key not in value or value[key] is None:
                raise self.fail(_join(path, key), "is required")
        return value

    def string(self, value: Any, path: str, what: str = "a string") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected {what}", value)
        return value.strip()

    def matching(self, value: Any, path: str, regex: re.Pattern[str], what: str) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise self.fail(path, f"expected {what}", value)
        return value

    def id_list(self, value: Any, path: str, regex: re.Pattern[str], what: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of {what}", value)
        ids = tuple(self.matching(v, f"{path}[{i}]", regex, what) for i, v in enumerate(value))
        seen: set[str] = set()
        for i, v in enumerate(ids):
            if v in seen:
                raise self.fail(f"{path}[{i}]", f"{v} is listed twice")
            seen.add(v)
        return ids

    def duration(self, value: Any, path: str) -> timedelta:
        try:
            if not isinstance(value, str):
                raise ValueError
            result = parse_duration(value)
        except ValueError:
            raise self.fail(path, "expected a duration like 12h, 1d or 1w", value) from None
        if result <= timedelta(0) and path.endswith(("shift", "timeout")):
            raise self.fail(path, "expected a duration greater than zero", value)
        return result

    def timezone(self, value: Any, path: str) -> str:
        name = self.string(value, path, "an IANA timezone like Europe/Berlin")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(path, "expected an IANA timezone like Europe/Berlin", value) from None
        return name

    def integer(self, value: Any, path: str, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, "expected a whole number", value)
        if minimum is not None and value < minimum:
            raise self.fail(path, f"expected a whole number of at least {minimum}", value)
        return value

    def clock(self, value: Any, path: str) -> time:
        try:
            if not isinstance(value, str):
                raise ValueError
            return time.fromisoformat(value)
        except ValueError:
            raise self.fail(path, 'expected a time of day like "09:00"', value) from None

    def local_datetime(self, value: Any, path: str) -> datetime:
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                raise self.fail(path, "expected a local time without offset like 2026-11-02T09:00 "
                                "(the rotation's timezone applies)", value)
            return value
        if isinstance(value, date):
            return datetime.combine(value, time(0))
        try:
            if not isinstance(value, str):
                raise ValueError
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise self.fail(path, "expected a date and time like 2026-11-02T09:00", value) from None
        if parsed.tzinfo is not None:
            raise self.fail(path, "expected a local time without offset like 2026-11-02T09:00 "
                            "(the rotation's timezone applies)", value)
        return parsed


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _rotation(r: _Reader, raw: Any, path: str, default_tz: str) -> Rotation:
    data = r.mapping(raw, path, ("name", "members", "start", "shift"), ("timezone", "active"))
    name = r.matching(data["name"], f"{path}.name", _NAME,
                      "a layer name of lowercase letters, digits, - or _")
    members = r.id_list(data["members"], f"{path}.members", _USER_ID, "Slack user IDs like U0ALICE")
    tz = r.timezone(data["timezone"], f"{path}.timezone") if "timezone" in data else default_tz
    start = r.local_datetime(data["start"], f"{path}.start")
    shift = r.duration(data["shift"], f"{path}.shift")
    if shift % timedelta(hours=1):
        raise r.fail(f"{path}.shift", "expected a whole number of hours like 8h, 12h, 1d or 1w",
                     data["shift"])
    active = None
    if data.get("active") is not None:
        active = _hours(r, data["active"], f"{path}.active")
    return Rotation(name=name, members=members, start=start, shift=shift, timezone=tz,
                    active=active)


def _escalation(r: _Reader, raw: Any, path: str, layers: tuple[str, ...]) -> EscalationPolicy:
    data = r.mapping(raw, path, ("steps",), ("repeat",))
    steps_raw = data["steps"]
    if not isinstance(steps_raw, list) or not steps_raw:
        raise r.fail(f"{path}.steps", "expected a non-empty list of steps", steps_raw)
    steps: list[EscalationStep] = []
    targets = (*layers, "managers", "channel")
    for i, raw_step in enumerate(steps_raw):
        spath = f"{path}.steps[{i}]"
        step = r.mapping(raw_step, spath, ("after", "notify"), ())
        after = r.duration(step["after"], f"{spath}.after")
        if steps and after < steps[-1].after:
            raise r.fail(f"{spath}.after", f"expected at least {steps[-1].after} (steps are "
                         "in order, `after` counts from when the alert fired)", step["after"])
        notify = step["notify"]
        if notify not in targets:
            raise r.fail(f"{spath}.notify", "expected one of: " + ", ".join(targets), notify)
        steps.append(EscalationStep(after=after, notify=notify))
    repeat = r.integer(data.get("repeat", 0), f"{path}.repeat", minimum=0)
    return EscalationPolicy(steps=tuple(steps), repeat=repeat)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AUTH_TYPES = ("basic", "bearer")


def _alertmanager(r: _Reader, raw: Any, path: str) -> AlertmanagerConfig:
    data = r.mapping(raw, path, ("url",), ("auth",))
    url = r.string(data["url"], f"{path}.url", "an http(s) URL like http://alertmanager:9093")
    if not re.match(r"^https?://[^\s/@]+(:\d+)?(/\S*)?$", url):
        raise r.fail(f"{path}.url", "expected an http(s) URL like http://alertmanager:9093 "
                     "(credentials go under auth, never in the URL)", url)
    if data.get("auth") is None:
        return AlertmanagerConfig(url=url.rstrip("/"))
    apath = f"{path}.auth"
    auth = r.mapping(data["auth"], apath, ("type",), ("username", "password_env", "token_env"))
    kind = auth["type"]
    if kind not in _AUTH_TYPES:
        raise r.fail(f"{apath}.type", "expected basic or bearer", kind)
    if kind == "basic":
        r.mapping(auth, apath, ("type", "username", "password_env"), ())
        username = r.string(auth["username"], f"{apath}.username")
        secret = r.matching(auth["password_env"], f"{apath}.password_env", _ENV_NAME,
                            "the name of an environment variable holding the password")
        return AlertmanagerConfig(url.rstrip("/"), AlertmanagerAuth("basic", secret, username))
    r.mapping(auth, apath, ("type", "token_env"), ())
    secret = r.matching(auth["token_env"], f"{apath}.token_env", _ENV_NAME,
                        "the name of an environment variable holding the token")
    return AlertmanagerConfig(url.rstrip("/"), AlertmanagerAuth("bearer", secret))


def _heartbeat(r: _Reader, name: Any, raw: Any, teams: Mapping[str, Team]) -> Heartbeat:
    path = f"heartbeats.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise r.fail(path, "expected a heartbeat name of lowercase letters, digits, - or _", name)
    data = r.mapping(raw, path, ("team", "timeout", "token_env"), ())
    team = data["team"]
    if team not in teams:
        raise r.fail(f"{path}.team", "expected a team defined under teams: "
                     + ", ".join(sorted(teams)), team)
    timeout = r.duration(data["timeout"], f"{path}.timeout")
    token_env = r.matching(data["token_env"], f"{path}.token_env", _ENV_NAME,
                           "the name of an environment variable holding the token")
    return Heartbeat(name=name, team=team, timeout=timeout, token_env=token_env)


def _team(r: _Reader, name: str, raw: Any, default_tz: str) -> Team:
    path = f"teams.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise r.fail(path, "expected a team name of lowercase letters, digits, - or _", name)
    data = r.mapping(
        raw, path, ("channel", "rotations"),
        ("managers", "usergroup", "usergroup_layers", "escalation", "timezone", "routing_key",
         "handoff_reminder", "incident_update_reminder", "sleep_hours", "sleep_budget",
         "report", "urgency", "notification_rules", "working_hours", "ack_timeout",
         "alertmanager"),
    )
    tz = r.timezone(data["timezone"], f"{path}.timezone") if "timezone" in data else default_tz
    channel = r.matching(data["channel"], f"{path}.channel", _CHANNEL_ID,
                         "a Slack channel ID like C0PAYMENTS")
    managers = r.id_list(data.get("managers", []), f"{path}.managers", _USER_ID,
                         "Slack user IDs like U0MANAGER")
    rotations_raw = data["rotations"]
    if not isinstance(rotations_raw, list) or not rotations_raw:
        raise r.fail(f"{path}.rotations", "expected a non-empty list of rotations", rotations_raw)
    rotations = tuple(
        _rotation(r, raw_rot, f"{path}.rotations[{i}]", tz) for i, raw_rot in enumerate(rotations_raw)
    )
    names = [rot.name for rot in rotations]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise r.fail(f"{path}.rotations[{i}].name", f'layer "{n}" is defined twice')
    layers = tuple(names)
    if "escalation" in data:
        escalation = _escalation(r, data["escalation"], f"{path}.escalation", layers)
    else:
        escalation = EscalationPolicy(steps=(EscalationStep(timedelta(0), layers[0]),), repeat=0)
    usergroup = None
    if data.get("usergroup") is not None:
        usergroup = r.matching(data["usergroup"], f"{path}.usergroup", _USERGROUP_ID,
                               "a Slack user group ID like S0PAYONCALL")
    ug_layers: tuple[str, ...] = layers
    if data.get("usergroup_layers") is not None:
        raw_layers = data["usergroup_layers"]
        if not isinstance(raw_layers, list) or not raw_layers:
            raise r.fail(f"{path}.usergroup_layers", "expected a list of layer names", raw_layers)
        for i, layer in enumerate(raw_layers):
            if layer not in layers:
                raise r.fail(f"{path}.usergroup_layers[{i}]",
                             "expected one of the team's layers: " + ", ".join(layers), layer)
        ug_layers = tuple(raw_layers)
    routing_key = None
    if data.get("routing_key") is not None:
        routing_key = r.string(data["routing_key"], f"{path}.routing_key")
        if len(routing_key) < 16:
            raise r.fail(f"{path}.routing_key", "expected a secret of at least 16 characters")
    team = Team(
        name=name, channel=channel, managers=managers, rotations=rotations,
        escalation=escalation, timezone=tz, usergroup=usergroup, usergroup_layers=ug_layers,
        routing_key=routing_key,
    )
    if data.get("alertmanager") is not None:
        team = replace(team, alertmanager=_alertmanager(r, data["alertmanager"],
                                                        f"{path}.alertmanager"))
    for key in ("handoff_reminder", "incident_update_reminder"):
        if data.get(key) is not None:
            team = replace(team, **{key: r.duration(data[key], f"{path}.{key}")})
    if data.get("sleep_hours") is not None:
        team = replace(team, sleep_hours=_sleep_hours(r, data["sleep_hours"], f"{path}.sleep_hours"))
    if data.get("sleep_budget") is not None:
        team = replace(team, sleep_budget=r.integer(data["sleep_budget"], f"{path}.sleep_budget",
                                                    minimum=1))
    if data.get("report") is not None:
        team = replace(team, report_every=_report_every(r, data["report"], f"{path}.report"))
    return replace(team, paging=_paging_policy(r, data, path))


def _paging_policy(r: _Reader, data: Mapping[str, Any], path: str) -> PagingPolicy:
    policy = PagingPolicy()
    if data.get("urgency") is not None:
        policy = replace(policy, urgency=_urgency(r, data["urgency"], f"{path}.urgency"))
    if data.get("notification_rules") is not None:
        rules = _rules(r, data["notification_rules"], f"{path}.notification_rules")
        policy = replace(policy, rules={**policy.rules, **rules})
    if data.get("working_hours") is not None:
        policy = replace(policy, working_hours=_working_hours(r, data["working_hours"],
                                                              f"{path}.working_hours"))
    if data.get("ack_timeout") is not None:
        policy = replace(policy, ack_timeout=r.duration(data["ack_timeout"], f"{path}.ack_timeout"))
    return policy


def _urgency(r: _Reader, raw: Any, path: str) -> dict[Urgency, tuple[str, ...]]:
    data = r.mapping(raw, path, (), URGENCIES)
    mapping: dict[Urgency, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for urgency in URGENCIES:
        values = data.get(urgency) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise r.fail(f"{path}.{urgency}", "expected a list of severities like [critical, error]", values)
        for i, severity in enumerate(values):
            if severity in seen:
                raise r.fail(f"{path}.{urgency}[{i}]", f"{severity} is already {seen[severity]} urgency")
            seen[severity] = urgency
        mapping[urgency] = tuple(values)
    return mapping


def _rules(r: _Reader, raw: Any, path: str) -> dict[Urgency, tuple[RuleStep, ...]]:
    data = r.mapping(raw, path, (), URGENCIES)
    rules: dict[Urgency, tuple[RuleStep, ...]] = {}
    for urgency in URGENCIES:
        if data.get(urgency) is None:
            continue
        value = data[urgency]
        if not isinstance(value, str | list):
            raise r.fail(f"{path}.{urgency}", 'expected steps like "0m slack, 1m push, 3m call"', value)
        try:
            rules[urgency] = parse_rule(value)
        except ValueError as exc:
            raise r.fail(f"{path}.{urgency}", str(exc)) from None
    return rules


def _working_hours(r: _Reader, raw: Any, path: str) -> WorkingHours:
    data = r.mapping(raw, path, (), ("days", "from", "to"))
    try:
        return parse_working_hours(data)
    except ValueError as exc:
        raise r.fail(path, str(exc)) from None


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(r: _Reader, value: str, path: str, environ: Mapping[str, str]) -> str:
    """`${VAR}` references replaced from the environment, so secrets never sit in the file."""
    def one(m: re.Match[str]) -> str:
        if m[1] not in environ:
            raise r.fail(path, f"refers to ${{{m[1]}}}, which is not set in the environment")
        return environ[m[1]]
    return _ENV_REF.sub(one, value)


def _person(r: _Reader, user: Any, raw: Any, environ: Mapping[str, str]) -> Person:
    path = f"people.{user}"
    r.matching(user, path, _USER_ID, "a Slack user ID like U0ALICE")
    data = r.mapping(raw, path, (), ("timezone", "contacts", "notification_rules", "working_hours"))
    contacts: list[ContactMethod] = []
    raw_contacts = r.mapping(data.get("contacts") or {}, f"{path}.contacts", (),
                             tuple(m for m in METHODS if m != "slack"))
    for method, value in raw_contacts.items():
        where = f"{path}.contacts.{method}"
        written = r.string(value, where)
        target = _expand_env(r, written, where, environ)
        contacts.append(ContactMethod(method, _contact_target(r, method, target, written, where),
                                      verified=True, from_config=True))
    person = Person(user=user, contacts=tuple(contacts))
    if data.get("timezone") is not None:
        person = replace(person, timezone=r.timezone(data["timezone"], f"{path}.timezone"))
    if data.get("notification_rules") is not None:
        rules = _rules(r, data["notification_rules"], f"{path}.notification_rules")
        for urgency, steps in rules.items():
            for i, step in enumerate(steps):
                if person.contact(step.method) is None:
                    raise r.fail(f"{path}.notification_rules.{urgency}",
                                 f"step {i + 1} uses {step.method}, but contacts has no {step.method}")
        person = replace(person, rules=rules)
    if data.get("working_hours") is not None:
        person = replace(person, working_hours=_working_hours(r, data["working_hours"],
                                                              f"{path}.working_hours"))
    return person


def _contact_target(r: _Reader, method: str, target: str, written: str, path: str) -> str:
    """A phone number in E.164 for call and plain sms; a known Apprise URL or an address otherwise.

    Errors quote the value as written, so a secret from the environment is never shown.
    """
    try:
        return contact_target(method, target, _apprise_knows)
    except ValueError as exc:
        raise r.fail(path, str(exc).replace(repr(target.strip()), _show(written))) from None


def _apprise_knows(url: str) -> bool:
    # Apprise and Twilio take half a second to import: only configs with Apprise URLs pay it.
    from bot.providers import apprise_service

    return apprise_service(url) is not None


def _sleep_hours(r: _Reader, raw: Any, path: str) -> SleepHours:
    data = r.mapping(raw, path, ("from", "to"), ())
    start, end = r.clock(data["from"], f"{path}.from"), r.clock(data["to"], f"{path}.to")
    if start == end:
        raise r.fail(f"{path}.to", "expected a time different from `from`", data["to"])
    return SleepHours(start, end)


def _report_every(r: _Reader, raw: Any, path: str) -> ReportEvery:
    data = r.mapping(raw, path, ("every",), ())
    words = data["every"].split() if isinstance(data["every"], str) else []
    if len(words) != 2 or words[0].lower()[:3] not in WEEKDAYS:
        raise r.fail(f"{path}.every", 'expected a weekday and a time like "mon 09:00"', data["every"])
    return ReportEvery(WEEKDAYS.index(words[0].lower()[:3]), r.clock(words[1], f"{path}.every"))


_PARAM_TYPES = ("str", "int")


def _param(r: _Reader, name: str, raw: Any, path: str) -> ParamSpec:
    if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]{0,31}$", name):
        raise r.fail(path, "expected a parameter name of lowercase letters, digits or _", name)
    data = r.mapping(raw if raw is not None else {}, path, (),
                     ("type", "choices", "pattern", "min", "max", "required", "default",
                      "description"))
    kind = data.get("type", "int" if ("min" in data or "max" in data) else "str")
    if kind not in _PARAM_TYPES:
        raise r.fail(f"{path}.type", "expected str or int", kind)
    choices = None
    if "choices" in data:
        raw_choices = data["choices"]
        if not isinstance(raw_choices, list) or not raw_choices:
            raise r.fail(f"{path}.choices", "expected a non-empty list", raw_choices)
        choices = tuple(str(c) for c in raw_choices)
    pattern = None
    if "pattern" in data:
        pattern = r.string(data["pattern"], f"{path}.pattern", "a regular expression")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.fail(f"{path}.pattern", f"expected a valid regular expression ({exc})",
                         pattern) from None
    bounds = {}
    for key in ("min", "max"):
        if key in data:
            if kind != "int":
                raise r.fail(f"{path}.{key}", "only applies to parameters of type int")
            bounds[key] = r.integer(data[key], f"{path}.{key}")
    if kind == "str" and choices is None and pattern is None:
        raise r.fail(path, "expected `choices` or `pattern` (free text is never passed to a "
                     "command)")
    required = data.get("required", "default" not in data)
    if not isinstance(required, bool):
        raise r.fail(f"{path}.required", "expected true or false", required)
    default = None if data.get("default") is None else str(data["default"])
    spec = ParamSpec(name=name, type=kind, choices=choices, pattern=pattern,
                     min=bounds.get("min"), max=bounds.get("max"), required=required,
                     default=default, description=str(data.get("description", "")))
    if default is not None:
        try:
            spec = replace(spec, default=check_default(spec))
        except ParamError as exc:
            raise r.fail(f"{path}.default", f"expected a default that passes its own rules ({exc.message})",
                         data["default"]) from None
    return spec


def _runbook(r: _Reader, name: str, raw: Any, teams: Mapping[str, Team]) -> Runbook:
    path = f"runbooks.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise r.fail(path, "expected a runbook name of lowercase letters, digits, - or _", name)
    data = r.mapping(raw, path, ("command", "teams", "approval"),
                     ("description", "params", "timeout", "approval_ttl", "workdir", "env"))
    command = data["command"]
    if not isinstance(command, list) or not command:
        raise r.fail(f"{path}.command", "expected a list of arguments like [systemctl, restart, "
                     '"{service}"] (never a shell string)', command)
    argv = []
    for i, arg in enumerate(command):
        if isinstance(arg, bool) or not isinstance(arg, (str, int, float)):
            raise r.fail(f"{path}.command[{i}]", "expected a string", arg)
        argv.append(str(arg))
    params_raw = data.get("params") or {}
    if not isinstance(params_raw, dict):
        raise r.fail(f"{path}.params", "expected a mapping of parameter names", params_raw)
    params = tuple(_param(r, k, v, f"{path}.params.{k}") for k, v in params_raw.items())
    declared = {p.name for p in params}
    for i, arg in enumerate(argv):
        for used in re.findall(r"\{([^{}]*)\}", arg):
            if used not in declared:
                raise r.fail(f"{path}.command[{i}]", f'uses "{{{used}}}" but params declares '
                             + (", ".join(sorted(declared)) or "nothing"))
    for i, arg in enumerate(argv):
        whole = re.fullmatch(r"\{([^{}]*)\}", arg)
        spec = next((p for p in params if whole and p.name == whole.group(1)), None)
        if spec is not None and not spec.required and spec.default is None:
            # Dropping the element would shift every argument after it.
            raise r.fail(f"{path}.params.{spec.name}", f"expected a default: it fills command[{i}] on its "
                         "own, so leaving it out would shift the arguments after it")
    team_names = r.id_list(data["teams"], f"{path}.teams", re.compile(r".+"), "team names")
    for i, t in enumerate(team_names):
        if t not in teams:
            raise r.fail(f"{path}.teams[{i}]", "expected a team defined under teams: "
                         + ", ".join(sorted(teams)), t)
    approval = data["approval"]
    if approval not in APPROVALS:
        raise r.fail(f"{path}.approval", "expected one of: " + ", ".join(APPROVALS), approval)
    timeout = r.duration(data.get("timeout", "60s"), f"{path}.timeout")
    ttl = r.duration(data.get("approval_ttl", "15m"), f"{path}.approval_ttl")
    workdir = None
    if data.get("workdir") is not None:
        workdir = r.string(data["workdir"], f"{path}.workdir", "a directory path")
    env_names = r.id_list(data.get("env", []), f"{path}.env", re.compile(r"^[A-Z_][A-Z0-9_]*$"),
                          "environment variable names")
    for i, env_name in enumerate(env_names):
        if _RESERVED_ENV.match(env_name):
            raise r.fail(f"{path}.env[{i}]", "expected a variable other than atbat's own secrets and "
                         "settings (SLACK_*, REDIS_URL, ATBAT_*)", env_name)
    return Runbook(name=name, description=str(data.get("description", "")), command=tuple(argv),
                   params=params, teams=team_names, approval=approval, timeout=timeout,
                   approval_ttl=ttl, workdir=workdir, env=env_names)


_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_RUNS = re.compile(r"^\s*(\d+)\s+per\s+(\S+)\s*$")


def _auto_rule(r: _Reader, i: int, raw: Any, teams: Mapping[str, Team],
               runbooks: Mapping[str, Runbook]) -> AutoRule:
    path = f"auto_remediation[{i}]"
    data = r.mapping(raw, path, ("name", "team", "match", "runbook"),
                     ("params", "page_after", "max_runs", "hours", "approved_by", "breaker_after"))
    name = r.matching(data["name"], f"{path}.name", _NAME,
                      "a rule name of lowercase letters, digits, - or _")
    team_name = data["team"]
    if team_name not in teams:
        raise r.fail(f"{path}.team", "expected a team defined under teams: " + ", ".join(sorted(teams)),
                     team_name)
    team = teams[team_name]
    matchers = _matchers(r, data["match"], f"{path}.match")
    runbook = runbooks.get(data["runbook"]) if isinstance(data["runbook"], str) else None
    if runbook is None:
        raise r.fail(f"{path}.runbook", "expected a runbook defined under runbooks: "
                     + (", ".join(sorted(runbooks)) or "none is"), data["runbook"])
    if team.name not in runbook.teams:
        raise r.fail(f"{path}.runbook", f"runbook {runbook.name} may only be asked for by "
                     f"{', '.join(runbook.teams)}, not by team {team.name}")
    params = _auto_params(r, data.get("params") or {}, f"{path}.params", runbook)
    page_after = _page_after(r, data.get("page_after", "5m"), f"{path}.page_after")
    max_runs = _max_runs(r, data.get("max_runs", "3 per 1h"), f"{path}.max_runs")
    hours = _hours(r, data["hours"], f"{path}.hours") if data.get("hours") is not None else None
    approved_by = _approved_by(r, data.get("approved_by"), f"{path}.approved_by", runbook, team)
    breaker = r.integer(data.get("breaker_after", 3), f"{path}.breaker_after", minimum=1)
    return AutoRule(name=name, team=team.name, matchers=matchers, runbook=runbook.name,
                    params=params, page_after=page_after, max_runs=max_runs, hours=hours,
                    approved_by=approved_by, breaker_after=breaker)


def _matchers(r: _Reader, raw: Any, path: str) -> tuple[Matcher, ...]:
    if not isinstance(raw, dict) or not raw:
        raise r.fail(path, "expected a mapping of labels, e.g. {alertname: ApiDown, "
                     'instance: {regex: "api-[0-9]+"}}', raw)
    matchers = []
    for label, value in raw.items():
        where = _join(path, str(label))
        r.matching(label, where, _LABEL, "a label name of letters, digits or _")
        if isinstance(value, dict):
            pattern = r.mapping(value, where, ("regex",), ())["regex"]
            pattern = r.string(pattern, f"{where}.regex", "a regular expression")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise r.fail(f"{where}.regex", f"expected a valid regular expression ({exc})",
                             pattern) from None
            matchers.append(Matcher(label, pattern, regex=True))
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            matchers.append(Matcher(label, str(value)))
        else:
            raise r.fail(where, 'expected a value to equal, or {regex: "..."}', value)
    return tuple(matchers)


def _auto_params(r: _Reader, raw: Any, path: str, runbook: Runbook) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise r.fail(path, "expected a mapping of the runbook's parameters", raw)
    params = []
    for key, value in raw.items():
        where = _join(path, str(key))
        if runbook.param(str(key)) is None:
            raise r.fail(where, f"runbook {runbook.name} has no such parameter (its parameters: "
                         + (", ".join(p.name for p in runbook.params) or "none") + ")")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise r.fail(where, 'expected a value or a template like "{labels.instance}"', value)
        template = str(value)
        problem = template_error(template)
        if problem:
            raise r.fail(where, problem)
        params.append((str(key), template))
    for spec in runbook.params:
        if spec.required and spec.default is None and spec.name not in raw:
            raise r.fail(path, f"expected a value for {spec.name} (runbook {runbook.name} needs it), "
                         'e.g. "{labels.' + spec.name + '}"')
    for key, template in params:
        why = "" if PLACEHOLDER.search(template) else _refused(runbook, key, template)
        if why:
            raise r.fail(_join(path, key), f"expected a value the runbook accepts ({why})", template)
    return tuple(params)


def _refused(runbook: Runbook, name: str, value: str) -> str:
    """Why the runbook refuses `value` for parameter `name` on its own, or ""."""
    spec = runbook.param(name)
    if spec is None:
        return ""
    try:
        check_default(replace(spec, default=value))
    except ParamError as exc:
        return exc.message
    return ""


def _page_after(r: _Reader, value: Any, path: str) -> timedelta:
    if value == 0 or value == "0":
        return timedelta(0)
    return r.duration(value, path)


def _max_runs(r: _Reader, value: Any, path: str) -> RunLimit:
    found = _MAX_RUNS.match(value) if isinstance(value, str) else None
    if found is None:
        raise r.fail(path, 'expected a number of runs per window like "3 per 1h"', value)
    window = r.duration(found.group(2), path)
    count = int(found.group(1))
    if count < 1 or window <= timedelta(0):
        raise r.fail(path, "expected at least 1 run per window longer than zero", value)
    return RunLimit(count, window)


def _hours(r: _Reader, raw: Any, path: str) -> ActiveWindow:
    """Days and a from/to clock window: a rotation's `active:`, a rule's `hours:`."""
    a = r.mapping(raw, path, ("from", "to"), ("days",))
    days = a.get("days", list(WEEKDAYS))
    if not isinstance(days, list) or not days:
        raise r.fail(f"{path}.days", "expected a list of weekdays like [mon, tue]", days)
    numbers = []
    for i, d in enumerate(days):
        if not isinstance(d, str) or d.lower()[:3] not in WEEKDAYS:
            raise r.fail(f"{path}.days[{i}]", "expected a weekday: " + ", ".join(WEEKDAYS), d)
        numbers.append(WEEKDAYS.index(d.lower()[:3]))
    begin, end = r.clock(a["from"], f"{path}.from"), r.clock(a["to"], f"{path}.to")
    if begin == end:
        raise r.fail(f"{path}.to", "expected a time different from `from`", a["to"])
    return ActiveWindow(days=frozenset(numbers), start=begin, end=end)


def _approved_by(r: _Reader, raw: Any, path: str, runbook: Runbook, team: Team) -> tuple[str, ...]:
    """A rule is the approval: a runbook that needs a manager (or two people) names them here."""
    approvers = () if raw is None else r.id_list(raw, path, _USER_ID, "Slack user IDs like U0MAYA")
    for i, user in enumerate(approvers):
        if not team.is_manager(user):
            raise r.fail(f"{path}[{i}]", f"expected a manager of team {team.name} ("
                         + (", ".join(team.managers) or "it has none") + ")", user)
    if runbook.approval in ("manager", "two-person") and not approvers:
        raise r.fail(path, f"runbook {runbook.name} needs {runbook.approval} approval: expected "
                     f"the managers of team {team.name} who approve this rule ("
                     + (", ".join(team.managers) or "the team has no managers") + ")")
    return approvers


def parse_config(raw: Any, filename: str = "atbat.yml",
                 environ: Mapping[str, str] | None = None) -> Config:
    r = _Reader(filename)
    if raw is None:
        raise r.fail("", "the file is empty (expected timezone, teams and runbooks)")
    data = r.mapping(raw, "", ("teams",), ("timezone", "runbooks", "history_days", "people",
                                          "alertmanager", "heartbeats", "runbook_user",
                                          "auto_remediation", "suggest_rules_after"))
    tz = r.timezone(data["timezone"], "timezone") if "timezone" in data else "UTC"
    teams_raw = data["teams"]
    if not isinstance(teams_raw, dict) or not teams_raw:
        raise r.fail("teams", "expected a mapping of team names", teams_raw)
    teams = {name: _team(r, name, raw_team, tz) for name, raw_team in teams_raw.items()}
    channels: dict[str, str] = {}
    for t in teams.values():
        if t.channel in channels:
            raise r.fail(f"teams.{t.name}.channel",
                         f"{t.channel} is already the channel of team {channels[t.channel]}")
        channels[t.channel] = t.name
    runbooks_raw = data.get("runbooks") or {}
    if not isinstance(runbooks_raw, dict):
        raise r.fail("runbooks", "expected a mapping of runbook names", runbooks_raw)
    runbooks = {name: _runbook(r, name, rb, teams) for name, rb in runbooks_raw.items()}
    history_days = DEFAULT_HISTORY_DAYS
    if data.get("history_days") is not None:
        history_days = r.integer(data["history_days"], "history_days", minimum=1)
    if data.get("alertmanager") is not None:
        shared = _alertmanager(r, data["alertmanager"], "alertmanager")
        teams = {name: t if t.alertmanager else replace(t, alertmanager=shared)
                 for name, t in teams.items()}
    heartbeats_raw = data.get("heartbeats") or {}
    if not isinstance(heartbeats_raw, dict):
        raise r.fail("heartbeats", "expected a mapping of heartbeat names", heartbeats_raw)
    heartbeats = {name: _heartbeat(r, name, hb, teams) for name, hb in heartbeats_raw.items()}
    people_raw = data.get("people") or {}
    if not isinstance(people_raw, dict):
        raise r.fail("people", "expected a mapping of Slack user IDs", people_raw)
    env = os.environ if environ is None else environ
    people = {user: _person(r, user, raw_person, env) for user, raw_person in people_raw.items()}
    runbook_user = r.matching(data.get("runbook_user", "nobody"), "runbook_user", _USER_NAME,
                              "an account name like nobody")
    auto_raw = data.get("auto_remediation") or []
    if not isinstance(auto_raw, list):
        raise r.fail("auto_remediation", "expected a list of rules", auto_raw)
    auto = tuple(_auto_rule(r, i, rule, teams, runbooks) for i, rule in enumerate(auto_raw))
    names: dict[str, int] = {}
    for i, rule in enumerate(auto):
        if rule.name in names:
            raise r.fail(f"auto_remediation[{i}].name",
                         f"{rule.name} is already the name of auto_remediation[{names[rule.name]}]")
        names[rule.name] = i
    suggest_after = r.integer(data.get("suggest_rules_after", 5), "suggest_rules_after", minimum=0)
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return Config(path=filename, timezone=tz, teams=teams, runbooks=runbooks,
                  history_days=history_days, people=people, heartbeats=heartbeats,
                  runbook_user=runbook_user, auto_remediation=auto, sha256=digest,
                  suggest_rules_after=suggest_after)


def parse_auto_rules(text: str, config: Config, filename: str = "suggestion") -> tuple[AutoRule, ...]:
    """The rules of an `auto_remediation:` snippet, checked as the loader checks them against
    `config`'s teams and runbooks (a suggested rule is tested this way before it is shown)."""
    r = _Reader(filename)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise r.fail("", f"expected YAML ({exc})") from None
    data = r.mapping(raw, "", ("auto_remediation",), ())
    rules = data["auto_remediation"]
    if not isinstance(rules, list):
        raise r.fail("auto_remediation", "expected a list of rules", rules)
    return tuple(_auto_rule(r, i, rule, config.teams, config.runbooks) for i, rule in enumerate(rules))


def load_config(path: str | Path, loader: Callable[[str], Any] = yaml.safe_load) -> Config:
    """Read and validate the config file; raises ConfigError with one clear line."""
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name}: file not found (set ATBAT_CONFIG or create it; "
                          "examples/atbat.yml is a start)") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot be read ({exc.strerror})") from None
    try:
        raw = loader(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{name}:{where}: {problem}") from None
    return replace(parse_config(raw, name), sha256=hashlib.sha256(text.encode()).hexdigest())
