"""Config loading: the example files pass, and every kind of mistake gets its precise line."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config import ConfigError, load_config, parse_config

FIXTURES = Path(__file__).parent / "fixtures"


def good() -> dict:
    return yaml.safe_load((FIXTURES / "atbat.yml").read_text())


def error_of(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "atbat.yml")
    return str(info.value)


def test_fixture_config_loads_with_defaults() -> None:
    config = load_config(FIXTURES / "atbat.yml")
    payments = config.teams["payments"]
    assert payments.timezone == "Europe/Berlin"
    primary, secondary = payments.rotations
    assert primary.members == ("U0ALICE", "U0BOB", "U0CAROL")
    assert primary.start == datetime(2026, 11, 2, 9, 0)
    assert primary.shift == timedelta(weeks=1)
    assert secondary.timezone == "America/New_York"
    assert [s.notify for s in payments.escalation.steps] == ["primary", "secondary", "managers"]
    assert payments.escalation.repeat == 1
    assert config.teams["search"].rotations[0].timezone == "America/New_York"
    assert config.team_for_channel("C0SEARCH").name == "search"
    assert config.runbooks["restart-api"].param("service").choices == (
        "payments-api", "payments-worker")


def test_bad_shift_names_file_path_and_expectation() -> None:
    raw = good()
    raw["teams"]["payments"]["rotations"][0]["shift"] = "weekly"
    assert error_of(raw) == (
        'atbat.yml: teams.payments.rotations[0].shift: expected a duration like 12h, 1d or 1w, '
        'got "weekly"'
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["teams"]["payments"].update(chanel="C1"),
         "atbat.yml: teams.payments.chanel: unknown key (expected one of: channel, rotations,"),
        (lambda c: c["teams"]["payments"]["rotations"][0].update(timezone="Mars/Olympus"),
         'teams.payments.rotations[0].timezone: expected an IANA timezone like Europe/Berlin, '
         'got "Mars/Olympus"'),
        (lambda c: c["teams"]["payments"]["rotations"][0].update(members=["alice"]),
         'teams.payments.rotations[0].members[0]: expected Slack user IDs like U0ALICE, '
         'got "alice"'),
        (lambda c: c["teams"]["payments"]["rotations"][0].update(start="next monday"),
         'teams.payments.rotations[0].start: expected a date and time like 2026-11-02T09:00, '
         'got "next monday"'),
        (lambda c: c["teams"]["payments"]["rotations"][0].update(shift="90m"),
         "teams.payments.rotations[0].shift: expected a whole number of hours"),
        (lambda c: c["teams"]["payments"]["rotations"][0].pop("members"),
         "teams.payments.rotations[0].members: is required"),
        (lambda c: c["teams"]["payments"]["escalation"]["steps"][1].update(notify="tertiary"),
         'teams.payments.escalation.steps[1].notify: expected one of: primary, secondary, '
         'managers, channel, got "tertiary"'),
        (lambda c: c["teams"]["payments"]["escalation"]["steps"][2].update(after="5m"),
         "teams.payments.escalation.steps[2].after: expected at least 0:10:00"),
        (lambda c: c["teams"]["search"].update(channel="C0PAYMENTS"),
         "teams.search.channel: C0PAYMENTS is already the channel of team payments"),
        (lambda c: c["teams"]["payments"]["rotations"][1].update(name="primary"),
         'teams.payments.rotations[1].name: layer "primary" is defined twice'),
        (lambda c: c["teams"]["payments"]["rotations"][0].update(
            active={"days": ["mon", "funday"], "from": "09:00", "to": "18:00"}),
         'teams.payments.rotations[0].active.days[1]: expected a weekday: mon, tue, wed, thu, '
         'fri, sat, sun, got "funday"'),
        (lambda c: c["runbooks"]["restart-api"].update(approval="anyone"),
         'runbooks.restart-api.approval: expected one of: none, oncall, manager, two-person, '
         'got "anyone"'),
        (lambda c: c["runbooks"]["restart-api"].update(command="kubectl rollout restart"),
         "runbooks.restart-api.command: expected a list of arguments"),
        (lambda c: c["runbooks"]["restart-api"].update(teams=["billing"]),
         'runbooks.restart-api.teams[0]: expected a team defined under teams: payments, search, '
         'got "billing"'),
        (lambda c: c["runbooks"]["restart-api"]["command"].append("{namespace}"),
         'runbooks.restart-api.command[5]: uses "{namespace}" but params declares service'),
        (lambda c: c["runbooks"]["restart-api"]["params"].update(reason={}),
         "runbooks.restart-api.params.reason: expected `choices` or `pattern`"),
        (lambda c: c["runbooks"]["restart-api"]["params"]["service"].update(pattern="(["),
         "runbooks.restart-api.params.service.pattern: expected a valid regular expression"),
        (lambda c: c.update(timezone=3),
         "atbat.yml: timezone: expected an IANA timezone like Europe/Berlin, got 3"),
        (lambda c: c.pop("teams"), "atbat.yml: teams: is required"),
    ],
)
def test_each_mistake_has_its_precise_message(mutate, expected: str) -> None:
    raw = good()
    mutate(raw)
    message = error_of(raw)
    assert message.startswith("atbat.yml: ")
    assert expected in message


def test_empty_and_broken_yaml_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty.yml: the file is empty"):
        load_config(empty)
    broken = tmp_path / "broken.yml"
    broken.write_text("teams:\n  payments: [\n")
    with pytest.raises(ConfigError, match=r"broken.yml: line \d+, column \d+"):
        load_config(broken)
    with pytest.raises(ConfigError, match="missing.yml: file not found"):
        load_config(tmp_path / "missing.yml")


def test_check_config_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check-config", str(FIXTURES / "atbat.yml")]) == 0
    assert "OK — 2 team(s), 3 rotation layer(s), 1 runbook(s)" in capsys.readouterr().out
    bad = tmp_path / "atbat.yml"
    raw = good()
    raw["teams"]["payments"]["rotations"][0]["shift"] = "weekly"
    bad.write_text(yaml.safe_dump(raw))
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.endswith('rotations[0].shift: expected a duration like 12h, 1d or 1w, got "weekly"')


def test_example_config_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "examples" / "atbat.yml")
    assert config.teams and config.runbooks


def _with_param(raw: dict, command: list[str], **params: dict) -> dict:
    raw["runbooks"]["restart-api"].update(command=command, params=params)
    return raw


@pytest.mark.parametrize(
    ("command", "params", "expected"),
    [
        # A default must pass its own rules.
        (["tool", "{n}"], {"n": {"type": "int", "min": 1, "max": 5, "default": 9}},
         'runbooks.restart-api.params.n.default: expected a default that passes its own rules'),
        (["tool", "{s}"], {"s": {"choices": ["a", "b"], "default": "c"}},
         "runbooks.restart-api.params.s.default: expected a default"),
        (["tool", "{s}"], {"s": {"pattern": "[a-z]+", "default": "-rf"}},
         "runbooks.restart-api.params.s.default: expected a default"),
        # An optional parameter alone in an element would shift the arguments when left out.
        (["tool", "--namespace", "{ns}", "delete-everything"],
         {"ns": {"pattern": "[a-z]+", "required": False}},
         "runbooks.restart-api.params.ns: expected a default: it fills command[2] on its own"),
    ],
)
def test_runbook_parameter_rules_checked_at_load(command, params, expected) -> None:
    assert expected in error_of(_with_param(good(), command, **params))


def test_optional_parameter_inside_an_element_and_negative_min_load() -> None:
    raw = _with_param(good(), ["tool", "--ns={ns}", "{n}"],
                      ns={"pattern": "[a-z]+", "required": False},
                      n={"type": "int", "min": -10, "max": 10, "default": "-007"})
    config = parse_config(raw, "atbat.yml")
    assert config.runbooks["restart-api"].param("n").default == "-7"  # normalised


@pytest.mark.parametrize("name", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "REDIS_URL",
                                  "ATBAT_ALERT_TOKEN", "ATBAT_METRICS_TOKEN"])
def test_runbook_env_may_not_name_atbat_secrets(name: str) -> None:
    raw = good()
    raw["runbooks"]["restart-api"]["env"] = ["KUBECONFIG", name]
    assert (f'runbooks.restart-api.env[1]: expected a variable other than atbat\'s own secrets '
            f'and settings (SLACK_*, REDIS_URL, ATBAT_*), got "{name}"') in error_of(raw)


def test_runbook_user_defaults_to_nobody() -> None:
    assert parse_config(good(), "atbat.yml").runbook_user == "nobody"
    raw = good()
    raw["runbook_user"] = "atbat-runs"
    assert parse_config(raw, "atbat.yml").runbook_user == "atbat-runs"
    raw["runbook_user"] = "root; rm"
    assert "runbook_user: expected an account name" in error_of(raw)
