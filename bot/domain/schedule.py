"""Who is on call: rotations, active windows and overrides, computed purely.

A team has layers (``Rotation``); each layer hands off between its members at
fixed wall-clock instants, may only be "on" inside an ``ActiveWindow``, and can
be overridden for a time (``Override``). Everything here is plain computation
with the clock passed in; all returned instants are aware UTC datetimes.

Daylight saving time
--------------------
* Handoffs are computed in local wall-clock time: handoff ``k`` is the naive
  local time ``start + k * shift``, localized in the rotation's timezone. A
  weekly Monday 09:00 Europe/Berlin rotation hands off at 09:00 local before and
  after a switch; a 12h rotation starting at 09:00 hands off at 09:00 and 21:00
  local. A shift spanning a switch is one hour shorter or longer in absolute
  time (a 167h or 169h week, an 11h or 13h half-day).
* A local time that does not exist (spring-forward gap) moves forward to the
  first valid instant after the gap: 02:30 on 29 March 2026 in Berlin becomes
  03:00 CEST, i.e. 01:00 UTC.
* An ambiguous local time (fall-back) takes its first occurrence (``fold=0``):
  02:30 on 25 October 2026 in Berlin is 02:30 CEST, i.e. 00:30 UTC.
* Shifts tile time with no gap and no overlap. Handoff instants never go
  backwards, but two consecutive handoffs can land on the same instant when a
  whole shift lies inside a gap (a 1h rotation handing off at 02:00 and 03:00
  on the night Berlin skips 02:00-03:00: both become 03:00 CEST). Such a shift
  would last zero seconds, so it does not exist: it is never returned, and its
  member is simply skipped that round (the next member starts at the gap's
  end, as planned). The instants at which the on-call person actually changes
  are therefore strictly increasing, and every shift has a positive length.
* Active windows (``from``/``to`` wall-clock times on some weekdays) follow the
  same rules: their edges are localized like handoffs; a window whose both
  edges fall in the same gap is empty for that day.

Overrides
---------
An override wins inside ``[start, end)`` and nowhere else. When overrides of a
layer overlap, the one created last (later in the sequence given) wins. For
speed, build an ``OverrideIndex`` once (sorted, flattened timeline) and pass it
wherever a sequence of overrides is accepted; a lookup is then a bisect.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
# next_shifts never looks further ahead than this (or n+1 shifts, if longer).
NEXT_SHIFTS_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class ActiveWindow:
    days: frozenset[int]  # weekday numbers, Monday=0 .. Sunday=6
    start: time  # local wall-clock, inclusive
    end: time  # local wall-clock, exclusive; end <= start means the window crosses midnight

    def __post_init__(self) -> None:
        if any(not 0 <= d <= 6 for d in self.days):
            raise ValueError(f"active window days must be 0 (Monday) to 6 (Sunday): {self.days}")


@dataclass(frozen=True)
class Rotation:
    name: str  # layer name, e.g. "primary"
    members: tuple[str, ...]  # Slack user IDs in order
    start: datetime  # NAIVE local wall-clock time of the first handoff, in `timezone`
    shift: timedelta  # 8h, 12h, 1d, 1w, 2w ... (always a whole number of hours)
    timezone: str  # IANA name, e.g. "Europe/Berlin"
    active: ActiveWindow | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None:
            raise ValueError(f"rotation {self.name!r}: start must be a naive local time")
        if self.shift <= _ZERO:
            raise ValueError(f"rotation {self.name!r}: shift must be positive, got {self.shift}")
        zone(self.timezone)


@dataclass(frozen=True)
class Override:
    layer: str  # rotation name it applies to
    user: str  # who is on call instead
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive
    id: str = ""  # opaque id given by storage
    replaces: str | None = None  # informational: whose shift it covers, if known

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("override start and end must be aware datetimes")
        if self.end <= self.start:
            raise ValueError(f"override ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True)
class Shift:
    layer: str
    user: str
    start: datetime  # aware UTC
    end: datetime  # aware UTC
    override_id: str | None = None  # set when the shift comes from an override


# --- time zones -----------------------------------------------------------


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError with the name if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def localize(naive: datetime, tz: ZoneInfo | str) -> datetime:
    """A naive local wall-clock time in ``tz`` as an aware UTC instant.

    Gap times move forward to the end of the gap; ambiguous times take their
    first occurrence (see the module docstring).
    """
    z = zone(tz) if isinstance(tz, str) else tz
    return _localize(naive.replace(tzinfo=None, fold=0), z)


# Handoffs and window edges recur on every lookup; memoizing them keeps a
# "who is on call now" query to a few dictionary hits.
@lru_cache(maxsize=1 << 16)
def _localize(naive: datetime, z: ZoneInfo) -> datetime:
    # For a naive datetime, ZoneInfo.utcoffset reads it as local time: fold=0
    # gives the offset in force before a transition, fold=1 the one after.
    before = z.utcoffset(naive)
    after = z.utcoffset(naive.replace(fold=1))
    assert before is not None and after is not None
    if before >= after:  # unambiguous, or ambiguous: first occurrence
        return _from_naive_utc(naive - before)
    return _gap_end(naive - after, naive - before, z, after)


_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


def _from_naive_utc(naive: datetime) -> datetime:
    # Arithmetic instead of .replace(tzinfo=...): several times cheaper.
    return _EPOCH_UTC + (naive - _EPOCH_NAIVE)


def _approx_local(t: datetime, z: ZoneInfo) -> datetime:
    """t's local wall-clock time, possibly off by the size of a nearby DST switch."""
    naive_utc = _EPOCH_NAIVE + (t - _EPOCH_UTC)
    offset = z.utcoffset(naive_utc)
    assert offset is not None
    return naive_utc + offset


