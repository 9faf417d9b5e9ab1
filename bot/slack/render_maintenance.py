"""Text for maintenance windows: announcements, `/oncall maintenance`, the line in `/oncall who`.

Pure; the reason a person typed is escaped.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.maintenance import Window
from bot.slack.format import date_token, escape


def _reason(window: Window) -> str:
    return f" ({escape(window.reason)})" if window.reason else ""


def window_line(window: Window, now: datetime) -> str:
    if window.active_at(now):
        return (f":construction: *{escape(window.team)} is in maintenance* until "
                f"{date_token(window.end)}{_reason(window)}: alerts are shown but page nobody.")
    return (f":construction: Maintenance for {escape(window.team)} is planned from "
            f"{date_token(window.starts_at)} to {date_token(window.end)}{_reason(window)}.")


def started(window: Window) -> str:
    return (f":construction: Maintenance for *{escape(window.team)}* has started, by "
            f"<@{window.created_by}>, until {date_token(window.end)}{_reason(window)}. "
            "Alerts are shown here but page nobody until it ends.")


def ended(window: Window, repaged: int) -> str:
    how = f"ended early by <@{window.ended_by}>" if window.ended_by else "has ended"
    text = f":white_check_mark: Maintenance for *{escape(window.team)}* {how}. Paging is back on."
    if repaged:
        text += f" {repaged} alert group(s) still open are paged now."
    return text


def scheduled(window: Window) -> str:
    return (f"Maintenance for {escape(window.team)} scheduled from {date_token(window.starts_at)} "
            f"to {date_token(window.end)}{_reason(window)}. The start and end are announced in "
            "the team channel.")
