"""Page feedback: "Was this page worth it?" asked of each person an alert group paged.

Pure Python. An answer belongs to one person and one occurrence of a group
(`FeedbackTarget`); a second click replaces the first. Answers are counted per
alert rule (team + alertname, + generatorURL), see `bot.domain.history.Rule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.domain.history import Event

Answer = Literal["actionable", "noise", "morning"]
ANSWERS: tuple[Answer, ...] = ("actionable", "noise", "morning")
LABELS: dict[Answer, str] = {"actionable": "Actionable", "noise": "Noise",
                             "morning": "Could have waited till morning"}
MAX_NOTE = 500


class FeedbackError(Exception):
    """A click or note that does not apply; str() is the message for that person."""


@dataclass(frozen=True)
class FeedbackTarget:
    """One occurrence of an alert group; the opaque value of the feedback buttons."""

    group: str
    occurrence: int

    @property
    def value(self) -> str:
        return f"{self.group}:{self.occurrence}"

    @classmethod
    def parse(cls, value: str) -> FeedbackTarget:
        group, _, occ = value.rpartition(":")
        if not group or not occ.isdigit() or len(value) > 80:
            raise FeedbackError("This button is not one atbat knows.")
        return cls(group, int(occ))


@dataclass(frozen=True)
class Paged:
    """Someone this occurrence paged: the team and the rule the answer counts for."""

    team: str
    rule: str
    title: str


def parse_answer(word: str) -> Answer:
    if word not in ANSWERS:
        raise FeedbackError("That is not an answer atbat knows.")
    return word  # type: ignore[return-value]


def clean_note(text: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise FeedbackError("The note is empty.")
    return cleaned[:MAX_NOTE]


def answer_event(target: FeedbackTarget, paged: Paged, user: str, answer: Answer, at: datetime,
                 note: str = "") -> Event:
    fields = {"user": user, "answer": answer, "rule": paged.rule, "group": target.group,
              "occ": str(target.occurrence)}
    if note:
        fields["note"] = note
    return Event("feedback", at, fields)
