"""Small pure helpers for Slack text: mentions, date tokens, escaping."""

from __future__ import annotations

import re
import unicodedata
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


def shown(typed: str, limit: int = 200) -> str:
    """Words a person typed (as Slack sends them: `&`, `<`, `>` escaped, a typed @channel
    as `<!channel>`) echoed in mrkdwn: markup shown literally, escaped once, cleaned of
    control and format characters, at most `limit` characters and never cut in an entity."""
    return cut_mrkdwn(escape(unescape(typed)), limit)


def done_by(what: str, user: str, at: datetime) -> str:
    """What happened to a message's buttons, for the message itself: "Confirmed by @maya at …"."""
    return f"*{what} by {mention(user)}* {date_token(at)}"


# Control, format (bidi overrides, zero-width), private-use and unassigned characters.
_STRIPPED = frozenset({"Cc", "Cf", "Co", "Cn"})


# In ASCII the only such characters are the controls.
_ASCII_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def clean(text: str) -> str:
    """Without control and format characters (ESC, U+202E ...); newlines and tabs stay."""
    if text.isascii():  # most text: one regex pass in C instead of a category per character
        return _ASCII_CONTROLS.sub("", text)
    return "".join(ch for ch in text
                   if ch in "\n\t" or unicodedata.category(ch) not in _STRIPPED)


def clean_title(text: str) -> str:
    """A one-line title: cleaned, every run of whitespace one space."""
    return " ".join(clean(text).split())


def escape(text: str) -> str:
    """Escape user text for mrkdwn so it cannot forge mentions or links; cleaned too."""
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_safe(text: str) -> str:
    """Escape for mrkdwn and break ``` so the text stays inside its code block."""
    return escape(text).replace("```", "``\u02cb")


def link(url: str, label: str) -> str | None:
    """A mrkdwn link `<url|label>` (`label` already escaped), None for a URL that is not
    http(s). The URL is escaped too (`&` in a query is `&amp;`), and the characters that
    would end the token (`|`, `<`, `>`, a space) are percent-encoded."""
    if not url.lower().startswith(("http://", "https://")):
        return None
    for char, code in (("|", "%7C"), ("<", "%3C"), (">", "%3E"), (" ", "%20")):
        url = url.replace(char, code)
    return f"<{clean(url).replace('&', '&amp;')}|{label.replace('|', '/')}>"


def defuse(text: str) -> str:
    """Plain text with Slack markup taken apart: `<@U1|bob>` → `@bob`, `<!channel>` →
    `@channel`, `<url|label>` → `label (url)`; no `<` or `>` is left."""

    def plain(match: re.Match[str]) -> str:
        target, _, label = match.group(0)[1:-1].partition("|")
        kind = target[:1]
        if kind in ("@", "#"):
            return kind + (label or target[1:])
        if kind == "!":
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label else target

    return re.sub(r"<[^<>]*>", plain, text).replace("<", "").replace(">", "")


def cut_mrkdwn(text: str, limit: int) -> str:
    """At most `limit` characters, ending in … when cut, never inside an entity
    (`&amp;`) or a `<...>` token (a mention, a link, a `<!date^...>`), however long."""
    if len(text) <= limit:
        return text
    end = max(limit - 1, 0)
    opened = text.rfind("<", 0, end)
    if opened != -1 and text.find(">", opened, end) == -1:
        end = opened  # escaped text has no other `<`: this one opens the token cut
    amp = text.rfind("&", max(0, end - 10), end)
    if amp != -1 and ";" not in text[amp:end]:
        end = amp
    return text[:end] + "…"


def cut_plain(text: str, limit: int) -> str:
    """At most `limit` characters of plain text, ending in … when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"
