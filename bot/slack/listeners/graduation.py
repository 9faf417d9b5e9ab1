"""The Dismiss button of a graduation suggestion (a rule atbat suggested to the managers)."""

from __future__ import annotations

from slack_bolt import App

from bot.domain.graduation import GraduationError
from bot.runtime import Runtime
from bot.services import graduation
from bot.slack.clicks import Click, wire
from bot.slack.render_graduation import ACTION_DISMISS


def dismiss(rt: Runtime, click: Click) -> str:
    return graduation.dismiss(rt, click.value, click.user)


def register(app: App, runtime: Runtime) -> None:
    wire(app, runtime, ACTION_DISMISS, dismiss, refusals=GraduationError)
