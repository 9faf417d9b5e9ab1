"""Open cover requests in the team channel, and what requester and taker are told. Pure."""

from __future__ import annotations

from typing import Any

from bot.domain.schedule import Override
from bot.slack.format import cut_mrkdwn, date_token, escape, mention
from bot.slack.render_swaps import piece_lines, span
from bot.store.swap_requests import PendingRequest

ACTION_TAKE = "cover_take"
ACTION_CANCEL = "cover_cancel"
ACTION_SLEEP_OFFER = "cover_rest_of_morning"


def _lines(req: PendingRequest) -> str:
    return "\n".join(f"• {p.layer}: {span(p.start, p.end)}" for p in req.overrides())


def _ask_text(req: PendingRequest) -> str:
    text = f":raising_hand: {mention(req.requester)} needs cover ({escape(req.team)}):\n{_lines(req)}"
    note = req.data.get("note")
    return text + (f"\n> {escape(note)}" if note else "")


def open_message(req: PendingRequest) -> dict[str, Any]:
    text = _ask_text(req)
    return {"text": text, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut_mrkdwn(text, 3000)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            f"Open until the shift starts, {date_token(req.expires_at)}. The first to take it "
            "gets it. The requester or a manager can cancel."}]},
        {"type": "actions", "block_id": "cover_request", "elements": [
            {"type": "button", "action_id": ACTION_TAKE, "value": req.id, "style": "primary",
             "text": {"type": "plain_text", "text": "I'll take it"}},
            {"type": "button", "action_id": ACTION_CANCEL, "value": req.id,
             "text": {"type": "plain_text", "text": "Cancel"}},
        ]},
    ]}


def closed_message(req: PendingRequest) -> dict[str, Any]:
    """The channel message once the request is over: what happened, no buttons."""
    outcome = {"accepted": f"Taken by {mention(req.invitee)}.",
               "cancelled": f"Cancelled by {mention(req.data.get('closed_by', req.requester))}.",
               "expired": "Nobody took it before the shift started."}.get(req.state, req.state)
    text = f"{_ask_text(req)}\n*{outcome}*"
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                   "text": cut_mrkdwn(text, 3000)}}]}


def taken_for_requester(req: PendingRequest, written: list[Override]) -> str:
    return f"{mention(req.invitee)} took your cover request ({req.team}):\n{piece_lines(written)}"


def taken_for_taker(req: PendingRequest, written: list[Override]) -> str:
    return f"You are covering for {mention(req.requester)} ({req.team}):\n{piece_lines(written)}"


def taken_announcement(req: PendingRequest, written: list[Override]) -> str:
    return f"{mention(req.invitee)} covers for {mention(req.requester)}:\n{piece_lines(written)}"


def expired_for_requester(req: PendingRequest) -> str:
    return (f"Nobody took your cover request ({req.team}) before the shift started; you are "
            f"still on call:\n{_lines(req)}")


def cancelled_for_requester(req: PendingRequest, by: str) -> str:
    return f"{mention(by)} cancelled your cover request ({req.team}):\n{_lines(req)}"



def sleep_offer(team: str, pages: int) -> dict[str, Any]:
    """The sleep-budget DM: one click asks the team to cover the rest of the morning."""
    text = (f":zzz: Rough night: {pages} pages in your sleep hours ({escape(team)}). Want someone "
            "to cover the rest of your morning?")
    return {"text": text, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": "sleep_offer", "elements": [
            {"type": "button", "action_id": ACTION_SLEEP_OFFER, "value": team, "style": "primary",
             "text": {"type": "plain_text", "text": "Ask for cover until noon"}}]},
    ]}
