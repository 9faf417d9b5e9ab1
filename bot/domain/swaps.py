"""Swaps, covers, take-overs and rotation edits, computed purely.

Everything here works on the final schedule (rotations with overrides
applied) and returns the overrides or the edited rotation to store; nothing
touches Slack or Redis and the clock is passed in.

Rules
-----
* A user's *next shift* in a layer is the first piece of the final schedule
  held by that user that starts after ``now`` (touching pieces of one user
  are one shift). In a layer with active windows, that is the next window.
* A swap trades the requester's next shift with the invitee's next shift in
  the first layer both belong to (or the layer named): two overrides with the
  exact instants of the original shifts, so a switch of daylight saving time
  changes nothing. The request expires when the first of the two starts.
* A cover gives the invitee the requester's on-call time inside WHEN: one
  override per piece of the requester's final schedule intersecting WHEN.
* A take gives the taker the layer from now until the current shift ends (or
  until a given time): one override; whoever was on call in between is told.
* Rotation edits keep the handoff instants for membership changes (add,
  remove, move): the person on call now stays on call until the next handoff,
  then the new order continues with their successor. If the person on call is
  removed, their successor takes over at once. Timing changes (handoff,
  shift) start at the first new handoff after now; whoever is on call stays
  until then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from bot.domain import schedule
from bot.domain.schedule import Override, OverrideIndex, Rotation, Shift, localize, zone

WEEK = timedelta(weeks=1)
DAY = timedelta(days=1)
PREVIEW_SHIFTS = 6
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PlanError(ValueError):
    """A request that cannot be planned; ``str(err)`` is for the user."""


@dataclass(frozen=True)
class Piece:
    """A stretch of one layer's on-call moving from ``replaces`` to ``user``."""

    layer: str
    user: str
    replaces: str
    start: datetime
    end: datetime

    def to_override(self, ident: str) -> Override:
        return Override(layer=self.layer, user=self.user, start=self.start, end=self.end,
                        id=ident, replaces=self.replaces)


@dataclass(frozen=True)
class Plan:
    """What a swap, cover or take would write, and until when it may be accepted."""

    kind: str  # swap | cover | take
    requester: str
    invitee: str
    pieces: tuple[Piece, ...]
    expires_at: datetime

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.layer for p in self.pieces))


def _member_layers(rotations: Sequence[Rotation], *users: str, layer: str | None) -> list[Rotation]:
    found = [r for r in rotations if all(u in r.members for u in users)]
    if layer is not None:
        found = [r for r in found if r.name == layer]
    return found


def next_shift(rotation: Rotation, index: OverrideIndex, user: str, now: datetime) -> Shift | None:
    """The user's first final-schedule shift in this layer starting after now."""
    # Enough shifts to see every member twice, whatever the overrides did.
    n = 2 * len(rotation.members) + 2
    for s in schedule.next_shifts(rotation, index, now, n):
        if s.user == user and s.start > now:
            return s
    return None


def plan_swap(rotations: Sequence[Rotation], index: OverrideIndex, requester: str, invitee: str,
              now: datetime, layer: str | None = None) -> Plan:
    if requester == invitee:
        raise PlanError("You cannot swap with yourself: name the person to trade with.")
    shared = _member_layers(rotations, requester, invitee, layer=layer)
    if not shared:
        where = f"layer {layer}" if layer else "any rotation of this team"
        raise PlanError(f"You and <@{invitee}> are not both in {where}, so there is nothing to swap.")
    for rotation in shared:
        mine = next_shift(rotation, index, requester, now)
        theirs = next_shift(rotation, index, invitee, now)
        if mine is None or theirs is None:
            continue
        pieces = (
            Piece(rotation.name, invitee, requester, mine.start, mine.end),
            Piece(rotation.name, requester, invitee, theirs.start, theirs.end),
        )
        return Plan("swap", requester, invitee, pieces, min(mine.start, theirs.start))
    raise PlanError(f"You and <@{invitee}> do not both have an upcoming shift in "
                    f"{' or '.join(r.name for r in shared)}.")


