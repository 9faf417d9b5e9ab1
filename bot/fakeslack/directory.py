"""auth.*, team.*, users.* and usergroups.* methods."""

from __future__ import annotations

import copy
from typing import Any

from bot.fakeslack.args import ApiError, Args
from bot.fakeslack.state import Workspace


def auth_test(ws: Workspace, args: Args) -> dict[str, Any]:
    return {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_domain,
        "user": ws.users[ws.bot_user_id]["name"],
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "app_id": ws.app_id,
        "is_enterprise_install": False,
    }


def team_info(ws: Workspace, args: Args) -> dict[str, Any]:
    return {"team": {"id": ws.team_id, "name": ws.team_domain, "domain": ws.team_domain}}


def user_object(ws: Workspace, user_id: str) -> dict[str, Any]:
    """A user as users.info returns it, with the offset of their zone right now."""
    user = copy.deepcopy(ws.users[user_id])
    user["tz_offset"], user["tz_label"] = ws.user_tz_offset(user)
    return user


def users_info(ws: Workspace, args: Args) -> dict[str, Any]:
    user_id = args.str("user") or ""
    if user_id not in ws.users:
        raise ApiError("user_not_found")
    return {"user": user_object(ws, user_id)}


def users_lookup_by_email(ws: Workspace, args: Args) -> dict[str, Any]:
    email = (args.str("email") or "").lower()
    for user_id, user in ws.users.items():
        if user["profile"].get("email", "").lower() == email:
            return {"user": user_object(ws, user_id)}
    raise ApiError("users_not_found")


def users_list(ws: Workspace, args: Args) -> dict[str, Any]:
    return {
        "members": [user_object(ws, user_id) for user_id in ws.users],
        "response_metadata": {"next_cursor": ""},
    }


def _usergroup(ws: Workspace, args: Args) -> dict[str, Any]:
    group = ws.usergroups.get(args.str("usergroup") or "")
    if group is None:
        raise ApiError("no_such_subteam")
    return group


def _group_object(group: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(group), "user_count": len(group["users"])}


def usergroups_users_update(ws: Workspace, args: Args) -> dict[str, Any]:
    group = _usergroup(ws, args)
    users = list(dict.fromkeys(args.list("users")))
    if not users:
        raise ApiError("no_users_provided")
    if any(user not in ws.users for user in users):
        raise ApiError("invalid_users")
    group["users"] = users
    group["date_update"] = int(ws.clock())
    return {"usergroup": _group_object(group)}


def usergroups_users_list(ws: Workspace, args: Args) -> dict[str, Any]:
    return {"users": list(_usergroup(ws, args)["users"])}


def usergroups_list(ws: Workspace, args: Args) -> dict[str, Any]:
    include_users = args.bool("include_users")
    groups = []
    for group in ws.usergroups.values():
        item = _group_object(group)
        if not include_users:
            item.pop("users")
        groups.append(item)
    return {"usergroups": groups}


METHODS = {
    "auth.test": auth_test,
    "team.info": team_info,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "users.list": users_list,
    "usergroups.users.update": usergroups_users_update,
    "usergroups.users.list": usergroups_users_list,
    "usergroups.list": usergroups_list,
}
