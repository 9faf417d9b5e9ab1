"""Paging a person: notification rules, urgency and working hours.

Pure Python, the clock is passed in. A person's rules say which contact
method is tried how long after they were first paged ("0m slack, 1m push,
3m call"); the team maps alert severities to high or low urgency, and low
urgency waits for the person's working hours, read in their own timezone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers

from bot.domain.alerts import (
    NO_CHANGE,
    AlertEvent,
    AlertGroup,
    AlertTransitionError,
    Change,
    Link,
    record_transition,
    resolve,
)
from bot.domain.escalation import PAGED_USER_LABEL
from bot.domain.timeparse import parse_duration

Method = Literal["slack", "push", "sms", "call", "email"]
Urgency = Literal["high", "low"]

METHODS: tuple[Method, ...] = ("slack", "push", "sms", "call", "email")
URGENCIES: tuple[Urgency, ...] = ("high", "low")
DEFAULT_RULES: Mapping[Urgency, str] = {"high": "0m slack, 1m push, 3m call", "low": "0m slack"}
DEFAULT_URGENCY: Mapping[Urgency, tuple[str, ...]] = {
    "high": ("critical", "error"),
    "low": ("warning", "info"),
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_STEP_RE = re.compile(r"(?P<after>\S+)\s+(?P<method>\S+)")


@dataclass(frozen=True)
class RuleStep:
    after: timedelta  # since the person was first paged for this alert
    method: Method


def parse_rule(text: str | Sequence[str]) -> tuple[RuleStep, ...]:
    """``"0m slack, 1m push, 3m call"`` (or a list of such steps) as ordered steps.

    Raises ValueError naming the step: an unknown method, a bad duration, or
    steps out of order are configuration mistakes a person must see.
    """
    words = [s.strip() for s in text.split(",")] if isinstance(text, str) else [str(s).strip() for s in text]
    if not any(words):
        raise ValueError("a notification rule needs at least one step, e.g. '0m slack, 1m push'")
    steps: list[RuleStep] = []
    for number, word in enumerate(words, start=1):
        steps.append(_parse_step(word, number))
    for number, (before, after) in enumerate(zip(steps, steps[1:], strict=False), start=2):
        if after.after < before.after:
            raise ValueError(f"step {number} ({after.method} after {_short(after.after)}) "
                             f"comes before the step ahead of it; list steps in time order")
    return tuple(steps)


def _parse_step(word: str, number: int) -> RuleStep:
    m = _STEP_RE.fullmatch(word)
    if m is None:
        raise ValueError(f"step {number} ({word!r}): expected 'DELAY METHOD', e.g. '1m push'")
    delay, method = m["after"].lower(), m["method"].lower()
    if method not in METHODS:
        raise ValueError(f"step {number}: unknown method {method!r}; expected one of {', '.join(METHODS)}")
    try:
        after = timedelta(0) if delay in ("0", "0m", "0s") else parse_duration(delay)
    except ValueError as exc:
        raise ValueError(f"step {number}: {exc}") from None
    return RuleStep(after=after, method=method)  # type: ignore[arg-type]


def _short(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes}m" if minutes < 60 or minutes % 60 else f"{minutes // 60}h"


def steps_due(steps: Sequence[RuleStep], paged_at: datetime, now: datetime) -> list[int]:
    """Indexes of the steps whose time has come (``paged_at + after <= now``)."""
    return [i for i, step in enumerate(steps) if paged_at + step.after <= now]


def next_step_at(steps: Sequence[RuleStep], paged_at: datetime, done: int) -> datetime | None:
    """When step number `done` (0-based, the first not yet sent) is due; None when all are sent."""
    return paged_at + steps[done].after if done < len(steps) else None


def urgency_of(severity: str, mapping: Mapping[Urgency, Iterable[str]] = DEFAULT_URGENCY) -> Urgency:
    """The urgency a severity maps to; a severity the team did not map pages as high."""
    for urgency in ("low", "high"):
        if severity in tuple(mapping.get(urgency, ())):  # type: ignore[call-overload]
            return urgency  # type: ignore[return-value]
    return "high"


@dataclass(frozen=True)
class WorkingHours:
    """When a person takes low-urgency pages: some weekdays, a wall-clock span, their timezone."""

    days: frozenset[int] = frozenset(range(5))  # Monday=0 .. Sunday=6
    start: time = time(9, 0)
    end: time = time(18, 0)

    def __post_init__(self) -> None:
        if not self.days or any(not 0 <= d <= 6 for d in self.days):
            raise ValueError("working hours need at least one weekday, Monday=0 .. Sunday=6")
        if self.end <= self.start:
            raise ValueError(f"working hours end ({self.end:%H:%M}) must be after their start "
                             f"({self.start:%H:%M})")

    def contains(self, instant: datetime, tz: str) -> bool:
        local = instant.astimezone(ZoneInfo(tz))
        return local.weekday() in self.days and self.start <= local.time().replace(tzinfo=None) < self.end

    def next_start(self, instant: datetime, tz: str) -> datetime:
        """The first instant at or after `instant` inside working hours (itself when inside).

        Wall-clock times are read in `tz` on each day, so 09:00 stays 09:00
        across a daylight-saving switch; a start that falls in a skipped hour
        moves forward by the length of the skip.
        """
        if self.contains(instant, tz):
            return instant
        zone = ZoneInfo(tz)
        local_day = instant.astimezone(zone).date()
        for offset in range(8):
            day = local_day + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            start = _wall_clock(day, self.start, zone)
            if start >= instant:
                return start
        raise AssertionError("a week always holds a working day")  # days is never empty


def _wall_clock(day: object, at: time, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, at)  # type: ignore[arg-type]
    aware = naive.replace(tzinfo=zone)
    # A wall time inside a skipped hour does not round-trip; it moves forward by the skip.
    round_trip = aware.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != naive:
        return aware.astimezone(ZoneInfo("UTC")).astimezone(zone)
    return aware


def parse_working_hours(raw: Mapping[str, object]) -> WorkingHours:
    """``{days: [mon, ..., fri], from: "09:00", to: "18:00"}`` with every key optional."""
    defaults = WorkingHours()
    days = raw.get("days")
    day_numbers = defaults.days
    if days is not None:
        if not isinstance(days, list) or not days:
            raise ValueError("days: expected a list of weekdays, e.g. [mon, tue, wed, thu, fri]")
        unknown = [d for d in days if str(d).lower() not in WEEKDAYS]
        if unknown:
            raise ValueError(f"days: unknown weekday {unknown[0]!r}; expected one of {', '.join(WEEKDAYS)}")
        day_numbers = frozenset(WEEKDAYS.index(str(d).lower()) for d in days)
    return WorkingHours(days=day_numbers, start=_clock(raw.get("from"), defaults.start, "from"),
                        end=_clock(raw.get("to"), defaults.end, "to"))


def _clock(value: object, default: time, key: str) -> time:
    if value is None:
        return default
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f'{key}: expected a time of day like "09:00", got {value!r}') from None


def mask_phone(e164: str) -> str:
    """``+4915112345689`` as ``…89``: enough to tell numbers apart, never the number."""
    digits = re.sub(r"\D", "", e164)
    return f"…{digits[-2:]}" if len(digits) >= 2 else "…"


@dataclass(frozen=True)
class ContactMethod:
    """One way to reach a person: `slack`, or a push/e-mail/SMS Apprise URL, an address or a number."""

    method: Method
    target: str  # E.164 number for call and plain sms; an address or Apprise URL otherwise
    verified: bool = False  # passed a Send test (methods written in the config count as verified)
    from_config: bool = field(default=False, compare=False)  # under `people:` in atbat.yml

    def shown(self) -> str:
        """How atbat shows it back: never the whole number, address or URL."""
        if self.method == "slack":
            return "Slack DM"
        if "://" in self.target:
            scheme = self.target.split("://", 1)[0]
            return f"{self.method} via {scheme}"
        if self.method in ("call", "sms"):
            return f"{self.method} {mask_phone(self.target)}"
        local, _, domain = self.target.partition("@")
        return f"{self.method} {local[:1]}…@{domain}"


def normalise_phone(raw: str, region: str | None = None) -> str:
    """A phone number in E.164 (``+4915112345689``), or ValueError saying why it is not one.

    Without a leading ``+`` the number is read in `region` (``DE``, ``US``);
    with neither it cannot be placed and is refused.
    """
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        hint = "" if text.startswith("+") or region else " (write it with its country code, e.g. +49 …)"
        raise ValueError(f"{text!r} is not a phone number{hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class PagingPolicy:
    """A team's defaults for paging its people."""

    urgency: Mapping[Urgency, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_URGENCY))
    rules: Mapping[Urgency, tuple[RuleStep, ...]] = field(
        default_factory=lambda: {u: parse_rule(text) for u, text in DEFAULT_RULES.items()})
    working_hours: WorkingHours = WorkingHours()
    ack_timeout: timedelta = timedelta(hours=4)


