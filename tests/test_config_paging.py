"""People's contact methods and notification rules, and a team's paging policy, in atbat.yml."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, parse_config
from bot.domain.paging import ContactMethod, RuleStep

FIXTURES = Path(__file__).parent / "fixtures"
ENV = {"ALICE_NTFY_TOKEN": "tk_secret123", "SMTP_PASSWORD": "hunter2"}


def with_people(people: Any, **team: Any) -> dict[str, Any]:
    raw = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    raw["people"] = people
    raw["teams"]["payments"].update(team)
    return raw


def error_of(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "atbat.yml", environ=ENV)
    return str(info.value)


ALICE = {
    "timezone": "Europe/Berlin",
    "contacts": {
        "push": "ntfys://${ALICE_NTFY_TOKEN}@ntfy.example.com/alice-pager?priority=max",
        "call": "+49 151 1234 5689",
        "sms": "+49 151 1234 5689",
        "email": "alice@example.com",
    },
    "notification_rules": {"high": "0m slack, 1m push, 3m call, 10m call", "low": ["0m slack"]},
    "working_hours": {"days": ["mon", "tue", "wed", "thu"], "from": "08:00", "to": "16:00"},
}


def test_people_load_with_normalised_numbers_and_secrets_from_the_environment() -> None:
    config = parse_config(with_people({"U0ALICE": ALICE}), "atbat.yml", environ=ENV)
    alice = config.person("U0ALICE")
    assert alice.timezone == "Europe/Berlin"
    assert alice.contact("call") == ContactMethod("call", "+4915112345689", verified=True)
    assert alice.contact("sms").target == "+4915112345689"
    assert alice.contact("push").target == "ntfys://tk_secret123@ntfy.example.com/alice-pager?priority=max"
    assert alice.contact("email").target == "alice@example.com"
    assert alice.rules["high"][2] == RuleStep(timedelta(minutes=3), "call")
    assert alice.working_hours.days == frozenset({0, 1, 2, 3})
    assert alice.working_hours.start == time(8, 0)


def test_someone_not_in_people_has_slack_only() -> None:
    config = parse_config(with_people({"U0ALICE": ALICE}), "atbat.yml", environ=ENV)
    bob = config.person("U0BOB")
    assert bob.contacts == ()
    payments = config.teams["payments"].paging
    # the team's default high rule names push and call, which bob does not have: Slack is left
    assert bob.steps("high", payments) == (RuleStep(timedelta(0), "slack"),)
    assert [s.method for s in config.person("U0ALICE").steps("high", payments)] == [
        "slack", "push", "call", "call"]


def test_team_paging_policy() -> None:
    raw = with_people({}, urgency={"high": ["critical"], "low": ["error", "warning", "info"]},
                      notification_rules={"high": "0m slack, 2m call"},
                      working_hours={"from": "10:00", "to": "19:00"}, ack_timeout="2h")
    policy = parse_config(raw, "atbat.yml", environ=ENV).teams["payments"].paging
    assert policy.urgency["low"] == ("error", "warning", "info")
    assert policy.rules["high"] == (RuleStep(timedelta(0), "slack"), RuleStep(timedelta(minutes=2), "call"))
    assert policy.rules["low"] == (RuleStep(timedelta(0), "slack"),)  # the default is kept
    assert policy.working_hours.start == time(10, 0)
    assert policy.ack_timeout == timedelta(hours=2)


def test_defaults_without_any_paging_keys() -> None:
    policy = parse_config(with_people({}), "atbat.yml", environ=ENV).teams["payments"].paging
    assert policy.ack_timeout == timedelta(hours=4)
    assert [s.method for s in policy.rules["high"]] == ["slack", "push", "call"]
    assert policy.urgency["high"] == ("critical", "error")


@pytest.mark.parametrize(("contacts", "message"), [
    ({"call": "0151 1234"}, "people.U0ALICE.contacts.call: expected a phone number with its country code"),
    ({"sms": "+49 151 123"}, "is not a valid phone number"),
    ({"push": "bogus://x/y"}, "Apprise does not know the scheme bogus://"),
    ({"push": "alice-pager"}, "expected an Apprise URL like ntfys://"),
    ({"call": "ntfys://ntfy.example.com/x"}, "calls go through Twilio"),
    ({"email": "not-an-address"}, "people.U0ALICE.contacts.email: expected an Apprise URL"),
    ({"pager": "+4915112345689"}, "people.U0ALICE.contacts.pager: unknown key"),
    ({"push": "ntfys://${NOT_SET}@ntfy.example.com/x"}, "refers to ${NOT_SET}, which is not set"),
])
def test_bad_contacts_name_the_field(contacts: dict[str, str], message: str) -> None:
    assert message in error_of(with_people({"U0ALICE": {"contacts": contacts}}))


def test_secret_values_are_not_echoed_in_errors() -> None:
    message = error_of(with_people({"U0ALICE": {"contacts": {"call": "${ALICE_NTFY_TOKEN}"}}}))
    assert "tk_secret123" not in message


@pytest.mark.parametrize(("person", "team", "message"), [
    ({"notification_rules": {"high": "0m slack, 1m pager"}}, {},
     "people.U0ALICE.notification_rules.high: step 2: unknown method 'pager'"),
    ({"notification_rules": {"high": "0m slack, 1m call"}}, {},
     "step 2 uses call, but contacts has no call"),
    ({"notification_rules": {"urgent": "0m slack"}}, {}, "notification_rules.urgent: unknown key"),
    ({"working_hours": {"days": ["caturday"]}}, {}, "unknown weekday 'caturday'"),
    ({"timezone": "Mars/Olympus"}, {}, "people.U0ALICE.timezone: expected an IANA timezone"),
    ({}, {"urgency": {"high": ["critical"], "low": ["critical"]}}, "critical is already high urgency"),
    ({}, {"notification_rules": {"low": "later email"}}, "teams.payments.notification_rules.low: step 1"),
    ({}, {"ack_timeout": "forever"}, "teams.payments.ack_timeout: expected a duration"),
])
def test_bad_rules_and_policies_name_the_field(person: dict[str, Any], team: dict[str, Any],
                                              message: str) -> None:
    assert message in error_of(with_people({"U0ALICE": person}, **team))


def test_people_keys_are_user_ids() -> None:
    assert "people.alice: expected a Slack user ID" in error_of(with_people({"alice": {}}))
