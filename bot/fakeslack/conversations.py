"""conversations.* methods."""

from __future__ import annotations

import copy
import re
from typing import Any

from bot.fakeslack.args import ApiError, Args
from bot.fakeslack.chat import check_postable, resolve_channel
from bot.fakeslack.state import Channel, Workspace

MAX_NAME = 80
MAX_TOPIC = 250
NAME_CHARS = re.compile(r"[a-z0-9_-]+")
ONLY_PUNCTUATION = re.compile(r"[_-]+")


def channel_name_error(name: str) -> str | None:
    """Slack's error for a channel name it would refuse, or None."""
    if not name:
        return "invalid_name_required"
    if len(name) > MAX_NAME:
        return "invalid_name_maxlength"
    if not NAME_CHARS.fullmatch(name):
        return "invalid_name_specials"
    if ONLY_PUNCTUATION.fullmatch(name):
        return "invalid_name_punctuation"
    return None


def _summary(channel: Channel) -> dict[str, Any]:
    return {"channel": channel.to_api()}


def conversations_create(ws: Workspace, args: Args) -> dict[str, Any]:
    name = args.str("name", "") or ""
    error = channel_name_error(name)
    if error:
        raise ApiError(error)
    # Archived channels keep their names, so they count too.
    if any(c.name == name and not c.is_im for c in ws.channels.values()):
        raise ApiError("name_taken")
    channel = ws.add_channel(ws.new_id("C"), name, is_private=args.bool("is_private"))
    return _summary(channel)


def conversations_invite(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    check_postable(ws, channel)
    users = args.list("users")
    if not users:
        raise ApiError("no_user")
    errors = [
        {"user": user, "ok": False, "error": error}
        for user in users
        if (error := _invite_error(ws, channel, user))
    ]
    if errors:
        raise ApiError(errors[0]["error"], errors=errors)
    channel.members.extend(u for u in dict.fromkeys(users) if u not in channel.members)
    return _summary(channel)


def _invite_error(ws: Workspace, channel: Channel, user: str) -> str | None:
    if user == ws.bot_user_id:
        return "cant_invite_self"
    if user not in ws.users:
        return "user_not_found"
    if user in channel.members:
        return "already_in_channel"
    return None


def conversations_kick(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    check_postable(ws, channel)
    user = args.required("user", "user_not_found")
    if user == ws.bot_user_id:
        raise ApiError("cant_kick_self")
    if user not in channel.members:
        raise ApiError("not_in_channel")
    channel.members.remove(user)
    return {}


def conversations_set_topic(ws: Workspace, args: Args) -> dict[str, Any]:
    return _set_text(ws, args, "topic")


def conversations_set_purpose(ws: Workspace, args: Args) -> dict[str, Any]:
    return _set_text(ws, args, "purpose")


def _set_text(ws: Workspace, args: Args, attribute: str) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    check_postable(ws, channel)
    value = args.str(attribute, "") or ""
    if len(value) > MAX_TOPIC:
        raise ApiError("too_long")
    setattr(channel, attribute, value)
    return _summary(channel)


def conversations_info(ws: Workspace, args: Args) -> dict[str, Any]:
    return _summary(resolve_channel(ws, args.str("channel")))


def conversations_members(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    return {"members": list(channel.members), "response_metadata": {"next_cursor": ""}}


def conversations_archive(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    if channel.is_archived:
        raise ApiError("already_archived")
    if channel.is_im:
        raise ApiError("method_not_supported_for_channel_type")
    check_postable(ws, channel)
    channel.is_archived = True
    return {}


def conversations_join(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = resolve_channel(ws, args.str("channel"))
    if channel.is_archived:
        raise ApiError("is_archived")
    if channel.is_private or channel.is_im:
        raise ApiError("method_not_supported_for_channel_type")
    if ws.bot_user_id not in channel.members:
        channel.members.append(ws.bot_user_id)
    return _summary(channel)


def conversations_open(ws: Workspace, args: Args) -> dict[str, Any]:
    if "channel" in args:
        channel = resolve_channel(ws, args.str("channel"))
    else:
        users = [u for u in args.list("users") if u != ws.bot_user_id]
        if len(users) != 1:
            # Group DMs are not modelled here.
            raise ApiError("users_list_not_supplied" if not users else "not_supported")
        if users[0] not in ws.users:
            raise ApiError("user_not_found")
        channel = ws.im_with(users[0])
    body = channel.to_api() if args.bool("return_im") else {"id": channel.id}
    return {"no_op": False, "already_open": False, "channel": body}


def conversations_list(ws: Workspace, args: Args) -> dict[str, Any]:
    types = set(args.list("types") or ["public_channel"])
    exclude_archived = args.bool("exclude_archived")

    def wanted(channel: Channel) -> bool:
        kind = "im" if channel.is_im else "private_channel" if channel.is_private else "public_channel"
        visible = not channel.is_private or ws.bot_user_id in channel.members
        return kind in types and visible and not (exclude_archived and channel.is_archived)

    return {
        "channels": [c.to_api() for c in ws.channels.values() if wanted(c)],
        "response_metadata": {"next_cursor": ""},
    }


def conversations_history(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = _readable(ws, args)
    oldest = float(args.str("oldest", "0") or 0)
    latest = float(args.str("latest", "inf") or "inf")
    limit = args.int("limit", 100)
    found = [
        m
        for m in reversed(ws.messages(channel.id))
        if oldest <= float(m["ts"]) <= latest
    ]
    return {
        "messages": found[:limit],
        "has_more": len(found) > limit,
        "response_metadata": {"next_cursor": ""},
    }


def conversations_replies(ws: Workspace, args: Args) -> dict[str, Any]:
    channel = _readable(ws, args)
    ts = args.str("ts") or ""
    parent = ws.find_message(channel.id, ts)
    if parent is None:
        raise ApiError("thread_not_found")
    thread_ts = parent.get("thread_ts") or parent["ts"]
    root = ws.find_message(channel.id, thread_ts) or parent
    messages = [copy.deepcopy(root), *ws.replies(channel.id, thread_ts)]
    return {"messages": messages, "has_more": False, "response_metadata": {"next_cursor": ""}}


def _readable(ws: Workspace, args: Args) -> Channel:
    channel = resolve_channel(ws, args.str("channel"))
    if ws.bot_user_id not in channel.members:
        raise ApiError("not_in_channel")
    return channel


METHODS = {
    "conversations.create": conversations_create,
    "conversations.invite": conversations_invite,
    "conversations.kick": conversations_kick,
    "conversations.setTopic": conversations_set_topic,
    "conversations.setPurpose": conversations_set_purpose,
    "conversations.info": conversations_info,
    "conversations.members": conversations_members,
    "conversations.archive": conversations_archive,
    "conversations.join": conversations_join,
    "conversations.open": conversations_open,
    "conversations.list": conversations_list,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
}
