"""Silence from Slack: the alert's Silence button and modal, Expire / Extend 1h, and
`/oncall silences [team]`.

Each click re-reads the alert or asks Alertmanager, re-checks who may press
(members, managers and the on-call of the team), then acts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.alertmanager import AlertmanagerError
from bot.domain.silences import SilenceError
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import silences as service
from bot.services.alerts import may_act
from bot.slack.arguments import pick_team, unknown_team
from bot.slack.clicks import STORE_DOWN, Click, Handler, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.render_silences import (
    ACTION_EXPIRE,
    ACTION_EXTEND,
    ACTION_SILENCE,
    SILENCE_MODAL,
    parse_value,
    silences_list,
)
from bot.slack.sender import SlackCallError
from bot.store import alerts as alert_store
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.slack.silences")



# ---------------------------------------------------------------- the Silence button


def open_form(rt: Runtime, click: Click) -> str | None:
    group = alert_store.get_group(rt.redis, click.value[:64])
    team = rt.config.teams.get(group.team or "") if group else None
    if group is None or team is None:
        return "This alert is no longer known to atbat."
    if not service.may_silence(group, team):
        return "Only Alertmanager alerts of a team with `alertmanager:` configured can be silenced."
    if not may_act(rt, team, click.user, rt.now()):
        return f"Only members, managers and the on-call of {team.name} can silence this alert."
    try:  # within the click: a trigger_id is good for three seconds, so one quick try
        rt.sender.once().call("views.open", trigger_id=click.trigger_id,
                              view=service.modal_for(group))
    except SlackCallError as exc:
        log.warning("silence modal not opened alert=%s error=%s", group.key, exc.error)
        return f"Could not open the form ({exc.error})."
    return None


def _state(view: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    return ((view.get("state") or {}).get("values") or {}).get(block, {}).get(action) or {}


def submitted(rt: Runtime, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Create the silence, or show why not in the modal (nothing recorded then)."""
    user = str((body.get("user") or {}).get("id", ""))
    key = str(view.get("private_metadata", ""))[:64]
    choice = (_state(view, "duration", "duration").get("selected_option") or {}).get("value", "")
    picked = _state(view, "until", "until").get("selected_date_time")
    until = datetime.fromtimestamp(int(picked), UTC) if picked else None
    matchers = str(_state(view, "matchers", "matchers").get("value") or "")
    comment = str(_state(view, "comment", "comment").get("value") or "")
    try:
        group = alert_store.get_group(rt.redis, key)
        team = rt.config.teams.get(group.team or "") if group else None
        if group is None or team is None or not service.may_silence(group, team):
            raise SilenceError("This alert can no longer be silenced from atbat.")
        if not may_act(rt, team, user, rt.now()):
            raise SilenceError(f"Only members, managers and the on-call of {team.name} can "
                               "silence this alert.")
        service.create(rt, group, team, user, choice=choice, until=until, matchers=matchers,
                       comment=comment)
    except SilenceError as exc:
        block = "until" if choice == "until" and "time" in str(exc).lower() else "matchers"
        if "7 days" in str(exc) or "past" in str(exc):
            block = "until"
        ack(response_action="errors", errors={block: str(exc)})
        return
    except AlertmanagerError as exc:
        ack(response_action="errors", errors={"matchers": str(exc)})
        return
    except UNAVAILABLE:
        ack(response_action="errors", errors={"matchers": STORE_DOWN})
        return
    ack()


# ---------------------------------------------------------------- Expire / Extend 1h


def silence_click(verb: str) -> Handler:
    """Expire or Extend 1h: authorize here; Alertmanager is asked by a worker (it may be slow)."""

    def handle(rt: Runtime, click: Click) -> str | None:
        team_name, silence_id = parse_value(click.value)
        team = rt.config.teams.get(team_name)
        if team is None or not silence_id:
            return "This silence is no longer known to atbat."
        if not may_act(rt, team, click.user, rt.now()):
            return f"Only members, managers and the on-call of {team.name} can {verb} its silences."
        service.enqueue_click(rt, verb, team.name, silence_id, click.user, click.response_url,
                              click.block_id == "silence_warning")
        return None

    return handle


# ---------------------------------------------------------------- /oncall silences


@command("silences", usage="/oncall silences [team]",
                summary="active Alertmanager silences, with Expire and Extend 1h", group="Alerts")
def list_silences(ctx: CommandContext) -> Reply:
    if len(ctx.args) > 1:
        raise UserError("Too many arguments.")
    team, rest = pick_team(ctx, ctx.args)
    if rest:
        raise UserError(unknown_team(ctx.config, rest[0]))
    try:
        found = service.active(ctx.runtime, team)
    except AlertmanagerError as exc:
        return Reply(str(exc))
    return Reply(f"{len(found)} active silences for {team.name}",
                 blocks=silences_list(team.name, found, ctx.now))


def register(app: App, runtime: Runtime) -> None:
    rt = runtime
    wire(app, rt, ACTION_SILENCE, open_form)
    wire(app, rt, ACTION_EXPIRE, silence_click("expire"), queue=QUEUE_URGENT)
    wire(app, rt, ACTION_EXTEND, silence_click("extend"), queue=QUEUE_URGENT)

    @app.view(SILENCE_MODAL)
    def silence_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submitted(rt, ack, body, view)
