"""Pending requests (swap, cover, rotation preview) and their atomic transitions.

A request is one JSON document at ``keys.pending(kind, id)``; its id starts
with its kind (``swap-…``, ``cover-…``, ``rot-…``) so a button's opaque value
is enough to find it. Swap and cover requests also claim each shift they
would change at ``keys.pending_index("shift", …)``, so a second request for
the same shift is refused while the first is pending.

Every transition is a WATCH/MULTI compare-and-set on the request (state
``pending`` → ``accepted`` | ``declined`` | ``confirmed`` | ``cancelled``);
accepting writes the overrides (or the rotation edit) and the audit entry in
the same MULTI, so a double click or two racing clicks do it once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis

from bot.domain.schedule import Override, Rotation
from bot.store import audit, keys
from bot.store.base import Commit, compare_and_set
from bot.store.schedules import StoredOverride, rotation_from_dict, save_rotation_edit

# A request stays readable this long after it expires, so a late click is told why.
KEEP_AFTER_EXPIRY = timedelta(days=7)
# A rotation preview may be confirmed for this long.
PREVIEW_TTL = timedelta(minutes=30)


class RequestError(Exception):
    """A transition refused; ``str(err)`` is for the person who clicked."""


@dataclass
class PendingRequest:
    id: str
    kind: str  # swap | cover | rot | open (an open cover request: anyone eligible may take it)
    team: str
    requester: str
    invitee: str  # for a preview: the manager who asked (the only one who may confirm)
    created_at: datetime
    expires_at: datetime
    state: str = "pending"
    pieces: list[dict[str, Any]] = field(default_factory=list)  # planned overrides
    data: dict[str, Any] = field(default_factory=dict)  # kind-specific: preview rotations ...

    def to_json(self) -> str:
        return json.dumps({
            "id": self.id, "kind": self.kind, "team": self.team, "requester": self.requester,
            "invitee": self.invitee, "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(), "state": self.state,
            "pieces": self.pieces, "data": self.data,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> PendingRequest:
        d = json.loads(raw)
        return cls(id=d["id"], kind=d["kind"], team=d["team"], requester=d["requester"],
                   invitee=d["invitee"], created_at=datetime.fromisoformat(d["created_at"]),
                   expires_at=datetime.fromisoformat(d["expires_at"]), state=d["state"],
                   pieces=d["pieces"], data=d["data"])

    def overrides(self) -> list[Override]:
        return [Override(layer=p["layer"], user=p["user"], start=datetime.fromisoformat(p["start"]),
                         end=datetime.fromisoformat(p["end"]), id=p.get("id", ""),
                         replaces=p.get("replaces")) for p in self.pieces]


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def kind_of(request_id: str) -> str | None:
    kind = request_id.split("-", 1)[0]
    return kind if kind in ("swap", "cover", "rot", "open") else None


def piece_dict(layer: str, user: str, replaces: str, start: datetime, end: datetime,
               ident: str) -> dict[str, Any]:
    return {"layer": layer, "user": user, "replaces": replaces, "start": start.isoformat(),
            "end": end.isoformat(), "id": ident}


def _shift_keys(req: PendingRequest) -> list[str]:
    """One index key per shift taken from someone: team, layer, owner, start instant."""
    return [keys.pending_index("shift", f"{req.team}:{p['layer']}:{p['replaces']}:"
                               f"{int(datetime.fromisoformat(p['start']).timestamp())}")
            for p in req.pieces]


def _ttl(req: PendingRequest, now: datetime) -> int:
    return max(int((req.expires_at - now + KEEP_AFTER_EXPIRY).total_seconds()), 60)


def get(r: redis.Redis, request_id: str) -> PendingRequest | None:
    kind = kind_of(request_id)
    if kind is None:
        return None
    raw = r.get(keys.pending(kind, request_id))
    return None if raw is None else PendingRequest.from_json(raw)


def create(r: redis.Redis, req: PendingRequest, now: datetime) -> None:
    """Store a new request; RequestError if one of its shifts is already asked for."""
    index_keys = _shift_keys(req)

    def decide(pipe: redis.client.Pipeline) -> Commit[None]:
        for key in index_keys:
            holder = pipe.get(key)
            other = get(r, holder.decode()) if holder is not None else None
            if other is not None and other.state == "pending" and other.expires_at > now:
                raise RequestError(
                    "There is already a pending request for that shift "
                    f"(<@{other.requester}> asked <@{other.invitee}>); wait for "
                    "the answer or for it to expire.")
        return Commit(None, writes)

    def writes(pipe: redis.client.Pipeline) -> None:
        pipe.set(keys.pending(req.kind, req.id), req.to_json(), ex=_ttl(req, now))
        index_ttl = max(int((req.expires_at - now).total_seconds()), 1)
        for key in index_keys:
            pipe.set(key, req.id, ex=index_ttl)
        if req.kind == "open":
            pipe.zadd(keys.open_covers(), {req.id: req.expires_at.timestamp()})
        audit.record(pipe, actor=req.requester, action=audit_action(req.kind, "request"),
                     at=now, request=req.id, team=req.team, **_audit_details(req))

    compare_and_set(r, index_keys, decide, what=f"request {req.id}")


# Audit names: one noun per feature (a rotation preview is a "rot" request inside), and
# the verb of what was done, as everywhere else in the audit (run.approve, override.cancel).
AUDIT_NOUN = {"rot": "rotation", "open": "cover"}  # an open cover request is a cover
AUDIT_VERB = {"accepted": "accept", "declined": "decline", "confirmed": "confirm",
              "cancelled": "cancel", "expired": "expire"}


def audit_action(kind: str, verb: str) -> str:
    return f"{AUDIT_NOUN.get(kind, kind)}.{AUDIT_VERB.get(verb, verb)}"


def _audit_details(req: PendingRequest) -> dict[str, Any]:
    """What a swap, cover or rotation entry carries besides the request id and team."""
    if req.kind == "rot":
        return {"layer": req.data.get("layer"), "change": req.data.get("summary")}
    return {"requester": req.requester, "invitee": req.invitee, "shifts": req.pieces}


def _transition(
    r: redis.Redis, request_id: str, now: datetime, *, check: Callable[[PendingRequest], None],
    new_state: str, write: Callable[[redis.client.Pipeline, PendingRequest], None],
    actor: str, watch: Sequence[str] = (),
) -> PendingRequest:
    kind = kind_of(request_id)
    if kind is None:
        raise RequestError("This request does not exist (any more).")
    key = keys.pending(kind, request_id)

    def decide(pipe: redis.client.Pipeline) -> Commit[PendingRequest]:
        raw = pipe.get(key)
        if raw is None:
            raise RequestError("This request does not exist any more (it expired long ago).")
        req = PendingRequest.from_json(raw)
        if req.state != "pending":
            raise RequestError(f"This request was already {req.state}.")
        check(req)
        before = req.state
        req.state = new_state

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, req.to_json(), ex=_ttl(req, now))
            for index_key in _shift_keys(req):
                pipe.delete(index_key)
            pipe.zrem(keys.requests_expiring(), req.id)
            pipe.zrem(keys.open_covers(), req.id)
            write(pipe, req)
            audit.record(pipe, actor=actor, action=audit_action(req.kind, new_state), at=now,
                         request=req.id, team=req.team, before=before, after=new_state,
                         **_audit_details(req))

        return Commit(req, writes)

    return compare_and_set(r, [key, *watch], decide, what=f"request {request_id}")


def _answerable(req: PendingRequest, presser: str, now: datetime) -> None:
    if presser != req.invitee:
        raise RequestError(f"Only <@{req.invitee}> can answer this request.")
    if now >= req.expires_at:
        raise RequestError("This request expired: the shift has already started.")


def accept(r: redis.Redis, request_id: str, presser: str, now: datetime,
           verify: Callable[[PendingRequest], list[Override]],
           answerable: Callable[[PendingRequest, str, datetime], None] | None = None,
           ) -> tuple[PendingRequest, list[Override]]:
    """pending → accepted, writing the overrides ``verify`` returns (it raises to refuse)
    and their audit entry in one MULTI. ``answerable`` refuses a presser who may not answer
    (default: anyone but the invitee)."""
    answerable = answerable or _answerable
    req0 = get(r, request_id)
    team = req0.team if req0 else ""
    written: list[Override] = []

    def check(req: PendingRequest) -> None:
        answerable(req, presser, now)
        written[:] = verify(req)
        if req.kind == "open":
            req.invitee = presser  # the taker

    def write(pipe: redis.client.Pipeline, req: PendingRequest) -> None:
        stored = [StoredOverride(o, created_by=req.requester, created_at=now,
                                 reason=f"{req.kind} {req.id}") for o in written]
        pipe.hset(keys.overrides(req.team), mapping={s.override.id: s.to_json() for s in stored})
        audit.record(pipe, actor=presser, action="override.create", at=now, request=req.id,
                     team=req.team, before=None, after=[_override_json(o) for o in written])

    req = _transition(r, request_id, now, check=check, new_state="accepted", write=write,
                      actor=presser, watch=(keys.overrides(team), keys.rotation_edits(team)))
    return req, written


def close_open(r: redis.Redis, request_id: str, presser: str, now: datetime, state: str,
               check: Callable[[PendingRequest], None]) -> PendingRequest:
    """An open cover request: pending → cancelled (``check`` refuses who may not) or expired."""
    return _transition(r, request_id, now, check=check, new_state=state,
                       write=lambda pipe, req: None, actor=presser)


def forget_open(r: redis.Redis, request_id: str) -> None:
    """Take a request that is over (or that Redis lost) out of the open index."""
    r.zrem(keys.open_covers(), request_id)


def open_due(r: redis.Redis, now: datetime) -> list[str]:
    """Open cover requests whose shift has started (their expiry is due)."""
    return [m.decode() for m in r.zrangebyscore(keys.open_covers(), "-inf", now.timestamp())]


def set_data(r: redis.Redis, request_id: str, now: datetime, **values: str) -> PendingRequest | None:
    """Add Slack-side facts (the channel message's ts) to a request, whatever its state."""
    kind = kind_of(request_id)
    if kind is None:
        return None
    key = keys.pending(kind, request_id)

    def decide(pipe: redis.client.Pipeline) -> Commit[PendingRequest | None]:
        raw = pipe.get(key)
        if raw is None:
            return Commit(None)
        req = PendingRequest.from_json(raw)
        req.data.update(values)
        return Commit(req, lambda tx: tx.set(key, req.to_json(), ex=_ttl(req, now)))

    return compare_and_set(r, [key], decide, what=f"request {request_id}")


def decline(r: redis.Redis, request_id: str, presser: str, now: datetime) -> PendingRequest:
    return _transition(r, request_id, now, check=lambda req: _answerable(req, presser, now),
                       new_state="declined", write=lambda pipe, req: None, actor=presser)


def confirm_preview(r: redis.Redis, request_id: str, presser: str, now: datetime,
                    current: Callable[[PendingRequest], tuple[Rotation, str]]) -> PendingRequest:
    """pending → confirmed: store the edited rotation if the layer did not change since the
    preview. ``current(req)`` returns (the config rotation, the effective rotation's fingerprint)."""
    req0 = get(r, request_id)
    team = req0.team if req0 else ""
    base: list[Rotation] = []

    def check(req: PendingRequest) -> None:
        _may_confirm(req, presser, now)
        config_rotation, fingerprint = current(req)
        if fingerprint != req.data["before_fingerprint"]:
            raise RequestError("The rotation changed since this preview; nothing was applied. "
                               "Run the command again to see a fresh preview.")
        base[:] = [config_rotation]

    def write(pipe: redis.client.Pipeline, req: PendingRequest) -> None:
        edited = rotation_from_dict(req.data["after"])
        save_rotation_edit(r, req.team, base[0], edited, pipe=pipe)
        audit.record(pipe, actor=presser, action="rotation.edit", at=now, request=req.id,
                     team=req.team, layer=edited.name, change=req.data.get("summary"),
                     before=req.data["before"], after=req.data["after"])

    return _transition(r, request_id, now, check=check, new_state="confirmed", write=write,
                       actor=presser, watch=(keys.rotation_edits(team),))


def cancel_preview(r: redis.Redis, request_id: str, presser: str, now: datetime) -> PendingRequest:
    return _transition(r, request_id, now, check=lambda req: _may_confirm(req, presser, now),
                       new_state="cancelled", write=lambda pipe, req: None, actor=presser)


def _may_confirm(req: PendingRequest, presser: str, now: datetime) -> None:
    if presser != req.invitee:
        raise RequestError(f"Only <@{req.invitee}>, who asked for this change, can confirm or "
                           "cancel it.")
    if now >= req.expires_at:
        raise RequestError("This preview expired; run the command again.")


def _override_json(o: Override) -> dict[str, Any]:
    return {"id": o.id, "layer": o.layer, "user": o.user, "replaces": o.replaces,
            "start": o.start.isoformat(), "end": o.end.isoformat()}


# ---------------------------------------------------------------- the invitee's DM and expiry


def remember_message(r: redis.Redis, request_id: str, channel: str, ts: str) -> bool:
    """Where the invitee's DM is, so that it can say so when the request expires unanswered.

    False (nothing written) when the request is gone or already answered.
    """
    kind = kind_of(request_id)
    if kind is None:
        return False
    key = keys.pending(kind, request_id)

    def decide(pipe: redis.client.Pipeline) -> Commit[bool]:
        raw = pipe.get(key)
        req = None if raw is None else PendingRequest.from_json(raw)
        if req is None or req.state != "pending":
            return Commit(False)
        req.data["message"] = {"channel": channel, "ts": ts}

        def writes(pipe: redis.client.Pipeline) -> None:
            pipe.set(key, req.to_json(), keepttl=True)
            pipe.zadd(keys.requests_expiring(), {req.id: req.expires_at.timestamp()})

        return Commit(True, writes)

    return compare_and_set(r, [key], decide, what=f"request {request_id}")


def expired_ids(r: redis.Redis, now: datetime) -> list[str]:
    """Requests with a DM whose answer time is over."""
    return [m.decode() for m in r.zrangebyscore(keys.requests_expiring(), "-inf", now.timestamp())]


def expire(r: redis.Redis, request_id: str, now: datetime) -> PendingRequest | None:
    """pending → expired (with its audit entry); None when it was answered or expired already."""
    r.zrem(keys.requests_expiring(), request_id)

    def check(req: PendingRequest) -> None:
        if now < req.expires_at:
            raise RequestError("This request has not expired.")

    try:
        return _transition(r, request_id, now, check=check, new_state="expired",
                           write=lambda pipe, req: None, actor="expiry")
    except RequestError:
        return None
