"""Incidents: channel names, severities, and the timeline state machine.

Pure Python: the clock is passed in, nothing here talks to Slack or Redis.
Every transition returns a new ``Incident`` with one more timeline entry and
``version`` bumped, so storage can compare-and-set on the version it read.

Free text (titles, updates, notes) is stored as the user meant it, unescaped;
renderers escape it for Slack.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

CHANNEL_PREFIX = "inc-"
CHANNEL_MAX = 80  # Slack's limit on channel names
TOPIC_MAX = 250  # Slack's limit on channel topics
TITLE_MAX = 250
TEXT_MAX = 3000  # one Slack section; longer updates belong in a thread or a doc
DEFAULT_REMINDER_INTERVAL = timedelta(minutes=30)
REMINDED_SEVERITIES = (1, 2)

INVESTIGATING = "investigating"
IDENTIFIED = "identified"
MONITORING = "monitoring"
RESOLVED = "resolved"
OPEN_STATUSES = (INVESTIGATING, IDENTIFIED, MONITORING)

ENTRY_KINDS = (
    "declared",
    "update",
    "note",
    "severity",
    "lead",
    "status",
    "alert",
    "run",
    "resolved",
    "reminder",
)

BOT_AUTHOR = ""  # timeline entries the bot writes itself (reminders)


class IncidentError(ValueError):
    """A refusal the user caused; ``str(err)`` is the message to show them."""

    @property
    def message(self) -> str:
        return str(self)


class SeverityError(IncidentError):
    """Text that is not a severity."""


class NoChange(IncidentError):
    """The requested change is already in place; nothing was recorded."""


# ---------------------------------------------------------------------------
# Channel names


# Letters NFKD leaves alone but that have an obvious ASCII spelling.
_TRANSLITERATE = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"}
)
_NOT_ALLOWED = re.compile(r"[^a-z0-9_]+")
_DASHES = re.compile(r"-{2,}")
FALLBACK_SLUG = "incident"


def slugify(title: str) -> str:
    """Lowercase ASCII slug of ``title`` (``a-z0-9_-``); may be empty."""
    text = title.casefold().translate(_TRANSLITERATE)  # casefold turns ß into ss
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    # Anything left that is not allowed (punctuation, emoji, other scripts)
    # separates words.
    text = _NOT_ALLOWED.sub("-", text)
    return _DASHES.sub("-", text).strip("-")


def channel_name(title: str, day: date, suffix: int | None = None) -> str:
    """``inc-YYYYMMDD-slug[-N]``, at most 80 characters including the suffix.

    ``suffix`` (2, 3, ...) is for retrying after Slack answers ``name_taken``.
    """
    prefix = f"{CHANNEL_PREFIX}{day:%Y%m%d}-"
    tail = ""
    if suffix is not None:
        if suffix < 1:
            raise ValueError(f"channel name suffix must be positive, got {suffix}")
        tail = f"-{suffix}"
    room = CHANNEL_MAX - len(prefix) - len(tail)
    if room < len(FALLBACK_SLUG):
        raise ValueError(f"channel name suffix {suffix} is too long")
    slug = slugify(title)[:room].strip("-") or FALLBACK_SLUG
    return f"{prefix}{slug}{tail}"


# ---------------------------------------------------------------------------
# Severities, statuses, people

_SEVERITY = re.compile(r"^(?:sev[-\s]?)?([1-4])$")


def parse_severity(text: str | int) -> int:
    """``sev1``..``sev4``, ``SEV2``, ``sev-2``, ``1``..``4`` -> 1..4."""
    match = _SEVERITY.match(str(text).strip().lower())
    if match is None:
        raise SeverityError(f"Unknown severity `{text}`: use sev1 (most severe), sev2, sev3 or sev4.")
    return int(match.group(1))


def severity_label(severity: int) -> str:
    return f"SEV{severity}"


def parse_status(text: str) -> str:
    """An open status by name; resolving has its own transition."""
    status = text.strip().lower()
    if status not in OPEN_STATUSES:
        choices = ", ".join(OPEN_STATUSES)
        raise IncidentError(f"Unknown status `{text}`: use {choices} (or resolve).")
    return status


_USER = re.compile(r"^<?@?([UW][A-Z0-9]{2,})(?:\|[^>]*)?>?$")


def parse_user_id(text: str) -> str:
    """A Slack user id from ``U0ALICE``, ``<@U0ALICE>`` or ``<@U0ALICE|alice>``."""
    match = _USER.match(text.strip())
    if match is None:
        raise IncidentError(f"`{text}` is not a Slack user: mention them, like @alice.")
    return match.group(1)


# ---------------------------------------------------------------------------
# Data


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("incident times must be timezone-aware")
    return moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else _utc(datetime.fromisoformat(text))


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    author: str  # Slack user id; BOT_AUTHOR for the bot itself
    kind: str  # one of ENTRY_KINDS
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "author": self.author,
            "kind": self.kind,
            "text": self.text,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TimelineEntry:
        return cls(
            at=_from_iso(raw["at"]),
            author=raw.get("author", BOT_AUTHOR),
            kind=raw["kind"],
            text=raw.get("text", ""),
            data=dict(raw.get("data") or {}),
        )


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    severity: int
    status: str
    lead: str
    team: str
    requester: str
    created_at: datetime
    channel_id: str = ""
    channel_name: str = ""
    resolved_at: datetime | None = None
    summary: str = ""
    alert_keys: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    last_update_at: datetime | None = None
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status != RESOLVED

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "lead": self.lead,
            "team": self.team,
            "requester": self.requester,
            "created_at": _iso(self.created_at),
            "channel_id": self.channel_id,
            "channel_name": self.channel_name,
            "resolved_at": _iso(self.resolved_at),
            "summary": self.summary,
            "alert_keys": list(self.alert_keys),
            "runs": list(self.runs),
            "timeline": [entry.to_dict() for entry in self.timeline],
            "last_update_at": _iso(self.last_update_at),
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Incident:
        return cls(
            id=raw["id"],
            title=raw["title"],
            severity=int(raw["severity"]),
            status=raw["status"],
            lead=raw["lead"],
            team=raw.get("team", ""),
            requester=raw.get("requester", ""),
            created_at=_from_iso(raw["created_at"]),
            channel_id=raw.get("channel_id", ""),
            channel_name=raw.get("channel_name", ""),
            resolved_at=_from_iso(raw.get("resolved_at")),
            summary=raw.get("summary", ""),
            alert_keys=tuple(raw.get("alert_keys") or ()),
            runs=tuple(raw.get("runs") or ()),
            timeline=tuple(TimelineEntry.from_dict(e) for e in raw.get("timeline") or ()),
            last_update_at=_from_iso(raw.get("last_update_at")),
            version=int(raw.get("version", 0)),
        )


# ---------------------------------------------------------------------------
# Transitions


def _clean_text(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise IncidentError(f"The {what} is empty: write what happened.")
    if len(text) > TEXT_MAX:
        raise IncidentError(f"The {what} is {len(text)} characters; keep it under {TEXT_MAX}.")
    return text


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise IncidentError("Give the incident a title: `/oncall incident TITLE [sev1..sev4]`.")
    if len(title) > TITLE_MAX:
        raise IncidentError(
            f"The title is {len(title)} characters; keep it under {TITLE_MAX} and put details in an update."
        )
    return title


def _require_open(inc: Incident) -> None:
    if not inc.is_open:
        when = inc.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if inc.resolved_at else "?"
        raise IncidentError(f"This incident was already resolved at {when}; it cannot change.")


def _append(inc: Incident, entry: TimelineEntry, **changes: Any) -> Incident:
    return replace(
        inc,
        timeline=(*inc.timeline, entry),
        version=inc.version + 1,
        **changes,
    )


def declare(
    id: str,
    title: str,
    severity: int | str,
    team: str,
    requester: str,
    lead: str,
    now: datetime,
    alert_key: str | None = None,
) -> Incident:
    """A new incident; its channel is attached once Slack has created it."""
    now = _utc(now)
    title = _clean_title(title)
    sev = parse_severity(severity)
    lead = parse_user_id(lead)
    declared = TimelineEntry(
        at=now,
        author=requester,
        kind="declared",
        text=f"Declared {severity_label(sev)}: {title}",
        data={"severity": sev, "lead": lead},
    )
    inc = Incident(
        id=id,
        title=title,
        severity=sev,
        status=INVESTIGATING,
        lead=lead,
        team=team,
        requester=requester,
        created_at=now,
        channel_name=channel_name(title, now.date()),
        timeline=(declared,),
        last_update_at=now,
        version=1,
    )
    if alert_key:
        inc = link_alert(inc, requester, alert_key, now)
    return inc


def attach_channel(inc: Incident, channel_id: str, name: str) -> Incident:
    """Record the channel Slack created (its name may carry a ``-N`` suffix)."""
    return replace(inc, channel_id=channel_id, channel_name=name, version=inc.version + 1)


def change_status(inc: Incident, author: str, status: str, now: datetime) -> Incident:
    _require_open(inc)
    status = parse_status(status)
    if status == inc.status:
        raise NoChange(f"The status is already {status}.")
    entry = TimelineEntry(
        at=_utc(now),
        author=author,
        kind="status",
        text=f"Status: {inc.status.capitalize()} → {status.capitalize()}",
        data={"from": inc.status, "to": status},
    )
    return _append(inc, entry, status=status)


def post_update(inc: Incident, author: str, text: str, now: datetime, status: str | None = None) -> Incident:
    """A public update; it resets the update reminder. ``status`` may change too."""
    _require_open(inc)
    text = _clean_text(text, "update")
    now = _utc(now)
    if status is not None and parse_status(status) != inc.status:
        inc = change_status(inc, author, status, now)
    entry = TimelineEntry(at=now, author=author, kind="update", text=text)
    return _append(inc, entry, last_update_at=now)


def add_note(inc: Incident, author: str, text: str, now: datetime) -> Incident:
    """A note for the timeline; unlike an update it does not reset the reminder."""
    _require_open(inc)
    entry = TimelineEntry(at=_utc(now), author=author, kind="note", text=_clean_text(text, "note"))
    return _append(inc, entry)


def change_severity(inc: Incident, author: str, severity: int | str, now: datetime) -> Incident:
    _require_open(inc)
    sev = parse_severity(severity)
    if sev == inc.severity:
        raise NoChange(f"The incident is already {severity_label(sev)}.")
    entry = TimelineEntry(
        at=_utc(now),
        author=author,
        kind="severity",
        text=f"Severity: {severity_label(inc.severity)} → {severity_label(sev)}",
        data={"from": inc.severity, "to": sev},
    )
    return _append(inc, entry, severity=sev)


def change_lead(inc: Incident, author: str, lead: str, now: datetime) -> Incident:
    _require_open(inc)
    lead = parse_user_id(lead)
    if lead == inc.lead:
        raise NoChange(f"<@{lead}> is already the lead.")
    entry = TimelineEntry(
        at=_utc(now),
        author=author,
        kind="lead",
        text=f"Lead: <@{inc.lead}> → <@{lead}>",
        data={"from": inc.lead, "to": lead},
    )
    return _append(inc, entry, lead=lead)


def resolve(inc: Incident, author: str, summary: str, now: datetime) -> Incident:
    _require_open(inc)
    now = _utc(now)
    summary = summary.strip()
    if len(summary) > TEXT_MAX:
        raise IncidentError(f"The summary is {len(summary)} characters; keep it under {TEXT_MAX}.")
    entry = TimelineEntry(
        at=now,
        author=author,
        kind="resolved",
        text=f"Resolved: {summary}" if summary else "Resolved",
        data={"from": inc.status},
    )
    return _append(inc, entry, status=RESOLVED, resolved_at=now, summary=summary or inc.summary)


def link_alert(inc: Incident, author: str, alert_key: str, now: datetime, title: str = "") -> Incident:
    _require_open(inc)
    if alert_key in inc.alert_keys:
        raise NoChange("That alert is already linked to this incident.")
    entry = TimelineEntry(
        at=_utc(now),
        author=author,
        kind="alert",
        text=f"Alert linked: {title or alert_key}",
        data={"alert_key": alert_key},
    )
    return _append(inc, entry, alert_keys=(*inc.alert_keys, alert_key))


def link_run(inc: Incident, author: str, run_id: str, now: datetime, text: str = "") -> Incident:
    _require_open(inc)
    if run_id in inc.runs:
        raise NoChange("That run is already linked to this incident.")
    entry = TimelineEntry(
        at=_utc(now),
        author=author,
        kind="run",
        text=f"Remediation run: {text or run_id}",
        data={"run_id": run_id},
    )
    return _append(inc, entry, runs=(*inc.runs, run_id))


# ---------------------------------------------------------------------------
# Update reminders


def last_reminder_at(inc: Incident) -> datetime | None:
    for entry in reversed(inc.timeline):
        if entry.kind == "reminder":
            return entry.at
    return None


def needs_update_reminder(
    inc: Incident, now: datetime, interval: timedelta = DEFAULT_REMINDER_INTERVAL
) -> bool:
    """True for an open SEV1/SEV2 with no update (nor reminder) for ``interval``."""
    if not inc.is_open or inc.severity not in REMINDED_SEVERITIES:
        return False
    marks = [t for t in (inc.last_update_at, last_reminder_at(inc), inc.created_at) if t]
    return _utc(now) - max(marks) >= interval


def record_reminder(inc: Incident, now: datetime) -> Incident:
    """Note that the lead was reminded, so the next reminder waits a full interval."""
    _require_open(inc)
    entry = TimelineEntry(at=_utc(now), author=BOT_AUTHOR, kind="reminder", text="Reminder: post an update")
    return _append(inc, entry)


# ---------------------------------------------------------------------------
# Views that are plain text


def last_update(inc: Incident) -> TimelineEntry | None:
    for entry in reversed(inc.timeline):
        if entry.kind == "update":
            return entry
    return None


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in … when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def topic(inc: Incident) -> str:
    """``SEV2 · Investigating · Lead: <@U0ALICE> · Payments API errors``, ≤ 250 chars."""
    head = f"{severity_label(inc.severity)} · {inc.status.capitalize()} · Lead: <@{inc.lead}> · "
    return head + truncate(inc.title, TOPIC_MAX - len(head))
