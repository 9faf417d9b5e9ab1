"""Alert webhook bodies: validation of what the two alert sources send.

Pure Python. Each parser turns a body into a value of the alert model
(`bot.domain.alerts`) or raises `PayloadError` saying exactly what is wrong:

* Prometheus Alertmanager webhooks (payload version 4) -> `AlertBatch`.
* PagerDuty Events API v2 events -> `AlertEvent`, and the reply bodies
  PagerDuty gives (`events_v2_accepted`, `events_v2_invalid`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.domain.alerts import SEVERITIES, AlertBatch, AlertEvent, AlertInstance, Link, parse_iso

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
_ZERO_TIME_YEAR = 1  # Alertmanager sends endsAt "0001-01-01T00:00:00Z" for "not yet"


class PayloadError(ValueError):
    """A webhook body we cannot accept; `reason` says exactly what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_object(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON object of a webhook body; PayloadError for anything else (nesting too deep too)."""
    if isinstance(body, Mapping):
        return body
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text)
    except UnicodeDecodeError:
        raise PayloadError("invalid JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from None
    except RecursionError:
        raise PayloadError("invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError("expected a JSON object")
    return data


def _string_map(value: Any, path: str, *, required: bool = False) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{path}: expected an object")
    for k, v in value.items():
        if not isinstance(v, str):
            raise PayloadError(f"{path}.{k}: expected a string")
    return dict(value)


def _opt_string(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{path}: expected a string")
    return value


def _time(value: Any, path: str, *, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise PayloadError(f"{path} is required")
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{path}: expected an RFC 3339 date-time string")
    try:
        parsed = parse_iso(value)
    except ValueError:
        raise PayloadError(f'{path}: expected an RFC 3339 date-time, got "{value[:64]}"') \
            from None
    return None if parsed.year == _ZERO_TIME_YEAR else parsed


def _labels_fingerprint(labels: Mapping[str, str]) -> str:
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _parse_instance(raw: Any) -> AlertInstance:
    """One alert of a notification; PayloadError reasons are relative to the alert's path
    (the caller prefixes it, so that the valid alerts of a big group cost no paths)."""
    if not isinstance(raw, dict):
        raise PayloadError(": expected an object")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(".status: expected firing or resolved")
    labels = _string_map(raw.get("labels"), ".labels", required=True)
    annotations = _string_map(raw.get("annotations"), ".annotations")
    fingerprint = _opt_string(raw, "fingerprint", ".fingerprint")
    return AlertInstance(
        # Alertmanager before 0.19 sent no fingerprint: the label set is the identity.
        fingerprint=fingerprint or _labels_fingerprint(labels),
        status=status, labels=labels, annotations=annotations,
        starts_at=_time(raw.get("startsAt"), ".startsAt", required=False),
        ends_at=_time(raw.get("endsAt"), ".endsAt", required=False),
        generator_url=_opt_string(raw, "generatorURL", ".generatorURL"),
    )


def _parse_instances(raw_alerts: list[Any]) -> tuple[AlertInstance, ...]:
    alerts = []
    for i, raw in enumerate(raw_alerts):
        try:
            alerts.append(_parse_instance(raw))
        except PayloadError as exc:
            raise PayloadError(f"alerts[{i}]{exc.reason}") from None
    return tuple(alerts)


def _team_of(team_param: str | None, group: Mapping[str, str], common: Mapping[str, str],
             alerts: tuple[AlertInstance, ...]) -> str | None:
    if team_param:
        return team_param
    for labels in (common, group, *(a.labels for a in alerts)):
        team = labels.get("team", "").strip()
        if team:
            # Alerts of several teams in one group: the first wins (route by team
            # in Alertmanager, or pass ?team=, to avoid it).
            return team
    return None


def parse_alertmanager(body: bytes | str | Mapping[str, Any],
                       team_param: str | None = None) -> AlertBatch:
    """Validate an Alertmanager webhook body (version 4); raise PayloadError."""
    data = load_object(body)
    version = data.get("version")
    if version is None:
        raise PayloadError('version is required (expected "4")')
    if version != "4":
        raise PayloadError(f'version: expected "4", got {json.dumps(version)}')
    group_key = data.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        raise PayloadError("groupKey is required")
    status = data.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError("status: expected firing or resolved")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts: expected a list")
    if not raw_alerts:
        raise PayloadError("alerts: expected at least one alert")
    alerts = _parse_instances(raw_alerts)
    group_labels = _string_map(data.get("groupLabels"), "groupLabels")
    common_labels = _string_map(data.get("commonLabels"), "commonLabels")
    common_annotations = _string_map(data.get("commonAnnotations"), "commonAnnotations")
    truncated = data.get("truncatedAlerts", 0) or 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise PayloadError("truncatedAlerts: expected a non-negative integer")
    return AlertBatch(
        group_key=group_key, status=status,
        receiver=_opt_string(data, "receiver", "receiver"),
        team=_team_of(team_param, group_labels, common_labels, alerts),
        alerts=alerts, group_labels=group_labels, common_labels=common_labels,
        common_annotations=common_annotations,
        external_url=_opt_string(data, "externalURL", "externalURL"),
        truncated=truncated,
    )


def _event_links(raw: Any) -> tuple[Link, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PayloadError("links: expected a list")
    links = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PayloadError(f"links[{i}]: expected an object")
        href = item.get("href")
        if not isinstance(href, str) or not href:
            raise PayloadError(f"links[{i}].href is required")
        text = item.get("text")
        links.append(Link(text if isinstance(text, str) and text else "Link", href))
    return tuple(links)


def parse_events_v2(body: bytes | str | Mapping[str, Any], *,
                    new_key: Callable[[], str] = lambda: uuid.uuid4().hex) -> AlertEvent:
    """Validate an Events API v2 event; raise PayloadError.

    A trigger without `dedup_key` gets one from `new_key`, returned to the
    sender as PagerDuty does, so it can acknowledge or resolve later.
    """
    data = load_object(body)
    routing_key = data.get("routing_key")
    if routing_key is None or routing_key == "":
        raise PayloadError("routing_key is required")
    if not isinstance(routing_key, str):
        raise PayloadError("routing_key: expected a string")
    action = data.get("event_action")
    if action not in EVENT_ACTIONS:
        raise PayloadError("event_action: expected trigger, acknowledge or resolve")
    dedup_key = data.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        raise PayloadError("dedup_key: expected a string of at most 255 characters")
    generated = False
    if not dedup_key:
        if action != "trigger":
            raise PayloadError(f"dedup_key is required for {action}")
        dedup_key, generated = new_key(), True
    event = AlertEvent(routing_key=routing_key, action=action, dedup_key=dedup_key,
                       dedup_key_generated=generated)
    if action != "trigger":
        return event
    return _with_trigger_payload(event, data)


def _with_trigger_payload(event: AlertEvent, data: Mapping[str, Any]) -> AlertEvent:
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise PayloadError("payload is required for trigger (an object)")
    for key in ("summary", "source"):
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip():
            raise PayloadError(f"payload.{key} is required")
    severity = payload.get("severity")
    if severity not in SEVERITIES:
        raise PayloadError("payload.severity: expected critical, error, warning or info")
    return replace(
        event,
        summary=payload["summary"][:1024],  # PagerDuty's limit; longer is cut, not refused
        source_name=payload["source"],
        severity=severity,
        timestamp=_time(payload.get("timestamp"), "payload.timestamp", required=False),
        component=_opt_string(payload, "component", "payload.component"),
        group=_opt_string(payload, "group", "payload.group"),
        event_class=_opt_string(payload, "class", "payload.class"),
        custom_details=payload.get("custom_details"),
        links=_event_links(data.get("links")),
        client=_opt_string(data, "client", "client"),
        client_url=_opt_string(data, "client_url", "client_url"),
    )


def events_v2_accepted(dedup_key: str) -> dict[str, str]:
    """Body of the 202 reply, as PagerDuty answers."""
    return {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def events_v2_invalid(reason: str) -> dict[str, Any]:
    """Body of the 400 reply, as PagerDuty answers."""
    return {"status": "invalid event", "message": "Event object is invalid", "errors": [reason]}
