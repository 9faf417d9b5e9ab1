"""The HTTP surface: Slack events, health, metrics, plus each feature's routes."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response, jsonify, request
from rq import Queue, Worker
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot import alert_webhooks, calendar, heartbeat_webhooks, metrics, paging_webhooks
from bot.runtime import QUEUE_NAMES, Runtime
from bot.services import deliveries
from bot.slack.app import build_app
from bot.store.base import UNAVAILABLE, ping

log = logging.getLogger("atbat.web")

# Feature routes (alert webhooks, calendar feeds): each a function runtime -> Blueprint.
BLUEPRINTS: list[Callable[[Runtime], Blueprint]] = [alert_webhooks.blueprint, calendar.blueprint,
                                                    heartbeat_webhooks.blueprint, paging_webhooks.blueprint]


def create_app(runtime: Runtime, bolt_app: App | None = None) -> Flask:
    bolt_app = bolt_app or build_app(runtime)
    slack_handler = SlackRequestHandler(bolt_app)
    web = Flask("atbat")
    web.config["MAX_CONTENT_LENGTH"] = 5 * 1024 * 1024

    @web.post("/slack/events")
    def slack_events() -> Response:
        return slack_handler.handle(request)

    def may_see_details() -> bool:
        """Only a holder of ATBAT_METRICS_TOKEN sees names and figures."""
        expected = runtime.settings.metrics_token
        header = request.headers.get("Authorization", "")
        if not expected or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].encode(), expected.encode())

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        details = may_see_details()
        try:
            ping(runtime.redis)
            if not details:
                return jsonify(status="ok"), 200
            workers = Worker.all(connection=runtime.redis)
            depths = {name: Queue(name, connection=runtime.redis).count for name in QUEUE_NAMES}
            owed = deliveries.owed(runtime)
            failed = deliveries.failed(runtime)
        except UNAVAILABLE:
            if not details:
                return jsonify(status="unavailable"), 503
            return jsonify(status="unavailable", redis=False,
                           error="Redis cannot be reached"), 503
        return jsonify(status="ok", redis=True, workers=len(workers), queues=depths,
                       deliveries={"owed": owed, "failed": failed}), 200

    @web.get("/metrics")
    def metrics_page() -> tuple[Response, int]:
        if not runtime.settings.metrics_token:  # it names teams and runbooks: never served bare
            return Response("forbidden: set ATBAT_METRICS_TOKEN to serve /metrics\n",
                            mimetype="text/plain"), 403
        if not may_see_details():
            return Response("unauthorized: send Authorization: Bearer $ATBAT_METRICS_TOKEN\n",
                            mimetype="text/plain"), 401
        try:
            text = metrics.render(runtime.redis, QUEUE_NAMES, deliveries.owed(runtime))
        except UNAVAILABLE:
            return Response("# Redis unavailable\n", mimetype="text/plain"), 503
        return Response(text, mimetype="text/plain; version=0.0.4; charset=utf-8"), 200

    for make_blueprint in BLUEPRINTS:
        web.register_blueprint(make_blueprint(runtime))

    @web.after_request
    def record(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.observe_request(runtime.redis, route, request.method, response.status_code)
        return response

    return web
