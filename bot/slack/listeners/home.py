"""The App Home tab: `app_home_opened` publishes it; its settings, report and cover buttons."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.runtime import Runtime
from bot.services import home
from bot.slack import clicks
from bot.slack.clicks import Click
from bot.slack.listeners.paging import open_settings
from bot.slack.render_home import ACTION_COVER, ACTION_REPORT, ACTION_SETTINGS

log = logging.getLogger("atbat.slack.home")


def report(rt: Runtime, click: Click) -> str | None:
    return home.my_report(rt, click.user, click.value)


def cover(rt: Runtime, click: Click) -> str | None:
    home.cover_my_next_shift(rt, click.user, click.value)
    return None


def settings(rt: Runtime, click: Click) -> str | None:
    return open_settings(rt, click.user, click.trigger_id)


def register(app: App, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    def opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            home.opened(runtime, str(event["user"]))

    clicks.wire(app, runtime, ACTION_REPORT, report)
    clicks.wire(app, runtime, ACTION_COVER, cover)
    clicks.wire(app, runtime, ACTION_SETTINGS, settings)
