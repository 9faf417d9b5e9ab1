"""`/oncall cover-request WHEN [team] [layer] [note]` and its I'll take it / Cancel buttons."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.domain.swaps import PlanError
from bot.runtime import Runtime
from bot.services import covers, home, sleep_budget
from bot.slack import clicks
from bot.slack.arguments import asker_zone, pick_layer, pick_team, with_note
from bot.slack.clicks import Click
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import unescape
from bot.slack.listeners.swaps import read_when
from bot.slack.render_covers import ACTION_CANCEL, ACTION_SLEEP_OFFER, ACTION_TAKE
from bot.slack.render_swaps import span
from bot.store.swap_requests import RequestError

log = logging.getLogger("atbat.slack.covers")

USAGE = "/oncall cover-request WHEN [team] [layer] [note]"


@command("cover-request", usage=USAGE, group="Swaps and overrides",
                summary="ask the whole team who can cover me for WHEN (a day, FROM..TO, or `next`)")
def cover_request(ctx: CommandContext) -> Reply:
    if not ctx.args:
        raise UserError("Say WHEN: a day (tomorrow, fri), a range \"FROM..TO\", or next.")
    when_word, rest = ctx.args[0], ctx.args[1:]
    team, rest = pick_team(ctx, rest)
    layer, rest = pick_layer(team, rest, first_only=True)
    note = ""
    when = None
    if when_word.lower() != "next":
        tz, note = asker_zone(ctx, team, when_word)
        when = read_when(when_word, ctx.now, tz)
    try:
        req = covers.create(ctx.runtime, team, ctx.user, when, layer, unescape(" ".join(rest)),
                            ctx.now)
    except (PlanError, RequestError) as exc:
        raise UserError(str(exc)) from None
    lines = "\n".join(f"• {o.layer}: {span(o.start, o.end)}" for o in req.overrides())
    return Reply(with_note(f"Asked {team.name} who can cover you; you will hear back here.\n{lines}",
                           note))


def take(rt: Runtime, click: Click) -> str | None:
    req, _ = covers.take(rt, click.value, click.user)
    home.shifts_changed(rt, [req.requester, click.user], "cover")
    return None


def cancel(rt: Runtime, click: Click) -> str | None:
    covers.cancel(rt, click.value, click.user)
    return None


def rest_of_morning(rt: Runtime, click: Click) -> str | None:
    return sleep_budget.take_offer(rt, click.user, click.value)


def register(app: App, runtime: Runtime) -> None:
    clicks.wire(app, runtime, ACTION_TAKE, take, refusals=RequestError)
    clicks.wire(app, runtime, ACTION_CANCEL, cancel, refusals=RequestError)
    clicks.wire(app, runtime, ACTION_SLEEP_OFFER, rest_of_morning)
