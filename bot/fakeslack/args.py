"""Arguments of a Web API call and the error a method answers with."""

from __future__ import annotations

import contextlib
import json
from typing import Any

# Arguments Slack takes as JSON text in a form body (and as objects in a JSON body).
JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata")


class ApiError(Exception):
    """A Slack error envelope: `{"ok": false, "error": error, **extra}`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Arguments without the token, JSON-text arguments decoded when they parse."""
    args = {k: v for k, v in raw.items() if k != "token"}
    for name in JSON_ARGS:
        value = args.get(name)
        if isinstance(value, str) and value.strip():
            # Left as text when it does not parse; the method answers with its own error.
            with contextlib.suppress(ValueError):
                args[name] = json.loads(value)
    return args


class Args:
    """Typed access to a call's arguments, as Slack reads form or JSON values."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def required(self, name: str, error: str) -> str:
        value = self.str(name)
        if value is None:
            raise ApiError(error)
        return value

    def bool(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true")

    def int(self, name: str, default: int) -> int:
        value = self.values.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments") from None

    def list(self, name: str) -> list[str]:
        value = self.values.get(name)
        if isinstance(value, list):
            return [str(v) for v in value]
        return [part.strip() for part in str(value or "").split(",") if part.strip()]

    def json(self, name: str, error: str) -> Any:
        """A JSON argument as an object; `error` when it is text that does not parse."""
        value = self.values.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError(error) from None
        return value
