"""Alert buttons (Acknowledge, Resolve, Escalate) and `/oncall alerts [team]`.

A click re-reads the group, re-checks who may press, and runs the transition
as a compare-and-set: two people pressing Acknowledge at once get one Ack and
one "Already acknowledged by …"; a late Ack never reopens a resolved alert.
The message update and the thread reply are left to the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App

from bot.domain.alerts import AlertGroup, AlertTransitionError, Change, acknowledge, resolve
from bot.domain.config import Team
from bot.domain.escalation import escalate_now
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import alerts, messages
from bot.slack.arguments import pick_teams
from bot.slack.clicks import Click, Handler, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.render_alerts import (
    ACTION_ACK,
    ACTION_ESCALATE,
    ACTION_RESOLVE,
    alerts_list,
    list_teams,
)
from bot.store import alerts as store

log = logging.getLogger("atbat.slack.alerts")

Action = Callable[[AlertGroup, str, datetime], tuple[AlertGroup, Change]]
PAST_TENSE = {ACTION_ACK: "acknowledged", ACTION_RESOLVE: "resolved",
              ACTION_ESCALATE: "escalated"}
VERB = {ACTION_ACK: "acknowledge", ACTION_RESOLVE: "resolve", ACTION_ESCALATE: "escalate"}


# ---------------------------------------------------------------- clicks


def handle_click(runtime: Runtime, action_id: str, key: str, user: str) -> str:
    """Run one button's transition; returns the ephemeral answer for the clicker."""
    now = runtime.now()
    group = store.get_group(runtime.redis, key)
    if group is None:
        return "This alert is no longer known to atbat (it may have expired)."
    team = runtime.config.teams.get(group.team or "")
    if not alerts.may_act(runtime, team, user, now):
        return (f"Only members, managers and the on-call of {group.team} can "
                f"{VERB[action_id]} this alert.")
    apply = _action(runtime, action_id, team, user, now)
    try:
        outcome = alerts.transition(runtime, key, apply)
    except AlertTransitionError as exc:
        log.info("alert click refused user=%s action=%s alert=%s reason=%s", user, action_id,
                 key, exc)
        return str(exc)
    log.info("alert %s user=%s team=%s alert=%s", PAST_TENSE[action_id], user, group.team, key)
    return outcome.change.text or f"Done: {PAST_TENSE[action_id]}."


def _action(runtime: Runtime, action_id: str, team: Team | None, user: str,
            now: datetime) -> Callable[[AlertGroup | None], tuple[AlertGroup, Change]]:
    def apply(group: AlertGroup | None) -> tuple[AlertGroup, Change]:
        if group is None:
            raise AlertTransitionError("This alert is no longer known to atbat.")
        if action_id == ACTION_ACK:
            return acknowledge(group, user, now)
        if action_id == ACTION_RESOLVE:
            return resolve(group, user, now)
        return escalate_now(group, user, now, policy=alerts.policy_for(team, group) if team else None)

    return apply


def _on_click(action_id: str) -> Handler:
    def handle(runtime: Runtime, click: Click) -> str:
        answer = handle_click(runtime, action_id, click.value[:64], click.user)
        teams = list_teams(click.block_id)
        if teams is not None:  # pressed in `/oncall alerts`: that list shows the truth now
            known = [runtime.config.teams[t] for t in teams if t in runtime.config.teams]
            messages.replace_clicked(runtime, click.response_url,
                                     _list_message(runtime, known, runtime.now(), done=answer),
                                     queue=QUEUE_URGENT)
        return answer

    return handle


def _list_message(runtime: Runtime, teams: list[Team], now: datetime,
                  done: str | None = None) -> dict[str, Any]:
    groups = [g for t in teams for g in store.open_groups(runtime.redis, t.name)]
    label = ", ".join(t.name for t in teams)
    blocks = alerts_list(groups, now, team=label, teams=[t.name for t in teams], done=done)
    return {"text": f"{len(groups)} open alerts for {label}", "blocks": blocks}


# ---------------------------------------------------------------- /oncall alerts


@command("alerts", usage="/oncall alerts [team]",
                summary="open alerts, with Acknowledge and Resolve", group="Alerts")
def list_alerts(ctx: CommandContext) -> Reply:
    if len(ctx.args) > 1:
        raise UserError("Too many arguments.")
    message = _list_message(ctx.runtime, pick_teams(ctx, ctx.args[0] if ctx.args else None), ctx.now)
    return Reply(message["text"], blocks=message["blocks"])


def register(app: App, runtime: Runtime) -> None:
    for action_id in (ACTION_ACK, ACTION_RESOLVE, ACTION_ESCALATE):
        wire(app, runtime, action_id, _on_click(action_id), queue=QUEUE_URGENT)
