"""`atbat remediation test ALERT.json`: which rule would fire, the exact argv, or why not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


def rule(**changes) -> dict:
    base = {"name": "restart-stuck", "team": "payments",
            "match": {"alertname": "ApiStuck", "instance": {"regex": "api-[0-9]+"}},
            "runbook": "restart-api", "params": {"service": "{labels.service}"},
            "page_after": "5m", "approved_by": ["U0MANAGER"]}
    base.update(changes)
    return base


@pytest.fixture
def config(tmp_path: Path) -> Path:
    raw = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    raw["auto_remediation"] = [
        rule(name="night-only", hours={"from": "22:00", "to": "06:00"}),
        rule(name="other-alert", match={"alertname": "DiskFull"}),
        rule(),
    ]
    path = tmp_path / "atbat.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def labels(**more: str) -> dict[str, str]:
    return {"alertname": "ApiStuck", "team": "payments", "instance": "api-7",
            "service": "payments-api", **more}


def webhook(*alerts: dict[str, str]) -> dict:
    return {"version": "4", "groupKey": '{}:{alertname="ApiStuck"}', "status": "firing",
            "receiver": "atbat", "groupLabels": {"alertname": "ApiStuck"},
            "commonLabels": {"alertname": "ApiStuck", "team": "payments"},
            "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": a, "annotations": {},
                        "startsAt": "2026-12-01T11:00:00Z"} for a in alerts]}


def run(tmp_path: Path, config: Path, body: object, *extra: str,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    alert = tmp_path / "alert.json"
    alert.write_text(body if isinstance(body, str) else json.dumps(body))
    code = main(["remediation", "test", str(alert), "--config", str(config),
                 "--at", "2026-12-01T12:00:00Z", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_webhook_payload_says_which_rule_fires_and_the_exact_argv(tmp_path, config, capsys):
    code, out, err = run(tmp_path, config, webhook(labels()), capsys=capsys)
    assert code == 0, err
    assert "rule night-only: outside its hours" in out
    assert "rule other-alert: labels do not match" in out
    assert "rule restart-stuck fires: runs restart-api" in out
    assert "argv: echo restart deployment/payments-api -n payments" in out
    assert 'argv (JSON): ["echo", "restart", "deployment/payments-api", "-n", "payments"]' in out
    assert "pages after 5m if still firing; at most 3 runs per 1h" in out
    assert "kill switch" in out  # says what it did not look at


def test_one_alert_of_a_payload_is_enough(tmp_path, config, capsys):
    code, out, _ = run(tmp_path, config, {"labels": labels()}, capsys=capsys)
    assert code == 0
    assert "argv: echo restart deployment/payments-api -n payments" in out


def test_labels_that_differ_between_alerts_of_the_group_are_not_used(tmp_path, config, capsys):
    # As on ingest: only what every firing alert shares is matched on.
    body = webhook(labels(service="payments-api"), labels(service="payments-worker"))
    code, out, _ = run(tmp_path, config, body, capsys=capsys)
    assert code == 1
    assert "would not run: Parameter `service` takes {labels.service}" in out


def test_an_events_v2_trigger_by_routing_key(tmp_path, config, capsys):
    event = {"routing_key": "R0PAYMENTSROUTINGKEY0000000000AB", "event_action": "trigger",
             "payload": {"summary": "stuck", "source": "api", "severity": "critical",
                         "custom_details": {"alertname": "ApiStuck", "instance": "api-3",
                                            "service": "payments-worker"}}}
    code, out, _ = run(tmp_path, config, event, capsys=capsys)
    assert code == 0
    assert "source events" in out
    assert "argv: echo restart deployment/payments-worker -n payments" in out


@pytest.mark.parametrize("value", ["x; rm -rf /", "-rf", "payments-api\nid", "a" * 10_000,
                                   "pаyments-api"])
def test_a_hostile_label_value_is_refused_and_nothing_runs(tmp_path, config, capsys, value):
    code, out, _ = run(tmp_path, config, {"labels": labels(service=value)}, capsys=capsys)
    assert code == 1
    assert "rule restart-stuck: matches, but restart-api would not run: Parameter `service`" in out
    assert "nothing would run: the alert pages at once" in out
    assert "argv:" not in out
    assert "\nid" not in out  # the value is shown quoted, never as raw lines


def test_no_rule_matches(tmp_path, config, capsys):
    code, out, _ = run(tmp_path, config, {"labels": labels(alertname="Other")}, capsys=capsys)
    assert code == 1
    assert "rule restart-stuck: labels do not match" in out
    assert "nothing would run: paging as usual" in out


def test_a_team_without_rules(tmp_path, config, capsys):
    code, out, _ = run(tmp_path, config, {"labels": labels(team="search")}, capsys=capsys)
    assert code == 1
    assert "no auto_remediation rule for team search" in out


@pytest.mark.parametrize(("body", "extra", "said"), [
    ('{"labels": ', (), "invalid JSON: Expecting value at line 1 column 12"),
    ("[1, 2]", (), "expected a JSON object"),
    ({"labels": labels(team="nope")}, (), 'unknown team "nope" (known teams: payments, search)'),
    ({"labels": {"alertname": "ApiStuck"}}, (), "no team: set a team label"),
    ({"labels": labels()}, ("--team", "ghost"), 'unknown team "ghost"'),
    ({"version": "4", "alerts": []}, (), "groupKey is required"),
])
def test_a_bad_file_or_team_is_one_clear_line_and_exit_2(tmp_path, config, capsys, body, extra,
                                                          said):
    code, out, err = run(tmp_path, config, body, *extra, capsys=capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and said in err, err


def test_the_installed_command_reads_standard_input(tmp_path, config):
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "remediation", "test", "-", "--config", str(config),
         "--at", "2026-12-01T12:00:00Z"],
        input=json.dumps(webhook(labels())), capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "rule restart-stuck fires: runs restart-api" in done.stdout