@dataclass(frozen=True)
class Person:
    """What a person set up for being paged; anything unset falls back to their team's policy."""

    user: str
    contacts: tuple[ContactMethod, ...] = ()
    rules: Mapping[Urgency, tuple[RuleStep, ...]] = field(default_factory=dict)
    working_hours: WorkingHours | None = None
    timezone: str | None = None

    def contact(self, method: Method) -> ContactMethod | None:
        if method == "slack":
            return ContactMethod("slack", self.user, verified=True)
        return next((c for c in self.contacts if c.method == method and c.verified), None)

    def steps(self, urgency: Urgency, policy: PagingPolicy) -> tuple[RuleStep, ...]:
        """The person's steps for an urgency, dropping methods they have no verified contact for."""
        steps = self.rules.get(urgency) or policy.rules.get(urgency) or ()
        usable = tuple(s for s in steps if self.contact(s.method) is not None)
        return usable or (RuleStep(timedelta(0), "slack"),)


@dataclass(frozen=True)
class Page:
    """One person paged for one occurrence of an alert group, following their rule steps."""

    page_id: str
    group_key: str
    occurrence: int
    team: str
    user: str
    urgency: Urgency
    starts_at: datetime  # the rule's 0m; later than the escalation step when low urgency waits
    steps: tuple[RuleStep, ...]
    position: int = 0  # the escalation step (in the flattened plan) that paged this person
    notify: str = ""  # what that step notifies: a layer name or "managers"

    def step_at(self, index: int) -> datetime:
        return self.starts_at + self.steps[index].after

    def to_dict(self) -> dict[str, object]:
        return {"page_id": self.page_id, "group_key": self.group_key, "occurrence": self.occurrence,
                "team": self.team, "user": self.user, "urgency": self.urgency,
                "starts_at": self.starts_at.isoformat(),
                "steps": [[int(s.after.total_seconds()), s.method] for s in self.steps],
                "position": self.position, "notify": self.notify}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Page:
        steps = tuple(RuleStep(timedelta(seconds=int(after)), method)  # type: ignore[arg-type]
                      for after, method in data["steps"])  # type: ignore[union-attr]
        return cls(page_id=str(data["page_id"]), group_key=str(data["group_key"]),
                   occurrence=int(data["occurrence"]), team=str(data["team"]),  # type: ignore[call-overload]
                   user=str(data["user"]), urgency=data["urgency"],  # type: ignore[arg-type]
                   starts_at=datetime.fromisoformat(str(data["starts_at"])), steps=steps,
                   position=int(data.get("position", 0)),  # type: ignore[call-overload]
                   notify=str(data.get("notify", "")))


