"""What Slack would parse in what the bot sends: every `<…>` an entity the bot means,
every `&` an escape, no control or format characters.

Slack itself takes any text and renders it: a `<!channel>` pings everyone, `a & b <c>`
loses its `<c>`, "lasted <1m" swallows the mention after it. The Slack-compatible
server refuses such text instead (error `unescaped_markup`, not a Slack error) and keeps
what it refused in `Workspace.markup_violations`, so every test that drives the bot
through it checks the bot's escaping, even where the bot ignores a failed call.

Checked wherever Slack parses text: the top-level `text` of a message, mrkdwn objects
(sections, fields, context elements, accessories, views), topics, purposes and a file's
`initial_comment`. plain_text objects are not parsed for markup (they may show `<` as
typed) but must be free of control and format characters too. An input's
`initial_value` is data, not text shown: a silence matcher prefilled from a label must
match it character for character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

# The entities the bot legitimately writes: a user or channel mention (with a label as
# Slack sends them back), a date token, a link.
_LABEL = r"(?:\|[^<>]*)?"
ENTITY = re.compile(
    r"<(?:"
    rf"@[UW][A-Z0-9]+{_LABEL}"
    rf"|#C[A-Z0-9]+{_LABEL}"
    r"|!date\^\d+\^[^<>|^]+(?:\^[^<>|^]+)?\|[^<>]+"
    rf"|(?:https?://|mailto:)[^<>|\s]+{_LABEL}"
    r")>"
)
_TOKEN = re.compile(r"<[^<>]*>")
_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")
# A blockquote marker at the start of a line is the one raw `>` mrkdwn means.
_QUOTE = re.compile(r"^(?:>>>|>)(?= |$)", re.MULTILINE)
_STRIPPED = frozenset({"Cc", "Cf", "Co", "Cn"})

# The posts where atbat means to notify a whole channel, and only those (each a
# top-level text without blocks, posted to a channel): a `channel` escalation step,
# and a step that found nobody on call in a team without managers.
MEANT_BROADCASTS = (
    re.compile(r"^(<!channel>) Alert for "),
    re.compile(r"^:rotating_light: Nobody is on call for [^<>]*?, so atbat paged (<!channel>): "),
)
BROADCAST_METHODS = frozenset({"chat.postMessage", "chat.update"})

# Arguments of Web API methods that Slack parses as mrkdwn.
PARSED_ARGS = ("text", "topic", "purpose", "initial_comment")


def text_errors(text: str, pointer: str, parsed: bool = True) -> list[str]:
    """What is wrong with one string Slack shows (and, when `parsed`, parses)."""
    errors = [f"{name} character U+{ord(ch):04X} [json-pointer:{pointer}]"
              for name, ch in _unwanted_characters(text)][:3]
    if not parsed:
        return errors
    for token in _TOKEN.finditer(text):
        if not ENTITY.fullmatch(token.group(0)):
            errors.append(f"unexpected markup {token.group(0)[:60]!r} [json-pointer:{pointer}]")
    rest = _QUOTE.sub("", _TOKEN.sub("", text))
    for ch in "<>":
        if ch in rest:
            at = rest.index(ch)
            errors.append(f"raw {ch!r} in {rest[max(0, at - 30):at + 30]!r} "
                          f"[json-pointer:{pointer}]")
    bad = _AMPERSAND.search(text)
    if bad:
        errors.append(f"raw '&' in {text[max(0, bad.start() - 30):bad.start() + 30]!r} "
                      f"[json-pointer:{pointer}]")
    return errors


def _unwanted_characters(text: str) -> Iterator[tuple[str, str]]:
    for ch in text:
        if ch not in "\n\t":
            category = unicodedata.category(ch)
            if category in _STRIPPED:
                yield category, ch


def call_errors(method: str, args: dict[str, Any], to_channel: bool) -> list[str]:
    """Markup errors in a Web API call's arguments; `to_channel`: it posts to a channel
    (not a DM), where a meant broadcast may go."""
    errors: list[str] = []
    for name in PARSED_ARGS:
        value = args.get(name)
        if isinstance(value, str):
            if name == "text" and to_channel and method in BROADCAST_METHODS \
                    and not args.get("blocks"):
                value = without_meant_broadcast(value)
            errors.extend(text_errors(value, f"/{name}"))
    for name in ("blocks", "attachments", "files"):
        errors.extend(object_errors(args.get(name), f"/{name}"))
    if isinstance(args.get("view"), dict):
        errors.extend(object_errors(args["view"], "/view"))
    return errors


def message_errors(payload: dict[str, Any]) -> list[str]:
    """Markup errors in a message payload (a response_url post, a command's answer)."""
    errors = text_errors(payload["text"], "/text") if isinstance(payload.get("text"), str) else []
    return errors + object_errors(payload.get("blocks"), "/blocks") + object_errors(
        payload.get("attachments"), "/attachments")


def answer_errors(answer: dict[str, Any]) -> list[str]:
    """Markup errors in a modal's answer to its submission: the view it updates or
    pushes, and the plain-text errors shown under its inputs."""
    errors = object_errors(answer.get("view"), "/view")
    shown = answer.get("errors")
    for block, text in (shown.items() if isinstance(shown, dict) else ()):
        if isinstance(text, str):
            errors.extend(text_errors(text, f"/errors/{block}", parsed=False))
    return errors


def object_errors(value: Any, pointer: str) -> list[str]:
    """Markup errors in blocks, a view or attachments: every text object, every
    attachment text."""
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in object_errors(item, f"{pointer}/{i}")]
    if not isinstance(value, dict):
        return []
    kind = value.get("type")
    if kind in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
        return text_errors(value["text"], f"{pointer}/text", parsed=kind == "mrkdwn")
    errors: list[str] = []
    for key, item in value.items():
        if key in ("text", "pretext", "fallback") and isinstance(item, str):
            errors.extend(text_errors(item, f"{pointer}/{key}"))  # an attachment's texts
        elif key == "title" and isinstance(item, str):  # an attachment's or a file's title
            errors.extend(text_errors(item, f"{pointer}/{key}", parsed=False))
        elif isinstance(item, dict | list):
            errors.extend(object_errors(item, f"{pointer}/{key}"))
    return errors


def without_meant_broadcast(text: str) -> str:
    """The text with its one meant broadcast taken out, if it is a post that means one."""
    for pattern in MEANT_BROADCASTS:
        match = pattern.match(text)
        if match:
            return text[: match.start(1)] + text[match.end(1):]
    return text
