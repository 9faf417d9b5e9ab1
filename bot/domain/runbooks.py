"""Remediation runbooks: parameter validation, argv building and approval rules.

Pure: no Redis, no Slack. The life of a run request (states, transitions,
fingerprints) is in `bot.domain.remediation`, which builds on this module.

Safety rules (see DESIGN.md, Remediation):

* Parameter values are typed and validated against the runbook's spec. On top of
  the spec, a value is always refused when it is empty, longer than
  `MAX_VALUE_LENGTH`, contains a control/format/separator character, or starts
  with ``-``, or holds a character outside ASCII (a look-alike letter such as a
  Cyrillic ``а``), unless it is one of the spec's `choices`, so no option and no
  homoglyph can be smuggled into a command whatever the configured pattern allows.
* A value replaces ``{name}`` inside exactly one argv element by plain string
  replacement in a single pass: it is never split, never re-scanned for other
  placeholders and never passes through a shell.
* Approval never comes from the requester (`approvers_ok`); binding it to the
  exact run is `bot.domain.remediation`' job.

Error messages never echo unsafe input: a user value is shown only when it is
short and made of harmless characters (`_render`), otherwise the message names
the parameter and the rule that refused it.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping

from bot.domain.config import Config, ParamSpec, Runbook, Team

MAX_VALUE_LENGTH = 256
_MAX_INT_DIGITS = 18
_INT = re.compile(r"-?[0-9]+")
_SHOWABLE = re.compile(r"[A-Za-z0-9._:/@+,=%-]{1,40}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Cc control, Cf format (zero-width, bidi overrides), Cs/Co/Cn surrogate, private,
# unassigned, Zl/Zp line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class RunbookError(Exception):
    """A problem the user caused; `message` is meant for that user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParamError(RunbookError):
    """A parameter word or value was refused."""


# ---------------------------------------------------------------- parameters


def _render(value: str) -> str:
    """Show a user value in a message only if it is short and harmless."""
    if _SHOWABLE.fullmatch(value):
        return f"`{value}`"
    return "the value given"


def _has_refused_char(value: str) -> bool:
    return any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value)


def parse_args(words: Iterable[str]) -> dict[str, str]:
    """Turn shell-split ``key=value`` words into a mapping.

    Refuses a word without ``=``, an empty key and a key given twice. The value
    may be empty or contain ``=``; `validate_params` judges it.
    """
    args: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ParamError(f"Expected key=value, got {_render(word)}. "
                             "Example: `/oncall run restart-api service=payments-api`")
        if not key:
            raise ParamError(f"Missing the parameter name before `=` in {_render(word)}.")
        if key in args:
            raise ParamError(f"Parameter {_render(key)} is given twice.")
        args[key] = value
    return args


def validate_params(runbook: Runbook, given: Mapping[str, str]) -> dict[str, str]:
    """Return the complete, validated parameter set of a run (defaults filled in).

    Integers come back normalised (``007`` → ``7``) so equal requests have equal
    fingerprints. An optional parameter without default that was not given is
    absent from the result. Raises `ParamError` with a message for the user.
    """
    names = [p.name for p in runbook.params]
    for key in given:
        if key not in names:
            known = ", ".join(f"`{n}`" for n in names) or "none"
            raise ParamError(f"Unknown parameter {_render(key)} for runbook `{runbook.name}`. "
                             f"Parameters: {known}.")
    result: dict[str, str] = {}
    for spec in runbook.params:
        if spec.name in given:
            value = given[spec.name]
        elif spec.default is not None:
            value = spec.default
        elif spec.required:
            raise ParamError(f"Missing parameter `{spec.name}` for runbook "
                             f"`{runbook.name}`{_hint(spec)}.")
        else:
            continue
        result[spec.name] = _check_value(spec, value)
    return result


def check_default(spec: ParamSpec) -> str:
    """The spec's default checked against the spec's own rules; returns it normalised.
    Raises ParamError (the config loader reports it)."""
    assert spec.default is not None
    return _check_value(spec, spec.default)


def _hint(spec: ParamSpec) -> str:
    if spec.choices:
        return " (one of: " + ", ".join(f"`{c}`" for c in spec.choices) + ")"
    if spec.type == "int" and (spec.min is not None or spec.max is not None):
        return f" (a whole number{_range_text(spec)})"
    return f" ({spec.description})" if spec.description else ""


def _range_text(spec: ParamSpec) -> str:
    if spec.min is not None and spec.max is not None:
        return f" from {spec.min} to {spec.max}"
    if spec.min is not None:
        return f" of at least {spec.min}"
    if spec.max is not None:
        return f" of at most {spec.max}"
    return ""


