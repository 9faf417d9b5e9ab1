"""Incidents from Slack: declare (command or alert button), run in the channel, resolve.

Handlers parse, transition the incident in Redis (compare-and-set), answer,
and hand every slow Slack call to a job (`bot.services.incidents`). The one exception is
`views.open` for the incident buttons: a trigger_id is only good for three
seconds, so the click handler opens the modal itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.domain import incidents as domain
from bot.domain.config import Config
from bot.domain.incidents import Incident, IncidentError, NoChange
from bot.runtime import Runtime
from bot.services.alerts import may_act
from bot.services.incidents import apply, declare
from bot.slack import render_incidents as render
from bot.slack.clicks import STORE_DOWN, Click, Handler, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import defuse, unescape
from bot.slack.sender import SlackCallError
from bot.store import alerts as alert_store
from bot.store import incidents as store
from bot.store.base import UNAVAILABLE

log = logging.getLogger("atbat.slack.incidents")

ACTION_DECLARE = "alert_incident"
DEFAULT_SEVERITY = 3
GROUP = "Incidents"

_SEVERITY_WORD = re.compile(r"^sev-?[1-4]$", re.IGNORECASE)

Transition = Callable[[Incident], Incident]


# ---------------------------------------------------------------------------
# Parsing helpers


def rest_of(ctx: CommandContext) -> str:
    """The raw text after the subcommand, quotes and spacing as typed."""
    parts = ctx.text.strip().split(None, 1)
    return unescape(parts[1].strip()) if len(parts) > 1 else ""


def parse_declare(words: list[str], config: Config) -> tuple[str, int | None, str | None]:
    """TITLE words with an optional trailing severity and/or team name, in either order."""
    words = list(words)
    severity: int | None = None
    team: str | None = None
    teams = {name.lower(): name for name in config.teams}
    for _ in range(2):
        if not words:
            break
        last = words[-1]
        if severity is None and _SEVERITY_WORD.match(last):
            severity = domain.parse_severity(last)
        elif team is None and last.lower() in teams:
            team = teams[last.lower()]
        else:
            break
        words.pop()
    return " ".join(words), severity, team


# ---------------------------------------------------------------------------
# Declaring


def _where(inc: Incident) -> str:
    return f"<#{inc.channel_id}>" if inc.channel_id else f"#{inc.channel_name}"


@command("incident", free_text=True, usage="/oncall incident TITLE [sev1..sev4] [team]",
                summary="declare an incident: opens #inc-YYYYMMDD-title (default sev3)", group=GROUP)
def incident_command(ctx: CommandContext) -> Reply:
    try:
        title, severity, team_name = parse_declare(rest_of(ctx).split(), ctx.config)
    except IncidentError as exc:
        raise UserError(str(exc)) from None
    team = (ctx.config.teams[team_name] if team_name
            else ctx.config.team_for(ctx.channel, ctx.user))
    if team is None and ctx.config.teams:
        names = ", ".join(sorted(ctx.config.teams))
        raise UserError(f"Which team is this incident for? Add its name at the end: {names}.")
    try:
        inc, _ = declare(ctx.runtime, title=title, severity=severity or DEFAULT_SEVERITY,
                         team=team.name if team else "", requester=ctx.user)
    except IncidentError as exc:
        raise UserError(str(exc)) from None
    return Reply(
        f"Opening incident channel… `#{inc.channel_name}` "
        f"({domain.severity_label(inc.severity)}, team {inc.team or '—'}). You are the lead; "
        "the team's on-call is being invited."
    )


@command("incidents", usage="/oncall incidents", summary="open incidents and recently resolved ones",
                group=GROUP)
def incidents_command(ctx: CommandContext) -> Reply:
    r = ctx.runtime.redis
    listed = render.incidents_list([*store.list_open(r), *store.recently_resolved(r)], ctx.now)
    return Reply(listed["text"], blocks=listed["blocks"])


# ---------------------------------------------------------------------------
# Running the incident: shared by commands and modals


def _channel_incident(ctx: CommandContext, what: str) -> Incident:
    inc = store.by_channel(ctx.runtime.redis, ctx.channel)
    if inc is not None:
        return inc
    open_ = store.list_open(ctx.runtime.redis)
    if open_:
        where = ", ".join(_where(i) for i in open_[:10])
        hint = f"Open incidents: {where}."
    else:
        hint = "There is no open incident; declare one with `/oncall incident TITLE`."
    raise UserError(f"`/oncall {what}` works in an incident channel. {hint}")


def _run(ctx: CommandContext, what: str, change: Callable[[Incident], Incident], done: str) -> Reply:
    inc = _channel_incident(ctx, what)
    try:
        apply(ctx.runtime, inc.id, ctx.user, what, change)
    except NoChange as exc:
        return Reply(str(exc))
    except IncidentError as exc:
        raise UserError(str(exc)) from None
    return Reply(done)


@command("update", free_text=True,
                usage="/oncall update TEXT", summary="post an incident update (in its channel)",
                group=GROUP)
def update_command(ctx: CommandContext) -> Reply:
    text = rest_of(ctx)
    return _run(ctx, "update", lambda inc: domain.post_update(inc, ctx.user, text, ctx.now),
                "Update posted.")


@command("note", free_text=True,
                usage="/oncall note TEXT", summary="add a note to the incident timeline",
                group=GROUP)
def note_command(ctx: CommandContext) -> Reply:
    text = rest_of(ctx)
    return _run(ctx, "note", lambda inc: domain.add_note(inc, ctx.user, text, ctx.now),
                "Note added to the timeline.")


@command("sev", usage="/oncall sev 1..4", summary="change the incident's severity", group=GROUP,
                aliases=("severity",))
def severity_command(ctx: CommandContext) -> Reply:
    if len(ctx.args) != 1:
        raise UserError("Give one severity, like `/oncall sev 2`.")
    level = ctx.args[0]
    return _run(ctx, "sev", lambda inc: domain.change_severity(inc, ctx.user, level, ctx.now),
                "Severity changed.")


@command("lead", usage="/oncall lead @user", summary="hand the incident lead to someone",
                group=GROUP)
def lead_command(ctx: CommandContext) -> Reply:
    if len(ctx.args) != 1:
        raise UserError("Mention one person, like `/oncall lead @alice`.")
    who = ctx.args[0]
    return _run(ctx, "lead", lambda inc: domain.change_lead(inc, ctx.user, who, ctx.now),
                "Lead changed.")


@command("resolve", free_text=True, usage="/oncall resolve [summary]",
                summary="resolve the incident; posts a postmortem draft", group=GROUP)
def resolve_command(ctx: CommandContext) -> Reply:
    summary = rest_of(ctx)
    return _run(ctx, "resolve", lambda inc: domain.resolve(inc, ctx.user, summary, ctx.now),
                "Incident resolved; the postmortem draft is on its way.")


# ---------------------------------------------------------------------------
# Buttons and modals


def declare_from_alert(rt: Runtime, click: Click) -> str | None:
    """The alert message's Declare incident button: one incident per alert, however many clicks."""
    if not click.value:
        return None
    group = alert_store.get_group(rt.redis, click.value)
    if group is not None and not may_act(rt, rt.config.teams.get(group.team or ""), click.user,
                                         rt.now()):
        return (f"Only members, managers and the on-call of {group.team} can declare an "
                "incident from this alert.")
    team_name = group.team if group and group.team in rt.config.teams else ""
    if not team_name:
        team = rt.config.team_for(click.channel, click.user)
        team_name = team.name if team else ""
    # Alert text is not the clicker's: its mentions and broadcasts must not ping anyone.
    title = defuse(group.title if group and group.title else f"Alert {click.value}")
    inc, created = declare(rt, title=title, severity=DEFAULT_SEVERITY, team=team_name,
                           requester=click.user, alert_key=click.value, alert_title=title,
                           origin=(click.channel, click.message_ts))
    if created:
        return (f"Opening incident channel… `#{inc.channel_name}` (SEV{inc.severity}). "
                "You are the lead.")
    return f"An incident is already open for this alert: {_where(inc)}."


