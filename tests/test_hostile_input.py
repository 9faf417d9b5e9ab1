"""Hostile or odd input gets a clean answer: deep JSON, huge bodies, unknown methods,
peeking at health details, the PagerDuty path, Declare incident by a stranger."""

from __future__ import annotations

import json
from dataclasses import replace

import requests

from tests.conftest import ALERT_TOKEN, FIXTURES, METRICS_TOKEN

AUTH = {"Authorization": f"Bearer {ALERT_TOKEN}"}
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


def event() -> dict:
    return json.loads((FIXTURES / "events_trigger.json").read_text())


def test_deeply_nested_json_is_a_400_on_both_webhooks(app_server) -> None:
    for path in ("/alerts/alertmanager", "/alerts/events", "/v2/enqueue"):
        for body in (DEEP, DEEP_OBJECT):
            answer = requests.post(f"{app_server.url}{path}", data=body, headers=AUTH, timeout=30)
            assert answer.status_code == 400, (path, answer.text[:200])
            assert "nested too deeply" in answer.text
    # Without credentials nothing is parsed for the caller's benefit: 401.
    for path in ("/alerts/alertmanager", "/alerts/events"):
        assert requests.post(f"{app_server.url}{path}", data=DEEP, timeout=30).status_code == 401


def test_events_bodies_over_512_kb_are_refused(app_server) -> None:
    big = event()
    big["payload"]["custom_details"] = {"blob": "x" * (520 * 1024)}
    answer = requests.post(f"{app_server.url}/alerts/events", json=big, headers=AUTH, timeout=30)
    assert answer.status_code == 413
    small = event()
    small["payload"]["custom_details"] = {"blob": "x" * (400 * 1024)}
    ok = requests.post(f"{app_server.url}/alerts/events", json=small, headers=AUTH, timeout=30)
    assert ok.status_code == 202


def test_pagerduty_clients_post_to_base_v2_enqueue(app_server, run_jobs, workspace) -> None:
    # What a PagerDuty client sends: POST <base>/v2/enqueue, the routing key in the body.
    for base in (app_server.url, f"{app_server.url}/alerts/events"):
        body = dict(event(), dedup_key=f"pd-{len(base)}")
        answer = requests.post(f"{base}/v2/enqueue", json=body, timeout=10)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "success"
        assert answer.json()["dedup_key"] == body["dedup_key"]
    run_jobs()
    assert len([m for m in workspace.messages("C0PAYMENTS") if m.get("blocks")]) == 2


def test_healthz_details_and_metrics_need_the_metrics_token(app_server) -> None:
    bare = requests.get(f"{app_server.url}/healthz", timeout=5)
    assert bare.status_code == 200 and bare.json() == {"status": "ok"}
    wrong = requests.get(f"{app_server.url}/healthz", timeout=5,
                         headers={"Authorization": "Bearer nope"})
    assert wrong.json() == {"status": "ok"}
    assert requests.get(f"{app_server.url}/metrics", timeout=5).status_code == 401
    detailed = requests.get(f"{app_server.url}/healthz", timeout=5,
                            headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert set(detailed.json()["queues"]) >= {"atbat-urgent", "atbat-default", "atbat-runs"}


def test_without_a_metrics_token_healthz_says_only_ok_and_metrics_is_not_served(
        app_server, runtime, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, metrics_token=None))
    for headers in ({}, {"Authorization": f"Bearer {METRICS_TOKEN}"}, {"Authorization": "Bearer "}):
        health = requests.get(f"{app_server.url}/healthz", timeout=5, headers=headers)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        metrics = requests.get(f"{app_server.url}/metrics", timeout=5, headers=headers)
        assert metrics.status_code == 403
        assert metrics.text == "forbidden: set ATBAT_METRICS_TOKEN to serve /metrics\n"


def test_unknown_http_methods_share_one_metrics_series(app_server) -> None:
    for method in ("FOO", "BAR", "PROPFIND", "X" * 50):
        requests.request(method, f"{app_server.url}/healthz", timeout=5)
    requests.get(f"{app_server.url}/healthz", timeout=5)
    text = requests.get(f"{app_server.url}/metrics", timeout=5,
                        headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    lines = [line for line in text.splitlines() if line.startswith("atbat_http_requests_total")]
    assert 'atbat_http_requests_total{route="unmatched",method="OTHER",status="405"} 4' in lines
    assert not any("FOO" in line or "PROPFIND" in line for line in lines)


def test_declare_incident_from_an_alert_needs_the_same_right_as_the_other_buttons(
        app_server, slack, run_jobs, workspace) -> None:
    body = (FIXTURES / "alertmanager_firing.json").read_bytes()
    assert requests.post(f"{app_server.url}/alerts/alertmanager", data=body, headers=AUTH,
                         timeout=10).status_code == 200
    run_jobs()
    [alert] = [m for m in workspace.messages("C0PAYMENTS") if m.get("blocks")]
    slack.click(alert, "alert_incident", user="U0OUTSIDER", channel="C0PAYMENTS")
    run_jobs()
    told = [m.get("text", "") for m in workspace.ephemerals(user="U0OUTSIDER")]
    assert any("Only members, managers and the on-call of payments" in t for t in told)
    assert not [c for c in workspace.channels.values() if c.name.startswith("inc-")]
    slack.click(alert, "alert_incident", user="U0ALICE", channel="C0PAYMENTS")
    run_jobs()
    assert [c for c in workspace.channels.values() if c.name.startswith("inc-")]
