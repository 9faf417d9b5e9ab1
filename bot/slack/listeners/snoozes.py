"""The alert message's Snooze… menu (groups Alertmanager does not own), through the click
pipeline: the picked option is `MINUTES:KEY`; re-read the group, check who may, then snooze
with `bot.services.snoozes`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App

from bot.runtime import Runtime
from bot.services import messages
from bot.services import snoozes as service
from bot.services.alerts import may_act
from bot.slack.clicks import Click, run, tell_now
from bot.slack.render_alerts import ACTION_SNOOZE
from bot.store import alerts as store
from bot.store.base import UNAVAILABLE


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
    rt = runtime

    @app.action(ACTION_SNOOZE)
    def snooze_picked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        # A menu's choice is its selected option, not a button's value.
        chosen = str((action.get("selected_option") or {}).get("value", ""))[:100]
        click = replace(Click.parse(body, action), value=chosen)
        answer = run(rt, ack, click, picked, refusals=(), what=ACTION_SNOOZE)
        if answer:
            try:
                messages.tell(rt, click.response_url, answer)
            except UNAVAILABLE:
                tell_now(rt, click.response_url, answer)
