"""`/oncall override` (managers) and `/oncall overrides` with a Cancel button per override.

Cancel is allowed for the override's people (the user on call instead and
the person replaced) and the team's managers; the button carries only the
override id and everything is re-read and re-checked at the click.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_bolt import App

from bot.domain import swaps
from bot.domain.schedule import Override
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import home, messages
from bot.slack import render_swaps as render
from bot.slack.arguments import pick_layer, pick_team, pick_user, read_range, with_note
from bot.slack.clicks import Click, wire
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import done_by, mention, shown
from bot.slack.listeners.swaps import GROUP, overrides_of
from bot.store import swap_requests as pending
from bot.store.schedules import StoredOverride, cancel_override, create_overrides, find_override

log = logging.getLogger("atbat.slack.overrides")


def managers_of(team: Any) -> str:
    return ", ".join(mention(m) for m in team.managers) or "nobody (none configured)"


@command("override", usage="/oncall override @user FROM..TO [team] [layer]",
                summary="put @user on call from FROM to TO (managers)", group=GROUP)
def override(ctx: CommandContext) -> Reply:
    team, words = pick_team(ctx, ctx.args)
    if not team.is_manager(ctx.user):
        raise UserError(f"Only managers of {team.name} ({managers_of(team)}) can set overrides; "
                        "use swap, cover or take for your own shifts.")
    user, words = pick_user(words, "who goes on call")
    layer, words = pick_layer(team, words)
    if not words:
        raise UserError("Give the time as FROM..TO, e.g. \"tomorrow 9:00..18:00\".")
    start, end, note = read_range(ctx, " ".join(words), team)
    if end <= ctx.now:
        raise UserError("That time is already over: an override must end in the future.")
    r = ctx.runtime.redis
    sched = team_schedule(r, team)
    rotation = sched.layer(layer) if layer else sched.rotations[0]
    assert rotation is not None
    written = overrides_of(swaps.override_pieces(rotation, sched.index, user, start, end),
                           pending.new_id("manual"))
    create_overrides(r, team.name, [StoredOverride(o, ctx.user, ctx.now, "manager") for o in written],
                     actor=ctx.user, at=ctx.now)
    messages.post(ctx.runtime, team.channel, render.override_announcement(ctx.user, written))
    home.shifts_changed(ctx.runtime, home.override_people(written), "override")
    log.info("override set team=%s by=%s user=%s layer=%s", team.name, ctx.user, user, rotation.name)
    return Reply(with_note(f"Override set.\n{render.piece_lines(written)}", note))


@command("overrides", usage="/oncall overrides [team]",
                summary="upcoming overrides, with Cancel", group=GROUP)
def list_overrides(ctx: CommandContext) -> Reply:
    team, words = pick_team(ctx, ctx.args)
    if words:
        raise UserError(f'Did not understand "{shown(" ".join(words))}".')
    text, blocks = render.overrides_list(team.name, _upcoming(ctx.runtime, team, ctx.now))
    return Reply(text, blocks or None)


def _upcoming(runtime: Runtime, team: Any, now: datetime) -> list[StoredOverride]:
    sched = team_schedule(runtime.redis, team, now)
    return sorted((s for s in sched.overrides if s.override.end > now),
                  key=lambda s: (s.override.start, s.override.layer))


def _on_call_during(runtime: Runtime, team: Any, o: Override) -> set[str]:
    """Who is on call in the cancelled override's time now: another override may show."""
    sched = team_schedule(runtime.redis, team)
    layer = sched.layer(o.layer)
    return {s.user for s in sched.between(layer, o.start, o.end)} if layer else set()


def _refusal(team: Any, presser: str):
    def refuse(stored: StoredOverride) -> str | None:
        o = stored.override
        if presser in (o.user, o.replaces) or team.is_manager(presser):
            return None
        people = " or ".join(mention(u) for u in (o.user, o.replaces) if u)
        return (f"Only {people} or a manager of {team.name} ({managers_of(team)}) can cancel "
                "this override.")

    return refuse


def cancel(runtime: Runtime, click: Click) -> str:
    found = find_override(runtime.redis, runtime.config.teams, click.value)
    team = runtime.config.teams[found[0]] if found else None
    cancelled = team and cancel_override(runtime.redis, team.name, click.value, actor=click.user,
                                         at=runtime.now(), refuse=_refusal(team, click.user))
    if team is None or cancelled is None:
        return "This override is already gone (cancelled or expired)."
    messages.post(runtime, team.channel, render.cancel_announcement(click.user, cancelled.override))
    home.shifts_changed(runtime, home.override_people([cancelled.override])
                        | _on_call_during(runtime, team, cancelled.override), "override cancelled")
    # The list the button was on: the cancelled override goes, and the list says who did it.
    now = runtime.now()
    text, blocks = render.overrides_list(
        team.name, _upcoming(runtime, team, now),
        done=f"{done_by('Cancelled', click.user, now)}: {render.piece_lines([cancelled.override])}")
    messages.replace_clicked(runtime, click.response_url, {"text": text, "blocks": blocks})
    log.info("override cancelled team=%s id=%s by=%s", team.name, click.value, click.user)
    return "Override cancelled."


def register(app: App, runtime: Runtime) -> None:
    wire(app, runtime, "override_cancel", cancel, refusals=PermissionError)
