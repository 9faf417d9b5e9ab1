"""What Slack's client makes of typed text before it reaches an app.

People type `@bob`, `#payments`, `@here`; Slack sends `<@U0BOB|bob>`,
`<#C0PAYMENTS|payments>` and `<!here>` in a slash command with escaping on
(`should_escape: true`), and stores `<@U0BOB>` in a message. `&`, `<` and `>`
that were typed are escaped either way, so typed text never forms a token.
"""

from __future__ import annotations

import re

from bot.fakeslack.state import Workspace

__all__ = ["encode_typed"]

# A mention starts a word; a name may end in punctuation that is not part of it ("@bob,").
_MENTION = re.compile(r"(?<![\w@#&;<])([@#])([\w][\w.-]*)")
_SPECIAL = ("here", "channel", "everyone")


def encode_typed(ws: Workspace, text: str, labels: bool = True) -> str:
    """`text` as Slack sends it: escaped, with known @people, @groups and #channels as tokens.

    `labels` adds the name after `|`, as in a slash command with escaping on.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(lambda match: _token(ws, match, labels), escaped)


def _token(ws: Workspace, match: re.Match[str], labels: bool) -> str:
    sigil, word = match.group(1), match.group(2)
    name = word
    while name:
        found = _lookup(ws, sigil, name, labels)
        if found:
            return found + word[len(name):]
        name = name[:-1] if name[-1] in ".-" else ""
    return match.group(0)


def _lookup(ws: Workspace, sigil: str, name: str, labels: bool) -> str | None:
    lowered = name.lower()
    with ws.lock:
        if sigil == "#":
            channel = ws.channel_by_name(lowered)
            if channel is None:
                return None
            return f"<#{channel.id}|{channel.name}>" if labels else f"<#{channel.id}>"
        if lowered in _SPECIAL:
            return f"<!{lowered}>"
        for user_id, user in ws.users.items():
            if user["name"].lower() == lowered and not user.get("deleted"):
                return f"<@{user_id}|{user['name']}>" if labels else f"<@{user_id}>"
        for group in ws.usergroups.values():
            if group["handle"].lower() == lowered:
                return f"<!subteam^{group['id']}|@{group['handle']}>"
    return None