def _check_value(spec: ParamSpec, value: str) -> str:
    """One value against the universal rules, then the spec; returns it normalised."""
    name = f"`{spec.name}`"
    if not isinstance(value, str):
        raise ParamError(f"Parameter {name} must be text.")
    if value == "":
        raise ParamError(f"Parameter {name} must not be empty.")
    if len(value) > MAX_VALUE_LENGTH:
        raise ParamError(f"Parameter {name} is longer than {MAX_VALUE_LENGTH} characters.")
    if _has_refused_char(value):
        raise ParamError(f"Parameter {name} contains a control character (such as a newline); "
                         "that is never allowed.")
    if spec.type == "int":
        value = _normalise_int(spec, value)
    if not value.isascii() and value not in (spec.choices or ()):
        raise ParamError(f"Parameter {name} contains a character outside plain ASCII (such as a "
                         "look-alike letter); that is never allowed.")
    negative_allowed = spec.type == "int" and spec.min is not None and spec.min < 0
    if value.startswith("-") and value not in (spec.choices or ()) and not negative_allowed:
        raise ParamError(f"Parameter {name} must not start with `-` (it could be read as an "
                         "option of the command).")
    if spec.choices is not None and value not in spec.choices:
        raise ParamError(f"Parameter {name} must be one of: "
                         + ", ".join(f"`{c}`" for c in spec.choices) + f"; got {_render(value)}.")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        raise ParamError(f"Parameter {name} must match `{spec.pattern}` (the whole value); "
                         f"got {_render(value)}.")
    if spec.type == "int":
        number = int(value)
        if (spec.min is not None and number < spec.min) or (
            spec.max is not None and number > spec.max
        ):
            raise ParamError(f"Parameter {name} must be a whole number{_range_text(spec)}; "
                             f"got {_render(value)}.")
    return value


def _normalise_int(spec: ParamSpec, value: str) -> str:
    # int() alone would accept " 7", "1_000", "٣" and "+7": a plain ASCII decimal only.
    if not _INT.fullmatch(value) or len(value.lstrip("-")) > _MAX_INT_DIGITS:
        raise ParamError(f"Parameter `{spec.name}` must be a whole number"
                         f"{_range_text(spec)}; got {_render(value)}.")
    return str(int(value))


# ---------------------------------------------------------------- argv


def build_argv(runbook: Runbook, params: Mapping[str, str]) -> tuple[str, ...]:
    """The command with parameters substituted, one argv element per config element.

    `params` is validated again here, so a stored request that was altered cannot
    slip an unchecked value into a command. Each ``{name}`` is replaced in a single
    pass (a value containing ``{other}`` stays literal). An element that is exactly
    ``{name}`` for an absent optional parameter is dropped; inside a longer element
    an absent parameter becomes the empty string.
    """
    values = validate_params(runbook, params)
    argv: list[str] = []
    for element in runbook.command:
        whole = _PLACEHOLDER.fullmatch(element)
        if whole and whole.group(1) not in values:
            continue
        argv.append(_PLACEHOLDER.sub(lambda m: _lookup(runbook, values, m.group(1)), element))
    return tuple(argv)


def _lookup(runbook: Runbook, values: Mapping[str, str], name: str) -> str:
    if runbook.param(name) is None:
        # The config loader refuses undeclared placeholders; this guards hand-built runbooks.
        raise ValueError(f"runbook {runbook.name} uses undeclared placeholder {{{name}}}")
    return values.get(name, "")


def describe_argv(argv: Iterable[str]) -> str:
    """A copy-pasteable display form of the command, for the approval message."""
    return shlex.join(argv)


# ---------------------------------------------------------------- access rules


def _teams(runbook: Runbook, config: Config) -> list[Team]:
    return [config.teams[name] for name in runbook.teams if name in config.teams]


def may_request(runbook: Runbook, config: Config, user: str) -> bool:
    """Members and managers of one of the runbook's teams may ask for a run."""
    return any(user in t.members or t.is_manager(user) for t in _teams(runbook, config))


def approvers_ok(
    runbook: Runbook, config: Config, requester: str, approver: str, on_call_now: set[str]
) -> tuple[bool, str]:
    """May `approver` approve `requester`'s run of `runbook`? Returns (ok, reason).

    `on_call_now` is everyone currently on call, any layer, for the runbook's
    teams (the caller asks the schedule). The requester can never approve.
    """
    if approver == requester:
        return False, "You cannot approve your own request."
    teams = _teams(runbook, config)
    team_names = ", ".join(t.name for t in teams) or "its teams"
    policy = runbook.approval
    if policy == "none":
        return True, ""
    if policy == "oncall":
        if approver in on_call_now:
            return True, ""
        return False, f"Only someone on call now for {team_names} can approve this runbook."
    if policy == "manager":
        if any(t.is_manager(approver) for t in teams):
            return True, ""
        return False, f"Only a manager of {team_names} can approve this runbook."
    if policy == "two-person":
        if any(approver in t.members or t.is_manager(approver) for t in teams):
            return True, ""
        return False, f"Only another member of {team_names} can approve this runbook."
    return False, f"Unknown approval policy for runbook `{runbook.name}`."