def modal_opener(build: Callable[[Incident], dict[str, Any]]) -> Handler:
    """An incident button that opens a form (update, severity, resolve)."""

    def open_modal(rt: Runtime, click: Click) -> str | None:
        inc = store.get(rt.redis, click.value)
        if inc is None or not inc.is_open:
            return ("This incident is resolved; it cannot change any more." if inc else
                    "That incident no longer exists.")
        try:
            # Within the click: the trigger_id expires three seconds after it, so one quick try.
            rt.sender.once().call("views.open", trigger_id=click.trigger_id, view=build(inc))
        except SlackCallError as exc:
            log.warning("incident modal not opened incident=%s error=%s", inc.id, exc.error)
            return f"Could not open the form ({exc.error}); use `/oncall update` in the channel."
        return None

    return open_modal


def _value(view: dict[str, Any], block: str, action: str) -> Any:
    return ((view.get("state") or {}).get("values") or {}).get(block, {}).get(action) or {}


def _text(view: dict[str, Any], block: str, action: str = "text") -> str:
    return str(_value(view, block, action).get("value") or "")


def _selected(view: dict[str, Any], block: str, action: str) -> str | None:
    option = _value(view, block, action).get("selected_option") or {}
    return option.get("value")


def submit(rt: Runtime, ack: Ack, body: dict[str, Any], view: dict[str, Any], action: str,
           block: str, make: Callable[[str], Transition]) -> None:
    """A modal submission: transition, then close the modal, or show the refusal in it."""
    user = body["user"]["id"]
    try:
        apply(rt, view.get("private_metadata", ""), user, action, make(user))
    except IncidentError as exc:  # NoChange too: say so where the user is looking
        ack(response_action="errors", errors={block: str(exc)})
        return
    except UNAVAILABLE:
        ack(response_action="errors", errors={block: STORE_DOWN})
        return
    ack()


def register(app: App, runtime: Runtime) -> None:
    rt = runtime
    wire(app, rt, ACTION_DECLARE, declare_from_alert, refusals=IncidentError)
    for action_id, build in ((render.ACTION_UPDATE, render.update_modal),
                             (render.ACTION_SEVERITY, render.severity_modal),
                             (render.ACTION_RESOLVE, render.resolve_modal)):
        wire(app, rt, action_id, modal_opener(build))

    @app.view(render.UPDATE_MODAL)
    def update_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        text, status = _text(view, "update"), _selected(view, "status", "status")
        submit(rt, ack, body, view, "update", "update",
               lambda user: lambda inc: domain.post_update(inc, user, text, rt.now(), status=status))

    @app.view(render.SEVERITY_MODAL)
    def severity_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        level = _selected(view, "severity", "severity") or ""
        submit(rt, ack, body, view, "sev", "severity",
               lambda user: lambda inc: domain.change_severity(inc, user, level, rt.now()))

    @app.view(render.RESOLVE_MODAL)
    def resolve_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        summary = _text(view, "summary")
        submit(rt, ack, body, view, "resolve", "summary",
               lambda user: lambda inc: domain.resolve(inc, user, summary, rt.now()))