def plan_cover(rotations: Sequence[Rotation], index: OverrideIndex, requester: str, invitee: str,
               now: datetime, when: tuple[datetime, datetime] | None = None,
               layer: str | None = None) -> Plan:
    """Cover the requester's on-call inside ``when`` (default: their next shift, or the
    rest of the current one)."""
    if requester == invitee:
        raise PlanError("You cannot cover yourself: name the person to ask.")
    layers = _member_layers(rotations, requester, layer=layer)
    if not layers:
        raise PlanError("You are not in a rotation of this team" + (f" ({layer})" if layer else "")
                        + ", so there is no on-call to cover.")
    if when is None:
        when = _default_cover(layers, index, requester, now)
    start, end = max(when[0], now), when[1]
    if end <= start:
        raise PlanError("That time is already over: choose a time in the future.")
    pieces = tuple(
        Piece(s.layer, invitee, requester, s.start, s.end)
        for s in schedule.user_shifts(layers, index, requester, start, end)
    )
    if not pieces:
        raise PlanError("You are not on call at that time, so there is nothing to cover.")
    first = min(p.start for p in pieces)
    # A cover that starts now can still be accepted while it lasts.
    expires = first if first > now else max(p.end for p in pieces)
    return Plan("cover", requester, invitee, pieces, expires)


def _default_cover(layers: Sequence[Rotation], index: OverrideIndex, user: str,
                   now: datetime) -> tuple[datetime, datetime]:
    candidates = []
    for rotation in layers:
        for s in schedule.next_shifts(rotation, index, now, 2 * len(rotation.members) + 2):
            if s.user == user:
                candidates.append((max(s.start, now), s.end))
                break
    if not candidates:
        raise PlanError("You have no upcoming shift to cover.")
    return min(candidates)


def plan_take(rotations: Sequence[Rotation], index: OverrideIndex, taker: str, now: datetime,
              until: datetime | None = None, layer: str | None = None) -> Plan:
    layers = _member_layers(rotations, taker, layer=layer)
    if not layers:
        raise PlanError("Only a member of the rotation can take the on-call"
                        + (f" of layer {layer}." if layer else "."))
    rotation = layers[0]
    current = schedule.on_call_at(rotation, index, now)
    if current is None:
        raise PlanError(f"Nobody is on call in {rotation.name} right now; there is nothing to take.")
    if current.user == taker and until is None:
        raise PlanError(f"You are already on call in {rotation.name} until this shift ends.")
    end = until or current.end
    if end <= now:
        raise PlanError("The end of the take-over must be in the future.")
    pieces = tuple(
        Piece(rotation.name, taker, s.user, s.start, s.end)
        for s in schedule.shifts_between(rotation, index, now, end) if s.user != taker
    )
    if not pieces:
        raise PlanError(f"You are already on call in {rotation.name} for all of that time.")
    return Plan("take", taker, taker, pieces, now)


def relieved(plan: Plan) -> list[str]:
    """The people a plan takes on-call time from."""
    return list(dict.fromkeys(p.replaces for p in plan.pieces))


def verify_still_valid(plan_pieces: Sequence[Piece], rotations: Sequence[Rotation],
                       index: OverrideIndex, now: datetime) -> None:
    """Each piece's time (from now on) still belongs to the person it is taken from."""
    by_name = {r.name: r for r in rotations}
    for p in plan_pieces:
        rotation = by_name.get(p.layer)
        if rotation is None:
            raise PlanError(f"Layer {p.layer} no longer exists.")
        start = max(p.start, now)
        if start >= p.end:
            continue
        holders = {s.user for s in schedule.shifts_between(rotation, index, start, p.end)}
        if holders != {p.replaces}:
            raise PlanError("The schedule changed since this request was made (someone else "
                            "swapped or overrode one of these shifts); ask again.")


def clip_to_now(pieces: Sequence[Piece], now: datetime) -> tuple[Piece, ...]:
    """Drop what is already over; a piece in progress starts now."""
    return tuple(replace(p, start=max(p.start, now)) for p in pieces if p.end > now)


# ---------------------------------------------------------------- overrides


