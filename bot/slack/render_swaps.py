"""Block Kit and text for swaps, covers, take-overs, overrides and rotation changes.

Pure functions: data in, dicts and strings out. Times are Slack date tokens,
so every reader sees their own timezone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.schedule import Override, Shift
from bot.domain.swaps import Piece, Preview
from bot.slack.format import cut_mrkdwn, date_token, mention
from bot.store.schedules import StoredOverride
from bot.store.swap_requests import PendingRequest


def span(start: Any, end: Any) -> str:
    return f"{date_token(start)} → {date_token(end)}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut_mrkdwn(text, 3000)}}


def _button(action_id: str, text: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                              "text": {"type": "plain_text", "text": text}}
    if style:
        button["style"] = style
    return button


def piece_lines(pieces: Sequence[Override | Piece]) -> str:
    return "\n".join(f"• {mention(p.user)} instead of {mention(p.replaces or '')} in "
                     f"{p.layer}: {span(p.start, p.end)}" for p in pieces)


def request_text(req: PendingRequest) -> str:
    """What the invitee is asked, in words."""
    pieces = req.overrides()
    who = mention(req.requester)
    if req.kind == "swap":
        mine = next(p for p in pieces if p.user == req.invitee)
        theirs = next(p for p in pieces if p.user == req.requester)
        return (f"{who} asks to swap shifts with you ({req.team}, {mine.layer}):\n"
                f"• You take {who}'s shift: {span(mine.start, mine.end)}\n"
                f"• {who} takes yours: {span(theirs.start, theirs.end)}")
    lines = "\n".join(f"• {p.layer}: {span(p.start, p.end)}" for p in pieces)
    return f"{who} asks you to cover their on-call ({req.team}):\n{lines}"


def request_message(req: PendingRequest) -> dict[str, Any]:
    text = request_text(req)
    return {
        "text": text,
        "blocks": [
            _section(text),
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                f"Answer before {date_token(req.expires_at)}."}]},
            {"type": "actions", "block_id": "swap_answer", "elements": [
                _button("swap_accept", "Accept", req.id, "primary"),
                _button("swap_decline", "Decline", req.id, "danger"),
            ]},
        ],
    }


def answered_message(req: PendingRequest, outcome: str) -> dict[str, Any]:
    """The invitee's DM once answered: the question and what happened ("Accepted by …")."""
    text = f"{request_text(req)}\n{outcome}"
    return {"text": text, "blocks": [_section(text)]}


def accepted_for_requester(req: PendingRequest) -> str:
    return f"{mention(req.invitee)} accepted your {req.kind} request:\n{piece_lines(req.overrides())}"


def declined_for_requester(req: PendingRequest) -> str:
    return f"{mention(req.invitee)} declined your {req.kind} request ({req.team})."


def accepted_announcement(req: PendingRequest, written: Sequence[Override]) -> str:
    verb = "swapped shifts" if req.kind == "swap" else "agreed on a cover"
    return (f":arrows_counterclockwise: {mention(req.requester)} and {mention(req.invitee)} "
            f"{verb}:\n{piece_lines(written)}")


def take_announcement(taker: str, written: Sequence[Override]) -> str:
    return f":raising_hand: {mention(taker)} took the on-call:\n{piece_lines(written)}"


def relieved_dm(taker: str, team: str, written: Sequence[Override], person: str) -> str:
    mine = [o for o in written if o.replaces == person]
    return (f"{mention(taker)} took the on-call from you ({team}); you are off for:\n"
            + "\n".join(f"• {o.layer}: {span(o.start, o.end)}" for o in mine))


def override_announcement(actor: str, written: Sequence[Override]) -> str:
    return f":pushpin: {mention(actor)} set an override:\n{piece_lines(written)}"


def cancel_announcement(actor: str, o: Override) -> str:
    return (f":wastebasket: {mention(actor)} cancelled the override of {mention(o.user)} in "
            f"{o.layer} ({span(o.start, o.end)}); the rotation applies again.")


