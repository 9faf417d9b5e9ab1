"""Heartbeats end to end: beats over HTTP and through Alertmanager, a missing heartbeat paged
once (also across worker restarts), the next beat resolving it, `/oncall heartbeats`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import requests

from bot.config import load_config
from bot.domain.config import Config, Heartbeat
from bot.services import alerts as alert_service
from bot.services import heartbeats as service
from bot.store import alerts as alert_store
from bot.store import audit
from bot.store import heartbeats as store
from tests.conftest import FIXTURES
from tests.test_alerts_e2e import CHANNEL, fixture, page_dms, post_am, text_of

TOKEN = "heartbeat-token-0123456789"


@pytest.fixture
def config() -> Config:
    loaded = load_config(FIXTURES / "atbat.yml")
    beat = Heartbeat(name="prometheus", team="payments", timeout=timedelta(seconds=5),
                     token_env="ATBAT_HEARTBEAT_PROMETHEUS")
    return replace(loaded, heartbeats={"prometheus": beat})


@pytest.fixture(autouse=True)
def token(runtime) -> None:
    runtime.settings = replace(runtime.settings, env={"ATBAT_HEARTBEAT_PROMETHEUS": TOKEN})


def beat(app_server, token: str = TOKEN, name: str = "prometheus") -> requests.Response:
    return requests.post(f"{app_server.url}/heartbeat/{name}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def alert_messages(workspace) -> list[dict]:
    return [m for m in workspace.messages(CHANNEL) if "Heartbeat prometheus" in text_of(m)]


def check(runtime, run_jobs) -> None:
    """One periodic pass, then a fresh worker runs what it queued (a restart in between)."""
    service.check(runtime, runtime.now())
    alert_service.catch_up(runtime, runtime.now())
    run_jobs()


def test_beat_route_answers_by_token_and_name(app_server, runtime) -> None:
    assert beat(app_server).status_code == 200
    assert beat(app_server, token="wrong").status_code == 401
    assert requests.post(f"{app_server.url}/heartbeat/prometheus", timeout=10).status_code == 401
    assert beat(app_server, name="nope").status_code == 404
    assert store.get(runtime.redis, "prometheus").last_beat == runtime.now()


def test_missing_heartbeat_pages_once_and_the_next_beat_resolves_it(
        app_server, run_jobs, workspace, runtime, clock) -> None:
    assert beat(app_server).status_code == 200
    last = runtime.now()
    clock.advance(seconds=4)
    check(runtime, run_jobs)
    assert alert_messages(workspace) == []
    clock.advance(seconds=2)  # 6 s since the last beat, timeout 5 s
    for _ in range(3):  # more checks and worker restarts: still one alert, one page
        check(runtime, run_jobs)
        clock.advance(seconds=1)
    [message] = alert_messages(workspace)
    since = last.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"Heartbeat prometheus missing since {since}" in text_of(message)
    assert "FIRING" in text_of(message)
    assert len(workspace.dms("U0ALICE")) == 1
    assert store.get(runtime.redis, "prometheus").missing

    assert beat(app_server).status_code == 200
    run_jobs()
    [message] = alert_messages(workspace)
    assert "RESOLVED" in text_of(message)
    check(runtime, run_jobs)
    assert len(page_dms(workspace, "U0ALICE")) == 1  # (and the feedback question)
    assert not store.get(runtime.redis, "prometheus").missing
    actions = [e["action"] for e in reversed(audit.recent(runtime.redis, 50, "heartbeat."))]
    assert actions == ["heartbeat.missing", "heartbeat.recovered"]


def test_a_missing_alert_resolved_by_hand_is_not_paged_again_in_the_same_outage(
        app_server, run_jobs, workspace, runtime, clock, slack) -> None:
    check(runtime, run_jobs)  # watching starts now: no beat yet
    clock.advance(seconds=6)
    check(runtime, run_jobs)
    [message] = alert_messages(workspace)
    assert "atbat started watching" in str(alert_store.get_group(
        runtime.redis, service.alert_key(runtime.config.heartbeats["prometheus"])).to_dict())
    slack.click(message, "alert_resolve", "U0ALICE", CHANNEL)
    run_jobs()
    clock.advance(minutes=5)
    check(runtime, run_jobs)
    assert len(alert_messages(workspace)) == 1 and len(page_dms(workspace, "U0ALICE")) == 1


def test_alertmanager_watchdog_with_the_label_is_a_beat_not_an_alert(
        app_server, run_jobs, workspace, runtime, clock) -> None:
    body = fixture("alertmanager_firing.json")
    watchdog = {"alertname": "Watchdog", "atbat_heartbeat": "prometheus", "severity": "none"}
    body["alerts"][0]["labels"] = watchdog
    body["commonLabels"] = watchdog
    body["groupLabels"] = {"alertname": "Watchdog"}
    body["groupKey"] = '{}:{alertname="Watchdog"}'
    answer = post_am(app_server, body)
    assert answer.status_code == 200, answer.text
    run_jobs()
    assert workspace.messages(CHANNEL) == []
    assert store.get(runtime.redis, "prometheus").last_beat == runtime.now()
    clock.advance(seconds=6)
    check(runtime, run_jobs)
    assert len(alert_messages(workspace)) == 1
    clock.advance(seconds=30)
    assert post_am(app_server, body).status_code == 200
    run_jobs()
    assert "RESOLVED" in text_of(alert_messages(workspace)[0])


def test_oncall_heartbeats_shows_the_last_beat(app_server, run_jobs, slack, runtime,
                                               clock) -> None:
    text = str(slack.slash("heartbeats", "U0BOB", CHANNEL).json())
    assert "prometheus" in text and "no beat yet" in text
    beat(app_server)
    clock.advance(seconds=10)
    check(runtime, run_jobs)
    text = str(slack.slash("heartbeats", "U0BOB", CHANNEL).json())
    assert "MISSING" in text and "last beat <!date^" in text


@pytest.mark.parametrize(("heartbeats", "expected"), [
    ({"prom": {"team": "nope", "timeout": "5m", "token_env": "T"}},
     "heartbeats.prom.team: expected a team defined under teams: payments, search"),
    ({"prom": {"team": "payments", "timeout": "soon", "token_env": "T"}},
     'heartbeats.prom.timeout: expected a duration like 12h, 1d or 1w, got "soon"'),
    ({"prom": {"team": "payments", "timeout": "0s", "token_env": "T"}},
     "heartbeats.prom.timeout: expected a duration greater than zero"),
    ({"prom": {"team": "payments", "timeout": "5m", "token_env": "MY-TOKEN"}},
     "heartbeats.prom.token_env: expected the name of an environment variable"),
    ({"prom": {"team": "payments", "timeout": "5m"}}, "heartbeats.prom.token_env: is required"),
    ({"prom": {"team": "payments", "timeout": "5m", "token_env": "T", "token": "x"}},
     "heartbeats.prom.token: unknown key"),
    ({"Prom!": {"team": "payments", "timeout": "5m", "token_env": "T"}},
     "heartbeats.Prom!: expected a heartbeat name"),
    (["prom"], "heartbeats: expected a mapping of heartbeat names"),
])
def test_heartbeat_config_errors_name_the_key(heartbeats: object, expected: str) -> None:
    import yaml

    from bot.config import ConfigError, parse_config
    raw = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    with pytest.raises(ConfigError) as err:
        parse_config({**raw, "heartbeats": heartbeats})
    assert expected in str(err.value), str(err.value)
