"""Alert webhooks: `POST /alerts/alertmanager` and `POST /alerts/events`.

The answer is 2xx only once the alert is stored in Redis (and, with
ATBAT_REDIS_MIN_REPLICAS, on that many replicas), 503 when it cannot be
(Alertmanager retries 5xx), 4xx with the reason for what a retry cannot
fix. A redelivered notification changes nothing: no write, no Slack call.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, jsonify, request

from bot import metrics
from bot.domain.alert_payloads import (
    PayloadError,
    events_v2_accepted,
    events_v2_invalid,
    load_object,
    parse_alertmanager,
    parse_events_v2,
)
from bot.domain.alerts import AlertEvent, apply_batch, apply_event
from bot.domain.config import Team
from bot.runtime import Runtime
from bot.services import alerts, heartbeats
from bot.store import alerts as store
from bot.store.base import UNAVAILABLE, Conflict, NotReplicated

log = logging.getLogger("atbat.alert_webhooks")

Answer = tuple[Response, int]

EVENTS_MAX_BODY = 512 * 1024  # PagerDuty's own limit for an Events v2 body


def _bearer_ok(runtime: Runtime) -> bool:
    expected = runtime.settings.alert_token
    header = request.headers.get("Authorization", "")
    if not expected or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].encode(), expected.encode())


def _team_by_routing_key(runtime: Runtime, routing_key: str) -> Team | None:
    found = None
    for team in runtime.config.teams.values():
        # Compare with every team's key, always: the time taken says nothing.
        if team.routing_key and hmac.compare_digest(team.routing_key.encode(),
                                                    routing_key.encode()):
            found = team
    return found


def _unknown_team(runtime: Runtime, team: str | None) -> str:
    known = ", ".join(sorted(runtime.config.teams)) or "none"
    if not team:
        return f"no team: set a team label on the alerts or ?team= on the URL (known teams: {known})"
    return f'unknown team "{team[:80]}" (known teams: {known})'


def _unavailable(reason: str = "store unavailable") -> Answer:
    response = jsonify(error=f"{reason}: the alert was not stored, retry later")
    response.headers["Retry-After"] = "5"
    return response, 503


def _refused(exc: Exception, source: str, team: str | None) -> Answer:
    if isinstance(exc, NotReplicated):
        log.error("alert not acknowledged: not on enough replicas source=%s team=%s detail=%s",
                  source, team, exc)
        return _unavailable("not yet on enough Redis replicas")
    log.error("alert not stored: store unavailable source=%s team=%s error=%s", source, team,
              type(exc).__name__)
    return _unavailable()

def _log(outcome: store.Outcome, source: str, source_key: str) -> None:
    group = outcome.group
    if group is None:
        log.info("alert ignored source=%s source_key=%.120s", source, source_key)
        return
    log.info("alert received source=%s team=%s alert=%s change=%s state=%s firing=%d", source,
             group.team, group.key, outcome.change.kind, group.state, group.firing)


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("alerts", __name__)

    @bp.post("/alerts/alertmanager")
    def alertmanager() -> Answer:
        if not _bearer_ok(runtime):
            return jsonify(error="unauthorized: send Authorization: Bearer $ATBAT_ALERT_TOKEN"), 401
        try:
            batch = parse_alertmanager(request.get_data(), request.args.get("team") or None)
        except PayloadError as exc:
            return jsonify(error=exc.reason), 400
        try:
            batch, beats = heartbeats.take_beats(runtime, batch)
        except (*UNAVAILABLE, Conflict):
            log.error("heartbeat not stored: store unavailable source=alertmanager")
            return _unavailable()
        if batch is None:
            return jsonify(status="ok", heartbeats=beats), 200
        if batch.team not in runtime.config.teams:
            return jsonify(error=_unknown_team(runtime, batch.team)), 400
        now = runtime.now()
        try:
            # Alertmanager sends "resolved" only for a group it notified firing before.
            outcome = alerts.ingest(runtime, batch.key, lambda g: apply_batch(g, batch, now),
                                    expect_stored=batch.status == "resolved")
        except (*UNAVAILABLE, Conflict) as exc:
            return _refused(exc, "alertmanager", batch.team)
        _log(outcome, "alertmanager", batch.group_key)
        metrics.observe_alerts(runtime.redis, "alertmanager", batch.team, len(batch.alerts))
        return jsonify(status="ok", group=batch.key, change=outcome.change.kind), 200

    # PagerDuty's clients post to <base>/v2/enqueue: switching is changing one base URL.
    @bp.post("/alerts/events")
    @bp.post("/v2/enqueue")
    @bp.post("/alerts/events/v2/enqueue")
    def events() -> Answer:
        bearer = _bearer_ok(runtime)
        if (request.content_length or 0) > EVENTS_MAX_BODY:
            return jsonify(events_v2_invalid("the body is larger than 512 KB")), 413
        body = request.get_data()
        if len(body) > EVENTS_MAX_BODY:
            return jsonify(events_v2_invalid("the body is larger than 512 KB")), 413
        try:
            data = load_object(body)
        except PayloadError as exc:
            # Only an authenticated sender learns what is wrong with its body.
            if bearer:
                return jsonify(events_v2_invalid(exc.reason)), 400
            return jsonify(error="unauthorized"), 401
        raw_key = data.get("routing_key")
        team = _team_by_routing_key(runtime, raw_key if isinstance(raw_key, str) else "")
        if team is None and not bearer:
            return jsonify(error="unauthorized: unknown routing_key and no bearer token"), 401
        try:
            event = parse_events_v2(data)
        except PayloadError as exc:
            return jsonify(events_v2_invalid(exc.reason)), 400
        if team is None:
            team = runtime.config.teams.get(event.routing_key)
            if team is None:
                reason = "routing_key: " + _unknown_team(runtime, event.routing_key)
                return jsonify(events_v2_invalid(reason)), 400
        return _accept_event(runtime, event.with_team(team.name))

    return bp


def _accept_event(runtime: Runtime, event: AlertEvent) -> Answer:
    now = runtime.now()
    try:
        outcome = alerts.ingest(runtime, event.key, lambda g: apply_event(g, event, now),
                                expect_stored=event.action != "trigger")
    except (*UNAVAILABLE, Conflict) as exc:
        return _refused(exc, "events", event.team)
    _log(outcome, "events", event.dedup_key)
    metrics.observe_alerts(runtime.redis, "events", event.team)
    return jsonify(events_v2_accepted(event.dedup_key)), 202