MAX_BLOCKS = 50  # Slack's limit per message


def overrides_list(team: str, stored: Sequence[StoredOverride],
                   done: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The upcoming overrides with Cancel; `done` says what a click on this list just did.
    A list longer than a message holds ends with "and N more"."""
    if not stored:
        empty = f"No upcoming overrides in {team}."
        return empty, ([_section(done), _section(empty)] if done else [])
    blocks: list[dict[str, Any]] = [_section(done)] if done else []
    blocks.append(_section(f"*Upcoming overrides in {team}*"))
    fits = MAX_BLOCKS - len(blocks)
    shown = stored if len(stored) <= fits else stored[:fits - 1]  # room for "and N more"
    for s in shown:
        o = s.override
        blocks.append({
            **_section(f"{mention(o.user)} instead of {mention(o.replaces or '')} in {o.layer}: "
                       f"{span(o.start, o.end)}\n_set by {mention(s.created_by)}_"),
            "accessory": _button("override_cancel", "Cancel", o.id, "danger"),
        })
    if len(shown) < len(stored):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"… and {len(stored) - len(shown)} more, later ones; cancel some of these to see "
            "them.")}]})
    return f"{len(stored)} upcoming override(s) in {team}.", blocks


def shift_lines(shifts: Sequence[Shift]) -> str:
    if not shifts:
        return "_nobody_"
    return "\n".join(f"• {mention(s.user)} {span(s.start, s.end)}" for s in shifts)


def rotation_lines(team: str, rotations: Sequence[Any], upcoming: dict[str, Sequence[Shift]]) -> str:
    parts = [f"*Rotations of {team}*"]
    for r in rotations:
        members = ", ".join(f"{i}. {mention(m)}" for i, m in enumerate(r.members, 1))
        parts.append(f"*{r.name}* ({r.timezone}, shifts of {_duration(r.shift)}): {members}\n"
                     f"{shift_lines(upcoming.get(r.name, ()))}")
    return "\n\n".join(parts)


def _duration(d: Any) -> str:
    hours = int(d.total_seconds() // 3600)
    if hours % 168 == 0:
        return f"{hours // 168}w"
    if hours % 24 == 0:
        return f"{hours // 24}d"
    return f"{hours}h"


def before_after(p: Preview) -> str:
    after = shift_lines(p.after)
    if p.later:
        after += f"\n…\n{shift_lines(p.later)}"
    return f"*Before*\n{shift_lines(p.before)}\n*After*\n{after}"


def preview_message(req: PendingRequest, p: Preview) -> tuple[str, list[dict[str, Any]]]:
    title = f"Preview: {req.data['summary']} ({req.team}, {req.data['layer']})"
    return title, [
        _section(f"*{title}*\n{before_after(p)}"),
        {"type": "actions", "block_id": "rotation_preview", "elements": [
            _button("rotation_confirm", "Confirm", req.id, "primary"),
            _button("rotation_cancel", "Cancel", req.id),
        ]},
    ]


def preview_answered(req: PendingRequest, p: Preview, outcome: str) -> dict[str, Any]:
    """The preview once Confirm or Cancel was pressed: what it showed and what happened."""
    title = f"Preview: {req.data['summary']} ({req.team}, {req.data['layer']})"
    return {"text": f"{title}: {outcome}",
            "blocks": [_section(f"*{title}*\n{before_after(p)}"), _section(outcome)]}


def rotation_announcement(actor: str | None, team: str, layer: str, summary: str, p: Preview) -> str:
    by = f"{mention(actor)} changed" if actor else "The config file changed"
    moved = ", ".join(mention(u) for u in p.moved)
    heads_up = f"\nShifts moved for: {moved}" if moved else ""
    return f":calendar: {by} rotation {layer} of {team}: {summary}\n{before_after(p)}{heads_up}"
