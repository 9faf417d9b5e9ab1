"""Self-healing rules: the `auto_remediation:` config, matching, and what a rule would run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.config import ConfigError, load_config, parse_config
from bot.domain.alerts import AlertBatch, AlertInstance, apply_batch
from bot.domain.autoremediation import (
    AlertFacts,
    facts_of,
    match,
    plan,
    within_hours,
    without_tokens,
)

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday, 13:00 in Berlin

HOSTILE = {
    "shell": "x; rm -rf /",
    "option": "-rf",
    "newline": "payments-api\nid",
    "huge": "a" * 10_000,
    "homoglyph": "pаyments-api",  # the second letter is Cyrillic
}


def rule(**changes) -> dict:
    base = {"name": "restart-stuck", "team": "payments",
            "match": {"alertname": "ApiStuck", "instance": {"regex": "api-[0-9]+"}},
            "runbook": "restart-api", "params": {"service": "{labels.service}"},
            "page_after": "5m", "max_runs": "3 per 1h", "approved_by": ["U0MANAGER"]}
    base.update(changes)
    return base


def config_with(*rules: dict, runbooks: dict | None = None):
    raw = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    raw["auto_remediation"] = list(rules)
    if runbooks:
        raw["runbooks"].update(runbooks)
    return parse_config(raw, "atbat.yml")


def error_of(*rules: dict, runbooks: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        config_with(*rules, runbooks=runbooks)
    return str(info.value)


def alert(**labels: str) -> AlertFacts:
    base = {"alertname": "ApiStuck", "instance": "api-7", "service": "payments-api"}
    base.update(labels)
    return AlertFacts(team="payments", labels=base, annotations={"pod": "api-7-abc"})


# ---------------------------------------------------------------- config


def test_rule_loads_with_its_parts() -> None:
    config = config_with(rule(hours={"days": ["mon"], "from": "22:00", "to": "06:00"},
                              breaker_after=2))
    (r,) = config.auto_remediation
    assert r.name == "restart-stuck" and r.team == "payments" and r.runbook == "restart-api"
    assert [(m.label, m.value, m.regex) for m in r.matchers] == [
        ("alertname", "ApiStuck", False), ("instance", "api-[0-9]+", True)]
    assert r.params == (("service", "{labels.service}"),)
    assert r.page_after == timedelta(minutes=5)
    assert (r.max_runs.count, r.max_runs.window) == (3, timedelta(hours=1))
    assert r.hours is not None and r.hours.days == frozenset({0})
    assert r.approved_by == ("U0MANAGER",) and r.breaker_after == 2
    assert config.auto_rule("restart-stuck") is r
    assert len(config.sha256) == 64


def test_defaults_and_page_after_zero() -> None:
    raw = rule(page_after=0)
    del raw["max_runs"]
    (r,) = config_with(raw).auto_remediation
    assert r.page_after == timedelta(0)
    assert (r.max_runs.count, r.max_runs.window) == (3, timedelta(hours=1))
    assert r.breaker_after == 3 and r.hours is None


def test_config_sha256_is_the_files() -> None:
    import hashlib

    path = Path(__file__).parent.parent / "examples" / "atbat.yml"
    config = load_config(path)
    assert config.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert config.auto_remediation[0].name == "restart-erroring-service"


@pytest.mark.parametrize(("raw", "expected"), [
    (rule(approved_by=None),
     "atbat.yml: auto_remediation[0].approved_by: runbook restart-api needs manager approval: "
     "expected the managers of team payments who approve this rule (U0MANAGER)"),
    (rule(approved_by=["U0ALICE"]),
     'atbat.yml: auto_remediation[0].approved_by[0]: expected a manager of team payments '
     '(U0MANAGER), got "U0ALICE"'),
    (rule(team="search"),
     "atbat.yml: auto_remediation[0].runbook: runbook restart-api may only be asked for by "
     "payments, not by team search"),
    (rule(team="nope"),
     'atbat.yml: auto_remediation[0].team: expected a team defined under teams: payments, '
     'search, got "nope"'),
    (rule(runbook="nope"),
     'atbat.yml: auto_remediation[0].runbook: expected a runbook defined under runbooks: '
     'restart-api, got "nope"'),
    (rule(params={"service": "{labels.service"}),
     "atbat.yml: auto_remediation[0].params.service: has an unmatched { or }"),
    (rule(params={"service": "{env.HOME}"}),
     'atbat.yml: auto_remediation[0].params.service: uses "{env.HOME}"; expected placeholders '
     "like {labels.instance} or {annotations.pod}"),
    (rule(params={"servce": "{labels.service}"}),
     "atbat.yml: auto_remediation[0].params.servce: runbook restart-api has no such parameter "
     "(its parameters: service)"),
    (rule(params={}),
     'atbat.yml: auto_remediation[0].params: expected a value for service (runbook restart-api '
     'needs it), e.g. "{labels.service}"'),
    (rule(params={"service": "payments-db"}),
     "atbat.yml: auto_remediation[0].params.service: expected a value the runbook accepts "
     "(Parameter `service` must be one of: `payments-api`, `payments-worker`; got "
     '`payments-db`.), got "payments-db"'),
    (rule(match={}),
     "atbat.yml: auto_remediation[0].match: expected a mapping of labels"),
    (rule(match={"instance": {"regex": "api-("}}),
     "atbat.yml: auto_remediation[0].match.instance.regex: expected a valid regular expression"),
    (rule(match={"instance": {"regexp": "x"}}),
     "atbat.yml: auto_remediation[0].match.instance.regexp: unknown key (expected one of: regex)"),
    (rule(max_runs="3/h"),
     'atbat.yml: auto_remediation[0].max_runs: expected a number of runs per window like '
     '"3 per 1h", got "3/h"'),
    (rule(max_runs="0 per 1h"),
     "atbat.yml: auto_remediation[0].max_runs: expected at least 1 run per window longer than zero"),
    (rule(page_after="soon"),
     'atbat.yml: auto_remediation[0].page_after: expected a duration like 12h, 1d or 1w, '
     'got "soon"'),
    (rule(hours={"from": "22:00"}), "atbat.yml: auto_remediation[0].hours.to: is required"),
    (rule(breaker_after=0),
     "atbat.yml: auto_remediation[0].breaker_after: expected a whole number of at least 1, got 0"),
    (rule(name="Bad Name"),
     'atbat.yml: auto_remediation[0].name: expected a rule name of lowercase letters, digits, '
     '- or _, got "Bad Name"'),
    (rule(pages=1), "atbat.yml: auto_remediation[0].pages: unknown key"),
])
def test_mistakes_name_the_key_path(raw: dict, expected: str) -> None:
    assert error_of(raw).startswith(expected)


def test_two_person_runbook_needs_approvers_too() -> None:
    two = {"command": ["echo", "{service}"], "params": {"service": {"pattern": "[a-z-]+"}},
           "teams": ["payments"], "approval": "two-person"}
    assert "needs two-person approval" in error_of(
        rule(runbook="two", approved_by=None), runbooks={"two": two})
    none = {**two, "approval": "none"}
    assert config_with(rule(runbook="free", approved_by=None), runbooks={"free": none})


def test_rule_names_are_unique() -> None:
    assert error_of(rule(), rule()) == (
        "atbat.yml: auto_remediation[1].name: restart-stuck is already the name of "
        "auto_remediation[0]")


# ---------------------------------------------------------------- matching


def test_match_equality_and_regex() -> None:
    r = config_with(rule()).auto_remediation[0]
    assert match(r, alert())
    assert not match(r, alert(alertname="ApiSlow"))
    assert not match(r, alert(instance="api-7x"))  # the regex matches the whole value
    assert not match(r, alert(instance="db-1"))
    assert not match(r, AlertFacts(team="search", labels=alert().labels))
    assert not match(r, AlertFacts(team="payments", labels={"instance": "api-1"}))  # no alertname
    assert not match(r, AlertFacts(team="payments", labels=alert().labels, source="slack"))


@pytest.mark.parametrize(("moment", "inside"), [
    (datetime(2026, 11, 30, 21, 30, tzinfo=UTC), True),   # Monday 22:30 Berlin
    (datetime(2026, 12, 1, 4, 0, tzinfo=UTC), True),      # Tuesday 05:00: Monday's night
    (datetime(2026, 12, 1, 6, 0, tzinfo=UTC), False),     # Tuesday 07:00
    (datetime(2026, 12, 1, 21, 30, tzinfo=UTC), False),   # Tuesday 22:30: not a listed day
    (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), False),   # Monday noon
])
def test_hours_cross_midnight(moment: datetime, inside: bool) -> None:
    r = config_with(rule(hours={"days": ["mon"], "from": "22:00", "to": "06:00"})).auto_remediation[0]
    assert within_hours(r.hours, moment, "Europe/Berlin") is inside


def test_facts_of_a_group_include_alertname_and_common_annotations() -> None:
    def instance(fp: str, pod: str) -> AlertInstance:
        return AlertInstance(fp, "firing", {"alertname": "ApiStuck", "instance": "api-7",
                                            "pod": pod},
                             {"summary": "stuck", "pod": pod}, NOW, None)
    batch = AlertBatch("g", "firing", "atbat", "payments",
                       (instance("a", "p1"), instance("b", "p2")), {}, {"alertname": "ApiStuck"},
                       {"summary": "stuck"}, "")
    group, _ = apply_batch(None, batch, NOW)
    facts = facts_of(group)
    assert facts.labels["alertname"] == "ApiStuck" and facts.labels["instance"] == "api-7"
    assert "pod" not in facts.labels and facts.annotations == {"summary": "stuck"}
    assert facts.team == "payments"


# ---------------------------------------------------------------- what would run


def test_plan_gives_the_exact_argv() -> None:
    config = config_with(rule())
    p = plan(config, alert(), NOW)
    assert p.runs and p.rule is not None and p.rule.name == "restart-stuck"
    assert p.argv == ("echo", "restart", "deployment/payments-api", "-n", "payments")
    assert dict(p.params) == {"service": "payments-api"}
    assert p.describe() == ("Rule restart-stuck runs restart-api: "
                            "echo restart deployment/payments-api -n payments")


def test_plan_takes_the_first_rule_that_applies_and_says_why_others_did_not() -> None:
    night = rule(name="night-only", hours={"from": "22:00", "to": "06:00"})
    other = rule(name="other", match={"alertname": "DbDown"})
    config = config_with(other, night, rule())
    p = plan(config, alert(), NOW)
    assert p.rule is not None and p.rule.name == "restart-stuck"
    assert p.notes == ("other: labels do not match", "night-only: outside its hours")


def test_plan_without_a_matching_rule_pages_as_usual() -> None:
    p = plan(config_with(rule()), alert(alertname="Other"), NOW)
    assert not p.runs and p.rule is None
    assert p.describe() == "No rule fires (restart-stuck: labels do not match): paging as usual."
    assert plan(config_with(), alert(), NOW).describe() == (
        "No rule fires (no auto_remediation rule for this team): paging as usual.")


def test_missing_label_is_a_refusal() -> None:
    labels = dict(alert().labels)
    del labels["service"]
    p = plan(config_with(rule()), AlertFacts("payments", labels), NOW)
    assert p.rule is not None and not p.runs
    assert p.refused == ("Parameter `service` takes {labels.service}, which this alert does not "
                         "have.")


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_label_values_are_refused_by_the_runbooks_own_rules(kind: str) -> None:
    free = {"command": ["echo", "restart", "{target}"],
            "params": {"target": {"pattern": r"[\w.-]+"}},  # a lax pattern: the universal rules hold
            "teams": ["payments"], "approval": "none", "timeout": "10s"}
    config = config_with(rule(params={"service": "{labels.service}"}),
                         rule(name="lax", runbook="free", params={"target": "{labels.service}"},
                              match={"alertname": "Lax"}),
                         runbooks={"free": free})
    value = HOSTILE[kind]
    for name, facts in (("restart-stuck", alert(service=value)),
                        ("lax", alert(alertname="Lax", service=value))):
        p = plan(config, facts, NOW)
        assert p.rule is not None and p.rule.name == name
        assert not p.runs and p.argv == () and p.refused.startswith("Parameter ")
        assert value not in p.refused and "\n" not in p.refused


def test_annotations_fill_params_too() -> None:
    free = {"command": ["kubectl", "delete", "pod", "{pod}"], "params": {"pod": {"pattern": "[a-z0-9-]+"}},
            "teams": ["payments"], "approval": "none"}
    config = config_with(rule(runbook="free", params={"pod": "{annotations.pod}"}),
                         runbooks={"free": free})
    assert plan(config, alert(), NOW).argv == ("kubectl", "delete", "pod", "api-7-abc")


def test_the_line_on_a_push_or_sms_reads_date_tokens_as_their_text() -> None:
    line = ("Self-healing: running x; paging "
            "<!date^1796112436^{date_short_pretty} {time}|2026-12-01 08:07 UTC> unless it resolves")
    assert without_tokens(line) == ("Self-healing: running x; paging 2026-12-01 08:07 UTC "
                                    "unless it resolves")
