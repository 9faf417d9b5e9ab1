"""What the local phone providers received: pushes, SMS, e-mails and calls.

One `Phone` holds everything the Twilio-compatible, ntfy-compatible and SMTP
servers accepted, in arrival order, plus the faults a test asked for. Tests
and the sandbox's Phone panel read it; nothing here talks to atbat.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    sid: str
    to: str
    from_: str
    url: str  # where the call's instructions (TwiML) are fetched
    status: str = "queued"  # queued, ringing, in-progress, completed, failed
    said: list[str] = field(default_factory=list)
    gather_action: str | None = None  # where a keypress is posted, while the call waits for one
    digits: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"sid": self.sid, "to": self.to, "from": self.from_, "status": self.status,
                "said": list(self.said), "waiting_for_key": self.gather_action is not None,
                "digits": list(self.digits)}


@dataclass
class Fault:
    """Answer `status` to every request of a `kind` until `until` (monotonic seconds) or `count` runs out."""

    status: int
    until: float | None = None
    count: int | None = None

    def active(self) -> bool:
        if self.until is not None and time.monotonic() >= self.until:
            return False
        return self.count is None or self.count > 0

    def spend(self) -> None:
        if self.count is not None:
            self.count -= 1


class Phone:
    """Thread-safe record of deliveries, keyed by kind: push, sms, email, call."""

    def __init__(self, ring_seconds: float | None = None) -> None:
        self.lock = threading.RLock()
        # A call waiting for a key gives up after this long, as a real phone stops ringing
        # (None: it waits for ever, as tests want).
        self.ring_seconds = ring_seconds
        self.deliveries: list[dict[str, Any]] = []
        self.calls: dict[str, Call] = {}
        self.faults: dict[str, Fault] = {}
        self._ids = itertools.count(1)

    def new_sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            entry = {"kind": kind, "at": time.time(), **fields}
            self.deliveries.append(entry)
            return entry

    def received(self, kind: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(d) for d in self.deliveries
                    if (kind is None or d["kind"] == kind) and (to is None or d.get("to") == to)]

    def fail(self, kind: str, status: int = 500, *, seconds: float | None = None,
             count: int | None = None) -> None:
        """Make the next requests of `kind` (push, sms, call, email) fail with `status`."""
        with self.lock:
            until = time.monotonic() + seconds if seconds is not None else None
            self.faults[kind] = Fault(status=status, until=until, count=count)

    def heal(self, kind: str | None = None) -> None:
        with self.lock:
            if kind is None:
                self.faults.clear()
            else:
                self.faults.pop(kind, None)

    def fault_for(self, kind: str) -> int | None:
        """The status to fail this request with, spending one from a counted fault."""
        with self.lock:
            fault = self.faults.get(kind)
            if fault is None or not fault.active():
                self.faults.pop(kind, None)
                return None
            fault.spend()
            return fault.status

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"deliveries": [dict(d) for d in self.deliveries],
                    "calls": [c.to_dict() for c in self.calls.values()]}
