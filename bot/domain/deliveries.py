"""An owed delivery: one Slack call that is not done until Slack accepted it.

What is sent (a Web API method and its arguments, a `response_url` post, or a
file uploaded through Slack's external upload flow),
when the next attempt is due, and the follow-ups: a job told Slack's answer
once it is accepted, or why it never will be (refused for good, or expired
before Slack came back). Pages to people are owed the same way by
`bot.domain.paging` (several steps and providers per page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.paging import retry_delay

# An owed delivery this late for its attempt lost its job (a worker died, Redis lost it).
OVERDUE = timedelta(seconds=60)
RESPONSE_URL = "response_url"  # the method of a post to a slash command's or a click's response_url
# The method of a file shared through Slack's external upload flow (Sender.upload_file); its
# arguments: channel, thread_ts, filename, title and the content in base64.
FILE_UPLOAD = "file_upload"

# Slack answers these with HTTP 200 and ok: false, yet they pass; everything else it refuses
# with ok: false stays refused (channel_not_found, account_inactive, invalid_blocks ...).
PASSING_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                            "request_timeout"})


def retryable(error: str) -> bool:
    """Is a send refused with `error` worth trying again later? The sender says "gave up ..."
    after its own retries of 429, 5xx and connection errors: Slack is away, not refusing."""
    return error.startswith("gave up") or error in PASSING_ERRORS


@dataclass(frozen=True)
class Delivery:
    id: str  # "<kind>:<ident>": the ident makes owing it twice a no-op
    kind: str
    method: str
    args: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None = None
    attempts: int = 0
    # Jobs (dotted path, then arguments) run after the outcome: Slack's answer
    # ({"channel", "ts"}) or the reason it failed for good is appended.
    on_accepted: tuple[Any, ...] = ()
    on_failed: tuple[Any, ...] = ()
    nonce: str = ""  # which version of a replaceable delivery (a chat.update) this is
    state: str = "owed"  # owed | done | failed | expired | superseded
    keep: bool = True  # kept once done (without its arguments), as the claim of its id
    # Wanted only while this alert occurrence waits for someone: (group key, occurrence).
    for_alert: tuple[str, int] | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def next_attempt(self, now: datetime) -> datetime:
        """When to try again after attempt number `attempts` failed (15 s, doubling to 5 min)."""
        return now + retry_delay(self.attempts)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "method": self.method, "args": self.args,
                "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "attempts": self.attempts, "on_accepted": list(self.on_accepted),
                "on_failed": list(self.on_failed), "nonce": self.nonce, "state": self.state,
                "keep": self.keep, "for_alert": list(self.for_alert) if self.for_alert else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        expires = data.get("expires_at")
        return cls(id=str(data["id"]), kind=str(data["kind"]), method=str(data["method"]),
                   args=dict(data["args"]), created_at=datetime.fromisoformat(data["created_at"]),
                   expires_at=datetime.fromisoformat(expires) if expires else None,
                   attempts=int(data.get("attempts", 0)),
                   on_accepted=tuple(data.get("on_accepted") or ()),
                   on_failed=tuple(data.get("on_failed") or ()), nonce=str(data.get("nonce", "")),
                   state=str(data.get("state", "owed")), keep=bool(data.get("keep", True)),
                   for_alert=(str(data["for_alert"][0]), int(data["for_alert"][1]))
                   if data.get("for_alert") else None)
