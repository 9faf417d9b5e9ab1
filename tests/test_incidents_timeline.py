"""Incidents: every timeline entry in full, the limits accepted at their edge, the stored form.

The walk through an incident is in test_incidents_domain.py; here each
transition is pinned by the entry and the state it leaves behind.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.domain import incidents as inc_mod
from bot.domain.incidents import (
    BOT_AUTHOR,
    TEXT_MAX,
    TITLE_MAX,
    Incident,
    IncidentError,
    NoChange,
    SeverityError,
    TimelineEntry,
    add_note,
    attach_channel,
    change_lead,
    change_severity,
    change_status,
    channel_name,
    declare,
    last_reminder_at,
    last_update,
    link_alert,
    link_run,
    needs_update_reminder,
    parse_status,
    parse_user_id,
    post_update,
    record_reminder,
    resolve,
    severity_label,
    slugify,
    topic,
    truncate,
)

T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
DAY = date(2026, 11, 3)


def at(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def new(severity: int | str = 2, title: str = "Payments API errors", **kw) -> Incident:
    return declare("INC1", title, severity, team="payments", requester="U0BOB", lead="U0ALICE",
                   now=T0, **kw)


def refused(call) -> str:
    with pytest.raises(IncidentError) as err:
        call()
    return err.value.message


# ---------------------------------------------------------------- declaring


def test_declare_records_everything():
    inc = declare("INC7", "  Checkout\tdown \n now ", "sev1", "payments", "U0BOB", "<@U0ALICE|alice>",
                  T0.astimezone(timezone(timedelta(hours=1))))
    assert (inc.id, inc.title, inc.severity, inc.status, inc.lead, inc.team, inc.requester) == \
        ("INC7", "Checkout down now", 1, "investigating", "U0ALICE", "payments", "U0BOB")
    assert inc.created_at == T0 and inc.created_at.tzinfo is UTC
    assert (inc.channel_id, inc.channel_name) == ("", "inc-20261103-checkout-down-now")
    assert inc.timeline == (TimelineEntry(T0, "U0BOB", "declared", "Declared SEV1: Checkout down now",
                                          {"severity": 1, "lead": "U0ALICE"}),)
    assert (inc.last_update_at, inc.version, inc.alert_keys, inc.runs) == (T0, 1, (), ())
    assert (inc.resolved_at, inc.summary) == (None, "")
    assert inc.is_open


def test_declare_with_an_alert_links_it_as_the_requester():
    inc = new(alert_key="ag-1")
    assert inc.timeline[-1] == TimelineEntry(T0, "U0BOB", "alert", "Alert linked: ag-1",
                                             {"alert_key": "ag-1"})
    assert inc.version == 2
    assert new(alert_key="").alert_keys == ()


def test_title_of_max_length_accepted_and_longer_refused():
    assert new(title="x" * TITLE_MAX).title == "x" * TITLE_MAX
    assert refused(lambda: new(title="x" * (TITLE_MAX + 1))) == (
        "The title is 251 characters; keep it under 250 and put details in an update.")
    assert refused(lambda: new(title=" \t ")) == \
        "Give the incident a title: `/oncall incident TITLE [sev1..sev4]`."


def test_declare_names_a_lead_that_is_not_a_user():
    assert refused(lambda: declare("I", "t", 2, "payments", "U0BOB", "alice", T0)) == \
        "`alice` is not a Slack user: mention them, like @alice."
    with pytest.raises(ValueError) as err:
        declare("I", "t", 2, "payments", "U0BOB", "U0ALICE", datetime(2026, 11, 3))
    assert str(err.value) == "incident times must be timezone-aware"


def test_attach_channel_bumps_the_version_only():
    inc = new()
    attached = attach_channel(inc, "C0INC", "inc-20261103-payments-api-errors-2")
    assert (attached.channel_id, attached.channel_name, attached.version) == \
        ("C0INC", "inc-20261103-payments-api-errors-2", 2)
    assert attached.timeline == inc.timeline


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, user", [
    ("U0ALICE", "U0ALICE"), ("<@U0ALICE>", "U0ALICE"), ("<@W0ALICE|alice>", "W0ALICE"),
    (" @U0AB ", "U0AB"),
])
def test_parse_user_id(text, user):
    assert parse_user_id(text) == user


@pytest.mark.parametrize("text", ["U0", "u0alice", "<@C0CHAN>", "x<@U0ALICE>", "<@U0ALICE>x"])
def test_parse_user_id_refuses(text):
    assert refused(lambda: parse_user_id(text)) == f"`{text}` is not a Slack user: mention them, like @alice."


def test_parse_status():
    assert parse_status(" Monitoring ") == "monitoring"
    assert refused(lambda: parse_status("Done")) == \
        "Unknown status `Done`: use investigating, identified, monitoring (or resolve)."
    assert refused(lambda: parse_status("resolved")).startswith("Unknown status `resolved`")


def test_severity_message_and_label():
    with pytest.raises(SeverityError) as err:
        new("sev7")
    assert err.value.message == "Unknown severity `sev7`: use sev1 (most severe), sev2, sev3 or sev4."
    assert severity_label(3) == "SEV3"
    assert new("sev 3").severity == 3


# ---------------------------------------------------------------- transitions


def test_change_status_entry():
    inc = change_status(new(), "U0CAROL", "Identified", at(3))
    assert inc.status == "identified" and inc.version == 2
    assert inc.timeline[-1] == TimelineEntry(at(3), "U0CAROL", "status", "Status: Investigating → Identified",
                                             {"from": "investigating", "to": "identified"})
    assert inc.last_update_at == T0
    assert refused(lambda: change_status(inc, "U0CAROL", "identified", at(4))) == \
        "The status is already identified."


def test_post_update_entry_and_status_change():
    inc = post_update(new(), "U0CAROL", "  Rolled back  ", at(10), status="monitoring")
    status, update = inc.timeline[-2:]
    assert status == TimelineEntry(at(10), "U0CAROL", "status", "Status: Investigating → Monitoring",
                                   {"from": "investigating", "to": "monitoring"})
    assert update == TimelineEntry(at(10), "U0CAROL", "update", "Rolled back")
    assert (inc.status, inc.last_update_at, inc.version) == ("monitoring", at(10), 3)
    assert last_update(inc) == update
    plain = post_update(new(), "U0CAROL", "Looking", at(1))
    assert (plain.status, plain.version, len(plain.timeline)) == ("investigating", 2, 2)


def test_update_text_limits():
    assert post_update(new(), "U0A1", "x" * TEXT_MAX, at(1)).timeline[-1].text == "x" * TEXT_MAX
    assert refused(lambda: post_update(new(), "U0A1", "x" * (TEXT_MAX + 1), at(1))) == \
        "The update is 3001 characters; keep it under 3000."
    assert refused(lambda: post_update(new(), "U0A1", "  ", at(1))) == \
        "The update is empty: write what happened."
    assert refused(lambda: add_note(new(), "U0A1", "", at(1))) == "The note is empty: write what happened."


def test_note_entry():
    inc = add_note(new(), "U0CAROL", " p99 at 4s ", at(5))
    assert inc.timeline[-1] == TimelineEntry(at(5), "U0CAROL", "note", "p99 at 4s")
    assert (inc.version, inc.last_update_at) == (2, T0)
    assert last_update(inc) is None


def test_change_severity_entry():
    inc = change_severity(new(2), "U0CAROL", 1, at(3))
    assert inc.timeline[-1] == TimelineEntry(at(3), "U0CAROL", "severity", "Severity: SEV2 → SEV1",
                                             {"from": 2, "to": 1})
    assert (inc.severity, inc.version) == (1, 2)
    with pytest.raises(NoChange) as err:
        change_severity(inc, "U0CAROL", "sev1", at(4))
    assert err.value.message == "The incident is already SEV1."


def test_change_lead_entry():
    inc = change_lead(new(), "U0BOB", "<@U0CAROL>", at(4))
    assert inc.timeline[-1] == TimelineEntry(at(4), "U0BOB", "lead", "Lead: <@U0ALICE> → <@U0CAROL>",
                                             {"from": "U0ALICE", "to": "U0CAROL"})
    assert (inc.lead, inc.version) == ("U0CAROL", 2)
    assert refused(lambda: change_lead(inc, "U0BOB", "U0CAROL", at(5))) == "<@U0CAROL> is already the lead."


def test_link_alert_and_run_entries():
    inc = link_alert(new(), "U0CAROL", "ag-7", at(1), title="Disk full")
    assert inc.timeline[-1] == TimelineEntry(at(1), "U0CAROL", "alert", "Alert linked: Disk full",
                                             {"alert_key": "ag-7"})
    inc = link_alert(inc, "U0CAROL", "ag-8", at(2))
    assert inc.alert_keys == ("ag-7", "ag-8") and inc.timeline[-1].text == "Alert linked: ag-8"
    inc = link_run(inc, "U0CAROL", "run-3", at(3), text="restart-api service=api")
    assert inc.timeline[-1] == TimelineEntry(at(3), "U0CAROL", "run",
                                             "Remediation run: restart-api service=api", {"run_id": "run-3"})
    inc = link_run(inc, "U0CAROL", "run-4", at(4))
    assert inc.runs == ("run-3", "run-4") and inc.timeline[-1].text == "Remediation run: run-4"
    assert inc.version == 5
    assert refused(lambda: link_alert(inc, "U0A1", "ag-7", at(5))) == \
        "That alert is already linked to this incident."
    assert refused(lambda: link_run(inc, "U0A1", "run-4", at(5))) == \
        "That run is already linked to this incident."


def test_resolve_entry_and_summary():
    inc = resolve(change_status(new(), "U0A1", "monitoring", at(1)), "U0CAROL", "  Rolled back ", at(45))
    assert inc.timeline[-1] == TimelineEntry(at(45), "U0CAROL", "resolved", "Resolved: Rolled back",
                                             {"from": "monitoring"})
    assert (inc.status, inc.resolved_at, inc.summary, inc.version) == ("resolved", at(45), "Rolled back", 3)
    assert not inc.is_open
    quiet = resolve(new(), "U0CAROL", "", at(45))
    assert quiet.timeline[-1].text == "Resolved" and quiet.summary == ""
    assert resolve(new(), "U0CAROL", "x" * TEXT_MAX, at(1)).summary == "x" * TEXT_MAX
    assert refused(lambda: resolve(new(), "U0CAROL", "x" * (TEXT_MAX + 1), at(1))) == \
        "The summary is 3001 characters; keep it under 3000."


def test_resolved_incident_names_when_it_was_resolved():
    inc = resolve(new(), "U0CAROL", "", T0.replace(hour=15, minute=7))
    assert refused(lambda: add_note(inc, "U0A1", "x", at(90))) == \
        "This incident was already resolved at 2026-11-03 15:07 UTC; it cannot change."
    unknown = replace(inc, resolved_at=None)
    assert refused(lambda: add_note(unknown, "U0A1", "x", at(90))) == \
        "This incident was already resolved at ?; it cannot change."


# ---------------------------------------------------------------- reminders


def test_reminder_entry_and_the_next_wait():
    inc = record_reminder(new(1), at(30))
    assert inc.timeline[-1] == TimelineEntry(at(30), BOT_AUTHOR, "reminder", "Reminder: post an update")
    assert BOT_AUTHOR == "" and inc.version == 2
    assert last_reminder_at(inc) == at(30)
    inc = record_reminder(add_note(inc, "U0A1", "n", at(40)), at(60))
    assert last_reminder_at(inc) == at(60)
    assert last_reminder_at(new()) is None
    assert not needs_update_reminder(inc, at(89))
    assert needs_update_reminder(inc, at(90))


def test_reminder_counts_from_the_latest_of_update_reminder_and_creation():
    updated_late = post_update(record_reminder(new(2), at(30)), "U0A1", "u", at(40))
    assert not needs_update_reminder(updated_late, at(69))
    assert needs_update_reminder(updated_late, at(70))
    never_updated = Incident(id="I", title="t", severity=2, status="investigating", lead="U0A1", team="p",
                             requester="U0A1", created_at=T0)
    assert not needs_update_reminder(never_updated, at(29))
    assert needs_update_reminder(never_updated, at(30))


def test_reminder_needs_an_aware_now():
    with pytest.raises(ValueError):
        needs_update_reminder(new(1), datetime(2026, 11, 3, 15))


# ---------------------------------------------------------------- names and topics


def test_channel_name_edges():
    assert channel_name("a" * 100, DAY) == "inc-20261103-" + "a" * 67
    assert channel_name("a" * 100, DAY, 1) == "inc-20261103-" + "a" * 65 + "-1"
    assert channel_name("a" * 66 + " b", DAY, 1) == "inc-20261103-" + "a" * 65 + "-1"
    assert channel_name("a" * 64 + " b", DAY, 1) == "inc-20261103-" + "a" * 64 + "-1"
    with pytest.raises(ValueError, match="channel name suffix must be positive, got -1"):
        channel_name("x", DAY, -1)
    with pytest.raises(ValueError, match="channel name suffix 10{58} is too long"):
        channel_name("x", DAY, 10 ** 58)  # leaves 7 characters, less than "incident"
    longest = channel_name("abcdefghij", DAY, 10 ** 57)  # leaves exactly 8
    assert longest == "inc-20261103-abcdefgh-1" + "0" * 57 and len(longest) == 80
    assert slugify("Ærø Ðþ Łı") == "aero-dth-li"
    assert slugify("  Hello, world! ") == "hello-world"
    assert slugify("a - b -- c") == "a-b-c"


def test_truncate():
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "ab…"
    assert truncate("ab cd", 4) == "ab…"
    assert truncate("abcd", 0) == "…"


def test_topic_fits_exactly():
    head = "SEV1 · Investigating · Lead: <@U0ALICE> · "
    room = 250 - len(head)
    assert topic(new(1, title="a" * room)) == head + "a" * room
    assert topic(new(1, title="a" * (room + 1))) == head + "a" * (room - 1) + "…"


# ---------------------------------------------------------------- stored form


def test_stored_form_in_full():
    inc = resolve(link_run(new(alert_key="ag-1"), "U0A1", "run-1", at(1)), "U0CAROL", "done", at(30))
    inc = attach_channel(inc, "C0INC", "inc-x")
    data = inc.to_dict()
    assert data == {
        "id": "INC1", "title": "Payments API errors", "severity": 2, "status": "resolved", "lead": "U0ALICE",
        "team": "payments", "requester": "U0BOB", "created_at": "2026-11-03T14:00:00+00:00",
        "channel_id": "C0INC", "channel_name": "inc-x", "resolved_at": "2026-11-03T14:30:00+00:00",
        "summary": "done", "alert_keys": ["ag-1"], "runs": ["run-1"],
        "timeline": [entry.to_dict() for entry in inc.timeline],
        "last_update_at": "2026-11-03T14:00:00+00:00", "version": 5,
    }
    assert data["timeline"][1] == {"at": "2026-11-03T14:00:00+00:00", "author": "U0BOB", "kind": "alert",
                                   "text": "Alert linked: ag-1", "data": {"alert_key": "ag-1"}}
    assert Incident.from_dict(json.loads(json.dumps(data))) == inc
    still_open = new().to_dict()
    assert (still_open["resolved_at"], still_open["last_update_at"]) == (None, "2026-11-03T14:00:00+00:00")
    assert Incident.from_dict(still_open) == new()


def test_older_record_gets_defaults_and_times_become_utc():
    raw = {"id": "I", "title": "t", "severity": "3", "status": "investigating", "lead": "U0A1",
           "created_at": "2026-11-03T15:00:00+01:00",
           "timeline": [{"at": "2026-11-03T15:00:00+01:00", "kind": "declared"}]}
    inc = Incident.from_dict(raw)
    assert (inc.team, inc.requester, inc.channel_id, inc.channel_name, inc.summary) == ("", "", "", "", "")
    assert (inc.severity, inc.resolved_at, inc.alert_keys, inc.runs, inc.last_update_at, inc.version) == \
        (3, None, (), (), None, 0)
    assert inc.created_at == T0 and inc.created_at.tzinfo is UTC
    assert inc.timeline == (TimelineEntry(T0, BOT_AUTHOR, "declared", "", {}),)
    empty = Incident.from_dict({**raw, "alert_keys": None, "runs": None, "timeline": None, "version": "4"})
    assert (empty.alert_keys, empty.runs, empty.timeline, empty.version) == ((), (), (), 4)
    assert inc_mod.TimelineEntry.from_dict({"at": "2026-11-03T14:00:00+00:00", "kind": "note",
                                            "data": None}).data == {}
