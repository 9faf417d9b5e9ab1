"""Silences: matchers as people type them, what may be silenced, and for how long.

Pure Python, the clock is passed in. Matchers are written one per line in
Alertmanager's own syntax: `name="value"`, `name=~"regex"`, `name!="value"`,
`name!~"regex"`. Values are JSON-quoted, so quotes, backslashes, `=~` and any
unicode inside a value survive the round trip through the modal.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

MAX_DURATION = timedelta(days=7)
DURATIONS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24)}
EXTEND_BY = timedelta(hours=1)
WARN_BEFORE = timedelta(minutes=15)
MAX_MATCHERS = 30
MAX_VALUE = 2000

_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
# Strings a matcher that silences "everything" would accept: if every matcher
# accepts all of them, the silence would match any alert.
_PROBES = ("", "x", "0", "atbat-probe", "ünïcödé ✓", "a b\nc", "Z" * 300, '"', "=~.*")


class SilenceError(Exception):
    """A silence that may not be made; str() is the message for the user."""


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @property
    def operator(self) -> str:
        return {(False, True): "=", (True, True): "=~", (False, False): "!=",
                (True, False): "!~"}[(self.is_regex, self.is_equal)]

    def to_text(self) -> str:
        """`name="value"`, quoted as JSON: control characters are escapes, and so is every
        non-ASCII character when the value holds a format, private-use or unassigned one
        (a bidi override would otherwise reorder the line it is shown in)."""
        hidden = any(unicodedata.category(ch) in ("Cf", "Co", "Cn") for ch in self.value)
        return f"{self.name}{self.operator}{json.dumps(self.value, ensure_ascii=hidden)}"

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex,
                "isEqual": self.is_equal}

    def matches(self, value: str) -> bool:
        """Alertmanager's semantics: regexes are anchored at both ends."""
        if self.is_regex:
            try:
                hit = re.fullmatch(self.value, value, re.DOTALL) is not None
            except re.error:
                hit = False
        else:
            hit = value == self.value
        return hit if self.is_equal else not hit


def matchers_from_labels(labels: Mapping[str, str]) -> tuple[Matcher, ...]:
    """Equality matchers for a group's common labels, alertname first."""
    ordered = sorted(labels.items(), key=lambda kv: (kv[0] != "alertname", kv[0]))
    return tuple(Matcher(k, v) for k, v in ordered if v != "")


def matchers_text(matchers: tuple[Matcher, ...], limit: int = 3000) -> str:
    """The modal's prefilled text; lines that would not fit the input are left out."""
    lines: list[str] = []
    for m in matchers:
        line = m.to_text()
        if sum(len(x) + 1 for x in lines) + len(line) <= limit:
            lines.append(line)
    return "\n".join(lines)


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """One matcher per non-empty line; raises SilenceError naming the bad line."""
    found: list[Matcher] = []
    # Only "\n" ends a line: a value may hold other line separators (U+2028, NEL).
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        found.append(_parse_line(line, number))
    if len(found) > MAX_MATCHERS:
        raise SilenceError(f"At most {MAX_MATCHERS} matchers, got {len(found)}.")
    return tuple(found)


def _parse_line(line: str, number: int) -> Matcher:
    hit = _LINE.match(line)
    if hit is None:
        raise SilenceError(f'Line {number}: expected name="value" (or =~, !=, !~), '
                           f"got {_show(line)}.")
    name, operator, raw = hit.groups()
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except ValueError:
            raise SilenceError(f"Line {number}: the quoted value is not closed or has a bad "
                               'escape (write \\" for a quote inside it).') from None
        if not isinstance(value, str):
            raise SilenceError(f"Line {number}: expected a quoted string.")
    else:
        value = raw
    if len(value) > MAX_VALUE:
        raise SilenceError(f"Line {number}: the value is longer than {MAX_VALUE} characters.")
    is_regex = operator in ("=~", "!~")
    if is_regex:
        try:
            re.compile(value)
        except re.error as exc:
            raise SilenceError(f"Line {number}: not a valid regular expression ({exc}).") from None
    return Matcher(name, value, is_regex=is_regex, is_equal=operator in ("=", "=~"))


def _show(text: str) -> str:
    cleaned = "".join(ch for ch in text if ch.isprintable())
    return '"' + (cleaned[:60] + ("…" if len(cleaned) > 60 else "")) + '"'


def check_matchers(matchers: tuple[Matcher, ...]) -> tuple[Matcher, ...]:
    """Refuse a silence that would silence everything (no matcher, or none that narrows)."""
    if not matchers:
        raise SilenceError("A silence needs at least one matcher: none would silence every alert.")
    if all(all(m.matches(p) for p in _PROBES) for m in matchers):
        raise SilenceError("These matchers match any alert (e.g. =~\".*\"): add one that names "
                           "what to silence, such as alertname=\"…\".")
    if not any(m.is_equal and not m.matches("") for m in matchers):
        # Alertmanager's own rule: at least one matcher must not match the empty string.
        raise SilenceError("At least one matcher must require a value (a plain name=\"value\" "
                           "or a regex that does not match an empty label).")
    return matchers


def silence_end(choice: str, until: datetime | None, now: datetime) -> datetime:
    """The end of a silence from the modal's choice (1h, 4h, 24h, or until a time)."""
    if choice in DURATIONS:
        return now + DURATIONS[choice]
    if choice != "until" or until is None:
        raise SilenceError("Pick a duration, or a time for \"until\".")
    return check_end(until, now)


def check_end(end: datetime, now: datetime) -> datetime:
    if end <= now:
        raise SilenceError("That time is already past.")
    if end - now > MAX_DURATION:
        raise SilenceError("A silence may last at most 7 days.")
    return end


@dataclass(frozen=True)
class SilenceRecord:
    """A silence made from atbat, as atbat remembers it (Alertmanager owns the silence)."""

    id: str
    team: str
    alert_key: str  # "" when not made from an alert message
    created_by: str
    created_at: datetime
    ends_at: datetime
    matchers: tuple[Matcher, ...]
    url: str
    state: str = "active"  # active or expired
    expired_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "team": self.team, "alert_key": self.alert_key,
                "created_by": self.created_by, "created_at": self.created_at.isoformat(),
                "ends_at": self.ends_at.isoformat(), "url": self.url, "state": self.state,
                "expired_by": self.expired_by,
                "matchers": [m.to_api() for m in self.matchers]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SilenceRecord:
        return cls(
            id=data["id"], team=data["team"], alert_key=data["alert_key"],
            created_by=data["created_by"], created_at=datetime.fromisoformat(data["created_at"]),
            ends_at=datetime.fromisoformat(data["ends_at"]), url=data["url"],
            state=data.get("state", "active"), expired_by=data.get("expired_by"),
            matchers=tuple(Matcher(m["name"], m["value"], m["isRegex"], m["isEqual"])
                           for m in data["matchers"]))

    def expired(self, by: str | None) -> SilenceRecord:
        return replace(self, state="expired", expired_by=by)

    def extended(self, new_id: str, ends_at: datetime) -> SilenceRecord:
        return replace(self, id=new_id, ends_at=ends_at)

    def warn_at(self) -> datetime:
        return self.ends_at - WARN_BEFORE
