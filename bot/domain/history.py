"""On-call history: the events reports are computed from, as plain values.

Pure Python, the clock is passed in. Each event is one entry of a per-team,
per-kind Redis stream (see `bot.store.history`); its fields are short strings.
Alert rules are named by a digest of team, alertname and generatorURL so a page
entry stays small; the rule's names are kept once per team beside the streams.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from bot.domain.alerts import SOURCE_ACTOR, AlertGroup, Change

Kind = Literal["page", "ack", "resolve", "escalation", "incident", "run", "swap", "override",
               "cover", "feedback", "note", "selfheal", "fix", "shift"]
# `fix`: a person's run from an alert and whether the alert resolved within 10 minutes of it
# (bot.domain.graduation).
KINDS: tuple[Kind, ...] = ("page", "ack", "resolve", "escalation", "incident", "run", "swap",
                           "override", "cover", "feedback", "note", "selfheal", "fix", "shift")
# `shift`: someone came on call for a layer (written once per handoff, when it is announced),
# so reports count hours from what happened, not from today's rotations.
# Audit actions whose noun is one of these are history too (the audit names the team).
AUDITED_KINDS: tuple[Kind, ...] = ("incident", "run", "swap", "override", "cover")
DEFAULT_HISTORY_DAYS = 400
PAGE_METHOD = "slack"  # a DM from the bot; other methods come with paging providers


class Event(NamedTuple):
    """One history entry (a tuple: reports read tens of thousands of them)."""

    kind: Kind
    at: datetime
    fields: Mapping[str, str] = {}

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


@dataclass(frozen=True)
class Rule:
    """An alert rule: team plus alertname, and the generatorURL where there is one."""

    team: str
    alertname: str
    generator_url: str = ""

    @property
    def ident(self) -> str:
        raw = f"{self.team}\0{self.alertname}\0{self.generator_url}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return self.alertname


@dataclass(frozen=True)
class SleepHours:
    """The night, in each person's own timezone: [start, end), wrapping midnight when start > end."""

    start: time = time(22, 0)
    end: time = time(7, 0)

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def rule_of(group: AlertGroup) -> Rule:
    generators = sorted({a.generator_url for a in group.alerts.values() if a.generator_url})
    alertname = group.labels.get("alertname") or group.title or "alert"
    return Rule(team=group.team or "", alertname=alertname,
                generator_url=generators[0] if generators else "")


def local_time(at: datetime, tz: str) -> datetime:
    return at.astimezone(ZoneInfo(tz))


def in_sleep_hours(at: datetime, tz: str, hours: SleepHours) -> bool:
    return hours.contains(local_time(at, tz).time().replace(tzinfo=None))


def _seconds(delta_from: datetime | None, to: datetime | None) -> str:
    if delta_from is None or to is None:
        return ""
    return f"{max(0.0, (to - delta_from).total_seconds()):.0f}"


def page(group: AlertGroup, user: str, tz: str, at: datetime, step: int,
         method: str = PAGE_METHOD) -> Event:
    """A person paged for a group: who, how, when, and that instant on their own clock."""
    local = local_time(at, tz).isoformat(timespec="minutes")
    return Event("page", at, {
        "user": user, "method": method, "tz": tz, "local": local, "rule": rule_of(group).ident,
        "group": group.key, "occ": str(group.occurrence), "step": str(step),
    })


def from_alert_change(before: AlertGroup | None, after: AlertGroup, change: Change,
                      now: datetime) -> Event | None:
    """The history entry an alert transition deserves (Ack, resolve, escalation), or None."""
    if change.kind == "acknowledged":
        return Event("ack", now, {**_alert_fields(after), "user": after.acked_by or SOURCE_ACTOR,
                                  "tta": _seconds(after.created_at, after.acked_at or now)})
    if change.kind == "resolved" or (change.kind == "alerts" and before is not None
                                     and before.is_open and not after.is_open):
        return Event("resolve", now, {**_alert_fields(after),
                                      "user": after.resolved_by or SOURCE_ACTOR,
                                      "ttr": _seconds(after.created_at, after.resolved_at or now)})
    if change.kind in ("escalate", "notified"):
        actor = after.escalation_requested_by if change.kind == "escalate" else ""
        return Event("escalation", now, {**_alert_fields(after),
                                         "step": str(after.escalation_step),
                                         "by": actor or "", "what": change.kind})
    return None


def _alert_fields(group: AlertGroup) -> dict[str, str]:
    return {"rule": rule_of(group).ident, "group": group.key, "occ": str(group.occurrence)}


def from_audit(action: str, actor: str, at: datetime,
               details: Mapping[str, object]) -> tuple[str, Event] | None:
    """(team, event) for an audit entry about incidents, runs, swaps, overrides or covers."""
    noun, _, verb = action.partition(".")
    team = details.get("team")
    if noun not in AUDITED_KINDS or not isinstance(team, str) or not team:
        return None
    fields = {"action": verb, "user": actor}
    for name in ("incident", "run", "runbook", "request", "severity", "state"):
        value = details.get(name)
        if isinstance(value, str) and value:
            fields[name] = value
    return team, Event(noun, at, fields)  # type: ignore[arg-type]


def self_healing(group: AlertGroup, rule: str, runbook: str, outcome: str, at: datetime,
                 run: str = "") -> Event:
    """How self-healing ended for one alert occurrence: `outcome` "healed" is a page saved
    (the alert resolved before anyone was paged); "paged" and "refused" are not."""
    return Event("selfheal", at, {
        "rule": rule, "runbook": runbook, "outcome": outcome, "run": run,
        "alert_rule": rule_of(group).ident, "group": group.key, "occ": str(group.occurrence),
        "seconds": _seconds(group.created_at, at)})


def shift(layer: str, user: str, start: datetime, end: datetime, at: datetime) -> Event:
    """A handoff as it happened: `user` on call for `layer` from `start`, planned until `end`."""
    return Event("shift", at, {"layer": layer, "user": user, "start": start.isoformat(),
                               "end": end.isoformat()})


def note(user: str, text: str, at: datetime) -> Event:
    return Event("note", at, {"user": user, "text": text})


def ensure_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
