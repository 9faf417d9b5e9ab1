"""response_url endpoints: what a POST to one shows, and to whom."""

from __future__ import annotations

import copy
from typing import Any

from bot.fakeslack import markup
from bot.fakeslack.args import ApiError
from bot.fakeslack.chat import message_content, post_ephemeral, post_message
from bot.fakeslack.state import (
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL,
    ResponseHook,
    ResponsePost,
    Workspace,
)


def post_to_response_url(ws: Workspace, hook_id: str, payload: Any) -> tuple[int, dict[str, Any]]:
    """Apply a response_url POST; returns the HTTP status and JSON body to answer with."""
    with ws.lock:
        status, result = _answer(ws, hook_id, payload)
        ws.responses.append(
            ResponsePost(hook_id, copy.deepcopy(payload) if isinstance(payload, dict) else {},
                         status, result)
        )
        return status, result


def _answer(ws: Workspace, hook_id: str, payload: Any) -> tuple[int, dict[str, Any]]:
    hook = ws.hooks.get(hook_id)
    if hook is None:
        return 404, {"ok": False, "error": "no_active_hooks"}
    if ws.clock() - hook.created > RESPONSE_URL_TTL:
        return 404, {"ok": False, "error": "expired_url"}
    if hook.uses >= RESPONSE_URL_MAX_USES:
        return 404, {"ok": False, "error": "used_url"}
    if not isinstance(payload, dict):
        return 400, {"ok": False, "error": "invalid_payload"}
    hook.uses += 1
    errors = markup.message_errors(payload) if ws.check_markup else []
    if errors:
        ws.markup_violations.append(("response_url", errors))
        return 400, {"ok": False, "error": "unescaped_markup", "errors": errors}
    try:
        _apply(ws, hook, payload)
    except ApiError as error:
        return 400, {"ok": False, "error": error.error, **error.extra}
    return 200, {"ok": True}


def _apply(ws: Workspace, hook: ResponseHook, payload: dict[str, Any]) -> None:
    if payload.get("delete_original"):
        _delete_original(ws, hook)
        return
    content = message_content(payload)
    if payload.get("replace_original") and hook.original_ts:
        _replace_original(ws, hook, content)
    elif payload.get("response_type") == "in_channel":
        channel = ws.channels.get(hook.channel) or ws.im_with(hook.user)
        post_message(ws, channel, content, payload.get("thread_ts"))
    else:
        post_ephemeral(ws, hook.channel, hook.user, content, "response_url",
                       payload.get("thread_ts"))


def _original(ws: Workspace, hook: ResponseHook) -> dict[str, Any]:
    if hook.original_ephemeral:
        found = ws.find_ephemeral(hook.original_ts or "")
    else:
        found = ws.find_message(hook.channel, hook.original_ts or "")
    if found is None:
        raise ApiError("message_not_found")
    return found


def _replace_original(ws: Workspace, hook: ResponseHook, content: dict[str, Any]) -> None:
    original = _original(ws, hook)
    # A replacement is a whole new message: what it leaves out is gone.
    for key in ("text", "blocks", "attachments"):
        original.pop(key, None)
    original.update({"text": "", **content})
    if not hook.original_ephemeral:
        original["edited"] = {"user": ws.bot_user_id, "ts": ws.new_ts()}


def _delete_original(ws: Workspace, hook: ResponseHook) -> None:
    if not hook.original_ts:
        raise ApiError("message_not_found")
    original = _original(ws, hook)
    if hook.original_ephemeral:
        ws.ephemeral_messages.remove(original)
    else:
        ws.history[hook.channel].remove(original)