def override_pieces(rotation: Rotation, index: OverrideIndex, user: str, start: datetime,
                    end: datetime) -> tuple[Piece, ...]:
    """A manager's override of [start, end): one piece, replacing whoever held the most of it."""
    holders: dict[str, timedelta] = {}
    for s in schedule.shifts_between(rotation, index, start, end):
        holders[s.user] = holders.get(s.user, timedelta(0)) + (s.end - s.start)
    replaced = max(holders, key=lambda u: holders[u]) if holders else ""
    return (Piece(rotation.name, user, replaced, start, end),)


# ---------------------------------------------------------------- rotation edits


@dataclass(frozen=True)
class Edit:
    op: str  # add | remove | move | handoff | shift
    user: str | None = None
    position: int | None = None  # 1-based
    weekday: int | None = None
    at: time | None = None
    shift: timedelta | None = None

    def describe(self) -> str:
        if self.op == "add":
            return f"add <@{self.user}>" + (f" at position {self.position}" if self.position else "")
        if self.op == "remove":
            return f"remove <@{self.user}>"
        if self.op == "move":
            return f"move <@{self.user}> to position {self.position}"
        if self.op == "handoff":
            day = f"{_WEEKDAYS[self.weekday].capitalize()} " if self.weekday is not None else ""
            assert self.at is not None
            return f"hand off at {day}{self.at.strftime('%H:%M')}"
        assert self.shift is not None
        return f"shifts of {_show_shift(self.shift)}"


def _show_shift(d: timedelta) -> str:
    if d % WEEK == timedelta(0):
        return f"{d // WEEK}w"
    if d % DAY == timedelta(0):
        return f"{d // DAY}d"
    return f"{int(d.total_seconds() // 3600)}h"


def parse_weekday(word: str) -> int | None:
    w = word.lower()[:3]
    return _WEEKDAYS.index(w) if w in _WEEKDAYS else None


def apply_edit(rotation: Rotation, edit: Edit, now: datetime) -> Rotation:
    """The rotation after ``edit``, re-anchored so that it takes effect from now (see module doc)."""
    if edit.op in ("add", "remove", "move"):
        return _reorder(rotation, _new_members(rotation, edit), now)
    if edit.op == "handoff":
        return _retime(rotation, rotation.shift, _handoff_grid(rotation, edit, now), now)
    if edit.op == "shift":
        assert edit.shift is not None
        if edit.shift % timedelta(hours=1) or edit.shift < timedelta(hours=1):
            raise PlanError("A shift must be a whole number of hours, e.g. 12h, 1d or 1w.")
        if edit.shift == rotation.shift:
            raise PlanError(f"Shifts in {rotation.name} already last {_show_shift(edit.shift)}.")
        k = schedule.shift_index_at(rotation, now)
        old_end = rotation.start + (k + 1) * rotation.shift
        return _retime(rotation, edit.shift, _first_after(old_end, edit.shift, rotation, now), now)
    raise PlanError(f"Unknown rotation change {edit.op!r}.")


def _new_members(rotation: Rotation, edit: Edit) -> tuple[str, ...]:
    members = list(rotation.members)
    user = edit.user
    assert user is not None
    if edit.op == "add":
        if user in members:
            raise PlanError(f"<@{user}> is already in {rotation.name}.")
        pos = edit.position or len(members) + 1
        if not 1 <= pos <= len(members) + 1:
            raise PlanError(f"Position must be between 1 and {len(members) + 1}.")
        members.insert(pos - 1, user)
    elif user not in members:
        raise PlanError(f"<@{user}> is not in {rotation.name}.")
    elif edit.op == "remove":
        if len(members) == 1:
            raise PlanError(f"<@{user}> is the last member of {rotation.name}; add someone first.")
        members.remove(user)
    else:
        pos = edit.position or 0
        if not 1 <= pos <= len(members):
            raise PlanError(f"Position must be between 1 and {len(members)}.")
        if members.index(user) == pos - 1:
            raise PlanError(f"<@{user}> is already at position {pos}.")
        members.remove(user)
        members.insert(pos - 1, user)
    return tuple(members)


