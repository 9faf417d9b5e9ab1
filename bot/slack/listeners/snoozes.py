"""The alert message's Snooze… menu (groups Alertmanager does not own), through the click
pipeline: the picked option is `MINUTES:KEY`; re-read the group, check who may, then snooze
with `bot.services.snoozes`."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Runtime
from bot.services import snoozes as service
from bot.services.alerts import may_act
from bot.slack.clicks import Click, wire
from bot.slack.render_alerts import ACTION_SNOOZE
from bot.store import alerts as store


def picked(rt: Runtime, click: Click) -> str:
    choice = service.parse_choice(click.value)
    if choice is None:
        return "Pick one of the offered snooze lengths."
    minutes, key = choice
    group = store.get_group(rt.redis, key)
    if group is None:
        return "This alert is no longer known to atbat."
    if not may_act(rt, rt.config.teams.get(group.team or ""), click.user, rt.now()):
        return f"Only members, managers and the on-call of {group.team} can snooze this alert."
    return service.snooze(rt, group, minutes, click.user)


def register(app: App, runtime: Runtime) -> None:
    wire(app, runtime, ACTION_SNOOZE, picked)  # a menu: its selected option is the click's value