def _gap_end(lo: datetime, hi: datetime, z: ZoneInfo, after: timedelta) -> datetime:
    """The transition instant in (lo, hi], found by bisecting whole seconds.

    ``lo`` and ``hi`` are naive UTC; the offset is ``after`` from the transition on.
    """
    lo_s = math.floor(_from_naive_utc(lo).timestamp())
    hi_s = math.ceil(_from_naive_utc(hi).timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, z).utcoffset() == after:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {t}")
    return t if t.tzinfo is UTC else t.astimezone(UTC)


# --- rotations ------------------------------------------------------------


def handoff_at(rotation: Rotation, k: int) -> datetime:
    """The k-th handoff instant (k may be negative: before ``rotation.start``)."""
    return _localize(rotation.start + k * rotation.shift, zone(rotation.timezone))


def _locate(rotation: Rotation, t: datetime) -> tuple[int, datetime, datetime]:
    """(k, handoff k, handoff k+1) with handoff k <= t < handoff k+1, t in UTC."""
    z = zone(rotation.timezone)
    start, shift = rotation.start, rotation.shift
    # The local wall-clock time gives the index up to a DST hour; then adjust.
    local = _approx_local(t, z)
    k = (local - start) // shift
    lo = _localize(start + k * shift, z)
    while lo > t:
        k -= 1
        lo = _localize(start + k * shift, z)
    hi = _localize(start + (k + 1) * shift, z)
    while hi <= t:
        k += 1
        lo, hi = hi, _localize(start + (k + 1) * shift, z)
    return k, lo, hi


def shift_index_at(rotation: Rotation, t: datetime) -> int:
    """Index k such that handoff_at(k) <= t < handoff_at(k+1).

    When a shift is empty (it lies inside a DST gap), the index of the
    non-empty shift starting at the same instant is returned.
    """
    return _locate(rotation, _utc(t))[0]


def _shifts_over(rotation: Rotation, lo: datetime, hi: datetime) -> Iterator[tuple[int, datetime, datetime]]:
    """Non-empty rotation shifts (k, start, end) intersecting [lo, hi)."""
    z = zone(rotation.timezone)
    start, shift = rotation.start, rotation.shift
    k, s, e = _locate(rotation, lo)
    while s < hi:
        yield k, s, e
        k += 1
        s, e = e, _localize(start + (k + 1) * shift, z)
        while e == s:  # an empty shift inside a gap: skip its member
            k += 1
            e = _localize(start + (k + 1) * shift, z)


@lru_cache(maxsize=1 << 14)
def _window_on(active: ActiveWindow, z: ZoneInfo, day: date) -> tuple[datetime, datetime] | None:
    """The active window opening on ``day`` (local date), or None."""
    if day.weekday() not in active.days:
        return None
    opens = _localize(datetime.combine(day, active.start), z)
    end_day = day if active.end > active.start else day + _ONE_DAY
    closes = _localize(datetime.combine(end_day, active.end), z)
    return (opens, closes) if closes > opens else None


def _window_at(active: ActiveWindow, z: ZoneInfo, t: datetime) -> tuple[datetime, datetime] | None:
    today = _approx_local(t, z).date()
    # A window crossing midnight may have opened yesterday; a DST hour can shift
    # the local date of t by one either way, hence three candidate days.
    for day in (today - _ONE_DAY, today, today + _ONE_DAY):
        window = _window_on(active, z, day)
        if window is not None and window[0] <= t < window[1]:
            return window
    return None


