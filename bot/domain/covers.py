"""Open cover requests: "who can take my on-call for WHEN?", asked of a whole team.

Pure Python, the clock is passed in. The plan is a cover (`bot.domain.swaps`)
without an invitee; the first eligible person to click takes it. Eligible: a
member of every layer the request covers, other than the requester. The
request expires when the shift starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.domain.schedule import OverrideIndex, Rotation
from bot.domain.swaps import Piece, Plan, PlanError, plan_cover

MAX_NOTE = 300


def plan_open_cover(rotations: Sequence[Rotation], index: OverrideIndex, requester: str,
                    now: datetime, when: tuple[datetime, datetime] | None,
                    layer: str | None = None) -> Plan:
    plan = plan_cover(rotations, index, requester, "", now, when, layer)
    if plan.expires_at <= now:
        raise PlanError("That shift has already started: ask someone directly with "
                        "/oncall cover @user, or a manager for an override.")
    return replace(plan, kind="open")


def refusal(rotations: Sequence[Rotation], layers: Sequence[str], requester: str,
            presser: str) -> str | None:
    """Why `presser` may not take the request, or None when they may."""
    if presser == requester:
        return "This is your own request: wait for someone to take it, or cancel it."
    for name in layers:
        rotation = next((r for r in rotations if r.name == name), None)
        if rotation is None or presser not in rotation.members:
            return f"Only members of the {name} rotation can take this cover."
    return None


def taken_by(pieces: Sequence[Piece], taker: str) -> tuple[Piece, ...]:
    return tuple(replace(p, user=taker) for p in pieces)


def clean_note(text: str) -> str:
    return " ".join(text.split())[:MAX_NOTE]