RETRY_DELAYS = (timedelta(seconds=15), timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2),
                timedelta(minutes=5))


def retry_delay(attempt: int) -> timedelta:
    """How long to wait before attempt number `attempt + 1` of an owed send (capped at 5 minutes)."""
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]


_UNSPEAKABLE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def plain(text: str, limit: int) -> str:
    """Text for a push, SMS, e-mail or a voice: no control or direction characters, at most `limit`."""
    cleaned = " ".join(_UNSPEAKABLE.sub(" ", text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def page_note(group: AlertGroup | None, occurrence: int, actor: str, text: str,
              now: datetime) -> tuple[AlertGroup | None, Change]:
    """One line in the alert's thread about a page attempt ("Push to @bob: accepted by ntfy")."""
    if group is None or group.occurrence != occurrence:
        return group, NO_CHANGE
    return record_transition(group, now, actor, "page", text), Change("notified", text)


def still_owed(group: AlertGroup | None, page: Page) -> bool:
    """A page is owed while its occurrence is open, nobody acknowledged it, and paging is not
    held back (a snooze or a maintenance window: the resume pages the step anew)."""
    return (group is not None and group.occurrence == page.occurrence
            and group.state == "triggered" and group.paused is None)


SEVERITY_OF_SEV = {"sev1": "critical", "sev2": "error", "sev3": "warning", "sev4": "info"}
PAGES_PER_HOUR = 10  # per sender, from Slack


def slack_page_event(team: str, sender: str, target: str | None, severity: str, message: str,
                     channel: str, dedup_key: str, *, description: str = "",
                     link: str | None = None) -> AlertEvent:
    """The alert a page sent from Slack opens: its own group, paged by the team's policy or one person."""
    details: dict[str, str] = {"sent_by": sender}
    if channel:
        details["sent_from"] = channel
    if target:
        details[PAGED_USER_LABEL] = target
    if description:
        details["description"] = description[:3000]
    title = plain(message, 300)
    links = (Link("The message paged about", link),) if link else ()
    return AlertEvent(routing_key="", action="trigger", dedup_key=dedup_key, summary=title,
                      source_name="slack", severity=severity,  # type: ignore[arg-type]
                      custom_details=details, client="Slack", team=team, source="slack", links=links)


# --- the acknowledge timeout -----------------------------------------------------------------

STILL_ON_IT_WAIT = timedelta(minutes=10)  # no answer to "Still on it?" within this re-opens the alert


def ack_outstanding(group: AlertGroup | None, occurrence: int, acked_at: datetime) -> bool:
    """The acknowledgement a timeout was set for is still the group's current one."""
    return (group is not None and group.occurrence == occurrence and group.state == "acknowledged"
            and group.acked_at == acked_at)


def still_on_it(group: AlertGroup | None, occurrence: int, acked_at: datetime, user: str,
                now: datetime) -> tuple[AlertGroup, Change]:
    """The acknowledger is still on it: the acknowledgement counts from now (a new timeout)."""
    if not ack_outstanding(group, occurrence, acked_at):
        raise AlertTransitionError("This alert is no longer acknowledged as it was when atbat asked.")
    assert group is not None
    text = f"Still on it: <@{user}>"
    return record_transition(group, now, user, "acknowledged", text, acked_at=now), \
        Change("acknowledged", text, rerender=True)


def reopen(group: AlertGroup | None, occurrence: int, acked_at: datetime, actor: str, why: str,
           now: datetime) -> tuple[AlertGroup, Change]:
    """Back to triggered with escalation from the first step (unacknowledged, or nobody answered)."""
    if not ack_outstanding(group, occurrence, acked_at):
        raise AlertTransitionError("This alert is no longer acknowledged as it was when atbat asked.")
    assert group is not None
    updates = {"state": "triggered", "acked_by": None, "acked_at": None, "escalation_step": -1,
               "escalation_anchor": now, "escalation_anchor_pos": 0,
               "escalation_pass": group.escalation_pass + 1, "escalation_requested_by": None}
    return record_transition(group, now, actor, "reopened", why, **updates), \
        Change("resumed", why, rerender=True)


def resolve_acknowledged(group: AlertGroup | None, occurrence: int, acked_at: datetime, user: str,
                         now: datetime) -> tuple[AlertGroup, Change]:
    """Resolve from the "Still on it?" question, if the acknowledgement it asked about still stands."""
    if not ack_outstanding(group, occurrence, acked_at):
        raise AlertTransitionError("This alert is no longer acknowledged as it was when atbat asked.")
    assert group is not None
    return resolve(group, user, now)


def contact_target(method: str, target: str, apprise_knows: Callable[[str], bool]) -> str:
    """A contact as stored: E.164 for a number, a known Apprise URL, or an e-mail address.

    ValueError says what was expected; it never repeats a URL (it may hold a token).
    `apprise_knows` tells whether Apprise has a plugin for a URL's scheme.
    """
    text = target.strip()
    if method not in METHODS or method == "slack":
        raise ValueError(f"unknown method {method!r}; expected one of push, sms, call, email")
    if "://" in text:
        if method == "call":
            raise ValueError("expected a phone number like +49 151 12345678 (calls go through Twilio)")
        if not apprise_knows(text):
            scheme = text.split("://", 1)[0][:20]
            raise ValueError(f"expected an Apprise URL, but Apprise does not know the scheme {scheme}://")
        return text
    if method in ("call", "sms"):
        try:
            return normalise_phone(text)
        except ValueError as exc:
            raise ValueError(f"expected a phone number with its country code: {exc}") from None
    if method == "email" and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        return text
    raise ValueError(f"expected an Apprise URL like ntfys://ntfy.example.com/topic for {method}")


def person_to_dict(person: Person) -> dict[str, object]:
    return {"contacts": [{"method": c.method, "target": c.target, "verified": c.verified}
                         for c in person.contacts],
            "rules": {u: [f"{int(s.after.total_seconds() // 60)}m {s.method}" for s in steps]
                      for u, steps in person.rules.items()}}


def person_from_dict(user: str, data: Mapping[str, object]) -> Person:
    contacts = tuple(ContactMethod(c["method"], c["target"], bool(c.get("verified")))  # type: ignore[index]
                     for c in data.get("contacts", ()))  # type: ignore[union-attr]
    rules = {u: parse_rule(list(steps)) for u, steps in (data.get("rules") or {}).items()}  # type: ignore[union-attr]
    return Person(user=user, contacts=contacts, rules=rules)  # type: ignore[arg-type]


def with_contact(person: Person, method: Method, target: str) -> Person:
    """`person` with a new (not yet tested) contact for `method`, replacing the old one."""
    kept = tuple(c for c in person.contacts if c.method != method)
    return replace(person, contacts=(*kept, ContactMethod(method, target, verified=False)))


def without_contact(person: Person, method: Method) -> Person:
    return replace(person, contacts=tuple(c for c in person.contacts if c.method != method))


def verified(person: Person, method: Method, target: str) -> Person:
    """The contact passed its Send test; only the very target tested is marked."""
    return replace(person, contacts=tuple(
        replace(c, verified=True) if c.method == method and c.target == target else c
        for c in person.contacts))


def merged(from_config: Person, from_slack: Person | None) -> Person:
    """What a person set in Slack wins over the config for the same method or urgency."""
    if from_slack is None:
        return from_config
    methods = {c.method for c in from_slack.contacts}
    contacts = (*(c for c in from_config.contacts if c.method not in methods), *from_slack.contacts)
    return replace(from_config, contacts=contacts, rules={**from_config.rules, **from_slack.rules})
