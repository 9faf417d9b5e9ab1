"""Alerts: the alert-group model and its state machine.

Pure Python, the clock is passed in. Two sources feed alert groups (their
webhook bodies are parsed in `bot.domain.alert_payloads` into the `AlertBatch`
and `AlertEvent` values defined here):

* Prometheus Alertmanager webhooks: one notification carries every alert of
  an aggregation group (`groupKey`); alerts are merged by `fingerprint`.
* PagerDuty Events API v2 events: one `dedup_key` is one group with a single
  alert; `trigger`, `acknowledge` and `resolve` drive it.

A group is one Slack message. Its `state` only moves forward within an
occurrence (triggered -> acknowledged -> resolved); firing again after being
resolved opens a new occurrence that remembers the previous one, so a late
Ack can never reopen a resolved alert. Every change bumps `version`, which
storage uses for compare-and-set; "no change" (a redelivered notification, a
repeat notification) returns the group untouched so nothing is written or sent.
Escalation (when to notify whom, and asking for it now) is `bot.domain.escalation`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, Literal
from urllib.parse import quote

from bot.domain.timefmt import human_duration

Source = Literal["alertmanager", "events", "slack"]  # slack: paged from Slack (/oncall page)
State = Literal["triggered", "acknowledged", "resolved"]
Status = Literal["firing", "resolved"]
Severity = Literal["critical", "error", "warning", "info"]

SEVERITIES: tuple[Severity, ...] = ("critical", "error", "warning", "info")
DEFAULT_SEVERITY: Severity = "error"  # an alert that names no severity still pages
SOURCE_ACTOR = "source"
RUNBOOK_ANNOTATION = "atbat_runbook"
# Labels that are shown elsewhere in the message (title, severity, team).
HIDDEN_LABELS = frozenset({"alertname", "severity", "team"})
MAX_INSTANCES = 200  # resolved instances beyond this are forgotten, oldest first
MAX_HISTORY = 200

_SEVERITY_ALIASES: dict[str, Severity] = {
    "critical": "critical", "crit": "critical", "page": "critical", "fatal": "critical",
    "emergency": "critical", "high": "critical", "p1": "critical", "sev1": "critical",
    "error": "error", "err": "error", "major": "error", "p2": "error", "sev2": "error",
    "warning": "warning", "warn": "warning", "minor": "warning", "medium": "warning",
    "p3": "warning", "sev3": "warning",
    "info": "info", "informational": "info", "notice": "info", "low": "info", "none": "info",
    "p4": "info", "p5": "info", "sev4": "info",
}


class AlertTransitionError(Exception):
    """A user action that does not apply; str() is the message for that user."""


# The stored form: compact JSON with sorted keys (one encoder: json.dumps with options
# builds a new one at each call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_json_string = json.encoder.encode_basestring_ascii  # what _ENCODER makes of a str


def _json_strings(mapping: Mapping[str, str]) -> str:
    s = _json_string
    return "{" + ",".join(f"{s(k)}:{s(v)}" for k, v in sorted(mapping.items())) + "}"


def _json_time(value: datetime | None) -> str:
    return "null" if value is None else f'"{_utc_iso(value)}"'


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class AlertInstance:
    fingerprint: str
    status: Status
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "status": self.status,
            "labels": dict(self.labels), "annotations": dict(self.annotations),
            "starts_at": _iso(self.starts_at), "ends_at": _iso(self.ends_at),
            "generator_url": self.generator_url,
        }

    @cached_property
    def stored_entry(self) -> str:
        """`"fingerprint":{to_dict()}`, as in its group's stored form, encoded once: an
        alert that did not change is the same object from version to version (`_merge`).
        Written out, its keys in order: for so small a dict json's set-up costs more than
        the encoding (see test_stored_form_is_the_sorted_json_of_to_dict...)."""
        s = _json_string
        return (f'{s(self.fingerprint)}:{{"annotations":{_json_strings(self.annotations)},'
                f'"ends_at":{_json_time(self.ends_at)},"fingerprint":{s(self.fingerprint)},'
                f'"generator_url":{s(self.generator_url)},'
                f'"labels":{_json_strings(self.labels)},'
                f'"starts_at":{_json_time(self.starts_at)},"status":{s(self.status)}}}')

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertInstance:
        return cls(
            fingerprint=data["fingerprint"], status=data["status"],
            labels=dict(data["labels"]), annotations=dict(data["annotations"]),
            starts_at=_from_iso(data.get("starts_at")), ends_at=_from_iso(data.get("ends_at")),
            generator_url=data.get("generator_url", ""),
        )


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class RunbookRef:
    """A runbook the alert names, with the labels offered as its parameters."""

    name: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class AlertBatch:
    """One Alertmanager notification, validated and normalized."""

    group_key: str
    status: Status
    receiver: str
    team: str | None
    alerts: tuple[AlertInstance, ...]
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    truncated: int = 0
    source: Source = "alertmanager"

    @property
    def key(self) -> str:
        return group_key_for(self.source, self.team, self.group_key)


@dataclass(frozen=True)
class AlertEvent:
    """One Events API v2 event. `team` is filled in by the caller from `routing_key`."""

    routing_key: str
    action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str
    dedup_key_generated: bool = False
    summary: str = ""
    source_name: str = ""
    severity: Severity = DEFAULT_SEVERITY
    timestamp: datetime | None = None
    component: str = ""
    group: str = ""
    event_class: str = ""
    custom_details: Any = None
    links: tuple[Link, ...] = ()
    client: str = ""
    client_url: str = ""
    team: str | None = None
    source: Source = "events"

    @property
    def key(self) -> str:
        return group_key_for(self.source, self.team, self.dedup_key)

    def with_team(self, team: str) -> AlertEvent:
        return replace(self, team=team)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str  # a Slack user id or "source"
    event: str  # opened, alerts, acknowledged, resolved, reopened, escalate, notified
    text: str

    def to_list(self) -> list[str]:
        return [_iso(self.at) or "", self.actor, self.event, self.text]

    @cached_property
    def stored_json(self) -> str:
        """`to_list()` as stored, encoded once (a group's history is carried, not copied)."""
        return _ENCODER.encode(self.to_list())

    @classmethod
    def from_list(cls, data: list[str]) -> HistoryEntry:
        at, actor, event, text = data
        return cls(at=parse_iso(at), actor=actor, event=event, text=text)


@dataclass(frozen=True)
class AlertGroup:
    key: str
    source: Source
    team: str | None
    title: str
    severity: Severity
    summary: str
    description: str
    labels: Mapping[str, str]
    links: tuple[Link, ...]
    runbook: RunbookRef | None
    alerts: Mapping[str, AlertInstance]
    state: State
    created_at: datetime
    truncated: int = 0
    occurrence: int = 1
    previous_occurrence: Mapping[str, Any] | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    escalation_step: int = -1  # position in escalation_plan() last notified
    escalation_requested_by: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    version: int = 1
    source_key: str = ""  # the source's groupKey / dedup_key, for logs and the API reply
    # Paging held back: "maintenance" (the team's window) or "snoozed" (until snoozed_until).
    paused: str | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    # After a pause, the plan restarts: position `escalation_anchor_pos` is due at the anchor.
    escalation_anchor: datetime | None = None
    escalation_anchor_pos: int = 0
    escalation_pass: int = 0  # bumped at each resume, so a step may page again once
    # What self-healing did for this occurrence, in one line (shown on the message and pages).
    self_healing: str = ""

    @property
    def firing(self) -> int:
        return sum(1 for a in self.alerts.values() if a.status == "firing")

    @property
    def resolved_count(self) -> int:
        return sum(1 for a in self.alerts.values() if a.status == "resolved")

    @property
    def is_open(self) -> bool:
        return self.state != "resolved"

    def to_dict(self) -> dict[str, Any]:
        return {**self._plain_dict(),
                "alerts": {fp: a.to_dict() for fp, a in self.alerts.items()},
                "history": [h.to_list() for h in self.history]}

    def _plain_dict(self) -> dict[str, Any]:
        """`to_dict()` but its two long parts, alerts and history."""
        return {
            "key": self.key, "source": self.source, "team": self.team, "title": self.title,
            "severity": self.severity, "summary": self.summary,
            "description": self.description, "labels": dict(self.labels),
            "links": [[link.text, link.url] for link in self.links],
            "runbook": None if self.runbook is None
            else {"name": self.runbook.name, "params": dict(self.runbook.params)},
            "state": self.state, "created_at": _iso(self.created_at),
            "truncated": self.truncated, "occurrence": self.occurrence,
            "previous_occurrence": None if self.previous_occurrence is None
            else dict(self.previous_occurrence),
            "acked_by": self.acked_by, "acked_at": _iso(self.acked_at),
            "resolved_by": self.resolved_by, "resolved_at": _iso(self.resolved_at),
            "escalation_step": self.escalation_step,
            "escalation_requested_by": self.escalation_requested_by,
            "version": self.version, "source_key": self.source_key,
            "paused": self.paused, "snoozed_until": _iso(self.snoozed_until),
            "snoozed_by": self.snoozed_by, "escalation_anchor": _iso(self.escalation_anchor),
            "escalation_anchor_pos": self.escalation_anchor_pos,
            "escalation_pass": self.escalation_pass, "self_healing": self.self_healing,
        }

    def to_json(self) -> str:
        """`to_dict()` as compact JSON with sorted keys; each alert and history entry is
        encoded once in its life, not at every version of the group."""
        plain = self._plain_dict()
        plain["alerts"] = plain["history"] = 0
        text = _ENCODER.encode(plain)
        history = ",".join(h.stored_json for h in self.history)
        alerts = ",".join(a.stored_entry if fp == a.fingerprint else
                          f"{_ENCODER.encode(fp)}:{_ENCODER.encode(a.to_dict())}"
                          for fp, a in sorted(self.alerts.items()))
        # Only scalars sort before either key: the first match is the key itself.
        text = text.replace('"history":0', f'"history":[{history}]', 1)
        return text.replace('"alerts":0', f'"alerts":{{{alerts}}}', 1)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertGroup:
        runbook = data.get("runbook")
        return cls(
            key=data["key"], source=data["source"], team=data.get("team"),
            title=data["title"], severity=data["severity"], summary=data["summary"],
            description=data["description"], labels=dict(data["labels"]),
            links=tuple(Link(t, u) for t, u in data.get("links", [])),
            runbook=None if runbook is None
            else RunbookRef(runbook["name"], dict(runbook["params"])),
            alerts={fp: AlertInstance.from_dict(a) for fp, a in data["alerts"].items()},
            state=data["state"], created_at=parse_iso(data["created_at"]),
            truncated=data.get("truncated", 0), occurrence=data.get("occurrence", 1),
            previous_occurrence=data.get("previous_occurrence"),
            acked_by=data.get("acked_by"), acked_at=_from_iso(data.get("acked_at")),
            resolved_by=data.get("resolved_by"), resolved_at=_from_iso(data.get("resolved_at")),
            escalation_step=data.get("escalation_step", -1),
            escalation_requested_by=data.get("escalation_requested_by"),
            history=tuple(HistoryEntry.from_list(h) for h in data.get("history", [])),
            version=data.get("version", 1), source_key=data.get("source_key", ""),
            paused=data.get("paused"), snoozed_until=_from_iso(data.get("snoozed_until")),
            snoozed_by=data.get("snoozed_by"),
            escalation_anchor=_from_iso(data.get("escalation_anchor")),
            escalation_anchor_pos=data.get("escalation_anchor_pos", 0),
            escalation_pass=data.get("escalation_pass", 0),
            self_healing=data.get("self_healing", ""),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AlertGroup:
        return cls.from_dict(json.loads(text))


ChangeKind = Literal["none", "opened", "alerts", "acknowledged", "resolved", "escalate",
                     "notified", "paused", "resumed", "snoozed", "healing"]


@dataclass(frozen=True)
class Change:
    """What a transition did, for the thread reply and the caller's next steps.

    `opened` covers a new group and a new occurrence (`new_occurrence`): both
    start escalation. `acknowledged` and `resolved` stop it.
    """

    kind: ChangeKind
    text: str | None = None
    rerender: bool = False
    new_occurrence: bool = False

    @property
    def changed(self) -> bool:
        return self.kind != "none"


NO_CHANGE = Change("none")


# ---------------------------------------------------------------- helpers


def group_key_for(source: Source, team: str | None, raw_key: str) -> str:
    """The opaque, stable id of a group: safe in Redis keys and button values."""
    digest = hashlib.sha256(f"{source}\0{team or ''}\0{raw_key}".encode()).hexdigest()
    prefix = {"alertmanager": "am-", "slack": "sl-"}.get(source, "ev-")
    return prefix + digest[:24]


def normalize_severity(value: Any) -> Severity:
    if isinstance(value, str):
        return _SEVERITY_ALIASES.get(value.strip().lower(), DEFAULT_SEVERITY)
    return DEFAULT_SEVERITY


def mention(actor: str | None) -> str:
    if not actor or actor == SOURCE_ACTOR:
        return "the source"
    return f"<@{actor}>"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc_iso(value)


@lru_cache(maxsize=1024)
def _utc_iso(value: datetime) -> str:
    # The alerts of a group mostly start (and end) at the same instant: each is written once.
    return value.astimezone(UTC).isoformat()


def _from_iso(value: str | None) -> datetime | None:
    return None if not value else parse_iso(value)


def parse_iso(value: str) -> datetime:
    """An ISO 8601 date-time; one without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)



# ---------------------------------------------------------------- group content


@dataclass(frozen=True)
class _Content:
    """The descriptive part of a group, recomputed from each notification."""

    title: str
    severity: Severity
    summary: str
    description: str
    labels: Mapping[str, str]
    links: tuple[Link, ...]
    runbook: RunbookRef | None


def _first(values: Any) -> str:
    return next((v for v in values if v), "")


def _silence_url(external_url: str, labels: Mapping[str, str]) -> str:
    if not external_url or not labels:
        return ""
    matchers = ",".join(f'{k}="{_escape_matcher(v)}"' for k, v in sorted(labels.items()))
    return f"{external_url.rstrip('/')}/#/silences/new?filter={quote('{' + matchers + '}')}"


def _escape_matcher(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _batch_content(batch: AlertBatch, alerts: Mapping[str, AlertInstance]) -> _Content:
    firing = [a for a in alerts.values() if a.status == "firing"] or list(alerts.values())
    ann = batch.common_annotations
    summary = ann.get("summary") or _first(a.annotations.get("summary") for a in firing)
    title = _batch_title(batch, firing) or summary or batch.group_key
    severity = _batch_severity(batch, firing)
    description = ann.get("description") or ann.get("message") or _first(
        a.annotations.get("description") or a.annotations.get("message") for a in firing)
    shown = {**batch.group_labels, **batch.common_labels}
    labels = {k: v for k, v in shown.items() if k not in HIDDEN_LABELS}
    links = [
        Link("Source", _first(a.generator_url for a in firing)),
        Link("Runbook", ann.get("runbook_url") or _first(
            a.annotations.get("runbook_url") for a in firing)),
        Link("Silence", _silence_url(batch.external_url,
                                     batch.group_labels or batch.common_labels)),
    ]
    runbook_name = ann.get(RUNBOOK_ANNOTATION) or _first(
        a.annotations.get(RUNBOOK_ANNOTATION) for a in firing)
    runbook = RunbookRef(runbook_name, dict(batch.common_labels)) if runbook_name else None
    return _Content(title=title, severity=severity, summary=summary, description=description,
                    labels=labels, links=tuple(link for link in links if link.url),
                    runbook=runbook)


def _batch_title(batch: AlertBatch, firing: list[AlertInstance]) -> str:
    title = batch.common_labels.get("alertname") or batch.group_labels.get("alertname", "")
    if title:
        return title
    names = list(dict.fromkeys(a.labels.get("alertname", "") for a in firing if
                               a.labels.get("alertname")))
    if not names:
        return ""
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


def _batch_severity(batch: AlertBatch, firing: list[AlertInstance]) -> Severity:
    if "severity" in batch.common_labels:
        return normalize_severity(batch.common_labels["severity"])
    # The alerts of a group mostly say the same: each value said is looked up once.
    said = {a.labels.get("severity") for a in firing} - {None, ""}
    severities = [normalize_severity(value) for value in said]
    return min(severities, key=SEVERITIES.index) if severities else DEFAULT_SEVERITY  # the worst


def _event_content(event: AlertEvent) -> _Content:
    details = event.custom_details
    labels = {k: v for k, v in (("source", event.source_name), ("component", event.component),
                                ("group", event.group), ("class", event.event_class)) if v}
    description = ""
    runbook = None
    if isinstance(details, dict):
        description = str(details.get("description") or "")
        for k, v in details.items():
            if isinstance(v, (str, int, float)) and not isinstance(v, bool) and k != "description":
                labels.setdefault(str(k), str(v))
        if isinstance(details.get(RUNBOOK_ANNOTATION), str) and details[RUNBOOK_ANNOTATION]:
            runbook = RunbookRef(details[RUNBOOK_ANNOTATION],
                                 {k: v for k, v in labels.items() if k != RUNBOOK_ANNOTATION})
        labels.pop(RUNBOOK_ANNOTATION, None)
    elif details is not None:
        description = details if isinstance(details, str) else json.dumps(details)
    links = list(event.links)
    if event.client_url:
        links.insert(0, Link(event.client or "Source", event.client_url))
    return _Content(title=event.summary, severity=event.severity, summary=event.summary,
                    description=description, labels=labels, links=tuple(links),
                    runbook=runbook)


def _content_fields(content: _Content) -> dict[str, Any]:
    return {"title": content.title, "severity": content.severity, "summary": content.summary,
            "description": content.description, "labels": content.labels,
            "links": content.links, "runbook": content.runbook}


# ---------------------------------------------------------------- transitions


def record_transition(group: AlertGroup, now: datetime, actor: str, event: str, text: str,
                      **updates: Any) -> AlertGroup:
    """`group` with `updates` applied, one history entry more and the next version."""
    history = (*group.history, HistoryEntry(now, actor, event, text))[-MAX_HISTORY:]
    return replace(group, history=history, version=group.version + 1, **updates)


def _same(a: AlertGroup, b: AlertGroup) -> bool:
    """Whether `a` and `b` would be stored alike (equal `to_dict()`), the cheap checks first:
    a group that gained alerts differs in their count, and an alert is compared alone."""
    if len(a.alerts) != len(b.alerts):
        return False
    for fingerprint, alert in a.alerts.items():
        other = b.alerts.get(fingerprint)
        if other is None or (other is not alert and other.stored_entry != alert.stored_entry):
            return False
    return a.history == b.history and a._plain_dict() == b._plain_dict()


def _prune(alerts: dict[str, AlertInstance]) -> dict[str, AlertInstance]:
    if len(alerts) <= MAX_INSTANCES:
        return alerts
    resolved = sorted((a for a in alerts.values() if a.status == "resolved"),
                      key=lambda a: a.ends_at or datetime.min.replace(tzinfo=UTC))
    drop = {a.fingerprint for a in resolved[: len(alerts) - MAX_INSTANCES]}
    return {fp: a for fp, a in alerts.items() if fp not in drop}


def _merge(old: Mapping[str, AlertInstance], batch: AlertBatch,
           now: datetime) -> dict[str, AlertInstance]:
    merged = dict(old)
    seen = set()
    for alert in batch.alerts:
        known = old.get(alert.fingerprint)
        # The same alert again stays the same object, whose stored form is encoded already.
        merged[alert.fingerprint] = known if known is not None and known == alert else alert
        seen.add(alert.fingerprint)
    if not batch.truncated:
        # An untruncated notification lists every alert of the group: one that
        # is missing is no longer active (Alertmanager drops resolved alerts
        # for receivers without send_resolved).
        for fp, alert in old.items():
            if fp not in seen and alert.status == "firing":
                merged[fp] = replace(alert, status="resolved", ends_at=now)
    return _prune(merged)


def _new_group(key: str, source: Source, source_key: str, team: str | None, content: _Content,
               alerts: dict[str, AlertInstance], truncated: int, now: datetime,
               previous: AlertGroup | None) -> AlertGroup:
    firing = sum(1 for a in alerts.values() if a.status == "firing")
    if previous is None:
        occurrence, prev_info, history, version = 1, None, (), 1
        event, text = "opened", f"Firing: {plural(firing, 'alert')}"
    else:
        occurrence = previous.occurrence + 1
        prev_info = {"occurrence": previous.occurrence, "created_at": _iso(previous.created_at),
                     "resolved_at": _iso(previous.resolved_at),
                     "resolved_by": previous.resolved_by}
        history, version = previous.history, previous.version + 1
        event, text = "reopened", f"Firing again: {plural(firing, 'alert')}"
    group = AlertGroup(
        key=key, source=source, team=team, alerts=alerts, state="triggered", created_at=now,
        truncated=truncated, occurrence=occurrence, previous_occurrence=prev_info,
        history=history, version=version - 1, source_key=source_key,
        **_content_fields(content),
    )
    return record_transition(group, now, SOURCE_ACTOR, event, text)


def _opened_change(group: AlertGroup) -> Change:
    return Change("opened", group.history[-1].text, rerender=True,
                  new_occurrence=group.occurrence > 1)


def _resolved_by_source(group: AlertGroup, now: datetime, text: str) -> AlertGroup:
    return record_transition(group, now, SOURCE_ACTOR, "resolved", text, state="resolved",
                             resolved_by=SOURCE_ACTOR, resolved_at=now)


def apply_batch(group: AlertGroup | None, batch: AlertBatch,
                now: datetime) -> tuple[AlertGroup, Change]:
    """Merge an Alertmanager notification into its group."""
    if group is None or (group.state == "resolved" and _fires_anew(group, batch)):
        alerts = _prune({a.fingerprint: a for a in batch.alerts})
        new = _new_group(batch.key, batch.source, batch.group_key, batch.team,
                         _batch_content(batch, alerts), alerts, batch.truncated, now, group)
        if new.firing == 0:  # first seen already cleared (e.g. we were down meanwhile)
            new = _resolved_by_source(new, now, _cleared_text(new))
        return new, _opened_change(new)
    alerts = _merge(group.alerts, batch, now)
    updated = replace(group, alerts=alerts, truncated=batch.truncated,
                      **_content_fields(_batch_content(batch, alerts)))
    if _same(updated, group):
        return group, NO_CHANGE
    if group.state == "resolved":
        # e.g. the source's "resolved" arriving after a user resolved it.
        cleared = updated.firing == 0 and group.firing > 0
        text = f"Cleared at the source: {_cleared_text(updated)}" if cleared else None
        return record_transition(updated, now, SOURCE_ACTOR, "alerts", text or "updated"), \
            Change("alerts", text, rerender=True)
    if updated.firing == 0:
        text = _cleared_text(updated)
        return _resolved_by_source(updated, now, text), Change("resolved", text, rerender=True)
    text = _alerts_delta_text(group, updated)
    return record_transition(updated, now, SOURCE_ACTOR, "alerts", text or "updated"), \
        Change("alerts", text, rerender=True)


def _fires_anew(group: AlertGroup, batch: AlertBatch) -> bool:
    """A firing alert that was not firing, with that same start, when the group resolved."""
    for alert in batch.alerts:
        if alert.status != "firing":
            continue
        known = group.alerts.get(alert.fingerprint)
        if known is None or known.status != "firing" or known.starts_at != alert.starts_at:
            return True
    return False


def _cleared_text(group: AlertGroup) -> str:
    total = len(group.alerts)
    return "Resolved: the alert cleared" if total == 1 \
        else f"Resolved: all {total} alerts cleared"


def _alerts_delta_text(old: AlertGroup, new: AlertGroup) -> str | None:
    was_firing = {fp for fp, a in old.alerts.items() if a.status == "firing"}
    now_firing = {fp for fp, a in new.alerts.items() if a.status == "firing"}
    added, cleared = now_firing - was_firing, was_firing - now_firing
    parts = []
    if added:
        parts.append(f"{len(added)} more {'alert' if len(added) == 1 else 'alerts'} firing")
    if cleared:
        parts.append(f"{plural(len(cleared), 'alert')} resolved, {len(now_firing)} still firing")
    return "; ".join(parts) or None


def apply_event(group: AlertGroup | None, event: AlertEvent,
                now: datetime) -> tuple[AlertGroup | None, Change]:
    """Apply an Events v2 event. Acknowledge/resolve of an unknown key: (None, no change)."""
    if event.action == "trigger":
        return _trigger(group, event, now)
    if group is None or group.state == "resolved":
        return group, NO_CHANGE  # never reopens; the sender gets its 202 like PagerDuty's
    if event.action == "acknowledge":
        if group.state == "acknowledged":
            return group, NO_CHANGE
        text = f"Acknowledged at the source after {human_duration(now - group.created_at)}"
        return record_transition(group, now, SOURCE_ACTOR, "acknowledged", text,
                                 state="acknowledged", acked_by=SOURCE_ACTOR, acked_at=now), \
            Change("acknowledged", text, rerender=True)
    text = "Resolved at the source"
    alerts = {fp: replace(a, status="resolved", ends_at=now) for fp, a in group.alerts.items()}
    return _resolved_by_source(replace(group, alerts=alerts), now, text), \
        Change("resolved", text, rerender=True)


def _trigger(group: AlertGroup | None, event: AlertEvent,
             now: datetime) -> tuple[AlertGroup, Change]:
    content = _event_content(event)
    instance = AlertInstance(
        fingerprint=event.dedup_key[:64], status="firing", labels=dict(content.labels),
        annotations={"summary": event.summary, "description": content.description},
        starts_at=event.timestamp, ends_at=None,
        generator_url=content.links[0].url if content.links else "",
    )
    if group is None or group.state == "resolved":
        new = _new_group(event.key, event.source, event.dedup_key, event.team, content,
                         {instance.fingerprint: instance}, 0, now, group)
        return new, _opened_change(new)
    # A repeated trigger while open refreshes what is shown, quietly.
    updated = replace(group, alerts={instance.fingerprint: instance},
                      **_content_fields(content))
    if _same(updated, group):
        return group, NO_CHANGE
    return record_transition(updated, now, SOURCE_ACTOR, "alerts", "updated"), \
        Change("alerts", None, rerender=True)


def acknowledge(group: AlertGroup, user: str, now: datetime) -> tuple[AlertGroup, Change]:
    if group.state == "resolved":
        raise AlertTransitionError(
            f"This alert is already resolved (by {mention(group.resolved_by)}).")
    if group.state == "acknowledged":
        raise AlertTransitionError(f"Already acknowledged by {mention(group.acked_by)}.")
    text = f"Acknowledged by <@{user}> after {human_duration(now - group.created_at)}"
    new = record_transition(group, now, user, "acknowledged", text, state="acknowledged",
                            acked_by=user, acked_at=now)
    return new, Change("acknowledged", text, rerender=True)


def resolve(group: AlertGroup, user: str, now: datetime) -> tuple[AlertGroup, Change]:
    if group.state == "resolved":
        raise AlertTransitionError(f"Already resolved by {mention(group.resolved_by)}.")
    text = f"Resolved by <@{user}>"
    new = record_transition(group, now, user, "resolved", text, state="resolved",
                            resolved_by=user, resolved_at=now)
    return new, Change("resolved", text, rerender=True)
