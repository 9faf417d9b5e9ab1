"""Graduation suggestions: a runbook people ran from the same alert N times, each time followed
by the alert resolving within 10 minutes, is suggested to the managers as a rule (once), with
YAML that the real config loader accepts and that fires for that alert."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import cli
from bot.config import ConfigError, load_config, parse_config
from bot.domain import graduation as domain
from bot.domain.alerts import group_key_for
from bot.domain.autoremediation import AlertFacts, facts_of, plan
from bot.domain.graduation import RunEvidence
from bot.domain.history import Event
from bot.periodic import run_checks
from bot.services import graduation
from bot.slack.format import unescape
from bot.slack.render_graduation import suggestion_message
from bot.store import alerts as alert_store
from bot.store import audit
from bot.store import history as history_store
from bot.store import remediation as run_store
from bot.wiring import CHECKS
from tests.conftest import FIXTURES, utc
from tests.test_alerts_e2e import post_am, text_of

CHANNEL = "C0PAYMENTS"
NOW = utc(2026, 11, 4, 10)
LABELS = {"alertname": "ApiStuck", "team": "payments", "service": "payments-api",
          "instance": "api-7", "severity": "critical"}
KEY = group_key_for("alertmanager", "payments", '{}:{alertname="ApiStuck"}')


def fixture_raw() -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / "atbat.yml").read_text())


# ---------------------------------------------------------------- pure


def evidence(run: str = "r1", **labels: str) -> RunEvidence:
    return RunEvidence(team="payments", alertname="ApiStuck", runbook="restart-api",
                       params={"service": "payments-api"}, labels={**LABELS, **labels}, run=run,
                       requester="U0ALICE", approver="U0MANAGER", group=KEY, occurrence=1)


def test_parameters_become_the_labels_they_equal() -> None:
    assert domain.templates({"service": "payments-api", "mode": "fast", "pod": "api-7"},
                            {"service": "payments-api", "instance": "api-7"}) == {
        "mode": "fast", "pod": "{labels.instance}", "service": "{labels.service}"}


@pytest.mark.parametrize(("state", "resolved_after_end", "expected"), [
    ("succeeded", timedelta(minutes=2), "fixed"),
    ("succeeded", timedelta(minutes=10), "fixed"),
    ("succeeded", -timedelta(seconds=5), "fixed"),  # resolved while it ran
    ("succeeded", timedelta(minutes=10, seconds=1), "the alert did not resolve within 10 minutes"
                                                    " of the run"),
    ("succeeded", None, "the alert did not resolve within 10 minutes of the run"),
    ("succeeded", -timedelta(minutes=5), "the alert resolved before the run"),
    ("failed", timedelta(minutes=1), "the run failed"),
    ("timed_out", timedelta(minutes=1), "the run timed out"),
    ("lost", timedelta(minutes=1), "the run was lost"),
])
def test_what_counts_as_a_fix(state: str, resolved_after_end: timedelta | None,
                              expected: str) -> None:
    started, finished = NOW, NOW + timedelta(seconds=30)
    resolved = None if resolved_after_end is None else finished + resolved_after_end
    assert domain.fix_outcome(state, started, finished, resolved) == expected


def test_only_a_streak_of_fixes_of_the_same_key_counts() -> None:
    def fix(run: str, outcome: str = "fixed", **labels: str) -> Event:
        return domain.fix_event(evidence(run, **labels), outcome, NOW, 60)

    key = domain.fix_key(evidence())
    assert domain.fix_key(evidence(instance="api-8")) == key  # other labels: the same fix
    other = RunEvidence(**{**evidence().__dict__, "params": {"service": "payments-worker"}})
    assert domain.fix_key(other) != key  # other parameters: another fix
    events = [fix(f"r{i}") for i in range(4)]
    assert domain.streak(events, key, 5) is None
    assert domain.streak([*events, fix("r4")], key, 5) is not None
    assert domain.streak([*events, fix("r4", "the run failed")], key, 5) is None
    broken = [fix("r0"), fix("rX", "the run failed"), *(fix(f"r{i}") for i in range(1, 5))]
    assert [e.get("run") for e in domain.streak(broken, key, 4)] == ["r1", "r2", "r3", "r4"]
    assert domain.streak(broken, key, 5) is None
    assert domain.streak(broken, key, 0) is None


def test_the_suggested_rule_loads_with_the_real_loader_and_fires_for_the_alert() -> None:
    config = load_config(FIXTURES / "atbat.yml")
    streak = [domain.fix_event(evidence(f"r{i}", instance=f"api-{i}"), "fixed", NOW, 60)
              for i in range(5)]
    rule = domain.suggested_rule(streak, config.teams["payments"], config.runbooks["restart-api"],
                                 [])
    assert rule["match"] == {"alertname": "ApiStuck", "service": "payments-api",
                             "severity": "critical"}  # instance differed: not matched on
    assert rule["params"] == {"service": "{labels.service}"}
    assert rule["approved_by"] == ["U0MANAGER"]  # restart-api needs a manager
    raw = fixture_raw()
    raw.update(yaml.safe_load(yaml.safe_dump({"auto_remediation": [rule]})))
    loaded = parse_config(raw, "atbat.yml")
    alert = AlertFacts(team="payments", labels={**LABELS, "instance": "api-99"})
    fired = plan(loaded, alert, NOW)
    assert fired.runs and fired.rule.name == "apistuck-restart-api"
    assert fired.argv == ("echo", "restart", "deployment/payments-api", "-n", "payments")


@pytest.mark.parametrize(("value", "said"), [
    (-1, "suggest_rules_after: expected a whole number of at least 0"),
    ("five", "suggest_rules_after: expected a whole number"),
])
def test_suggest_rules_after_is_checked(value: object, said: str) -> None:
    raw = {**fixture_raw(), "suggest_rules_after": value}
    with pytest.raises(ConfigError, match=said):
        parse_config(raw, "atbat.yml")
    assert parse_config(fixture_raw(), "atbat.yml").suggest_rules_after == 5
    assert parse_config({**fixture_raw(), "suggest_rules_after": 0}).suggest_rules_after == 0


def test_a_label_value_that_would_not_fit_one_message_is_not_matched_on() -> None:
    config = load_config(FIXTURES / "atbat.yml")
    streak = [domain.fix_event(evidence(f"r{i}", note="x" * 500), "fixed", NOW, 60)
              for i in range(3)]
    rule = domain.suggested_rule(streak, config.teams["payments"], config.runbooks["restart-api"],
                                 ["apistuck-restart-api"])
    assert "note" not in rule["match"]
    assert rule["name"] == "apistuck-restart-api-2"  # the name taken gets a number


def test_the_yaml_shown_in_its_code_block_pastes_back_to_the_rule() -> None:
    config = load_config(FIXTURES / "atbat.yml")
    value = "a<b && c>d <!channel>"
    streak = [domain.fix_event(evidence(f"r{i}", owner=value), "fixed", NOW, 60) for i in range(3)]
    rule = domain.suggested_rule(streak, config.teams["payments"], config.runbooks["restart-api"],
                                 [])
    text = yaml.safe_dump({"auto_remediation": [rule]}, sort_keys=False, width=1000)
    suggestion = domain.new_suggestion("g1", KEY, streak, config.teams["payments"], rule, text, NOW)
    shown = suggestion_message(suggestion)["blocks"][1]["text"]["text"]
    assert shown.startswith("```") and shown.endswith("```") and shown.count("```") == 2
    assert "<" not in shown and "&&" not in shown  # Slack shows the entities as the characters
    copied = unescape(shown[3:-3])
    assert copied == text
    assert yaml.safe_load(copied)["auto_remediation"][0]["match"]["owner"] == value


# ---------------------------------------------------------------- end to end


@pytest.fixture
def config(tmp_path: Path):
    raw = fixture_raw()
    raw["suggest_rules_after"] = 3
    path = tmp_path / "atbat.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


class Flow:
    """Fire ApiStuck, press its Run button, approve, and resolve it, on the test clock."""

    def __init__(self, slack, workspace, runtime, run_jobs, run_scheduled, clock, app_server):
        self.slack, self.ws, self.rt = slack, workspace, runtime
        self.run_jobs, self.run_scheduled, self.clock = run_jobs, run_scheduled, clock
        self.app_server = app_server
        self.fired = 0

    def post(self, status: str, **labels: str) -> None:
        alert_labels = {**LABELS, **labels}
        alert = {"status": status, "labels": alert_labels,
                 "annotations": {"summary": "stuck", "atbat_runbook": "restart-api"},
                 "startsAt": f"2026-11-04T09:{self.fired:02d}:00Z", "fingerprint": "fp-api"}
        body = {"version": "4", "groupKey": '{}:{alertname="ApiStuck"}', "status": status,
                "receiver": "atbat", "groupLabels": {"alertname": "ApiStuck"},
                "commonLabels": {k: v for k, v in alert_labels.items() if k != "instance"},
                "commonAnnotations": alert["annotations"], "externalURL": "", "alerts": [alert]}
        assert post_am(self.app_server, body).status_code == 200
        self.run_jobs()

    def alert_message(self) -> dict[str, Any]:
        group = alert_store.get_group(self.rt.redis, KEY)
        ref = alert_store.get_message(self.rt.redis, KEY, group.occurrence)
        return self.ws.find_message(CHANNEL, ref.ts)

    def run_from_alert(self) -> str:
        self.slack.click(self.alert_message(), "alert_runbook", user="U0ALICE", channel=CHANNEL)
        self.run_jobs()
        [req] = [r for r in run_store.recent_runs(self.rt.redis, 1)]
        request = next(m for m in self.ws.messages(CHANNEL, include_replies=True)
                       if f"Run request {req.id}" in (m.get("text") or ""))
        self.slack.click(request, "run_approve", user="U0MANAGER", channel=CHANNEL)
        self.run_jobs()
        return req.id

    def occurrence(self, resolve_after: timedelta | None = timedelta(minutes=2),
                   **labels: str) -> str:
        self.fired += 1
        self.post("firing", **labels)
        run = self.run_from_alert()
        if resolve_after is not None:
            self.clock.advance(seconds=resolve_after.total_seconds())
            self.post("resolved", **labels)
        self.clock.advance(minutes=11)
        self.run_scheduled()
        self.run_jobs()
        if resolve_after is None:
            self.post("resolved", **labels)
        return run

    def suggestions(self, user: str = "U0MANAGER") -> list[dict[str, Any]]:
        return [m for m in self.ws.dms(user) if "Self-healing suggestion" in (m.get("text") or "")]


@pytest.fixture
def flow(slack, workspace, runtime, run_jobs, run_scheduled, clock, app_server) -> Flow:
    return Flow(slack, workspace, runtime, run_jobs, run_scheduled, clock, app_server)


def fixes(rt) -> list[dict[str, str]]:
    start, end = rt.now() - timedelta(days=2), rt.now() + timedelta(days=1)
    return [dict(e.fields) for e in history_store.read(rt.redis, "payments", "fix", start, end)]


def test_three_fixes_in_a_row_suggest_the_rule_once(flow, runtime, workspace, tmp_path,
                                                     capsys) -> None:
    runs = [flow.occurrence(instance=f"api-{i}") for i in range(2)]
    req = run_store.get_run(runtime.redis, runs[0])
    assert req.extra["from_alert"] == KEY and req.extra["alertname"] == "ApiStuck"
    assert json.loads(req.extra["alert_labels"])["service"] == "payments-api"
    request = next(e for e in audit.recent(runtime.redis, 200)
                   if e["action"] == "run.request" and e["details"]["run"] == runs[0])
    assert request["details"]["alert"] == KEY and request["details"]["alertname"] == "ApiStuck"
    assert [f["outcome"] for f in fixes(runtime)] == ["fixed", "fixed"]
    assert flow.suggestions() == []

    runs.append(flow.occurrence(instance="api-9"))
    [dm] = flow.suggestions()
    text = text_of(dm)
    assert "`restart-api` fixed *ApiStuck* the last 3 times" in text
    assert "<@U0ALICE>, <@U0MANAGER>" in text
    [snippet] = re.findall(r"```(.*?)```", text, re.S)
    pasted = yaml.safe_load(snippet)
    [rule] = pasted["auto_remediation"]
    assert rule == {"name": "apistuck-restart-api", "team": "payments",
                    "match": {"alertname": "ApiStuck", "service": "payments-api",
                              "severity": "critical"},
                    "runbook": "restart-api", "params": {"service": "{labels.service}"},
                    "page_after": "5m", "max_runs": "3 per 1h", "approved_by": ["U0MANAGER"]}
    dismiss = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in dismiss] == ["graduation_dismiss"]

    # Pasted into the real file, the config loads and the rule fires for the alert.
    raw = yaml.safe_load(Path(runtime.config.path).read_text())
    raw.update(pasted)
    pasted_path = tmp_path / "pasted.yml"
    pasted_path.write_text(yaml.safe_dump(raw))
    loaded = load_config(pasted_path)
    group = alert_store.get_group(runtime.redis, KEY)
    fired = plan(loaded, facts_of(group), runtime.now())
    assert fired.runs and fired.argv == ("echo", "restart", "deployment/payments-api", "-n",
                                         "payments")
    alert_file = tmp_path / "alert.json"
    alert_file.write_text(json.dumps({"labels": {**LABELS, "instance": "api-1"}}))
    assert cli.main(["remediation", "test", str(alert_file), "--config", str(pasted_path)]) == 0
    assert "rule apistuck-restart-api fires" in capsys.readouterr().out

    # Once: more fixes of the same key suggest nothing new.
    flow.occurrence(instance="api-3")
    assert len(flow.suggestions()) == 1
    suggested = [e for e in audit.recent(runtime.redis, 500) if e["action"] == "graduation.suggest"]
    assert len(suggested) == 1 and suggested[0]["details"]["runs"] == runs


def test_dismiss_by_a_manager_only_and_the_button_goes(flow, runtime, slack, workspace,
                                                        run_jobs) -> None:
    for i in range(3):
        flow.occurrence(instance=f"api-{i}")
    [dm] = flow.suggestions()
    slack.click(dm, "graduation_dismiss", user="U0ALICE", channel="D0MANAGER")
    run_jobs()
    assert "Only a manager of payments" in workspace.ephemerals(user="U0ALICE")[-1]["text"]
    slack.click(dm, "graduation_dismiss", user="U0MANAGER", channel="D0MANAGER")
    run_jobs()
    assert "will not suggest this rule again" in workspace.ephemerals(user="U0MANAGER")[-1]["text"]
    [redrawn] = flow.suggestions()
    assert not [b for b in redrawn["blocks"] if b["type"] == "actions"]
    assert "Dismissed by <@U0MANAGER>" in text_of(redrawn)
    slack.click(dm, "graduation_dismiss", user="U0MANAGER", channel="D0MANAGER")
    run_jobs()
    assert "Already dismissed" in workspace.ephemerals(user="U0MANAGER")[-1]["text"]
    assert [e["actor"] for e in audit.recent(runtime.redis, 500)
            if e["action"] == "graduation.dismiss"] == ["U0MANAGER"]


def test_a_late_resolve_or_a_failed_run_breaks_the_streak(flow, runtime) -> None:
    flow.occurrence()
    flow.occurrence(resolve_after=timedelta(minutes=10, seconds=40))  # after the 10 minutes
    flow.occurrence()
    flow.occurrence(resolve_after=None)  # still firing 10 minutes after the run
    flow.occurrence()
    assert [f["outcome"] for f in fixes(runtime)] == [
        "fixed", "the alert did not resolve within 10 minutes of the run", "fixed",
        "the alert did not resolve within 10 minutes of the run", "fixed"]
    assert flow.suggestions() == []
    flow.occurrence()
    assert flow.suggestions() == []  # two in a row since the last miss
    flow.occurrence()
    assert len(flow.suggestions()) == 1


def test_an_alert_a_rule_already_covers_is_not_suggested(flow, runtime, config, tmp_path) -> None:
    raw = yaml.safe_load(Path(config.path).read_text())
    raw["auto_remediation"] = [{"name": "heal", "team": "payments",
                                "match": {"alertname": "ApiStuck"}, "runbook": "restart-api",
                                "params": {"service": "{labels.service}"},
                                "hours": {"from": "03:00", "to": "04:00"},  # not now: people run it
                                "approved_by": ["U0MANAGER"]}]
    path = tmp_path / "covered.yml"
    path.write_text(yaml.safe_dump(raw))
    runtime.config = load_config(path)
    for _ in range(3):
        flow.occurrence()
    assert len(fixes(runtime)) == 3
    assert flow.suggestions() == []


def test_every_settle_and_suggestion_happens_once_with_racing_workers(flow, runtime) -> None:
    for i in range(3):
        flow.occurrence(instance=f"api-{i}")
    last = history_store.read(runtime.redis, "payments", "fix", runtime.now() - timedelta(days=1),
                              runtime.now() + timedelta(days=1))[-1]
    runtime.redis.delete(*runtime.redis.keys("atbat:suggestion*"))  # as if never suggested
    made: list[str | None] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        made.append(graduation.consider(runtime, "payments", last, runtime.now()))
        graduation.settle(runtime, last.get("run"))  # settled before: nothing new

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([m for m in made if m]) == 1
    assert len(fixes(runtime)) == 3


def test_a_lost_settle_job_is_made_up_by_the_periodic_check(flow, runtime, run_jobs) -> None:
    flow.fired += 1
    flow.post("firing")
    run = flow.run_from_alert()
    flow.clock.advance(minutes=2)
    flow.post("resolved")
    runtime.queue("atbat-default").scheduled_job_registry.remove(f"graduation-settle-{run}")
    graduation.check(runtime, runtime.now())  # 2 minutes after the run: not yet
    assert fixes(runtime) == []
    flow.clock.advance(minutes=9)
    run_checks(runtime, runtime.now(), CHECKS)
    run_jobs()
    [fix] = fixes(runtime)
    assert fix["run"] == run and fix["outcome"] == "fixed" and fix["seconds"] == "120"
    run_checks(runtime, runtime.now() + timedelta(minutes=1), CHECKS)
    assert len(fixes(runtime)) == 1