def _windows_between(
    active: ActiveWindow, z: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """Active windows intersecting [lo, hi), in order (they never overlap)."""
    day = _approx_local(lo, z).date() - _ONE_DAY
    last = _approx_local(hi, z).date() + _ONE_DAY
    found = []
    while day <= last:
        window = _window_on(active, z, day)
        if window is not None and window[1] > lo and window[0] < hi:
            found.append(window)
        day += _ONE_DAY
    return found


def _member(rotation: Rotation, k: int) -> str:
    return rotation.members[k % len(rotation.members)]


def _rotation_piece_at(rotation: Rotation, t: datetime) -> tuple[datetime, datetime, str] | None:
    if not rotation.members:
        return None
    k, start, end = _locate(rotation, t)
    if rotation.active is not None:
        window = _window_at(rotation.active, zone(rotation.timezone), t)
        if window is None:
            return None
        start, end = max(start, window[0]), min(end, window[1])
    return start, end, _member(rotation, k)


def _rotation_pieces(rotation: Rotation, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime, str]]:
    """On-call pieces of the rotation alone intersecting [lo, hi), unclipped."""
    if not rotation.members:
        return []
    if rotation.active is None:
        return [(s, e, _member(rotation, k)) for k, s, e in _shifts_over(rotation, lo, hi)]
    pieces = []
    for opens, closes in _windows_between(rotation.active, zone(rotation.timezone), lo, hi):
        # Only the shifts that meet [lo, hi): one that ends inside the window before lo is not asked for.
        for k, s, e in _shifts_over(rotation, max(opens, lo), min(closes, hi)):
            pieces.append((max(s, opens), min(e, closes), _member(rotation, k)))
    return pieces


def rotation_shift_at(rotation: Rotation, t: datetime) -> Shift | None:
    """The rotation's own shift at t, clipped to its active window; None if nobody."""
    piece = _rotation_piece_at(rotation, _utc(t))
    if piece is None:
        return None
    return Shift(rotation.name, piece[2], piece[0], piece[1])


# --- overrides ------------------------------------------------------------


class _LayerTimeline:
    """One layer's overrides flattened into disjoint runs, each won by one override."""

    __slots__ = ("starts", "ends", "shifts")

    def __init__(self, layer: str, ranked: Sequence[Override]) -> None:
        # ranked: this layer's overrides, later = higher priority.
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.shifts: list[Shift] = []
        opening: dict[datetime, list[int]] = {}
        closing: dict[datetime, list[int]] = {}
        for rank, o in enumerate(ranked):
            opening.setdefault(_utc(o.start), []).append(rank)
            closing.setdefault(_utc(o.end), []).append(rank)
        points = sorted(opening.keys() | closing.keys())
        heap: list[int] = []  # -rank, so the top is the latest override
        live: set[int] = set()
        last_rank = -1
        for x, nxt in zip(points, points[1:], strict=False):
            for rank in opening.get(x, ()):
                live.add(rank)
                heapq.heappush(heap, -rank)
            for rank in closing.get(x, ()):
                live.discard(rank)
            while heap and -heap[0] not in live:
                heapq.heappop(heap)
            if not heap:
                last_rank = -1
                continue
            rank = -heap[0]
            winner = ranked[rank]
            if rank == last_rank:  # the same override keeps winning: one run
                self.ends[-1] = nxt
                self.shifts[-1] = Shift(layer, winner.user, self.starts[-1], nxt, winner.id)
            else:
                self.starts.append(x)
                self.ends.append(nxt)
                self.shifts.append(Shift(layer, winner.user, x, nxt, winner.id))
            last_rank = rank


_EMPTY = _LayerTimeline("", ())


class OverrideIndex:
    """All overrides of a team, indexed per layer for bisect lookups.

    Build it once when overrides change; ``on_call_at`` is then O(log n).
    The order of ``overrides`` matters: later ones win where they overlap.
    """

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self.overrides: tuple[Override, ...] = tuple(overrides)
        by_layer: dict[str, list[Override]] = {}
        for o in self.overrides:
            by_layer.setdefault(o.layer, []).append(o)
        self._layers = {name: _LayerTimeline(name, ranked) for name, ranked in by_layer.items()}

    def timeline(self, layer: str) -> _LayerTimeline:
        return self._layers.get(layer, _EMPTY)


def _index(overrides: Sequence[Override] | OverrideIndex) -> OverrideIndex:
    return overrides if isinstance(overrides, OverrideIndex) else OverrideIndex(overrides)


# --- the final schedule ---------------------------------------------------


