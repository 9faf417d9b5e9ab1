"""A small client for Alertmanager's API v2 silences (`/api/v2/silences`, `/api/v2/silence/ID`).

Built on `requests` with urllib3's `Retry` for connection failures and 502/503/504 on
reads and deletes. A POST is never retried: creating a silence twice would make two.
Every failure becomes an `AlertmanagerError` whose str() is the sentence for the user;
the URL and status go to the log, never the credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bot.domain.alerts import parse_iso
from bot.domain.config import AlertmanagerConfig
from bot.domain.silences import Matcher

log = logging.getLogger("atbat.alertmanager")

TIMEOUT = (0.8, 1.5)  # connect, read: a view submission must be answered within 3 s


class AlertmanagerError(Exception):
    """Alertmanager could not do it; str() is the message for the user."""


@dataclass(frozen=True)
class Silence:
    """A silence as Alertmanager reports it."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: str  # active, pending or expired

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Silence:
        return cls(
            id=str(data["id"]),
            matchers=tuple(Matcher(str(m["name"]), str(m["value"]), bool(m.get("isRegex")),
                                   bool(m.get("isEqual", True))) for m in data["matchers"]),
            starts_at=parse_iso(_trim_nanos(data["startsAt"])),
            ends_at=parse_iso(_trim_nanos(data["endsAt"])),
            created_by=str(data.get("createdBy", "")), comment=str(data.get("comment", "")),
            state=str((data.get("status") or {}).get("state", "")),
        )


def _trim_nanos(value: str) -> str:
    """Go writes up to nine fractional digits; Python reads at most six."""
    value = value.replace("Z", "+00:00")
    if "." not in value:
        return value
    head, rest = value.split(".", 1)
    digits = "".join(ch for ch in rest if ch.isdigit())
    return f"{head}.{digits[:6]}{rest[len(digits):]}"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class Alertmanager:
    def __init__(self, config: AlertmanagerConfig, env: Mapping[str, str]) -> None:
        self.url = config.url
        self.session = requests.Session()
        retry = Retry(total=1, connect=1, read=0, backoff_factor=0.1,
                      status_forcelist=(502, 503, 504), allowed_methods=("GET", "DELETE"),
                      raise_on_status=False)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        auth = config.auth
        if auth is not None:
            secret = env.get(auth.secret_env, "")
            if not secret:
                raise AlertmanagerError(
                    f"atbat has no Alertmanager credentials: {auth.secret_env} is not set.")
            if auth.type == "basic":
                self.session.auth = (auth.username, secret)
            else:
                self.session.headers["Authorization"] = f"Bearer {secret}"

    def silence_url(self, silence_id: str) -> str:
        """The silence's page in Alertmanager's own UI."""
        return f"{self.url}/#/silences/{quote(silence_id, safe='')}"

    def create(self, matchers: tuple[Matcher, ...], starts_at: datetime, ends_at: datetime,
               created_by: str, comment: str, silence_id: str | None = None) -> str:
        """Create (or, with `silence_id`, update) a silence; returns its id."""
        body: dict[str, Any] = {
            "matchers": [m.to_api() for m in matchers], "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at), "createdBy": created_by, "comment": comment,
        }
        if silence_id:
            body["id"] = silence_id
        answer = self._call("POST", "/api/v2/silences", json=body)
        return str(answer["silenceID"])

    def get(self, silence_id: str) -> Silence | None:
        try:
            return Silence.from_api(self._call("GET", f"/api/v2/silence/{quote(silence_id)}"))
        except _NotFound:
            return None

    def list(self) -> list[Silence]:
        return [Silence.from_api(s) for s in self._call("GET", "/api/v2/silences")]

    def expire(self, silence_id: str) -> None:
        try:
            self._call("DELETE", f"/api/v2/silence/{quote(silence_id)}")
        except _NotFound:
            raise AlertmanagerError("Alertmanager does not know this silence any more.") from None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, self.url + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            log.warning("alertmanager unreachable method=%s path=%s error=%s", method, path,
                        type(exc).__name__)
            raise AlertmanagerError(
                f"Alertmanager at {self.url} cannot be reached right now "
                f"({type(exc).__name__}); nothing was changed.") from None
        if response.status_code == 404:
            raise _NotFound
        if response.status_code >= 400:
            reason = response.text.strip().replace("\n", " ")[:300]
            log.warning("alertmanager refused method=%s path=%s status=%d reason=%s", method,
                        path, response.status_code, reason)
            raise AlertmanagerError(f"Alertmanager answered {response.status_code}: "
                                    f"{reason or response.reason}; nothing was changed.")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise AlertmanagerError("Alertmanager answered something that is not JSON; "
                                    "is the URL right?") from None


class _NotFound(Exception):
    pass
