"""Alert webhooks, the alert-group state machine, escalation math and rendering."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import alert_payloads, alerts
from bot.domain.alert_payloads import PayloadError, parse_alertmanager, parse_events_v2
from bot.domain.alerts import (
    AlertGroup,
    AlertTransitionError,
    acknowledge,
    apply_batch,
    apply_event,
    resolve,
)
from bot.domain.escalation import (
    EscalationPolicy,
    EscalationStep,
    escalate_now,
    escalation_plan,
    mark_notified,
    next_step,
)
from bot.domain.timefmt import human_duration
from bot.slack import render_alerts

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 3, 10, 16, tzinfo=UTC)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def opened(name: str = "alertmanager_firing.json", now: datetime = T0) -> AlertGroup:
    group, change = apply_batch(None, parse_alertmanager(raw(name)), now)
    assert change.kind == "opened"
    return group


def event(name: str, **overrides) -> alerts.AlertEvent:
    body = fixture(name)
    body.update(overrides)
    return parse_events_v2(body).with_team("payments")


# ---------------------------------------------------------------- Alertmanager parsing


def test_parse_firing_fixture():
    batch = parse_alertmanager(raw("alertmanager_firing.json"))
    assert batch.team == "payments"
    assert batch.status == "firing"
    (alert,) = batch.alerts
    assert alert.fingerprint == "3a7c1e9b2d4f6a80"
    assert alert.starts_at == datetime(2026, 11, 3, 10, 15, 30, 123456, tzinfo=UTC)
    assert alert.ends_at is None  # Alertmanager's zero time means "not ended"
    assert alert.labels["service"] == "payments-api"


def test_parse_resolved_fixture_keeps_same_group_key():
    firing = parse_alertmanager(raw("alertmanager_firing.json"))
    resolved = parse_alertmanager(raw("alertmanager_resolved.json"))
    assert resolved.status == "resolved"
    assert resolved.alerts[0].ends_at == datetime(2026, 11, 3, 10, 42, 0, 500000, tzinfo=UTC)
    assert resolved.key == firing.key
    assert firing.key.startswith("am-")


def test_parse_group_and_truncated_fixtures():
    group = parse_alertmanager(raw("alertmanager_group.json"))
    assert [a.status for a in group.alerts] == ["firing", "firing", "firing", "resolved"]
    truncated = parse_alertmanager(raw("alertmanager_truncated.json"))
    assert truncated.truncated == 5
    assert truncated.team is None  # no team label anywhere: the caller must refuse it


def test_team_param_wins_and_changes_the_key():
    plain = parse_alertmanager(raw("alertmanager_truncated.json"), "payments")
    other = parse_alertmanager(raw("alertmanager_truncated.json"), "search")
    assert plain.team == "payments"
    assert plain.key != other.key


def test_team_from_alert_labels_when_not_common():
    body = fixture("alertmanager_truncated.json")
    body["alerts"][1]["labels"]["team"] = "storage"
    assert parse_alertmanager(body).team == "storage"


def test_missing_fingerprint_is_derived_from_labels():
    body = fixture("alertmanager_group.json")
    for a in body["alerts"]:
        del a["fingerprint"]
    batch = parse_alertmanager(body)
    again = parse_alertmanager(copy.deepcopy(body))
    assert len({a.fingerprint for a in batch.alerts}) == 4
    assert [a.fingerprint for a in batch.alerts] == [a.fingerprint for a in again.alerts]


def _mutated(mutate) -> dict:
    body = fixture("alertmanager_group.json")
    mutate(body)
    return body


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda b: b["alerts"][2].__setitem__("labels", ["a"]), "alerts[2].labels: expected an object"),
    (lambda b: b.__setitem__("version", "3"), 'version: expected "4", got "3"'),
    (lambda b: b.pop("version"), 'version is required (expected "4")'),
    (lambda b: b.pop("groupKey"), "groupKey is required"),
    (lambda b: b.__setitem__("status", "pending"), "status: expected firing or resolved"),
    (lambda b: b.__setitem__("alerts", {}), "alerts: expected a list"),
    (lambda b: b.__setitem__("alerts", []), "alerts: expected at least one alert"),
    (lambda b: b["alerts"].__setitem__(1, "x"), "alerts[1]: expected an object"),
    (lambda b: b["alerts"][0].__setitem__("status", "ok"),
     "alerts[0].status: expected firing or resolved"),
    (lambda b: b["alerts"][3]["labels"].__setitem__("job", 5),
     "alerts[3].labels.job: expected a string"),
    (lambda b: b["alerts"][0].__setitem__("startsAt", "yesterday"),
     'alerts[0].startsAt: expected an RFC 3339 date-time, got "yesterday"'),
    (lambda b: b.__setitem__("commonLabels", "x"), "commonLabels: expected an object"),
    (lambda b: b.__setitem__("truncatedAlerts", -1),
     "truncatedAlerts: expected a non-negative integer"),
])
def test_malformed_alertmanager_reasons(mutate, reason):
    with pytest.raises(PayloadError) as err:
        parse_alertmanager(_mutated(mutate))
    assert err.value.reason == reason


@pytest.mark.parametrize(("body", "reason"), [
    (b"{nope", "invalid JSON: Expecting property name enclosed in double quotes at line 1 "
               "column 2"),
    (b"[1, 2]", "expected a JSON object"),
    (b"\xff\xfe", "invalid JSON: the body is not UTF-8"),
])
def test_invalid_json_reasons(body, reason):
    with pytest.raises(PayloadError) as err:
        parse_alertmanager(body)
    assert err.value.reason == reason


# ---------------------------------------------------------------- Events v2 parsing


def test_parse_events_fixtures():
    trig = parse_events_v2(raw("events_trigger.json"))
    assert trig.action == "trigger"
    assert trig.severity == "error"
    assert trig.dedup_key == "ledger-consistency-check-2026-11-03"
    assert trig.timestamp == datetime(2026, 11, 3, 12, 0, 5, tzinfo=UTC)
    assert [link.text for link in trig.links] == ["Ledger dashboard"]
    ack = parse_events_v2(raw("events_acknowledge.json"))
    res = parse_events_v2(raw("events_resolve.json"))
    assert (ack.action, res.action) == ("acknowledge", "resolve")
    assert ack.with_team("payments").key == trig.with_team("payments").key
    assert trig.with_team("payments").key != trig.with_team("search").key


def test_trigger_without_dedup_key_gets_a_generated_one():
    body = fixture("events_trigger.json")
    del body["dedup_key"]
    trig = parse_events_v2(body, new_key=lambda: "generated-1")
    assert (trig.dedup_key, trig.dedup_key_generated) == ("generated-1", True)
    assert alert_payloads.events_v2_accepted(trig.dedup_key) == {
        "status": "success", "message": "Event processed", "dedup_key": "generated-1"}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"routing_key": None}, "routing_key is required"),
    ({"routing_key": 12}, "routing_key: expected a string"),
    ({"event_action": "snooze"}, "event_action: expected trigger, acknowledge or resolve"),
    ({"dedup_key": "x" * 256}, "dedup_key: expected a string of at most 255 characters"),
    ({"payload": None}, "payload is required for trigger (an object)"),
    ({"payload": {"summary": "s", "source": "h", "severity": "fatal"}},
     "payload.severity: expected critical, error, warning or info"),
    ({"payload": {"source": "h", "severity": "info"}}, "payload.summary is required"),
    ({"payload": {"summary": "s", "severity": "info"}}, "payload.source is required"),
    ({"links": [{"text": "no href"}]}, "links[0].href is required"),
])
def test_malformed_events_reasons(changes, reason):
    body = fixture("events_trigger.json")
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(PayloadError) as err:
        parse_events_v2(body)
    assert err.value.reason == reason
    assert alert_payloads.events_v2_invalid(err.value.reason)["errors"] == [reason]


def test_acknowledge_requires_dedup_key():
    body = fixture("events_acknowledge.json")
    del body["dedup_key"]
    with pytest.raises(PayloadError, match="dedup_key is required for acknowledge"):
        parse_events_v2(body)


# ---------------------------------------------------------------- state machine


def test_new_group_content():
    group = opened()
    assert group.state == "triggered"
    assert group.title == "PaymentsApiHighErrorRate"
    assert group.severity == "critical"
    assert group.team == "payments"
    assert group.labels == {"instance": "payments-api-7d9f:8080", "job": "payments-api",
                            "service": "payments-api"}
    links = {link.text: link.url for link in group.links}
    assert links["Runbook"] == "https://wiki.example.com/runbooks/payments-api-errors"
    assert links["Source"].startswith("http://prometheus.example.com:9090/graph")
    silence = links["Silence"]
    assert silence.startswith("http://alertmanager.example.com:9093/#/silences/new?filter=")
    assert unquote(silence.split("filter=")[1]) == \
        '{alertname="PaymentsApiHighErrorRate",team="payments"}'
    assert group.runbook is not None
    assert group.runbook.name == "restart-api"
    assert group.runbook.params["service"] == "payments-api"
    assert (group.firing, group.resolved_count, group.version) == (1, 0, 1)


def test_group_round_trips_through_json():
    group, _ = acknowledge(opened("alertmanager_group.json"), "U0ALICE", T0 + timedelta(seconds=60))
    again = AlertGroup.from_json(group.to_json())
    assert again == group
    assert json.loads(group.to_json())["alerts"]["b0c1d2e3f4a5b601"]["status"] == "firing"


def test_acknowledge_then_second_ack_is_refused():
    group = opened()
    acked, change = acknowledge(group, "U0ALICE", T0 + timedelta(minutes=2, seconds=10))
    assert change.text == "Acknowledged by <@U0ALICE> after 2m 10s"
    assert change.rerender
    assert (acked.state, acked.acked_by, acked.version) == ("acknowledged", "U0ALICE", 2)
    with pytest.raises(AlertTransitionError, match=r"Already acknowledged by <@U0ALICE>"):
        acknowledge(acked, "U0BOB", T0 + timedelta(minutes=3))


def test_ack_after_resolve_never_reopens():
    group, _ = resolve(opened(), "U0BOB", T0 + timedelta(minutes=1))
    assert group.resolved_by == "U0BOB"
    with pytest.raises(AlertTransitionError, match="already resolved"):
        acknowledge(group, "U0ALICE", T0 + timedelta(minutes=2))
    with pytest.raises(AlertTransitionError, match="Already resolved by <@U0BOB>"):
        resolve(group, "U0ALICE", T0 + timedelta(minutes=2))
    with pytest.raises(AlertTransitionError):
        escalate_now(group, "U0ALICE", T0 + timedelta(minutes=2))


def test_user_resolve_text():
    _, change = resolve(opened(), "U0BOB", T0)
    assert (change.kind, change.text) == ("resolved", "Resolved by <@U0BOB>")


def test_redelivery_is_no_change():
    group = opened()
    again, change = apply_batch(group, parse_alertmanager(raw("alertmanager_firing.json")),
                                T0 + timedelta(hours=4))
    assert not change.changed
    assert again is group


def test_source_resolves_when_every_alert_cleared():
    group = opened()
    group, change = apply_batch(group, parse_alertmanager(raw("alertmanager_resolved.json")),
                                T0 + timedelta(minutes=26))
    assert (group.state, group.resolved_by) == ("resolved", "source")
    assert change.text == "Resolved: the alert cleared"
    # the same resolved notification again: nothing to do
    _, change = apply_batch(group, parse_alertmanager(raw("alertmanager_resolved.json")), T0)
    assert not change.changed


def test_group_resolution_counts_all_alerts():
    body = fixture("alertmanager_group.json")
    group, _ = apply_batch(None, parse_alertmanager(body), T0)
    for a in body["alerts"]:
        a["status"] = "resolved"
    group, change = apply_batch(group, parse_alertmanager(body), T0 + timedelta(minutes=5))
    assert change.text == "Resolved: all 4 alerts cleared"
    assert group.state == "resolved"


def test_more_alerts_and_partial_clear():
    body = fixture("alertmanager_group.json")
    first = copy.deepcopy(body)
    first["alerts"] = first["alerts"][:1]
    group, _ = apply_batch(None, parse_alertmanager(first), T0)
    group, change = apply_batch(group, parse_alertmanager(body), T0 + timedelta(minutes=1))
    assert change.text == "2 more alerts firing"
    body["alerts"][1]["status"] = "resolved"
    group, change = apply_batch(group, parse_alertmanager(body), T0 + timedelta(minutes=2))
    assert change.text == "1 alert resolved, 2 still firing"
    assert group.state == "triggered"


def test_missing_alert_in_untruncated_batch_is_resolved():
    body = fixture("alertmanager_group.json")
    group, _ = apply_batch(None, parse_alertmanager(body), T0)
    body["alerts"] = body["alerts"][:2]
    group, change = apply_batch(group, parse_alertmanager(body), T0 + timedelta(minutes=1))
    assert group.firing == 2
    assert group.alerts["b0c1d2e3f4a5b603"].ends_at == T0 + timedelta(minutes=1)
    # while a truncated batch says nothing about the alerts it left out
    body = fixture("alertmanager_truncated.json")
    group, _ = apply_batch(None, parse_alertmanager(body, "payments"), T0)
    body["alerts"] = body["alerts"][:1]
    group, _ = apply_batch(group, parse_alertmanager(body, "payments"), T0)
    assert group.firing == 2


def test_firing_after_resolved_opens_new_occurrence():
    group = opened()
    resolved_at = T0 + timedelta(minutes=30)
    group, _ = apply_batch(group, parse_alertmanager(raw("alertmanager_resolved.json")),
                           resolved_at)
    body = fixture("alertmanager_firing.json")
    body["alerts"][0]["startsAt"] = "2026-11-03T12:00:00Z"
    later = T0 + timedelta(hours=2)
    group2, change = apply_batch(group, parse_alertmanager(body), later)
    assert change.kind == "opened" and change.new_occurrence
    assert change.text == "Firing again: 1 alert"
    assert (group2.occurrence, group2.state, group2.created_at) == (2, "triggered", later)
    assert group2.previous_occurrence == {
        "occurrence": 1, "created_at": T0.isoformat(), "resolved_at": resolved_at.isoformat(),
        "resolved_by": "source"}
    assert group2.acked_by is None and group2.escalation_step == -1
    assert group2.version == group.version + 1
    assert group2.key == group.key


def test_repeat_notification_after_user_resolve_does_not_reopen():
    group, _ = resolve(opened(), "U0BOB", T0 + timedelta(minutes=1))
    same, change = apply_batch(group, parse_alertmanager(raw("alertmanager_firing.json")),
                               T0 + timedelta(hours=4))
    assert not change.changed and same.state == "resolved"
    cleared, change = apply_batch(group, parse_alertmanager(raw("alertmanager_resolved.json")),
                                  T0 + timedelta(hours=5))
    assert cleared.state == "resolved" and cleared.resolved_by == "U0BOB"
    assert change.text == "Cleared at the source: Resolved: the alert cleared"


def test_first_notification_already_resolved():
    group, change = apply_batch(None, parse_alertmanager(raw("alertmanager_resolved.json")), T0)
    assert group.state == "resolved"
    assert change.kind == "opened"


def test_events_v2_flow():
    group, change = apply_event(None, event("events_trigger.json"), T0)
    assert change.kind == "opened"
    assert group.source == "events" and group.team == "payments"
    assert group.title == "Ledger consistency check failed: 3 accounts out of balance"
    assert group.severity == "error"
    assert group.labels["component"] == "ledger"
    assert "1042" in group.description
    assert group.links[0].url == "https://ledger-checker.example.com/runs/8812"
    same, change = apply_event(group, event("events_trigger.json"), T0 + timedelta(minutes=1))
    assert not change.changed and same is group
    group, change = apply_event(group, event("events_acknowledge.json"), T0 + timedelta(seconds=45))
    assert change.text == "Acknowledged at the source after 45s"
    assert group.acked_by == "source"
    group, change = apply_event(group, event("events_resolve.json"), T0 + timedelta(minutes=9))
    assert (group.state, change.kind) == ("resolved", "resolved")
    assert group.firing == 0
    late, change = apply_event(group, event("events_acknowledge.json"), T0 + timedelta(hours=1))
    assert not change.changed and late.state == "resolved"
    again, change = apply_event(group, event("events_trigger.json"), T0 + timedelta(hours=2))
    assert change.new_occurrence and again.occurrence == 2


def test_events_ack_of_unknown_key_is_no_change():
    group, change = apply_event(None, event("events_acknowledge.json"), T0)
    assert group is None and not change.changed


def test_events_trigger_update_rerenders_quietly():
    group, _ = apply_event(None, event("events_trigger.json"), T0)
    body = fixture("events_trigger.json")
    body["payload"]["severity"] = "critical"
    group2, change = apply_event(group, parse_events_v2(body).with_team("payments"), T0)
    assert change.kind == "alerts" and change.rerender and change.text is None
    assert group2.severity == "critical" and group2.version == group.version + 1


@pytest.mark.parametrize(("seconds", "text"), [
    (45, "45s"), (130, "2m 10s"), (120, "2m"), (3900, "1h 5m"), (3600, "1h"),
    (93784, "1d 2h"), (-5, "0s"),
])
def test_human_duration(seconds, text):
    assert human_duration(timedelta(seconds=seconds)) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["ack", "resolve", "escalate", "fire", "clear"]), max_size=12))
def test_state_never_goes_backwards_within_an_occurrence(actions):
    group = opened()
    now = T0
    order = {"triggered": 0, "acknowledged": 1, "resolved": 2}
    for action in actions:
        now += timedelta(minutes=1)
        before = group
        try:
            if action == "ack":
                group, change = acknowledge(group, "U0ALICE", now)
            elif action == "resolve":
                group, change = resolve(group, "U0BOB", now)
            elif action == "escalate":
                group, change = escalate_now(group, "U0ALICE", now)
            else:
                name = "alertmanager_firing.json" if action == "fire" \
                    else "alertmanager_resolved.json"
                group, change = apply_batch(group, parse_alertmanager(raw(name)), now)
        except AlertTransitionError:
            assert group is before
            continue
        if group.occurrence == before.occurrence:
            assert order[group.state] >= order[before.state]
        assert group.version == before.version + (1 if change.changed else 0)


# ---------------------------------------------------------------- escalation


POLICY = EscalationPolicy(steps=(
    EscalationStep(timedelta(0), "primary"),
    EscalationStep(timedelta(minutes=10), "secondary"),
    EscalationStep(timedelta(minutes=20), "managers"),
), repeat=1)


def test_escalation_plan_with_repeat():
    plan = escalation_plan(POLICY, T0)
    assert [(d.step_index, d.round, d.notify) for d in plan] == [
        (0, 0, "primary"), (1, 0, "secondary"), (2, 0, "managers"),
        (0, 1, "primary"), (1, 1, "secondary"), (2, 1, "managers")]
    assert [int((d.due_at - T0).total_seconds() // 60) for d in plan] == [0, 10, 20, 30, 40, 50]
    assert [d.position for d in plan] == list(range(6))


def test_single_step_repeats_every_ten_minutes():
    policy = EscalationPolicy(steps=(EscalationStep(timedelta(minutes=5), "primary"),), repeat=2)
    assert [d.due_at - T0 for d in escalation_plan(policy, T0)] == [
        timedelta(minutes=5), timedelta(minutes=20), timedelta(minutes=35)]


def test_next_step_walks_the_plan_until_ack():
    group = opened()
    due = next_step(POLICY, group, T0)
    assert (due.position, due.notify, due.due_at) == (0, "primary", T0)
    group, change = mark_notified(group, due, "<@U0ALICE>", T0)
    assert change.text == "Escalated to primary: <@U0ALICE>"
    # a second worker running the same step is a no-op
    _, change = mark_notified(group, due, "<@U0ALICE>", T0)
    assert not change.changed
    due = next_step(POLICY, group, T0 + timedelta(minutes=1))
    assert (due.notify, due.due_at) == ("secondary", T0 + timedelta(minutes=10))
    acked, _ = acknowledge(group, "U0ALICE", T0 + timedelta(minutes=2))
    assert next_step(POLICY, acked, T0 + timedelta(minutes=11)) is None
    # "Escalate" after an Ack asks for the next step at once
    asked, change = escalate_now(acked, "U0ALICE", T0 + timedelta(minutes=3), policy=POLICY)
    assert change.kind == "escalate"
    due = next_step(POLICY, asked, T0 + timedelta(minutes=3))
    assert (due.notify, due.due_at) == ("secondary", T0 + timedelta(minutes=3))
    done, _ = mark_notified(asked, due, "", T0 + timedelta(minutes=3))
    assert next_step(POLICY, done, T0 + timedelta(minutes=30)) is None


def test_escalation_ends_after_last_step():
    group = opened()
    for due in escalation_plan(POLICY, group.created_at):
        group, _ = mark_notified(group, due, "", due.due_at)
    assert group.escalation_step == 5
    assert next_step(POLICY, group, T0 + timedelta(hours=1)) is None
    with pytest.raises(AlertTransitionError, match="already been notified"):
        escalate_now(group, "U0ALICE", T0 + timedelta(hours=1), policy=POLICY)


# ---------------------------------------------------------------- rendering


def _all_buttons(blocks):
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def _check_limits(message):
    blocks = message["blocks"]
    assert len(blocks) <= render_alerts.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(len(f["text"]) <= 2000 for f in fields)
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
    for button in _all_buttons(blocks):
        assert len(button["text"]["text"]) <= 75


def test_alert_message_firing():
    group = opened()
    message = render_alerts.alert_message(group, T0 + timedelta(minutes=5))
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header"
    assert "PaymentsApiHighErrorRate" in blocks[0]["text"]["text"]
    assert ":red_circle: *FIRING*" in blocks[1]["text"]["text"]
    assert "<!date^" in blocks[1]["text"]["text"]
    assert "[FIRING] critical: PaymentsApiHighErrorRate (payments)" in message["text"]
    buttons = _all_buttons(blocks)
    assert [b["action_id"] for b in buttons] == [
        "alert_ack", "alert_resolve", "alert_escalate", "alert_incident", "alert_runbook"]
    assert buttons[-1]["text"]["text"] == "Run restart-api"
    assert {b["value"] for b in buttons} == {group.key}
    text = json.dumps(blocks, ensure_ascii=False)
    assert "|Runbook>" in text and "|Silence>" in text
    assert "1 firing · 0 resolved" in text


def test_alert_message_states_and_options():
    acked, _ = acknowledge(opened(), "U0ALICE", T0 + timedelta(minutes=1))
    message = render_alerts.alert_message(acked, T0, incident_enabled=False,
                                          runbook_enabled=False)
    text = json.dumps(message, ensure_ascii=False)
    assert ":large_yellow_circle: *ACKNOWLEDGED* by <@U0ALICE>" in text
    assert [b["action_id"] for b in _all_buttons(message["blocks"])] == [
        "alert_resolve", "alert_escalate"]
    resolved, _ = resolve(acked, "U0BOB", T0 + timedelta(minutes=4))
    message = render_alerts.alert_message(resolved, T0)
    text = json.dumps(message, ensure_ascii=False)
    assert ":white_check_mark: *RESOLVED* by <@U0BOB>" in text
    assert _all_buttons(message["blocks"]) == []


def test_group_message_shows_counts_and_instances():
    body = fixture("alertmanager_truncated.json")
    group, _ = apply_batch(None, parse_alertmanager(body, "payments"), T0)
    text = json.dumps(render_alerts.alert_message(group, T0), ensure_ascii=False)
    assert "2 firing · 0 resolved (+5 truncated)" in text
    assert "instance=payments-worker-1:9100" in text
    assert "alert_runbook" not in text


def test_rendering_stays_within_slack_limits():
    body = fixture("alertmanager_firing.json")
    labels = {f"label_{i:03d}": "v" * 2500 for i in range(200)}
    body["commonLabels"].update(labels)
    body["alerts"][0]["labels"].update(labels)
    body["commonLabels"]["alertname"] = "A" * 400
    body["commonAnnotations"]["description"] = "<!channel> & " * 1000  # 13,000 characters
    body["commonAnnotations"]["atbat_runbook"] = "r" * 200
    group, _ = apply_batch(None, parse_alertmanager(body), T0)
    message = render_alerts.alert_message(group, T0)
    _check_limits(message)
    assert len(message["text"]) <= 300
    text = json.dumps(message, ensure_ascii=False)
    assert "<!channel>" not in text  # alert text can never ping a channel
    assert {b["value"] for b in _all_buttons(message["blocks"])} == {group.key}


def test_links_cannot_break_out_of_mrkdwn():
    body = fixture("alertmanager_firing.json")
    body["commonAnnotations"]["runbook_url"] = "javascript:alert(1)"
    body["alerts"][0]["generatorURL"] = "http://x.example.com/a|b>c"
    group, _ = apply_batch(None, parse_alertmanager(body), T0)
    text = json.dumps(render_alerts.alert_message(group, T0), ensure_ascii=False)
    assert "javascript:" not in text
    assert "<http://x.example.com/a%7Cb%3Ec|Source>" in text


def test_escalation_dm_has_ack_with_key_only():
    group = opened()
    dm = render_alerts.escalation_dm(group, "secondary", T0)
    buttons = _all_buttons(dm["blocks"])
    assert [(b["action_id"], b["value"]) for b in buttons] == [("alert_ack", group.key)]
    assert "secondary" in dm["text"]
    _check_limits(dm)
    acked, _ = acknowledge(group, "U0ALICE", T0)
    dm = render_alerts.escalation_dm(acked, "secondary", T0)
    assert _all_buttons(dm["blocks"]) == []  # nothing left to acknowledge
    assert "*ACKNOWLEDGED* by <@U0ALICE>" in dm["blocks"][0]["text"]["text"]


def test_alerts_list():
    assert render_alerts.alerts_list([], T0, team="payments")[0]["text"]["text"] == \
        "No open alerts for payments."
    first = opened(now=T0 - timedelta(hours=1))
    second, _ = acknowledge(opened("alertmanager_group.json"), "U0ALICE", T0)
    closed, _ = resolve(opened("alertmanager_truncated.json"), "U0BOB", T0)
    blocks = render_alerts.alerts_list([second, closed, first], T0, team="payments")
    buttons = _all_buttons(blocks)
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("alert_ack", first.key), ("alert_resolve", first.key), ("alert_resolve", second.key)]
    many = [opened() for _ in range(40)]
    blocks = render_alerts.alerts_list(many, T0, team="payments")
    assert len(blocks) <= 50
    assert "more open alerts" in json.dumps(blocks[-1], ensure_ascii=False)


def test_channel_notices_are_short_sentences_with_alert_text_escaped():
    body = fixture("alertmanager_firing.json")
    body["commonLabels"]["alertname"] = "<!channel> & co"
    group, _ = apply_batch(None, parse_alertmanager(body), T0)
    page = render_alerts.channel_page(group, "payments")
    assert page["text"] == ("<!channel> Alert for payments: *critical* &lt;!channel&gt; &amp; co, "
                            "firing.")
    acked, _ = acknowledge(group, "U0ALICE", T0)
    notice = render_alerts.nobody_on_call_notice(acked, "primary", "payments", "<@U0MANAGER>")
    assert notice["text"] == (":rotating_light: Nobody is on call for *primary* of payments, so "
                              "atbat paged <@U0MANAGER>: *critical* &lt;!channel&gt; &amp; co, "
                              "acknowledged by <@U0ALICE>.")
