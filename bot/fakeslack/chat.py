"""chat.*, pins.* and reactions.* methods, and the message helpers they share."""

from __future__ import annotations

import copy
from typing import Any

from bot.fakeslack.args import ApiError, Args
from bot.fakeslack.blocks import block_errors, fallback_errors
from bot.fakeslack.state import Channel, Workspace

MAX_TEXT = 40_000
MAX_ATTACHMENTS = 100


def resolve_channel(ws: Workspace, value: str | None, allow_user: bool = False) -> Channel:
    """The conversation named by an id, a #name or (for posting) a user id."""
    if not value:
        raise ApiError("channel_not_found")
    channel = ws.channels.get(value)
    if channel is None and allow_user and value in ws.users:
        channel = ws.im_with(value)
    if channel is None:
        channel = ws.channel_by_name(value)
    # A private channel the bot is not in is invisible to it, as in Slack.
    if channel is None or (channel.is_private and ws.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    return channel


def check_postable(ws: Workspace, channel: Channel) -> None:
    if channel.is_archived:
        raise ApiError("is_archived")
    if ws.bot_user_id not in channel.members:
        raise ApiError("not_in_channel")


def message_content(args: Args | dict[str, Any], require: bool = True) -> dict[str, Any]:
    """text / blocks / attachments of a message, checked as Slack checks them."""
    if isinstance(args, dict):
        args = Args(args)
    content: dict[str, Any] = {}
    text = args.str("text")
    blocks = args.json("blocks", "invalid_blocks_format")
    attachments = args.json("attachments", "invalid_attachments")
    if require and text is None and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None:
        if len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        content["text"] = text
    if blocks is not None:
        errors = block_errors(blocks) + fallback_errors(text, blocks)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        content["blocks"] = blocks
    if attachments is not None:
        if not isinstance(attachments, list):
            raise ApiError("invalid_attachments")
        if len(attachments) > MAX_ATTACHMENTS:
            raise ApiError("too_many_attachments")
        content["attachments"] = attachments
    return content


def post_message(
    ws: Workspace,
    channel: Channel,
    content: dict[str, Any],
    thread_ts: str | None = None,
    reply_broadcast: bool = False,
) -> dict[str, Any]:
    """Store a message from the bot in a channel (or a thread) and return it."""
    parent = None
    if thread_ts:
        parent = ws.find_message(channel.id, thread_ts)
        if parent is None:
            raise ApiError("thread_not_found")
        if parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
            parent = ws.find_message(channel.id, parent["thread_ts"]) or parent
    message: dict[str, Any] = {
        "type": "message",
        "user": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "team": ws.team_id,
        "text": "",
        **content,
        "ts": ws.new_ts(),
    }
    if parent is not None:
        message["thread_ts"] = parent["ts"]
        message["parent_user_id"] = parent.get("user")
        if reply_broadcast:
            message["subtype"] = "thread_broadcast"
            message["reply_broadcast"] = True
        _note_reply(parent, message)
    ws.history.setdefault(channel.id, []).append(message)
    return message


def _note_reply(parent: dict[str, Any], reply: dict[str, Any]) -> None:
    parent["thread_ts"] = parent["ts"]
    parent["reply_count"] = parent.get("reply_count", 0) + 1
    users = parent.setdefault("reply_users", [])
    if reply["user"] not in users:
        users.append(reply["user"])
    parent["reply_users_count"] = len(users)
    parent["latest_reply"] = reply["ts"]


def own_message(ws: Workspace, channel: Channel, ts: str | None, denied: str) -> dict[str, Any]:
    message = ws.find_message(channel.id, ts or "")
    if message is None:
        raise ApiError("message_not_found")
    if message.get("user") != ws.bot_user_id:
        raise ApiError(denied)
    return message


def post_ephemeral(
    ws: Workspace, channel: str, user: str, content: dict[str, Any], via: str,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    ephemeral = {
        "type": "message",
        "ts": ws.new_ts(),
        "channel": channel,
        "user": user,
        "text": "",
        **content,
        "is_ephemeral": True,
        "via": via,
    }
    if thread_ts:
        ephemeral["thread_ts"] = thread_ts
    ws.ephemeral_messages.append(ephemeral)
    return ephemeral


# ---------------------------------------------------------------- chat.*


def chat_post_message(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"), allow_user=True)
    check_postable(ws, channel)
    content = message_content(args)
    metadata = args.json("metadata", "invalid_metadata_format")
    if metadata:
        content["metadata"] = metadata
    message = post_message(
        ws, channel, content, args.str("thread_ts"), args.bool("reply_broadcast")
    )
    return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}


def chat_update(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    message = own_message(ws, channel, args.str("ts"), "cant_update_message")
    content = message_content(args, require=False)
    if not content:
        raise ApiError("no_text")
    # Slack keeps blocks and attachments that the update leaves out.
    message.update(content)
    message["edited"] = {"user": ws.bot_user_id, "ts": ws.new_ts()}
    return {
        "channel": channel.id,
        "ts": message["ts"],
        "text": message.get("text", ""),
        "message": copy.deepcopy(message),
    }


def chat_delete(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    message = own_message(ws, channel, args.str("ts"), "cant_delete_message")
    ws.history[channel.id].remove(message)
    return {"channel": channel.id, "ts": message["ts"]}


def chat_post_ephemeral(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"), allow_user=True)
    user = args.required("user", "user_not_found")
    if user not in ws.users:
        raise ApiError("user_not_found")
    check_postable(ws, channel)
    if user not in channel.members:
        raise ApiError("user_not_in_channel")
    content = message_content(args)
    ephemeral = post_ephemeral(
        ws, channel.id, user, content, "chat.postEphemeral", args.str("thread_ts")
    )
    return {"message_ts": ephemeral["ts"]}


def chat_get_permalink(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    message = ws.find_message(channel.id, args.str("message_ts") or "")
    if message is None:
        raise ApiError("message_not_found")
    link = (
        f"https://{ws.team_domain}.slack.com/archives/{channel.id}/p"
        + message["ts"].replace(".", "")
    )
    thread_ts = message.get("thread_ts")
    if thread_ts and thread_ts != message["ts"]:
        link += f"?thread_ts={thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


# ---------------------------------------------------------------- pins.*, reactions.*


def pins_add(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    check_postable(ws, channel)
    ts = args.required("timestamp", "no_item_specified")
    message = ws.find_message(channel.id, ts)
    if message is None:
        raise ApiError("message_not_found")
    pinned = ws.pins.setdefault(channel.id, [])
    if ts in pinned:
        raise ApiError("already_pinned")
    pinned.append(ts)
    message["pinned_to"] = [channel.id]
    return {}


def pins_remove(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    ts = args.required("timestamp", "no_item_specified")
    pinned = ws.pins.get(channel.id, [])
    if ts not in pinned:
        raise ApiError("no_pin")
    pinned.remove(ts)
    message = ws.find_message(channel.id, ts)
    if message is not None:
        message.pop("pinned_to", None)
    return {}


def pins_list(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    items = []
    for ts in ws.pins.get(channel.id, []):
        message = ws.find_message(channel.id, ts)
        if message is not None:
            items.append({"type": "message", "channel": channel.id, "message": message})
    return {"items": copy.deepcopy(items)}


def reactions_add(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    name = args.required("name", "invalid_name")
    message = ws.find_message(channel.id, args.str("timestamp") or "")
    if message is None:
        raise ApiError("message_not_found")
    reactions = message.setdefault("reactions", [])
    for reaction in reactions:
        if reaction["name"] == name:
            if ws.bot_user_id in reaction["users"]:
                raise ApiError("already_reacted")
            reaction["users"].append(ws.bot_user_id)
            reaction["count"] += 1
            return {}
    reactions.append({"name": name, "users": [ws.bot_user_id], "count": 1})
    return {}


METHODS = {
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "pins.add": pins_add,
    "pins.remove": pins_remove,
    "pins.list": pins_list,
    "reactions.add": reactions_add,
}
