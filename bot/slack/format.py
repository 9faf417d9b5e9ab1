"""Small pure helpers for Slack text: mentions, date tokens, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")


def mention(user: str) -> str:
    return f"<@{user}>"


def parse_mention(word: str) -> str | None:
    """`<@U0ALICE|alice>` or `<@U0ALICE>` (as Slack sends with escaping on) -> `U0ALICE`."""
    m = _MENTION.match(word.strip())
    return m.group(1) if m else None


def parse_channel(word: str) -> str | None:
    m = _CHANNEL.match(word.strip())
    return m.group(1) if m else None


def date_token(at: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token: each reader sees the time in their own timezone.

    The fallback (shown where tokens are not rendered) is UTC.
    """
    at = at.astimezone(UTC)
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def escape(text: str) -> str:
    """Escape user text for mrkdwn so it cannot forge mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def human_duration(delta: timedelta) -> str:
    """`45s`, `2m 10s`, `1h 5m`, `3d 4h`."""
    seconds = int(max(delta.total_seconds(), 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"
