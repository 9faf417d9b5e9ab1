"""Alert groups: the state each transition leaves, what a notification shows, the stored form.

Built from `AlertBatch` and `AlertEvent` values directly (the webhook parsing is
tested in test_alerts_domain.py), so each rule is pinned by the group it produces.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.alerts import (
    MAX_HISTORY,
    MAX_INSTANCES,
    SOURCE_ACTOR,
    AlertBatch,
    AlertEvent,
    AlertGroup,
    AlertInstance,
    AlertTransitionError,
    HistoryEntry,
    Link,
    RunbookRef,
    acknowledge,
    apply_batch,
    apply_event,
    group_key_for,
    mention,
    normalize_severity,
    record_transition,
    resolve,
)

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def instance(fp: str, status: str = "firing", starts: datetime = T0, ends: datetime | None = None,
             labels=None, annotations=None, url: str = "") -> AlertInstance:
    return AlertInstance(fingerprint=fp, status=status, labels=labels or {},
                         annotations=annotations or {}, starts_at=starts, ends_at=ends,
                         generator_url=url)


def batch(*alerts: AlertInstance, status: str = "firing", truncated: int = 0,
          group_labels=None, common_labels=None, common_annotations=None,
          external_url: str = "") -> AlertBatch:
    return AlertBatch(group_key="{}:{alertname=\"X\"}", status=status, receiver="atbat",
                      team="payments", alerts=alerts, group_labels=group_labels or {},
                      common_labels=common_labels or {},
                      common_annotations=common_annotations or {}, external_url=external_url,
                      truncated=truncated)


def trigger(dedup_key: str = "disk-full", **fields) -> AlertEvent:
    return AlertEvent(routing_key="R1", action="trigger", dedup_key=dedup_key, team="payments",
                      **fields)


def event(action: str) -> AlertEvent:
    return AlertEvent(routing_key="R1", action=action, dedup_key="disk-full", team="payments")


def entry(group: AlertGroup) -> tuple:
    last = group.history[-1]
    return (last.at, last.actor, last.event, last.text)


# ---------------------------------------------------------------- what a notification shows


def test_title_from_common_then_group_labels_then_names_then_summary_then_key():
    a = instance("a", labels={"alertname": "DiskFull"}, annotations={"summary": "disk a"})
    b = instance("b", labels={"alertname": "DiskSlow"}, annotations={"summary": "disk b"})
    c = instance("c", labels={"alertname": "DiskFull"})
    assert apply_batch(None, batch(a, b, common_labels={"alertname": "Common"},
                                   group_labels={"alertname": "Grouped"}), T0)[0].title == "Common"
    assert apply_batch(None, batch(a, b, group_labels={"alertname": "Grouped"}), T0)[0].title == "Grouped"
    assert apply_batch(None, batch(a, b, c), T0)[0].title == "DiskFull and 1 more"
    assert apply_batch(None, batch(a, c), T0)[0].title == "DiskFull"
    unnamed = instance("u", annotations={"summary": "disk u"})
    assert apply_batch(None, batch(unnamed), T0)[0].title == "disk u"
    assert apply_batch(None, batch(instance("v")), T0)[0].title == '{}:{alertname="X"}'


def test_title_counts_only_firing_alerts_when_some_fire():
    firing = instance("a", labels={"alertname": "DiskFull"})
    cleared = instance("b", "resolved", labels={"alertname": "DiskSlow"})
    assert apply_batch(None, batch(firing, cleared), T0)[0].title == "DiskFull"
    both_cleared = batch(replace(firing, status="resolved"), cleared, status="resolved")
    assert apply_batch(None, both_cleared, T0)[0].title == "DiskFull and 1 more"


def test_summary_and_description_fall_back_to_the_alerts():
    a = instance("a", annotations={"summary": "", "message": "msg a"})
    b = instance("b", annotations={"summary": "sum b", "description": "desc b"})
    group = apply_batch(None, batch(a, b), T0)[0]
    assert (group.summary, group.description) == ("sum b", "msg a")
    common = batch(a, b, common_annotations={"summary": "S", "message": "M"})
    group = apply_batch(None, common, T0)[0]
    assert (group.summary, group.description) == ("S", "M")
    described = batch(a, b, common_annotations={"description": "D", "message": "M"})
    assert apply_batch(None, described, T0)[0].description == "D"
    both = instance("c", annotations={"description": "desc c", "message": "msg c"})
    assert apply_batch(None, batch(both, a), T0)[0].description == "desc c"
    assert apply_batch(None, batch(instance("c")), T0)[0].description == ""


def test_severity_common_label_then_worst_firing_then_default():
    warn = instance("a", labels={"severity": "warning"})
    crit = instance("b", labels={"severity": "p1"})
    info = instance("c", labels={"severity": "low"})
    assert apply_batch(None, batch(warn, info), T0)[0].severity == "warning"
    assert apply_batch(None, batch(info, crit, warn), T0)[0].severity == "critical"
    assert apply_batch(None, batch(warn, common_labels={"severity": "info"}), T0)[0].severity == "info"
    assert apply_batch(None, batch(instance("d")), T0)[0].severity == "error"
    cleared_crit = replace(crit, status="resolved")
    assert apply_batch(None, batch(info, cleared_crit), T0)[0].severity == "info"


@pytest.mark.parametrize("raw, severity", [
    (" CRIT ", "critical"), ("sev2", "error"), ("Medium", "warning"), ("p5", "info"),
    ("whatever", "error"), (3, "error"), (None, "error"),
])
def test_normalize_severity(raw, severity):
    assert normalize_severity(raw) == severity


def test_labels_shown_are_group_and_common_minus_those_shown_elsewhere():
    a = instance("a")
    group = apply_batch(None, batch(a, group_labels={"alertname": "X", "team": "payments", "zone": "a"},
                                    common_labels={"severity": "warning", "zone": "b", "job": "api"}), T0)[0]
    assert group.labels == {"zone": "b", "job": "api"}


def test_links_source_runbook_and_silence():
    a = instance("a", url="", annotations={"runbook_url": ""})
    b = instance("b", url="http://prom/graph?b", annotations={"runbook_url": "http://wiki/b"})
    group = apply_batch(None, batch(a, b, group_labels={"alertname": "X", "job": 'a"b\\c'},
                                    external_url="http://am:9093/"), T0)[0]
    assert group.links == (
        Link("Source", "http://prom/graph?b"),
        Link("Runbook", "http://wiki/b"),
        Link("Silence", "http://am:9093/#/silences/new?filter="
                        "%7Balertname%3D%22X%22%2Cjob%3D%22a%5C%22b%5C%5Cc%22%7D"),
    )
    common = batch(b, common_labels={"job": "api"}, external_url="http://am:9093",
                   common_annotations={"runbook_url": "http://wiki/common"})
    links = apply_batch(None, common, T0)[0].links
    assert links[1] == Link("Runbook", "http://wiki/common")
    assert links[2] == Link("Silence", "http://am:9093/#/silences/new?filter=%7Bjob%3D%22api%22%7D")
    assert apply_batch(None, batch(a, group_labels={"job": "api"}), T0)[0].links == ()
    assert apply_batch(None, batch(a, external_url="http://am"), T0)[0].links == ()
    odd = apply_batch(None, batch(a, common_labels={"job": "api"}, external_url="http://am/X//"), T0)[0]
    assert odd.links == (Link("Silence", "http://am/X/#/silences/new?filter=%7Bjob%3D%22api%22%7D"),)


def test_runbook_named_by_common_or_alert_annotation_with_common_labels_as_params():
    a = instance("a", annotations={"atbat_runbook": "restart-api"})
    group = apply_batch(None, batch(a, common_labels={"service": "api"}), T0)[0]
    assert group.runbook == RunbookRef("restart-api", {"service": "api"})
    common = batch(a, common_annotations={"atbat_runbook": "scale"})
    assert apply_batch(None, common, T0)[0].runbook == RunbookRef("scale", {})
    assert apply_batch(None, batch(instance("b")), T0)[0].runbook is None


# ---------------------------------------------------------------- Alertmanager transitions


def test_new_group_records_who_when_and_what():
    group, change = apply_batch(None, batch(instance("a"), instance("b")), T0)
    assert (group.state, group.created_at, group.version, group.occurrence) == ("triggered", T0, 1, 1)
    assert group.history == (HistoryEntry(T0, SOURCE_ACTOR, "opened", "Firing: 2 alerts"),)
    assert (change.kind, change.text, change.rerender, change.new_occurrence) == \
        ("opened", "Firing: 2 alerts", True, False)
    assert (group.source, group.source_key, group.team) == ("alertmanager", '{}:{alertname="X"}', "payments")
    assert group.key == batch().key == group_key_for("alertmanager", "payments", '{}:{alertname="X"}')


def test_a_follow_up_notification_refreshes_title_severity_and_summary():
    first = batch(instance("a"), common_labels={"alertname": "Old", "severity": "warning"},
                  common_annotations={"summary": "old"})
    group, _ = apply_batch(None, first, T0)
    second = batch(instance("a"), instance("b"), common_labels={"alertname": "New", "severity": "critical"},
                   common_annotations={"summary": "new", "atbat_runbook": "scale"})
    updated, change = apply_batch(group, second, T0 + MIN)
    assert (updated.title, updated.severity, updated.summary) == ("New", "critical", "new")
    assert updated.runbook == RunbookRef("scale", {"alertname": "New", "severity": "critical"})
    assert (change.kind, change.text, change.rerender) == ("alerts", "1 more alert firing", True)
    assert entry(updated) == (T0 + MIN, SOURCE_ACTOR, "alerts", "1 more alert firing")
    assert updated.version == group.version + 1


def test_a_changed_notification_without_new_alerts_is_recorded_as_updated():
    group, _ = apply_batch(None, batch(instance("a"), common_annotations={"summary": "old"}), T0)
    updated, change = apply_batch(group, batch(instance("a"), common_annotations={"summary": "new"}), T0)
    assert (change.kind, change.text, change.rerender) == ("alerts", None, True)
    assert entry(updated)[2:] == ("alerts", "updated")


def test_delta_text_counts_added_and_cleared():
    group, _ = apply_batch(None, batch(instance("a"), instance("b"), instance("c")), T0)
    more, change = apply_batch(group, batch(instance("a"), instance("b"), instance("c"), instance("d"),
                                            instance("e")), T0)
    assert change.text == "2 more alerts firing"
    fewer, change = apply_batch(more, batch(instance("a"), instance("b", "resolved"),
                                            instance("c", "resolved"), instance("d"), instance("e"),
                                            instance("f")), T0)
    assert change.text == "1 more alert firing; 2 alerts resolved, 4 still firing"
    _, change = apply_batch(fewer, batch(instance("a"), instance("b", "resolved"),
                                         instance("c", "resolved"), instance("d"), instance("e"),
                                         instance("f", "resolved")), T0)
    assert change.text == "1 alert resolved, 3 still firing"


def test_missing_alert_of_an_untruncated_batch_is_resolved_at_that_moment():
    group, _ = apply_batch(None, batch(instance("a"), instance("b")), T0)
    updated, change = apply_batch(group, batch(instance("a")), T0 + MIN)
    gone = updated.alerts["b"]
    assert (gone.status, gone.ends_at, gone.starts_at) == ("resolved", T0 + MIN, T0)
    assert change.text == "1 alert resolved, 1 still firing"
    truncated, change = apply_batch(group, batch(instance("a"), truncated=3), T0 + MIN)
    assert truncated.alerts["b"].status == "firing" and truncated.truncated == 3


def test_source_clearing_every_alert_resolves_the_group():
    group, _ = apply_batch(None, batch(instance("a")), T0)
    done, change = apply_batch(group, batch(instance("a", "resolved", ends=T0 + MIN), status="resolved"),
                               T0 + 2 * MIN)
    assert (done.state, done.resolved_by, done.resolved_at) == ("resolved", SOURCE_ACTOR, T0 + 2 * MIN)
    assert entry(done) == (T0 + 2 * MIN, SOURCE_ACTOR, "resolved", "Resolved: the alert cleared")
    assert (change.kind, change.text, change.rerender) == ("resolved", "Resolved: the alert cleared", True)


def test_source_clearing_after_a_user_resolved_is_noted_not_reopened():
    group, _ = apply_batch(None, batch(instance("a"), instance("b")), T0)
    by_user, _ = resolve(group, "U0BOB", T0 + MIN)
    cleared = batch(instance("a", "resolved"), instance("b", "resolved"), status="resolved")
    after, change = apply_batch(by_user, cleared, T0 + 2 * MIN)
    assert (after.state, after.resolved_by) == ("resolved", "U0BOB")
    text = "Cleared at the source: Resolved: all 2 alerts cleared"
    assert (change.kind, change.text, change.rerender) == ("alerts", text, True)
    assert entry(after) == (T0 + 2 * MIN, SOURCE_ACTOR, "alerts", text)
    # a later change that clears nothing more is only an update
    again, change = apply_batch(after, replace(cleared, common_annotations={"summary": "x"}), T0 + 3 * MIN)
    assert change.text is None and entry(again)[3] == "updated"


def test_first_notification_already_cleared_is_opened_resolved():
    group, change = apply_batch(None, batch(instance("a", "resolved"), status="resolved"), T0)
    assert (group.state, group.resolved_by, group.resolved_at) == ("resolved", SOURCE_ACTOR, T0)
    assert [(h.event, h.text) for h in group.history] == [
        ("opened", "Firing: 0 alerts"), ("resolved", "Resolved: the alert cleared")]
    assert group.key == batch().key
    assert change.kind == "opened"


def test_firing_again_after_resolved_opens_a_new_occurrence_remembering_the_last():
    group, _ = apply_batch(None, batch(instance("a")), T0)
    done, _ = resolve(group, "U0BOB", T0 + MIN)
    again, change = apply_batch(done, batch(instance("a", starts=T0 + 5 * MIN)), T0 + 6 * MIN)
    assert (again.state, again.occurrence, again.created_at) == ("triggered", 2, T0 + 6 * MIN)
    assert again.previous_occurrence == {"occurrence": 1, "created_at": "2026-11-03T10:00:00+00:00",
                                         "resolved_at": "2026-11-03T10:01:00+00:00",
                                         "resolved_by": "U0BOB"}
    assert (again.resolved_by, again.acked_by, again.version) == (None, None, done.version + 1)
    assert entry(again) == (T0 + 6 * MIN, SOURCE_ACTOR, "reopened", "Firing again: 1 alert")
    assert (change.kind, change.new_occurrence) == ("opened", True)
    # the same alert still firing with its old start does not reopen
    same, change = apply_batch(done, batch(instance("a")), T0 + 6 * MIN)
    assert same.state == "resolved"


def test_an_alert_that_cleared_and_fires_again_reopens_the_resolved_group():
    group, _ = apply_batch(None, batch(instance("a"), instance("b")), T0)
    cleared, _ = apply_batch(group, batch(instance("a", "resolved"), instance("b", "resolved")), T0 + MIN)
    assert cleared.state == "resolved"
    # "a" fires again with the same start it had: it was not firing when the group resolved
    again, change = apply_batch(cleared, batch(instance("b", "resolved"), instance("a")), T0 + 2 * MIN)
    assert (again.state, again.occurrence, change.new_occurrence) == ("triggered", 2, True)
    new_one, _ = apply_batch(cleared, batch(instance("b", "resolved"), instance("c")), T0 + 2 * MIN)
    assert new_one.occurrence == 2
    # still firing as it was when a user resolved: no new occurrence
    by_user, _ = resolve(group, "U0BOB", T0 + MIN)
    same, _ = apply_batch(by_user, batch(instance("b"), instance("a")), T0 + 2 * MIN)
    assert (same.state, same.occurrence) == ("resolved", 1)


def test_old_resolved_instances_are_forgotten_beyond_the_limit():
    firing = [instance(f"f{i}") for i in range(3)]
    cleared = [instance(f"r{i:03}", "resolved", ends=T0 + i * MIN) for i in range(MAX_INSTANCES)]
    group, _ = apply_batch(None, batch(*firing, *reversed(cleared)), T0)
    assert len(group.alerts) == MAX_INSTANCES
    assert {"r000", "r001", "r002"}.isdisjoint(group.alerts)
    assert {"f0", "f1", "f2", "r003", f"r{MAX_INSTANCES - 1:03}"} <= set(group.alerts)
    undated = instance("undated", "resolved")
    mixed, _ = apply_batch(None, batch(*firing[:2], *cleared, undated), T0)
    assert {"undated", "r000", "r001"}.isdisjoint(mixed.alerts) and "r002" in mixed.alerts
    at_limit, _ = apply_batch(None, batch(*cleared[:MAX_INSTANCES - 1], firing[0]), T0)
    assert len(at_limit.alerts) == MAX_INSTANCES


def test_history_keeps_the_last_entries():
    group, _ = apply_batch(None, batch(instance("a")), T0)
    for i in range(MAX_HISTORY + 5):
        group = record_transition(group, T0 + i * MIN, "U0BOB", "note", f"n{i}")
    assert len(group.history) == MAX_HISTORY
    assert group.history[-1].text == f"n{MAX_HISTORY + 4}"
    assert group.version == MAX_HISTORY + 6


# ---------------------------------------------------------------- Events v2


def test_trigger_builds_one_instance_from_the_event():
    ev = trigger(dedup_key="k" * 70, summary="Disk full", source_name="db1", severity="warning",
                 timestamp=T0 - MIN, component="disk", group="db", event_class="capacity",
                 client="Checker", client_url="http://checker/1",
                 links=(Link("Dashboard", "http://grafana/d"),),
                 custom_details={"description": "97% used", "used": 97, "ratio": 0.97,
                                 "flag": True, "nested": {"a": 1}, "source": "other"})
    group, change = apply_event(None, ev, T0)
    (only,) = group.alerts.values()
    assert only == AlertInstance(
        fingerprint="k" * 64, status="firing",
        labels={"source": "db1", "component": "disk", "group": "db", "class": "capacity",
                "used": "97", "ratio": "0.97"},
        annotations={"summary": "Disk full", "description": "97% used"},
        starts_at=T0 - MIN, ends_at=None, generator_url="http://checker/1")
    assert group.links == (Link("Checker", "http://checker/1"), Link("Dashboard", "http://grafana/d"))
    assert (group.title, group.summary, group.severity, group.description) == \
        ("Disk full", "Disk full", "warning", "97% used")
    assert (group.source, group.source_key, group.truncated) == ("events", "k" * 70, 0)
    assert group.key == ev.key == group_key_for("events", "payments", "k" * 70)
    assert (change.kind, change.text) == ("opened", "Firing: 1 alert")


def test_trigger_details_name_a_runbook_and_other_shapes_become_the_description():
    ev = trigger(summary="s", component="disk",
                 custom_details={"atbat_runbook": "clean-disk", "host": "db1"})
    group, _ = apply_event(None, ev, T0)
    assert group.runbook == RunbookRef("clean-disk", {"component": "disk", "host": "db1"})
    assert group.description == ""
    assert "atbat_runbook" not in group.labels
    assert apply_event(None, trigger(custom_details={"atbat_runbook": ""}), T0)[0].runbook is None
    assert apply_event(None, trigger(custom_details="free text"), T0)[0].description == "free text"
    assert apply_event(None, trigger(custom_details=[1, "a"]), T0)[0].description == '[1, "a"]'
    plain = apply_event(None, trigger(client_url="http://c"), T0)[0]
    assert plain.links == (Link("Source", "http://c"),) and plain.description == ""
    assert plain.alerts["disk-full"].generator_url == "http://c"
    assert apply_event(None, trigger(), T0)[0].alerts["disk-full"].generator_url == ""


def test_repeated_trigger_while_open_refreshes_quietly():
    group, _ = apply_event(None, trigger(summary="Disk full"), T0)
    updated, change = apply_event(group, trigger(summary="Disk 99% full", severity="critical"), T0 + MIN)
    assert (updated.title, updated.summary, updated.severity) == \
        ("Disk 99% full", "Disk 99% full", "critical")
    assert updated.alerts["disk-full"].annotations["summary"] == "Disk 99% full"
    assert (change.kind, change.text, change.rerender) == ("alerts", None, True)
    assert entry(updated) == (T0 + MIN, SOURCE_ACTOR, "alerts", "updated")
    assert (updated.state, updated.version) == ("triggered", group.version + 1)


def test_events_acknowledge_sets_the_state_not_only_the_reply():
    group, _ = apply_event(None, trigger(summary="Disk full"), T0)
    acked, change = apply_event(group, event("acknowledge"), T0 + 2 * MIN)
    assert (acked.state, acked.acked_by, acked.acked_at) == ("acknowledged", SOURCE_ACTOR, T0 + 2 * MIN)
    text = "Acknowledged at the source after 2m"
    assert entry(acked) == (T0 + 2 * MIN, SOURCE_ACTOR, "acknowledged", text)
    assert (change.kind, change.text, change.rerender) == ("acknowledged", text, True)
    again, change = apply_event(acked, event("acknowledge"), T0 + 3 * MIN)
    assert again is acked and not change.changed


def test_events_resolve_clears_every_instance():
    group, _ = apply_event(None, trigger(summary="Disk full"), T0)
    acked, _ = apply_event(group, event("acknowledge"), T0 + MIN)
    done, change = apply_event(acked, event("resolve"), T0 + 4 * MIN)
    assert (done.state, done.resolved_by, done.resolved_at) == ("resolved", SOURCE_ACTOR, T0 + 4 * MIN)
    assert [(a.status, a.ends_at) for a in done.alerts.values()] == [("resolved", T0 + 4 * MIN)]
    assert entry(done) == (T0 + 4 * MIN, SOURCE_ACTOR, "resolved", "Resolved at the source")
    assert (change.kind, change.text, change.rerender) == ("resolved", "Resolved at the source", True)
    late, change = apply_event(done, event("resolve"), T0 + 5 * MIN)
    assert late is done and not change.changed
    assert apply_event(None, event("resolve"), T0) == (None, apply_event(None, event("acknowledge"), T0)[1])


# ---------------------------------------------------------------- user actions


def test_acknowledge_records_who_and_when():
    group, _ = apply_batch(None, batch(instance("a")), T0)
    acked, change = acknowledge(group, "U0ALICE", T0 + 90 * MIN)
    assert (acked.state, acked.acked_by, acked.acked_at) == ("acknowledged", "U0ALICE", T0 + 90 * MIN)
    text = "Acknowledged by <@U0ALICE> after 1h 30m"
    assert entry(acked) == (T0 + 90 * MIN, "U0ALICE", "acknowledged", text)
    assert (change.kind, change.text, change.rerender) == ("acknowledged", text, True)
    with pytest.raises(AlertTransitionError) as err:
        acknowledge(acked, "U0BOB", T0 + 91 * MIN)
    assert str(err.value) == "Already acknowledged by <@U0ALICE>."


def test_resolve_records_who_and_when():
    group, _ = apply_batch(None, batch(instance("a")), T0)
    done, change = resolve(group, "U0ALICE", T0 + MIN)
    assert (done.state, done.resolved_by, done.resolved_at) == ("resolved", "U0ALICE", T0 + MIN)
    assert entry(done) == (T0 + MIN, "U0ALICE", "resolved", "Resolved by <@U0ALICE>")
    assert (change.kind, change.text, change.rerender) == ("resolved", "Resolved by <@U0ALICE>", True)
    with pytest.raises(AlertTransitionError) as err:
        resolve(done, "U0BOB", T0)
    assert str(err.value) == "Already resolved by <@U0ALICE>."
    with pytest.raises(AlertTransitionError) as err:
        acknowledge(done, "U0BOB", T0)
    assert str(err.value) == "This alert is already resolved (by <@U0ALICE>)."


@pytest.mark.parametrize("actor, text", [
    ("U0BOB", "<@U0BOB>"), (SOURCE_ACTOR, "the source"), (None, "the source"), ("", "the source"),
])
def test_mention(actor, text):
    assert mention(actor) == text


# ---------------------------------------------------------------- stored form


def full_group() -> AlertGroup:
    group, _ = apply_batch(None, batch(
        instance("a", url="http://prom/a", annotations={"atbat_runbook": "restart-api"}),
        instance("b", "resolved", ends=T0 + MIN), common_labels={"service": "api"},
        external_url="http://am", truncated=2), T0)
    done, _ = resolve(group, "U0BOB", T0 + MIN)
    again, _ = apply_batch(done, batch(instance("a", starts=T0 + 5 * MIN, url="http://prom/a",
                                                annotations={"atbat_runbook": "restart-api"}),
                                       common_labels={"service": "api"}), T0 + 6 * MIN)
    acked, _ = acknowledge(again, "U0ALICE", T0 + 7 * MIN)
    return replace(acked, escalation_step=2, escalation_requested_by="U0ALICE", truncated=4)


@pytest.mark.parametrize("resolved", [False, True])
def test_every_field_survives_the_stored_form(resolved):
    group = full_group()
    if resolved:
        group, _ = resolve(group, "U0BOB", T0 + 9 * MIN)
        assert json.loads(group.to_json())["resolved_at"] == "2026-11-03T10:09:00+00:00"
    assert group.runbook is not None and group.previous_occurrence is not None
    again = AlertGroup.from_json(group.to_json())
    assert again == group
    for name in AlertGroup.__dataclass_fields__:
        assert getattr(again, name) == getattr(group, name), name


def test_group_keys_are_stable_digests():
    digest = hashlib.sha256(b"events\0\0disk-full").hexdigest()
    assert group_key_for("events", None, "disk-full") == "ev-" + digest[:24]
    assert group_key_for("events", "", "disk-full") == "ev-" + digest[:24]
    digest = hashlib.sha256(b"alertmanager\0payments\0{}").hexdigest()
    assert group_key_for("alertmanager", "payments", "{}") == "am-" + digest[:24]


def test_stored_times_are_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        data = json.loads(full_group().to_json())
    finally:
        monkeypatch.undo()
        time.tzset()
    assert data["created_at"] == "2026-11-03T10:06:00+00:00"


def test_stored_form_is_compact_sorted_json_with_utc_times():
    group = full_group()
    text = group.to_json()
    data = json.loads(text)
    assert text == json.dumps(data, separators=(",", ":"), sort_keys=True)
    assert data["acked_at"] == "2026-11-03T10:07:00+00:00"
    assert data["runbook"] == {"name": "restart-api", "params": {"service": "api"}}
    assert data["history"][0] == ["2026-11-03T10:00:00+00:00", SOURCE_ACTOR, "opened", "Firing: 1 alert"]
    assert data["alerts"]["a"]["starts_at"] == "2026-11-03T10:05:00+00:00"
    assert data["alerts"]["a"]["ends_at"] is None
    assert (data["resolved_by"], data["resolved_at"]) == (None, None)
    assert (data["escalation_step"], data["escalation_requested_by"]) == (2, "U0ALICE")


TEXT = st.text(max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TEXT, st.dictionaries(TEXT, TEXT, max_size=3),
                          st.dictionaries(TEXT, TEXT, max_size=2), st.booleans()),
                min_size=1, max_size=4),
       st.dictionaries(TEXT, TEXT, max_size=3))
def test_stored_form_is_the_sorted_json_of_to_dict_version_after_version(alerts, common):
    # Alerts and history entries are encoded once and carried: the text must not tell.
    group = None
    for n in range(1, len(alerts) + 1):
        shown = [instance(fp or "0", "firing" if firing else "resolved", labels=labels,
                          annotations={**annotations, "history": '"history":0'})
                 for fp, labels, annotations, firing in alerts[:n]]
        group, _ = apply_batch(group, batch(*shown, common_labels=common), T0 + n * MIN)
        assert group.to_json() == json.dumps(group.to_dict(), separators=(",", ":"),
                                             sort_keys=True)
    assert AlertGroup.from_json(group.to_json()) == group


def test_an_older_record_gets_the_defaults():
    group = full_group()
    data = json.loads(group.to_json())
    for key in ("team", "links", "runbook", "truncated", "occurrence", "previous_occurrence",
                "acked_by", "acked_at", "resolved_by", "resolved_at", "escalation_step",
                "escalation_requested_by", "history", "version", "source_key"):
        del data[key]
    for alert in data["alerts"].values():
        for key in ("starts_at", "ends_at", "generator_url"):
            del alert[key]
    old = AlertGroup.from_dict(data)
    assert (old.team, old.links, old.runbook, old.truncated, old.occurrence) == (None, (), None, 0, 1)
    assert (old.previous_occurrence, old.acked_by, old.acked_at, old.resolved_by, old.resolved_at) == \
        (None, None, None, None, None)
    assert (old.escalation_step, old.escalation_requested_by, old.history, old.version, old.source_key) == \
        (-1, None, (), 1, "")
    assert old.alerts["a"] == replace(group.alerts["a"], starts_at=None, ends_at=None, generator_url="")


def test_times_without_offset_are_utc_and_other_offsets_are_normalised():
    data = json.loads(full_group().to_json())
    data["created_at"] = "2026-11-03T10:00:00"
    data["acked_at"] = "2026-11-03T11:07:00+01:00"
    data["history"][0][0] = "2026-11-03T10:00:00"
    group = AlertGroup.from_dict(data)
    assert group.created_at == T0 and group.created_at.tzinfo is not None
    assert group.acked_at == T0 + 7 * MIN
    assert group.history[0].at == T0
    assert json.loads(group.to_json())["acked_at"] == "2026-11-03T10:07:00+00:00"
