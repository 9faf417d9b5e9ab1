"""`/oncall handoff note TEXT`: a note for whoever takes over next, in the handoff summary."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Runtime
from bot.services import handoffs
from bot.slack.commands import CommandContext, Reply, UserError, command
from bot.slack.format import unescape

USAGE = "/oncall handoff note TEXT"


@command("handoff", usage=USAGE, group="Swaps and overrides", free_text=True,
                summary="leave a note for whoever takes over from me (in the handoff summary)")
def handoff_note(ctx: CommandContext) -> Reply:
    words = ctx.text.split(None, 2)
    if len(words) < 2 or words[1].lower() != "note":
        raise UserError("Write `/oncall handoff note TEXT`.")
    text = words[2] if len(words) > 2 else ""
    if not text.strip():
        raise UserError("The note is empty.")
    teams = handoffs.leave_note(ctx.runtime, ctx.user, unescape(text), ctx.now)
    if not teams:
        raise UserError("You are not on call now: a handoff note is for the shift you are on.")
    return Reply(f"Noted for the next handoff summary of {', '.join(teams)}.")


def register(app: App, runtime: Runtime) -> None:
    """Nothing to wire beyond the subcommand."""