def on_call_at(
    rotation: Rotation, overrides: Sequence[Override] | OverrideIndex, t: datetime
) -> Shift | None:
    """Who is on call for this layer at t, overrides applied; None if nobody.

    The Shift is the piece of the final schedule containing t: an override's
    run, or a rotation shift cut by the active window and by overrides.
    Overrides of other layers are ignored.
    """
    t = _utc(t)
    tl = _index(overrides).timeline(rotation.name)
    i = bisect_right(tl.starts, t) - 1
    if i >= 0 and t < tl.ends[i]:
        return tl.shifts[i]
    piece = _rotation_piece_at(rotation, t)
    if piece is None:
        return None
    start, end, user = piece
    if i >= 0 and tl.ends[i] > start:
        start = tl.ends[i]
    if i + 1 < len(tl.starts) and tl.starts[i + 1] < end:
        end = tl.starts[i + 1]
    return Shift(rotation.name, user, start, end)


def _pieces(rotation: Rotation, tl: _LayerTimeline, lo: datetime, hi: datetime) -> list[Shift]:
    """Final-schedule pieces intersecting [lo, hi), with their true extents."""
    first = bisect_right(tl.ends, lo)  # first run ending after lo
    stop = bisect_left(tl.starts, hi)  # runs [first, stop) start before hi
    pieces: list[Shift] = []
    free_from = tl.ends[first - 1] if first > 0 else None
    for i in range(first, stop + 1):
        free_to = tl.starts[i] if i < len(tl.starts) else None
        # The rotation shows through between two override runs.
        a = lo if free_from is None else max(lo, free_from)
        b = hi if free_to is None else min(hi, free_to)
        if a < b:
            for s, e, user in _rotation_pieces(rotation, a, b):
                if free_from is not None and s < free_from:
                    s = free_from
                if free_to is not None and e > free_to:
                    e = free_to
                pieces.append(Shift(rotation.name, user, s, e))
        if i < stop:
            pieces.append(tl.shifts[i])
            free_from = tl.ends[i]
    return pieces


def _merge(pieces: Iterable[Shift]) -> list[Shift]:
    """Join touching shifts of the same user; keep override_id only if shared."""
    merged: list[Shift] = []
    for p in pieces:
        last = merged[-1] if merged else None
        if last is not None and last.end == p.start and last.user == p.user:
            oid = last.override_id if last.override_id == p.override_id else None
            merged[-1] = Shift(last.layer, last.user, last.start, p.end, oid)
        else:
            merged.append(p)
    return merged


def _clip(pieces: Iterable[Shift], lo: datetime, hi: datetime) -> Iterator[Shift]:
    for p in pieces:
        s, e = max(p.start, lo), min(p.end, hi)
        if s < e:
            yield p if (s, e) == (p.start, p.end) else Shift(p.layer, p.user, s, e, p.override_id)


def shifts_between(
    rotation: Rotation,
    overrides: Sequence[Override] | OverrideIndex,
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """The final schedule of one layer over [start, end): overrides applied,
    shifts clipped to the range, touching shifts of the same user merged."""
    lo, hi = _utc(start), _utc(end)
    if hi <= lo:
        return []
    tl = _index(overrides).timeline(rotation.name)
    return _merge(_clip(_pieces(rotation, tl, lo, hi), lo, hi))


def next_shifts(
    rotation: Rotation,
    overrides: Sequence[Override] | OverrideIndex,
    t: datetime,
    n: int,
) -> list[Shift]:
    """The shift containing t (if any) then the following ones, n in all.

    Shifts are those of the final schedule, touching shifts of one user merged;
    the first keeps its real start (as on_call_at(t) reports it). Looks at most
    NEXT_SHIFTS_HORIZON ahead, so a one-member layer yields one long shift.
    """
    if n <= 0:
        return []
    t = _utc(t)
    tl = _index(overrides).timeline(rotation.name)
    horizon = t + max(NEXT_SHIFTS_HORIZON, rotation.shift * (n + 1))
    span = max(rotation.shift * (n + 1), _ONE_DAY)
    while True:
        hi = min(t + span, horizon)
        merged = _merge(_pieces(rotation, tl, t, hi))
        # With n+1 shifts found, the n-th is known to be complete.
        if len(merged) > n or hi >= horizon:
            return merged[:n]
        span *= 2


def user_shifts(
    rotations: Sequence[Rotation],
    overrides: Sequence[Override] | OverrideIndex,
    user: str,
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """A user's final shifts across layers over [start, end), ordered by start."""
    index = _index(overrides)
    mine = [s for r in rotations for s in shifts_between(r, index, start, end) if s.user == user]
    return sorted(mine, key=lambda s: (s.start, s.layer))
