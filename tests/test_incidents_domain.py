"""Incident domain (names, severities, transitions, reminders) and its rendering."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.domain import alerts as alert_domain
from bot.domain import incidents as inc_mod
from bot.domain.alert_payloads import parse_alertmanager
from bot.domain.alerts import apply_batch
from bot.domain.incidents import (
    IncidentError,
    NoChange,
    SeverityError,
    add_note,
    attach_channel,
    change_lead,
    change_severity,
    change_status,
    channel_name,
    declare,
    link_alert,
    link_run,
    needs_update_reminder,
    parse_severity,
    post_update,
    record_reminder,
    resolve,
    topic,
)
from bot.domain.remediation import new_request
from bot.domain.remediation import transition as run_transition
from bot.slack import render_incidents as render
from bot.slack import render_postmortem
from tests.conftest import FIXTURES

NAME_RE = re.compile(r"^inc-\d{8}-[a-z0-9_-]+$")
DAY = date(2026, 11, 3)
T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def new(severity: int | str = 2, title: str = "Payments API errors", **kw) -> inc_mod.Incident:
    return declare(
        "INC1",
        title,
        severity,
        team="payments",
        requester="U0BOB",
        lead="U0ALICE",
        now=T0,
        **kw,
    )


# ---------------------------------------------------------------------------
# Channel names


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Payments API errors", "inc-20261103-payments-api-errors"),
        ("🔥 Checkout down 🔥", "inc-20261103-checkout-down"),
        ("DB: 500s!!! on /api/v2 (again?)", "inc-20261103-db-500s-on-api-v2-again"),
        ("Café Zürich — Straße", "inc-20261103-cafe-zurich-strasse"),
        ("Søren's Œuvre", "inc-20261103-soren-s-oeuvre"),
        ("snake_case_name", "inc-20261103-snake_case_name"),
        ("---a---b---", "inc-20261103-a-b"),
        ("", "inc-20261103-incident"),
        ("🔥🚨💥", "inc-20261103-incident"),
        ("!!! ??? ...", "inc-20261103-incident"),
        ("日本語", "inc-20261103-incident"),
    ],
)
def test_channel_name_slugs(title: str, expected: str) -> None:
    assert channel_name(title, DAY) == expected


def test_channel_name_long_title_is_cut_to_80_without_trailing_dash() -> None:
    title = "word " * 40  # 200 characters
    name = channel_name(title, DAY)
    assert len(name) <= 80
    assert NAME_RE.fullmatch(name)
    assert not name.endswith("-")
    assert name.startswith("inc-20261103-word-word")


@pytest.mark.parametrize("suffix", [2, 3, 10, 999])
def test_channel_name_suffix_keeps_length(suffix: int) -> None:
    name = channel_name("x" * 200, DAY, suffix)
    assert len(name) == 80
    assert name.endswith(f"-{suffix}")
    assert NAME_RE.fullmatch(name)
    short = channel_name("Checkout down", DAY, suffix)
    assert short == f"inc-20261103-checkout-down-{suffix}"


def test_channel_name_rejects_bad_suffix() -> None:
    with pytest.raises(ValueError):
        channel_name("x", DAY, 0)


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=300), suffix=st.one_of(st.none(), st.integers(2, 10_000)))
def test_channel_name_valid_for_any_text(title: str, suffix: int | None) -> None:
    name = channel_name(title, DAY, suffix)
    assert NAME_RE.fullmatch(name), name
    assert len(name) <= 80
    assert "--" not in name
    slug = name[len("inc-20261103-") :]
    assert not slug.startswith("-") and not slug.endswith("-")


# ---------------------------------------------------------------------------
# Severities


@pytest.mark.parametrize(
    ("text", "sev"),
    [("sev1", 1), ("SEV2", 2), ("Sev3", 3), ("sev-4", 4), ("1", 1), (" 4 ", 4), (2, 2)],
)
def test_parse_severity(text: str | int, sev: int) -> None:
    assert parse_severity(text) == sev


@pytest.mark.parametrize("text", ["sev0", "sev5", "5", "0", "high", "", "sev", "sev12"])
def test_parse_severity_refuses(text: str) -> None:
    with pytest.raises(SeverityError) as err:
        parse_severity(text)
    assert "sev1" in err.value.message and str(text) in err.value.message


# ---------------------------------------------------------------------------
# Transitions


def test_declare() -> None:
    inc = new("sev2")
    assert inc.severity == 2
    assert inc.status == "investigating"
    assert inc.lead == "U0ALICE"
    assert inc.channel_name == "inc-20261103-payments-api-errors"
    assert inc.version == 1
    assert [e.kind for e in inc.timeline] == ["declared"]
    assert inc.timeline[0].author == "U0BOB"
    assert inc.timeline[0].at == T0
    assert inc.last_update_at == T0


def test_declare_with_alert_links_it() -> None:
    inc = new(alert_key="ag-1")
    assert inc.alert_keys == ("ag-1",)
    assert [e.kind for e in inc.timeline] == ["declared", "alert"]


@pytest.mark.parametrize("title", ["", "   ", "x" * 251])
def test_declare_refuses_bad_title(title: str) -> None:
    with pytest.raises(IncidentError):
        new(title=title)


def test_declare_refuses_bad_severity() -> None:
    with pytest.raises(SeverityError):
        new("sev9")


def test_declare_requires_aware_time() -> None:
    with pytest.raises(ValueError):
        declare("I", "t", 2, "payments", "U0BOB", "U0ALICE", datetime(2026, 11, 3))


def test_attach_channel() -> None:
    inc = attach_channel(new(), "C0INC", "inc-20261103-payments-api-errors-2")
    assert inc.channel_id == "C0INC"
    assert inc.channel_name.endswith("-2")


def test_post_update_and_status() -> None:
    inc = new()
    inc2 = post_update(inc, "U0ALICE", "Rolled back deploy 42", minutes(10), status="monitoring")
    assert inc2.status == "monitoring"
    assert inc2.last_update_at == minutes(10)
    assert [e.kind for e in inc2.timeline] == ["declared", "status", "update"]
    assert inc2.timeline[-1].text == "Rolled back deploy 42"
    assert inc2.timeline[-1].author == "U0ALICE"
    assert inc2.version > inc.version
    # the original is untouched: transitions are pure
    assert inc.status == "investigating" and len(inc.timeline) == 1


def test_post_update_same_status_records_no_status_change() -> None:
    inc = post_update(new(), "U0ALICE", "Still looking", minutes(5), status="investigating")
    assert [e.kind for e in inc.timeline] == ["declared", "update"]


@pytest.mark.parametrize(("text", "status"), [("", None), ("  ", None), ("ok", "resolved")])
def test_post_update_refuses(text: str, status: str | None) -> None:
    with pytest.raises(IncidentError):
        post_update(new(), "U0ALICE", text, minutes(1), status=status)


def test_change_status_same_is_no_change() -> None:
    with pytest.raises(NoChange):
        change_status(new(), "U0ALICE", "investigating", minutes(1))


def test_add_note_does_not_reset_reminder() -> None:
    inc = add_note(new(), "U0CAROL", "Grafana shows p99 at 4s", minutes(5))
    assert inc.timeline[-1].kind == "note"
    assert inc.last_update_at == T0


def test_change_severity() -> None:
    inc = change_severity(new(2), "U0ALICE", "sev1", minutes(3))
    assert inc.severity == 1
    entry = inc.timeline[-1]
    assert entry.kind == "severity" and entry.data == {"from": 2, "to": 1}
    assert "SEV2 → SEV1" in entry.text


def test_change_severity_same_is_refused_without_change() -> None:
    inc = new(2)
    with pytest.raises(NoChange) as err:
        change_severity(inc, "U0ALICE", "SEV2", minutes(3))
    assert "already SEV2" in err.value.message


def test_change_lead_accepts_mentions() -> None:
    inc = change_lead(new(), "U0ALICE", "<@U0CAROL|carol>", minutes(4))
    assert inc.lead == "U0CAROL"
    assert inc.timeline[-1].data == {"from": "U0ALICE", "to": "U0CAROL"}
    with pytest.raises(NoChange):
        change_lead(inc, "U0ALICE", "U0CAROL", minutes(5))
    with pytest.raises(IncidentError):
        change_lead(inc, "U0ALICE", "carol", minutes(5))


def test_link_alert_and_run_once() -> None:
    inc = link_run(link_alert(new(), "U0ALICE", "ag-7", minutes(1)), "U0ALICE", "run-3", minutes(2))
    assert inc.alert_keys == ("ag-7",) and inc.runs == ("run-3",)
    assert [e.kind for e in inc.timeline][-2:] == ["alert", "run"]
    with pytest.raises(NoChange):
        link_alert(inc, "U0ALICE", "ag-7", minutes(3))
    with pytest.raises(NoChange):
        link_run(inc, "U0ALICE", "run-3", minutes(3))


def test_resolve_then_everything_is_refused() -> None:
    inc = resolve(new(), "U0ALICE", "Bad deploy rolled back", minutes(45))
    assert inc.status == "resolved"
    assert inc.resolved_at == minutes(45)
    assert inc.summary == "Bad deploy rolled back"
    assert inc.timeline[-1].kind == "resolved"
    with pytest.raises(IncidentError) as err:
        resolve(inc, "U0ALICE", "again", minutes(50))
    assert "already resolved at 2026-11-03 14:45 UTC" in err.value.message
    refused = [
        lambda: post_update(inc, "U0ALICE", "x", minutes(50)),
        lambda: add_note(inc, "U0ALICE", "x", minutes(50)),
        lambda: change_severity(inc, "U0ALICE", 1, minutes(50)),
        lambda: change_lead(inc, "U0ALICE", "U0CAROL", minutes(50)),
        lambda: change_status(inc, "U0ALICE", "monitoring", minutes(50)),
        lambda: link_alert(inc, "U0ALICE", "ag-9", minutes(50)),
        lambda: link_run(inc, "U0ALICE", "run-9", minutes(50)),
        lambda: record_reminder(inc, minutes(50)),
    ]
    for change in refused:
        with pytest.raises(IncidentError, match="already resolved"):
            change()


def test_versions_strictly_increase() -> None:
    inc = new()
    versions = [inc.version]
    inc = post_update(inc, "U0ALICE", "a", minutes(1))
    versions.append(inc.version)
    inc = add_note(inc, "U0ALICE", "b", minutes(2))
    versions.append(inc.version)
    inc = change_severity(inc, "U0ALICE", 1, minutes(3))
    versions.append(inc.version)
    inc = resolve(inc, "U0ALICE", "", minutes(4))
    versions.append(inc.version)
    assert versions == sorted(set(versions))


def test_round_trip_through_json() -> None:
    inc = new(alert_key="ag-1")
    inc = post_update(inc, "U0ALICE", "Rolled back", minutes(10), status="identified")
    inc = change_lead(inc, "U0ALICE", "U0CAROL", minutes(11))
    inc = resolve(inc, "U0CAROL", "Fixed", minutes(30))
    raw = json.loads(json.dumps(inc.to_dict()))
    assert inc_mod.Incident.from_dict(raw) == inc


# ---------------------------------------------------------------------------
# Reminders


def test_reminder_timing_for_sev2() -> None:
    inc = new(2)
    assert not needs_update_reminder(inc, minutes(29))
    assert needs_update_reminder(inc, minutes(30))
    inc = post_update(inc, "U0ALICE", "update", minutes(20))
    assert not needs_update_reminder(inc, minutes(49))
    assert needs_update_reminder(inc, minutes(50))
    inc = record_reminder(inc, minutes(50))
    assert inc.timeline[-1].kind == "reminder"
    assert not needs_update_reminder(inc, minutes(79))
    assert needs_update_reminder(inc, minutes(80))


def test_reminder_custom_interval() -> None:
    inc = new(1)
    assert needs_update_reminder(inc, minutes(10), interval=timedelta(minutes=10))
    assert not needs_update_reminder(inc, minutes(9), interval=timedelta(minutes=10))


def test_no_reminder_for_sev3_sev4_or_resolved() -> None:
    assert not needs_update_reminder(new(3), minutes(300))
    assert not needs_update_reminder(new(4), minutes(300))
    resolved = resolve(new(1), "U0ALICE", "", minutes(5))
    assert not needs_update_reminder(resolved, minutes(300))


def test_note_does_not_postpone_reminder() -> None:
    inc = add_note(new(1), "U0ALICE", "note", minutes(25))
    assert needs_update_reminder(inc, minutes(30))


# ---------------------------------------------------------------------------
# Topic


def test_topic() -> None:
    assert topic(new(2)) == "SEV2 · Investigating · Lead: <@U0ALICE> · Payments API errors"


def test_topic_truncates_title() -> None:
    t = topic(new(1, title="a" * 250))
    assert len(t) <= 250
    assert t.endswith("…")
    assert t.startswith("SEV1 · Investigating · Lead: <@U0ALICE> · aaa")


@settings(max_examples=100, deadline=None)
@given(title=st.text(min_size=1, max_size=250).filter(lambda s: s.strip()))
def test_topic_always_fits(title: str) -> None:
    assert len(topic(new(title=title))) <= 250


# ---------------------------------------------------------------------------
# Rendering


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _assert_within_limits(message: dict) -> None:
    assert message["text"]
    blocks = message["blocks"]
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            for f in block.get("fields", []):
                assert len(f["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    json.dumps(message)  # serializable as sent to Slack


def _buttons(message: dict) -> list[dict]:
    return [n for n in _walk(message["blocks"]) if n.get("type") == "button"]


def test_summary_message_open() -> None:
    inc = attach_channel(new(), "C0INC", "inc-20261103-payments-api-errors")
    inc = post_update(inc, "U0ALICE", "Rolled back <!channel>", minutes(10))
    msg = render.summary_message(inc, minutes(75))
    _assert_within_limits(msg)
    dump = json.dumps(msg, ensure_ascii=False)
    assert "<!date^" + str(int(T0.timestamp())) + "^{date_short_pretty} {time}|" in dump
    assert "<@U0ALICE>" in dump and "Investigating" in dump
    # How long it has been going is a date token: the pinned message never goes stale.
    assert "*Ongoing since*\\n<!date^" + str(int(T0.timestamp())) + "^{ago}|" in dump
    assert "1h 15m" not in dump
    # The title is shown once, in the header.
    assert dump.count("Payments API errors") == 2  # the header and the notification text
    assert msg["blocks"][0]["text"]["text"].endswith("SEV2 · Payments API errors")
    assert "Rolled back &lt;!channel&gt;" in dump  # no broadcast injection
    buttons = _buttons(msg)
    assert {b["action_id"] for b in buttons} == {
        "incident_update",
        "incident_severity",
        "incident_resolve",
    }
    assert all(b["value"] == "INC1" for b in buttons)


def test_summary_message_resolved_has_duration_and_no_buttons() -> None:
    inc = resolve(new(), "U0ALICE", "Rolled back", minutes(90))
    msg = render.summary_message(inc, minutes(200))
    _assert_within_limits(msg)
    dump = json.dumps(msg, ensure_ascii=False)
    assert "1h 30m" in dump and "Resolved" in dump and "Rolled back" in dump
    assert _buttons(msg) == []


def test_summary_message_huge_texts_stay_within_limits() -> None:
    inc = new(title="T" * 250)
    assert "T" * 250 in json.dumps(render.summary_message(inc, minutes(1)))  # cut header: once whole
    inc = post_update(inc, "U0ALICE", "u" * 3000, minutes(1))
    inc = resolve(inc, "U0ALICE", "s" * 3000, minutes(2))
    _assert_within_limits(render.summary_message(inc, minutes(3)))


def test_announcement() -> None:
    inc = attach_channel(new(), "C0INC", "inc-20261103-payments-api-errors")
    msg = render.announcement(inc, "C0INC")
    _assert_within_limits(msg)
    line = msg["blocks"][0]["text"]["text"]
    assert line.startswith("🚨 SEV2 incident declared: <#C0INC> — Payments API errors")
    assert "<@U0ALICE>" in line
    linked = render.announcement(inc, "https://example.slack.com/archives/C0INC")
    assert (
        "<https://example.slack.com/archives/C0INC|#inc-20261103-payments-api-errors>"
        in (linked["blocks"][0]["text"]["text"])
    )


def test_escape_keeps_mentions_only() -> None:
    text = render.escape("ping <@U0ALICE|alice> in <#C0X> not <!here> or <http://x|y> & co")
    assert "<@U0ALICE|alice>" in text and "<#C0X>" in text
    assert "<!here>" not in text and "<http" not in text and "&amp; co" in text


def test_update_modal() -> None:
    inc = change_status(new(), "U0ALICE", "identified", minutes(1))
    view = render.update_modal(inc)
    assert view["type"] == "modal"
    assert view["callback_id"] == "incident_update_modal"
    assert view["private_metadata"] == "INC1"
    assert len(view["title"]["text"]) <= 24
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    text_input = blocks["update"]["element"]
    assert text_input["type"] == "plain_text_input" and text_input["action_id"] == "text"
    assert text_input["multiline"] is True
    status = blocks["status"]
    assert status["optional"] is True
    assert status["element"]["type"] == "static_select"
    values = [o["value"] for o in status["element"]["options"]]
    assert values == ["investigating", "identified", "monitoring"]
    assert status["element"]["initial_option"]["value"] == "identified"


def test_severity_and_resolve_modals_carry_only_the_id() -> None:
    inc = new(3)
    sev = render.severity_modal(inc)
    assert sev["callback_id"] == "incident_severity_modal" and sev["private_metadata"] == "INC1"
    select = next(b for b in sev["blocks"] if b.get("block_id") == "severity")["element"]
    assert [o["value"] for o in select["options"]] == ["sev1", "sev2", "sev3", "sev4"]
    assert select["initial_option"]["value"] == "sev3"
    assert all(parse_severity(o["value"]) for o in select["options"])
    res = render.resolve_modal(inc)
    assert res["callback_id"] == "incident_resolve_modal" and res["private_metadata"] == "INC1"


def _story() -> inc_mod.Incident:
    inc = attach_channel(new(2, alert_key="ag-1"), "C0INC", "inc-20261103-payments-api-errors")
    inc = post_update(inc, "U0ALICE", "Errors started after deploy 42", minutes(5))
    inc = change_severity(inc, "U0CAROL", "sev1", minutes(7))
    inc = add_note(inc, "U0CAROL", "Rollback started", minutes(12))
    inc = link_run(inc, "U0CAROL", "run-1", minutes(13), "restart-api service=payments-api")
    inc = post_update(inc, "U0ALICE", "Error rate back to normal", minutes(30), "monitoring")
    return resolve(inc, "U0ALICE", "Deploy 42 broke checkout; rolled back.", minutes(62))


def test_postmortem_markdown() -> None:
    inc = _story()
    # A real alert group from an Alertmanager payload, acknowledged 4 minutes after it fired,
    # and a real run request taken through approval to success.
    batch = parse_alertmanager((FIXTURES / "alertmanager_firing.json").read_bytes(), None)
    fired, _ = apply_batch(None, batch, T0 - timedelta(minutes=3))
    acked, _ = alert_domain.acknowledge(fired, "U0ALICE", T0 + timedelta(minutes=1))
    runbook = load_config(FIXTURES / "atbat.yml").runbooks["restart-api"]
    run = new_request("r0123456789", runbook, {"service": "payments-api"}, "U0CAROL", "payments",
                      minutes(10), {"channel": "C0PAYMENTS"})
    for event, actor in (("approve", "U0MANAGER"), ("start", "worker"), ("succeeded", "worker")):
        run = run_transition(run, event, actor, minutes(11), exit_code=0 if event == "succeeded"
                             else None)
    alerts, runs = [acked], [run]
    md = render_postmortem.postmortem_markdown(
        inc, alerts, runs, minutes(70), names={"U0ALICE": "alice", "U0BOB": "bob"}
    )
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Impact",
        "## Severity history",
        "## Timeline",
        "## Alerts",
        "## Remediation runs",
        "## Follow-ups",
    ]
    assert "Deploy 42 broke checkout; rolled back." in md
    assert "Duration: 1h 2m" in md
    # timeline in order, with authors resolved to names where known
    timeline = md.split("## Timeline")[1].split("## Alerts")[0]
    lines = [line for line in timeline.splitlines() if line.startswith("- ")]
    assert len(lines) == len(inc.timeline)
    assert lines[0].startswith("- 14:00 UTC — @bob — Declared SEV2")
    assert lines[2] == "- 14:05 UTC — @alice — Errors started after deploy 42"
    assert lines[3].startswith("- 14:07 UTC — <@U0CAROL> — Severity: SEV2 → SEV1")
    assert lines[-1].startswith("- 15:02 UTC — @alice — Resolved")
    stamps = [line[2:7] for line in lines]
    assert stamps == sorted(stamps)
    assert "- 2026-11-03 14:07 UTC: SEV2 → SEV1" in md
    assert "- PaymentsApiHighErrorRate — fired 2026-11-03 13:57 UTC, time to acknowledge: 4m by @alice" in md
    assert "`restart-api` service=payments-api" in md
    assert "requested by <@U0CAROL>" in md and "<@U0MANAGER>" in md
    assert "succeeded (exit 0)" in md


def test_postmortem_without_alerts_runs_or_summary() -> None:
    inc = resolve(new(), "U0ALICE", "", minutes(5))
    md = render_postmortem.postmortem_markdown(inc, [], [], minutes(6))
    assert "_No alerts were linked._" in md
    assert "_No remediation runs were linked._" in md
    assert "_What happened" in md


def test_postmortem_multi_day_timeline_has_dates_and_defuses_broadcasts() -> None:
    inc = post_update(new(), "U0ALICE", "heads up <!channel>", T0 + timedelta(days=1))
    md = render_postmortem.postmortem_markdown(inc, [], [], T0 + timedelta(days=1, hours=1))
    assert "**2026-11-03**" in md and "**2026-11-04**" in md
    assert "<!channel>" not in md and "@channel" in md


def test_timeline_text_in_order_and_capped() -> None:
    inc = _story()
    text = render.timeline_text(inc)
    assert text.index("Errors started") < text.index("Rollback started") < text.index("Resolved")
    long_inc = new()
    for i in range(200):
        long_inc = add_note(long_inc, "U0ALICE", f"note {i:03d} " + "x" * 50, minutes(i))
    capped = render.timeline_text(long_inc)
    assert len(capped) <= 3000
    assert "note 199" in capped and "earlier entries" in capped
    one_huge = post_update(new(), "U0ALICE", "y" * 3000, minutes(1))
    assert "y" * 400 in render.timeline_text(one_huge)
    assert len(render.timeline_text(one_huge)) <= 3000


def test_resolve_announcement() -> None:
    msg = render.resolve_announcement(_story())
    _assert_within_limits(msg)
    dump = json.dumps(msg, ensure_ascii=False)
    assert "resolved" in dump and "<#C0INC>" in dump and "1h 2m" in dump


def test_incidents_list() -> None:
    open1 = declare("A", "Checkout down", 1, "payments", "U0BOB", "U0ALICE", T0)
    open3 = declare("B", "Slow reports", 3, "payments", "U0BOB", "U0CAROL", minutes(-60))
    done = resolve(new(), "U0ALICE", "ok", minutes(30))
    msg = render.incidents_list([open3, done, open1], minutes(60))
    _assert_within_limits(msg)
    texts = [b["text"]["text"] for b in msg["blocks"] if "text" in b]
    joined = "\n".join(texts)
    assert joined.index("Checkout down") < joined.index("Slow reports") < joined.index("Payments")
    assert "Recently resolved" in joined
    empty = render.incidents_list([], T0)
    assert "No incidents" in empty["text"]


def test_incidents_list_caps_blocks() -> None:
    many = [declare(f"I{i}", f"t{i}", 3, "p", "U0B", "U0A", minutes(i)) for i in range(120)]
    msg = render.incidents_list(many, minutes(200))
    _assert_within_limits(msg)
    assert "and 80 more" in msg["blocks"][-1]["elements"][0]["text"]


def test_reminder_message_button_is_id_only() -> None:
    msg = render.reminder_message(new(1), minutes(40))
    _assert_within_limits(msg)
    assert "40m" in msg["text"]
    assert [b["value"] for b in _buttons(msg)] == ["INC1"]


def test_declare_normalizes_lead_mention_and_refuses_names() -> None:
    inc = declare("I", "t", 2, "payments", "U0BOB", "<@U0CAROL|carol>", T0)
    assert inc.lead == "U0CAROL"
    with pytest.raises(IncidentError):
        declare("I", "t", 2, "payments", "U0BOB", "carol", T0)
