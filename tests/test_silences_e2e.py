"""Silences from Slack against the real Alertmanager: the button, the modal, Expire,
Extend 1h, `/oncall silences`, refusals, outages and the expiry warning."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests

from bot.config import load_config
from bot.domain.alerts import parse_iso
from bot.domain.config import AlertmanagerAuth, AlertmanagerConfig, Config
from bot.oncall import team_schedule
from bot.services import silences as service
from bot.store import audit
from tests.conftest import FIXTURES, Clock
from tests.test_alerts_e2e import CHANNEL, action_ids, fixture, post_am, text_of, the_message

if TYPE_CHECKING:
    from tests.alertmanager import AlertmanagerServer

pytest_plugins = ("tests.alertmanager",)

LABELS = {"alertname": "PaymentsApiHighErrorRate", "instance": "payments-api-7d9f:8080",
          "job": "payments-api", "service": "payments-api", "severity": "critical",
          "team": "payments"}


@pytest.fixture
def clock() -> Clock:
    # Alertmanager refuses silences that end in the past: run on the real time.
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def config(alertmanager: AlertmanagerServer) -> Config:
    loaded = load_config(FIXTURES / "atbat.yml")
    teams = {name: replace(t, alertmanager=AlertmanagerConfig(alertmanager.url))
             for name, t in loaded.teams.items()}
    return replace(loaded, teams=teams)


def on_call(runtime) -> str:
    team = runtime.config.teams["payments"]
    return team_schedule(runtime.redis, team, runtime.now()).on_call_users(
        runtime.now(), layers=("primary",))[0]


def fire(app_server, run_jobs, body: dict[str, Any] | None = None) -> None:
    assert post_am(app_server, body or fixture("alertmanager_firing.json")).status_code == 200
    run_jobs()


def open_modal(slack, workspace, user: str) -> dict[str, Any]:
    before = {v["id"] for v in workspace.open_views(user)}
    slack.click(the_message(workspace), "alert_silence", user, CHANNEL)
    [view] = [v for v in workspace.open_views(user) if v["id"] not in before]
    return view


def prefilled(view: dict[str, Any]) -> str:
    block = next(b for b in view["blocks"] if b.get("block_id") == "matchers")
    return block["element"].get("initial_value", "")


def submit(slack, view: dict[str, Any], user: str, *, duration: str = "4h",
           matchers: str | None = None, comment: str = "fix is deploying",
           until: datetime | None = None) -> requests.Response:
    values: dict[str, Any] = {
        "duration": {"duration": {"type": "radio_buttons",
                                  "selected_option": {"value": duration}}},
        "matchers": {"matchers": prefilled(view) if matchers is None else matchers},
        "comment": {"comment": comment},
    }
    if until is not None:
        values["until"] = {"until": {"type": "datetimepicker",
                                     "selected_date_time": int(until.timestamp())}}
    return slack.submit_view(view, user, values)


def thread_messages(workspace) -> list[dict[str, Any]]:
    message = the_message(workspace)
    return [m for m in workspace.replies(CHANNEL, message["ts"]) if m["ts"] != message["ts"]]


def silence_message(workspace) -> dict[str, Any]:
    [found] = [m for m in thread_messages(workspace) if "Silence" in text_of(m)]
    return found


def audit_actions(runtime, prefix: str = "silence.") -> list[str]:
    return [e["action"] for e in reversed(audit.recent(runtime.redis, 200, prefix))]


def silence_keys(runtime) -> list[bytes]:
    return list(runtime.redis.scan_iter("atbat:silence*"))


# ---------------------------------------------------------------- the button and the modal


def test_silence_button_makes_a_real_silence_and_expire_ends_it_there(
        app_server, run_jobs, workspace, slack, runtime, alertmanager) -> None:
    fire(app_server, run_jobs)
    assert "alert_silence" in action_ids(the_message(workspace))
    user = on_call(runtime)
    view = open_modal(slack, workspace, user)
    assert prefilled(view).splitlines()[0] == 'alertname="PaymentsApiHighErrorRate"'
    answer = submit(slack, view, user)
    assert answer.status_code == 200 and not answer.content.strip(), answer.text
    run_jobs()

    [silence] = alertmanager.active()
    assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]} == {
        (k, v, False, True) for k, v in LABELS.items()}
    assert silence["comment"] == "fix is deploying"
    ends = parse_iso(silence["endsAt"].replace("Z", "+00:00")[:19] + "+00:00")
    assert abs(ends - (runtime.now() + timedelta(hours=4))) < timedelta(seconds=2)

    shown = silence_message(workspace)
    assert f"Silenced by <@{user}> until <!date^{int(runtime.now().timestamp()) + 4 * 3600}" \
        in text_of(shown)
    assert f"#/silences/{silence['id']}" in text_of(shown)
    assert action_ids(shown) == ["silence_expire", "silence_extend"]

    slack.click(shown, "silence_expire", user, CHANNEL)
    run_jobs()
    assert alertmanager.active() == []
    [after] = [s for s in alertmanager.silences() if s["id"] == silence["id"]]
    assert after["status"]["state"] == "expired"
    shown = silence_message(workspace)
    assert f"expired by <@{user}>" in text_of(shown) and action_ids(shown) == []
    assert audit_actions(runtime) == ["silence.create", "silence.expire"]

    # Pressed again (an old copy of the button): told, nothing more recorded.
    old_copy = {**shown, "blocks": [{"type": "actions", "elements": [
        {"type": "button", "action_id": "silence_expire", "value": f"payments:{silence['id']}",
         "text": {"type": "plain_text", "text": "Expire silence"}}]}]}
    slack.click(old_copy, "silence_expire", user, CHANNEL)
    run_jobs()
    assert audit_actions(runtime) == ["silence.create", "silence.expire"]
    assert "already ended" in workspace.ephemerals(user=user)[-1]["text"]


def test_an_acknowledged_group_can_be_silenced(app_server, run_jobs, workspace, slack,
                                               runtime, alertmanager) -> None:
    fire(app_server, run_jobs)
    user = on_call(runtime)
    slack.click(the_message(workspace), "alert_ack", user, CHANNEL)
    run_jobs()
    assert "alert_silence" in action_ids(the_message(workspace))
    view = open_modal(slack, workspace, user)
    assert submit(slack, view, user, duration="1h").status_code == 200
    assert len(alertmanager.active()) == 1


def test_matcher_values_with_quotes_regex_operators_unicode_and_length(
        app_server, run_jobs, workspace, slack, runtime, alertmanager) -> None:
    body = fixture("alertmanager_firing.json")
    odd = {"alertname": "Odd", "team": "payments", "quote": 'say "hi" \\ twice',
           "ops": 'a=~b!~c="d"', "city": "Zürich ✓ 東京 🚀", "long": "x" * 1500}
    body["alerts"][0]["labels"] = odd
    body["commonLabels"] = odd
    body["groupLabels"] = {"alertname": "Odd", "team": "payments"}
    body["groupKey"] = '{}:{alertname="Odd"}'
    fire(app_server, run_jobs, body)
    user = on_call(runtime)
    view = open_modal(slack, workspace, user)
    text = prefilled(view)
    assert 'quote="say \\"hi\\" \\\\ twice"' in text
    assert submit(slack, view, user).status_code == 200
    [silence] = alertmanager.active()
    assert {m["name"]: m["value"] for m in silence["matchers"]} == odd

    # A typed regex with a quote and unicode inside.
    view = open_modal(slack, workspace, user)
    typed = 'alertname=~"Odd|Even"\ncity=~"Zürich.*"\nquote!="no \\"way\\""'
    assert submit(slack, view, user, matchers=typed).status_code == 200
    newest = max(alertmanager.active(), key=lambda s: s["updatedAt"])
    assert sorted((m["name"], m["value"], m["isRegex"], m["isEqual"])
                  for m in newest["matchers"]) == [
        ("alertname", "Odd|Even", True, True), ("city", "Zürich.*", True, True),
        ("quote", 'no "way"', False, False)]


@pytest.mark.parametrize(("matchers", "duration", "until_days", "block", "says"), [
    ("", "1h", None, "matchers", "at least one matcher"),
    ('alertname=~".*"', "1h", None, "matchers", "match any alert"),
    ('alertname=~".*"\ninstance!="x"', "1h", None, "matchers", "require a value"),
    ('alertname="A', "1h", None, "matchers", "not closed"),
    ("alertname", "1h", None, "matchers", "Line 1"),
    ('alertname="PaymentsApiHighErrorRate"', "until", 8, "until", "at most 7 days"),
    ('alertname="PaymentsApiHighErrorRate"', "until", None, "until", "time"),
])
def test_refused_silences_say_why_in_the_modal_and_leave_nothing(
        app_server, run_jobs, workspace, slack, runtime, alertmanager,
        matchers: str, duration: str, until_days: int | None, block: str, says: str) -> None:
    fire(app_server, run_jobs)
    user = on_call(runtime)
    view = open_modal(slack, workspace, user)
    until = runtime.now() + timedelta(days=until_days) if until_days else None
    answer = submit(slack, view, user, matchers=matchers, duration=duration, until=until)
    body = answer.json()
    assert body["response_action"] == "errors" and says in body["errors"][block], body
    assert alertmanager.active() == [] and silence_keys(runtime) == []
    assert audit_actions(runtime) == []


def test_alertmanager_unreachable_or_refusing_leaves_nothing_half_recorded(
        app_server, run_jobs, workspace, slack, runtime, alertmanager) -> None:
    fire(app_server, run_jobs)
    user = on_call(runtime)
    # 4xx: Go's regexp has no lookahead, Python's has; Alertmanager answers 400.
    view = open_modal(slack, workspace, user)
    answer = submit(slack, view, user, matchers='alertname=~"(?=P)PaymentsApiHighErrorRate"')
    assert "Alertmanager answered 400" in answer.json()["errors"]["matchers"]
    # Unreachable: a port nobody listens on.
    from bot.sandbox.processes import free_port
    dead = AlertmanagerConfig(f"http://127.0.0.1:{free_port()}")
    team = replace(runtime.config.teams["payments"], alertmanager=dead)
    runtime.config = replace(runtime.config, teams={**runtime.config.teams, "payments": team})
    view = open_modal(slack, workspace, user)
    answer = submit(slack, view, user)
    assert "cannot be reached" in answer.json()["errors"]["matchers"]
    run_jobs()
    assert alertmanager.active() == [] and silence_keys(runtime) == []
    assert audit_actions(runtime) == [] and thread_messages(workspace) == [
        m for m in thread_messages(workspace) if "Silence" not in text_of(m)]
    reply = slack.slash("silences payments", user, CHANNEL)
    assert "cannot be reached" in reply.json()["text"]


def test_outsiders_cannot_silence(app_server, run_jobs, workspace, slack, runtime,
                                  alertmanager) -> None:
    fire(app_server, run_jobs)
    slack.click(the_message(workspace), "alert_silence", "U0OUTSIDER", CHANNEL)
    run_jobs()
    assert workspace.open_views("U0OUTSIDER") == []
    assert "Only members" in workspace.ephemerals(user="U0OUTSIDER")[-1]["text"]


# ---------------------------------------------------------------- listing, extending, warning


def test_oncall_silences_lists_with_expire_and_extend(app_server, run_jobs, workspace, slack,
                                                      runtime, alertmanager) -> None:
    fire(app_server, run_jobs)
    user = on_call(runtime)
    submit(slack, open_modal(slack, workspace, user), user, duration="1h")
    run_jobs()
    # One made in Alertmanager's own UI is listed too.
    outside = requests.post(f"{alertmanager.url}/api/v2/silences", json={
        "matchers": [{"name": "job", "value": "batch", "isRegex": False, "isEqual": True}],
        "startsAt": runtime.now().isoformat(), "endsAt": (runtime.now() + timedelta(hours=2))
        .isoformat(), "createdBy": "ops <ops@example.com>", "comment": "<b>night</b>"},
        timeout=5).json()["silenceID"]
    reply = slack.slash("silences payments", user, CHANNEL).json()
    listed = {"text": reply["text"], "blocks": reply["blocks"], "ts": "1.0"}
    shown = text_of(listed)
    assert "ops &lt;ops@example.com&gt;" in shown and "&lt;b&gt;night" in shown
    assert action_ids(listed).count("silence_expire") == 2
    assert action_ids(listed).count("silence_extend") == 2

    [ours] = [s for s in alertmanager.active() if s["id"] != outside]
    before = parse_iso(ours["endsAt"][:19] + "+00:00")
    button_msg = silence_message(workspace)
    slack.click(button_msg, "silence_extend", user, CHANNEL)
    run_jobs()
    [extended] = [s for s in alertmanager.active() if s["id"] != outside]
    after = parse_iso(extended["endsAt"][:19] + "+00:00")
    assert after - before == timedelta(hours=1)
    assert f"#/silences/{extended['id']}" in text_of(silence_message(workspace))
    assert audit_actions(runtime) == ["silence.create", "silence.extend"]


def test_expiry_warning_goes_once_to_the_creator_or_the_on_call(
        app_server, run_jobs, workspace, slack, runtime, alertmanager, clock) -> None:
    fire(app_server, run_jobs)
    team = runtime.config.teams["payments"]
    on = on_call(runtime)
    off = next(m for m in ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN")
               if m not in team_schedule(runtime.redis, team, runtime.now())
               .on_call_users(runtime.now()))
    submit(slack, open_modal(slack, workspace, on), on, duration="1h")
    run_jobs()
    dms_before = {u: len(workspace.dms(u)) for u in (on, off)}
    clock.advance(minutes=44)
    service.warn_expiring(runtime, runtime.now())
    run_jobs()
    assert len(workspace.dms(on)) == dms_before[on]  # not yet
    clock.advance(minutes=2)
    for _ in range(2):  # a second check (another worker) warns nobody again
        service.warn_expiring(runtime, runtime.now())
        run_jobs()
    [warning] = workspace.dms(on)[dms_before[on]:]
    assert "Your silence" in text_of(warning) and action_ids(warning) == ["silence_extend"]
    # Extend from the DM: the button is spent, the silence lasts an hour more.
    ends = parse_iso(alertmanager.active()[0]["endsAt"][:19] + "+00:00")
    slack.click(warning, "silence_extend", on, "D" + on[1:])
    run_jobs()
    assert parse_iso(alertmanager.active()[0]["endsAt"][:19] + "+00:00") - ends == \
        timedelta(hours=1)
    assert action_ids(workspace.dms(on)[dms_before[on]]) == []
    assert audit_actions(runtime) == ["silence.create", "silence.warn", "silence.extend"]

    # A silence by someone off shift: the on-call is told.
    clock.advance(minutes=1)
    view = open_modal(slack, workspace, off)
    submit(slack, view, off, duration="1h", matchers='alertname="Other"')
    run_jobs()
    clock.advance(minutes=46)
    service.warn_expiring(runtime, runtime.now())
    service.warn_expiring(runtime, runtime.now())
    run_jobs()
    assert len(workspace.dms(off)) == dms_before[off]
    told = [m for m in workspace.dms(on) if f"A silence by <@{off}>" in text_of(m)]
    assert len(told) == 1 and "off shift" in text_of(told[0])


def test_config_validates_alertmanager_and_heartbeats() -> None:
    import yaml

    from bot.config import ConfigError, parse_config
    base = yaml.safe_load((FIXTURES / "atbat.yml").read_text())
    cases = [
        ({"alertmanager": {"url": "ftp://x"}}, "alertmanager.url: expected an http(s) URL"),
        ({"alertmanager": {"url": "http://u:p@am:9093"}}, "credentials go under auth"),
        ({"alertmanager": {"url": "http://am:9093", "auth": {"type": "digest"}}},
         "alertmanager.auth.type: expected basic or bearer"),
        ({"alertmanager": {"url": "http://am:9093", "auth": {"type": "basic",
                                                             "username": "atbat"}}},
         "alertmanager.auth.password_env: is required"),
        ({"alertmanager": {"url": "http://am:9093", "auth": {"type": "bearer",
                                                             "token_env": "A-B"}}},
         "alertmanager.auth.token_env: expected the name of an environment variable"),
    ]
    for extra, expected in cases:
        with pytest.raises(ConfigError) as err:
            parse_config({**copy.deepcopy(base), **extra})
        assert expected in str(err.value), str(err.value)
    ok = parse_config({**copy.deepcopy(base), "alertmanager": {
        "url": "http://am:9093/", "auth": {"type": "bearer", "token_env": "AM_TOKEN"}}})
    assert ok.teams["payments"].alertmanager.url == "http://am:9093"
    assert json.dumps(ok.teams["search"].alertmanager.auth.secret_env) == '"AM_TOKEN"'


def test_a_silence_that_runs_out_loses_its_buttons_once(
        app_server, run_jobs, workspace, slack, runtime, alertmanager, clock) -> None:  # noqa: ANN001
    fire(app_server, run_jobs)
    user = on_call(runtime)
    submit(slack, open_modal(slack, workspace, user), user, duration="1h")
    run_jobs()
    assert action_ids(silence_message(workspace)) == ["silence_expire", "silence_extend"]
    clock.advance(minutes=30)
    service.close_ended(runtime, runtime.now())
    run_jobs()
    assert action_ids(silence_message(workspace)) != []  # not yet
    clock.advance(minutes=31)
    for _ in range(2):  # a second check changes nothing
        service.close_ended(runtime, runtime.now())
        run_jobs()
    shown = silence_message(workspace)
    assert "has ended" in text_of(shown) and action_ids(shown) == []
    assert audit_actions(runtime) == ["silence.create", "silence.ended"]


def test_basic_auth_with_the_password_from_the_environment(
        app_server, run_jobs, workspace, slack, runtime, alertmanager_basic_auth) -> None:  # noqa: ANN001
    from tests.alertmanager import BASIC_PASSWORD, BASIC_USER
    am = alertmanager_basic_auth
    am.clear()
    auth = AlertmanagerAuth("basic", "ALERTMANAGER_PASSWORD", BASIC_USER)
    team = replace(runtime.config.teams["payments"],
                   alertmanager=AlertmanagerConfig(am.url, auth))
    runtime.config = replace(runtime.config, teams={**runtime.config.teams, "payments": team})
    fire(app_server, run_jobs)
    user = on_call(runtime)
    assert requests.get(f"{am.url}/api/v2/silences", timeout=5).status_code == 401

    runtime.settings = replace(runtime.settings, env={})
    answer = submit(slack, open_modal(slack, workspace, user), user)
    assert "ALERTMANAGER_PASSWORD is not set" in answer.json()["errors"]["matchers"]
    runtime.settings = replace(runtime.settings, env={"ALERTMANAGER_PASSWORD": "wrong"})
    answer = submit(slack, open_modal(slack, workspace, user), user)
    assert "Alertmanager answered 401" in answer.json()["errors"]["matchers"]
    assert am.active() == [] and silence_keys(runtime) == []

    runtime.settings = replace(runtime.settings, env={"ALERTMANAGER_PASSWORD": BASIC_PASSWORD})
    answer = submit(slack, open_modal(slack, workspace, user), user)
    assert answer.status_code == 200 and not answer.content.strip(), answer.text
    [silence] = am.active()
    assert silence["createdBy"] == f"{user} via atbat"
    reply = slack.slash("silences payments", user, CHANNEL).json()
    assert "1 active silences" in reply["text"]


def silence_ending_while_slack_is_away(app_server, run_jobs, workspace, slack, runtime, clock,
                                      monkeypatch) -> tuple[str, int]:  # noqa: ANN001
    """The on-call silences the alert for 1h; 46 minutes later (its warning due) Slack goes
    away, and an outage fails fast. Returns who silenced it and how many DMs they had."""
    monkeypatch.setattr(runtime.sender, "max_attempts", 2)
    fire(app_server, run_jobs)
    user = on_call(runtime)
    submit(slack, open_modal(slack, workspace, user), user, duration="1h")
    run_jobs()
    before = len(workspace.dms(user))
    clock.advance(minutes=46)
    workspace.fail_next("chat.postMessage", status=503, count=10_000)
    return user, before


def test_a_warning_made_during_a_two_minute_outage_arrives_once_after_it(
        app_server, run_jobs, run_scheduled, workspace, slack, runtime, alertmanager, clock,
        monkeypatch) -> None:  # noqa: ANN001
    user, before = silence_ending_while_slack_is_away(app_server, run_jobs, workspace, slack,
                                                      runtime, clock, monkeypatch)
    def checks(n: int) -> None:  # the periodic check every 10 s, with the jobs it queued
        for _ in range(n):
            service.warn_expiring(runtime, runtime.now())
            run_scheduled()
            run_jobs()
            clock.advance(seconds=10)

    checks(12)  # two minutes
    assert len(workspace.dms(user)) == before
    workspace.faults.clear()  # Slack is back
    checks(36)
    warnings = [m for m in workspace.dms(user)[before:] if "Your silence" in text_of(m)]
    assert len(warnings) == 1
    assert audit_actions(runtime).count("silence.warn") == 1  # claimed once, not per retry


def test_a_warning_still_owed_when_the_silence_ends_is_dropped(
        app_server, run_jobs, run_scheduled, workspace, slack, runtime, alertmanager, clock,
        monkeypatch) -> None:  # noqa: ANN001
    user, before = silence_ending_while_slack_is_away(app_server, run_jobs, workspace, slack,
                                                      runtime, clock, monkeypatch)
    service.warn_expiring(runtime, runtime.now())
    run_jobs()
    clock.advance(minutes=15)  # the silence has ended meanwhile
    workspace.faults.clear()
    for _ in range(40):
        clock.advance(seconds=10)
        run_scheduled()
        run_jobs()
    assert [m for m in workspace.dms(user)[before:] if "Your silence" in text_of(m)] == []
