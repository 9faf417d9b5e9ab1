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
from bot.config import Team
from bot.domain.silences import SilenceError
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import silences as service
from bot.slack.clicks import clicker, tell
from bot.slack.commands import CommandContext, Reply, UserError, router
from bot.slack.listeners.alerts import may_act
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

log = logging.getLogger("atbat.silences")

STORE_DOWN = ("atbat cannot reach its store (Redis) right now, so nothing was changed. "
              "Try again in a minute.")


# ---------------------------------------------------------------- the Silence button


def open_form(rt: Runtime, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    user = clicker(body)
    group = alert_store.get_group(rt.redis, str(action.get("value", ""))[:64])
    team = rt.config.teams.get(group.team or "") if group else None
    refusal = None
    if group is None or team is None:
        refusal = "This alert is no longer known to atbat."
    elif not service.may_silence(group, team):
        refusal = "Only Alertmanager alerts of a team with `alertmanager:` configured can be silenced."
    elif not may_act(rt, team, user, rt.now()):
        refusal = f"Only members, managers and the on-call of {team.name} can silence this alert."
    if refusal or group is None:
        ack()
        tell(rt, body.get("response_url"), refusal or "")
        return
    try:  # within the click: a trigger_id is good for three seconds
        rt.sender.call("views.open", trigger_id=body.get("trigger_id"),
                       view=service.modal_for(group))
    except SlackCallError as exc:
        log.warning("silence modal not opened alert=%s error=%s", group.key, exc.error)
        ack()
        tell(rt, body.get("response_url"), f"Could not open the form ({exc.error}).")
        return
    ack()


def _state(view: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    return ((view.get("state") or {}).get("values") or {}).get(block, {}).get(action) or {}


def submitted(rt: Runtime, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Create the silence, or show why not in the modal (nothing recorded then)."""
    user = clicker(body)
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


def _team_and_id(rt: Runtime, body: dict[str, Any], action: dict[str, Any],
                 verb: str) -> tuple[Team, str] | str:
    team_name, silence_id = parse_value(str(action.get("value", ""))[:200])
    team = rt.config.teams.get(team_name)
    if team is None or not silence_id:
        return "This silence is no longer known to atbat."
    if not may_act(rt, team, clicker(body), rt.now()):
        return f"Only members, managers and the on-call of {team.name} can {verb} its silences."
    return team, silence_id


def clicked(rt: Runtime, ack: Ack, body: dict[str, Any], action: dict[str, Any],
            verb: str) -> None:
    """Authorize here; Alertmanager is asked by a worker (it may be slow or down)."""
    url = body.get("response_url")
    try:
        found = _team_and_id(rt, body, action, verb)
        if not isinstance(found, str):
            team, silence_id = found
            rt.enqueue("workers.silences.click", verb, team.name, silence_id, clicker(body),
                       url, action.get("block_id") == "silence_warning", queue=QUEUE_URGENT)
    except UNAVAILABLE:
        log.error("silence click failed: store unavailable user=%s", clicker(body))
        found = STORE_DOWN
    ack()
    if isinstance(found, str):
        tell(rt, url, found)


# ---------------------------------------------------------------- /oncall silences


def _team(ctx: CommandContext) -> Team:
    teams = ctx.config.teams
    if ctx.args:
        name = ctx.args[0].lower()
        if name not in teams:
            raise UserError(f'Unknown team "{name[:40]}". Known teams: {", ".join(sorted(teams))}.')
        return teams[name]
    team = ctx.config.team_for_channel(ctx.channel)
    mine = ctx.config.teams_of(ctx.user)
    if team is None and len(mine) == 1:
        team = mine[0]
    if team is None:
        raise UserError("Which team? Say `/oncall silences TEAM`.")
    return team


@router.command("silences", usage="/oncall silences [team]",
                summary="active Alertmanager silences, with Expire and Extend 1h", group="Alerts")
def list_silences(ctx: CommandContext) -> Reply:
    if len(ctx.args) > 1:
        raise UserError("Too many arguments.")
    team = _team(ctx)
    try:
        found = service.active(ctx.runtime, team)
    except AlertmanagerError as exc:
        return Reply(str(exc))
    return Reply(f"{len(found)} active silences for {team.name}",
                 blocks=silences_list(team.name, found, ctx.now))


def register(app: App, runtime: Runtime) -> None:
    rt = runtime

    @app.action(ACTION_SILENCE)
    def silence_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        try:
            open_form(rt, ack, body, action)
        except UNAVAILABLE:
            log.error("silence button failed: store unavailable user=%s", clicker(body))
            ack()
            tell(rt, body.get("response_url"), STORE_DOWN)

    @app.view(SILENCE_MODAL)
    def silence_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submitted(rt, ack, body, view)

    @app.action(ACTION_EXPIRE)
    def expire_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        clicked(rt, ack, body, action, "expire")

    @app.action(ACTION_EXTEND)
    def extend_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        clicked(rt, ack, body, action, "extend")
