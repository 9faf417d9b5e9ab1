"""Answering one Web API call: faults, rate limits, auth, the method, the record."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.fakeslack import chat, conversations, directory, files, markup, socket_mode, views
from bot.fakeslack.args import ApiError, Args, normalize
from bot.fakeslack.state import ApiCall, Workspace

Method = Callable[[Workspace, Args], dict[str, Any]]

METHODS: dict[str, Method] = {
    **chat.METHODS,
    **conversations.METHODS,
    **directory.METHODS,
    **files.METHODS,
    **views.METHODS,
}


@dataclass
class ApiResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def call_method(ws: Workspace, method: str, raw_args: dict[str, Any], token: str | None) -> ApiResult:
    """Answer a call as Slack would, and record it in `ws.calls`."""
    with ws.lock:
        args = normalize(raw_args)
        result = _answer(ws, method, args, token)
        ws.calls.append(
            ApiCall(method, copy.deepcopy(args), copy.deepcopy(result.body), result.status,
                    ws.clock())
        )
        return result


def _answer(ws: Workspace, method: str, args: dict[str, Any], token: str | None) -> ApiResult:
    refused = _injected_fault(ws, method) or _rate_limited(ws, method)
    if refused:
        return refused
    if not token:
        return _error("not_authed")
    if token in ws.app_tokens or method in socket_mode.APP_METHODS:
        if token not in ws.app_tokens:
            return _error("invalid_auth" if token not in ws.tokens else "not_allowed_token_type")
        if method not in socket_mode.APP_METHODS:
            return _error("not_allowed_token_type")
        return _call(ws, socket_mode.APP_METHODS[method], args)
    if token not in ws.tokens:
        return _error("invalid_auth")
    handler = METHODS.get(method)
    if handler is None:
        return _error("unknown_method", req_method=method)
    refused = _unescaped_markup(ws, method, args)
    return refused or _call(ws, handler, args)


def _unescaped_markup(ws: Workspace, method: str, args: dict[str, Any]) -> ApiResult | None:
    """Refuse text Slack would parse as markup the bot cannot mean (markup.py)."""
    if not ws.check_markup:
        return None
    channel = ws.channels.get(str(args.get("channel", "")))
    errors = markup.call_errors(method, args, to_channel=bool(channel and not channel.is_im))
    if not errors:
        return None
    ws.markup_violations.append((method, errors))
    return _error("unescaped_markup", errors=errors,
                  response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


def _call(ws: Workspace, handler: Method, args: dict[str, Any]) -> ApiResult:
    try:
        body = handler(ws, Args(args))
    except ApiError as error:
        return _error(error.error, **error.extra)
    return ApiResult(200, {"ok": True, **body})


def _error(error: str, **extra: Any) -> ApiResult:
    return ApiResult(200, {"ok": False, "error": error, **extra})


def _injected_fault(ws: Workspace, method: str) -> ApiResult | None:
    pending = ws.faults.get(method)
    if not pending:
        return None
    fault = pending[0]
    fault.remaining -= 1
    if fault.remaining <= 0:
        pending.pop(0)
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    return ApiResult(fault.status, {"ok": False, "error": fault.error}, headers)


def _rate_limited(ws: Workspace, method: str) -> ApiResult | None:
    if ws.rate_per_second is None:
        return None
    now = ws.clock()
    recent = [t for t in ws.recent_calls.get(method, []) if now - t < 1.0]
    if len(recent) >= ws.rate_per_second:
        ws.recent_calls[method] = recent
        return ApiResult(
            429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(ws.rate_retry_after)}
        )
    recent.append(now)
    ws.recent_calls[method] = recent
    return None