def _successor(old: Sequence[str], new: Sequence[str], person: str) -> str:
    """Who follows ``person`` in the new order (if they were removed: in the old one)."""
    if person in new:
        return new[(new.index(person) + 1) % len(new)]
    i = old.index(person)
    for step in range(1, len(old) + 1):
        candidate = old[(i + step) % len(old)]
        if candidate in new:
            return candidate
    raise PlanError("The rotation would have no members.")  # pragma: no cover


def _reorder(rotation: Rotation, members: tuple[str, ...], now: datetime) -> Rotation:
    k = schedule.shift_index_at(rotation, now)
    current = rotation.members[k % len(rotation.members)]
    nxt = _successor(rotation.members, members, current)
    r = members.index(nxt)
    if current in members:
        # The current person keeps their shift; their successor starts at the next handoff.
        anchor = rotation.start + (k + 1) * rotation.shift
    else:
        # The removed person's successor takes over the current shift.
        anchor = rotation.start + k * rotation.shift
    return replace(rotation, members=members, start=anchor - r * rotation.shift)


def _retime(rotation: Rotation, shift: timedelta, first_handoff: datetime, now: datetime) -> Rotation:
    k = schedule.shift_index_at(rotation, now)
    current = rotation.members[k % len(rotation.members)]
    nxt = _successor(rotation.members, rotation.members, current)
    r = rotation.members.index(nxt)
    return replace(rotation, shift=shift, start=first_handoff - r * shift)


def _first_after(anchor: datetime, step: timedelta, rotation: Rotation, now: datetime) -> datetime:
    """The first naive local instant anchor + j*step (any integer j) after now."""
    z = zone(rotation.timezone)
    local_now = now.astimezone(z).replace(tzinfo=None)
    point = anchor + ((local_now - anchor) // step) * step
    while localize(point, z) > now:
        point -= step
    while localize(point, z) <= now:
        point += step
    return point


def _handoff_grid(rotation: Rotation, edit: Edit, now: datetime) -> datetime:
    assert edit.at is not None
    weekly = rotation.shift % WEEK == timedelta(0)
    if edit.weekday is not None and not weekly:
        raise PlanError(f"Shifts in {rotation.name} last {_show_shift(rotation.shift)}: give only "
                        "the time of day, e.g. `handoff 09:00`.")
    weekday = edit.weekday if edit.weekday is not None else rotation.start.weekday()
    day = rotation.start.date()
    if weekly:
        day += timedelta(days=(weekday - day.weekday()) % 7)
    anchor = datetime.combine(day, edit.at)
    if (anchor - rotation.start) % rotation.shift == timedelta(0):
        raise PlanError(f"{rotation.name} already hands off then.")
    return _first_after(anchor, rotation.shift, rotation, now)


@dataclass(frozen=True)
class Preview:
    before: tuple[Shift, ...]
    after: tuple[Shift, ...]
    later: tuple[Shift, ...] = ()  # after the first n "after" shifts: the focus person's first

    @property
    def moved(self) -> list[str]:
        """Everyone whose shifts differ between before and after, in order of appearance."""
        b = {(s.user, s.start, s.end) for s in self.before}
        a = {(s.user, s.start, s.end) for s in self.after}
        changed = b ^ a
        order = [s.user for s in (*self.before, *self.after, *self.later)]
        moved = [u for u in dict.fromkeys(order) if any(c[0] == u for c in changed)]
        return moved + [s.user for s in self.later if s.user not in moved]


def preview(before: Rotation, after: Rotation, index: OverrideIndex, now: datetime,
            n: int = PREVIEW_SHIFTS, focus: str | None = None) -> Preview:
    """The next n shifts of the final schedule before and after a rotation change.

    `focus` is the person the change is about (added or moved): when none of the first n
    shifts after the change is theirs, their first shift is shown too (`later`), so the
    preview always shows where they land. Looked for within two rounds of the rotation.
    """
    shown = tuple(schedule.next_shifts(after, index, now, n))
    later: tuple[Shift, ...] = ()
    if focus is not None and all(s.user != focus for s in shown):
        ahead = schedule.next_shifts(after, index, now, n + 2 * len(after.members))
        later = tuple(s for s in ahead[n:] if s.user == focus)[:1]
    return Preview(tuple(schedule.next_shifts(before, index, now, n)), shown, later)
