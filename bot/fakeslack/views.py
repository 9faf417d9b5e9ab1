"""views.* methods: modals opened from a trigger, and App Home tabs."""

from __future__ import annotations

import copy
from typing import Any

from bot.fakeslack.args import ApiError, Args
from bot.fakeslack.blocks import block_errors, view_errors
from bot.fakeslack.state import Workspace

MAX_VIEW_BLOCKS = 100
MAX_TITLE = 24


def _use_trigger(ws: Workspace, trigger_id: str | None) -> str:
    """The user of a trigger_id; each one works once, within a few seconds."""
    if not trigger_id or trigger_id not in ws.triggers:
        raise ApiError("invalid_trigger_id")
    user, issued = ws.triggers.pop(trigger_id)
    if ws.clock() - issued > ws.trigger_ttl:
        raise ApiError("expired_trigger_id")
    return user


def _view_input(ws: Workspace, args: Args) -> dict[str, Any]:
    view = args.json("view", "invalid_arguments")
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments")
    errors = block_errors(view.get("blocks", []), limit=MAX_VIEW_BLOCKS) + view_errors(view)
    if view.get("type") not in ("modal", "home"):
        errors.append("must be a valid enum value [json-pointer:/view/type]")
    if view.get("type") == "modal":
        title = view.get("title")
        text = title.get("text", "") if isinstance(title, dict) else ""
        if not text or len(text) > MAX_TITLE:
            errors.append("must be less than 25 characters [json-pointer:/view/title/text]")
    if errors:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
        )
    return view


def _store(ws: Workspace, view: dict[str, Any], user: str, view_id: str | None = None,
           root_id: str | None = None, previous_id: str | None = None) -> dict[str, Any]:
    view_id = view_id or ws.new_id("V")
    stored = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": view.get("blocks", []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "clear_on_close": bool(view.get("clear_on_close")),
        "notify_on_close": bool(view.get("notify_on_close")),
        "state": {"values": {}},
        "hash": f"{int(ws.clock())}.{ws.new_id('h')}",
        "previous_view_id": previous_id,
        "root_view_id": root_id or view_id,
        "app_id": ws.app_id,
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }
    ws.views[view_id] = stored
    ws.view_users[view_id] = user
    ws.closed_views.discard(view_id)
    return {"view": copy.deepcopy(stored)}


def views_open(ws: Workspace, args: Args) -> dict[str, Any]:
    view = _view_input(ws, args)
    user = _use_trigger(ws, args.str("trigger_id"))
    return _store(ws, view, user)


def views_push(ws: Workspace, args: Args) -> dict[str, Any]:
    view = _view_input(ws, args)
    user = _use_trigger(ws, args.str("trigger_id"))
    open_ids = [v for v, u in ws.view_users.items() if u == user and v not in ws.closed_views]
    previous = open_ids[-1] if open_ids else None
    root = ws.views[previous]["root_view_id"] if previous else None
    return _store(ws, view, user, root_id=root, previous_id=previous)


def views_update(ws: Workspace, args: Args) -> dict[str, Any]:
    view = _view_input(ws, args)
    current = _find_view(ws, args.str("view_id"), args.str("external_id"))
    expected = args.str("hash")
    if expected and expected != current["hash"]:
        raise ApiError("hash_conflict")
    return _store(
        ws, view, ws.view_users[current["id"]], view_id=current["id"],
        root_id=current["root_view_id"], previous_id=current["previous_view_id"],
    )


def views_publish(ws: Workspace, args: Args) -> dict[str, Any]:
    view = _view_input(ws, args)
    user = args.str("user_id") or ""
    if user not in ws.users:
        raise ApiError("user_not_found")
    home = next(
        (v for v, u in ws.view_users.items() if u == user and ws.views[v]["type"] == "home"), None
    )
    return _store(ws, view, user, view_id=home)


def _find_view(ws: Workspace, view_id: str | None, external_id: str | None) -> dict[str, Any]:
    for view in ws.views.values():
        if (view_id and view["id"] == view_id) or (
            external_id and view["external_id"] == external_id
        ):
            return view
    raise ApiError("not_found")


METHODS = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
}
