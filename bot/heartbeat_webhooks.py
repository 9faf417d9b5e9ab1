"""`POST /heartbeat/<name>`: a monitor's beat, with `Authorization: Bearer <token>`.

200 once the beat is stored; 401 for a missing or wrong token; 404 for a
name not declared under `heartbeats:`; 503 when Redis is down (retry).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from bot.runtime import Runtime
from bot.services import heartbeats
from bot.store.base import UNAVAILABLE, Conflict

log = logging.getLogger("atbat.heartbeat_webhooks")


def blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("heartbeats", __name__)

    @bp.post("/heartbeat/<name>")
    def beat(name: str) -> tuple[Response, int]:
        heartbeat = runtime.config.heartbeats.get(name)
        header = request.headers.get("Authorization", "")
        presented = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        if heartbeat is None:
            return jsonify(error="unknown heartbeat"), 404
        if not heartbeats.token_ok(runtime, heartbeat, presented):
            return jsonify(error="unauthorized: send Authorization: Bearer <the heartbeat's "
                                 "token>"), 401
        try:
            state = heartbeats.beat(runtime, heartbeat)
        except (*UNAVAILABLE, Conflict):
            log.error("heartbeat not stored: store unavailable heartbeat=%s", name)
            response = jsonify(error="store unavailable: the beat was not stored, retry later")
            response.headers["Retry-After"] = "5"
            return response, 503
        return jsonify(status="ok", heartbeat=name,
                       last_beat=state.last_beat.isoformat() if state.last_beat else None), 200

    return bp
