"""Small pure helpers for Slack text: mentions, date tokens, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.domain.timefmt import human_duration  # noqa: F401  (re-exported for renderers)

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def mention(user: str) -> str:
    return f"<@{user}>"


def parse_mention(word: str) -> str | None:
    """`<@U0ALICE|alice>` or `<@U0ALICE>` (as Slack sends with escaping on) -> `U0ALICE`."""
    m = _MENTION.match(word.strip())
    return m.group(1) if m else None


def date_token(at: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token: each reader sees the time in their own timezone.

    The fallback (shown where tokens are not rendered) is UTC.
    """
    at = at.astimezone(UTC)
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def unescape(text: str) -> str:
    """Undo Slack's escaping of command text; ``&amp;`` last so ``&amp;lt;`` stays ``&lt;``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def done_by(what: str, user: str, at: datetime) -> str:
    """What happened to a message's buttons, for the message itself: "Confirmed by @maya at …"."""
    return f"*{what} by {mention(user)}* {date_token(at)}"


def escape(text: str) -> str:
    """Escape user text for mrkdwn so it cannot forge mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
