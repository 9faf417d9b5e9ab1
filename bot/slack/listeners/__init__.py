"""Every Slack feature, wired in one place.

Each module declares its `/oncall` subcommands on `bot.slack.commands.router`
and exposes `register(app, runtime)` for its buttons, views and events.
"""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Runtime
from bot.slack.listeners import (
    alerts,
    feedback,
    heartbeats,
    help,
    incidents,
    maintenance,
    overrides,
    paging,
    reports,
    rotations,
    runbooks,
    schedule,
    silences,
    snoozes,
    swaps,
)

FEATURES = [help, incidents, alerts, silences, snoozes, maintenance, heartbeats, paging, swaps, overrides,
            rotations, schedule, runbooks, reports, feedback]


def register(app: App, runtime: Runtime) -> None:
    for feature in FEATURES:
        feature.register(app, runtime)
