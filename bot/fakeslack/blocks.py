"""Block Kit checks, with Slack's limits and its error wording.

Slack answers `invalid_blocks` with messages like
`no more than 50 items allowed [json-pointer:/blocks]`; these checks produce
the same messages for the limits a bot is likely to hit. Every block is also
parsed and validated by Slack's own SDK models (`slack_sdk.models`), which know
each element's limits; the checks here add what the SDK does not check (blocks
per message or view, unique block ids, a fallback `text` with every `blocks`).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

BLOCK_TYPES = {
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
}
TEXT_TYPES = {"plain_text", "mrkdwn"}


def block_errors(blocks: Any, limit: int = 50) -> list[str]:
    """Slack-style error messages for a list of blocks; empty when valid."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            errors.append(f"must provide a valid block type [json-pointer:{pointer}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > 255:
                errors.append(f"must be less than 256 characters [json-pointer:{pointer}/block_id]")
            if block_id in seen_ids:
                errors.append(f"duplicate block_id [json-pointer:{pointer}/block_id]")
            seen_ids.add(block_id)
        errors.extend(_block_errors(block, pointer))
        errors.extend(_sdk_errors(block, pointer))
    return errors


def _sdk_errors(block: dict[str, Any], pointer: str) -> list[str]:
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [f"must provide a valid block type [json-pointer:{pointer}]"]
        parsed.validate_json()
    except SlackObjectFormationError as exc:
        return [f"{exc} [json-pointer:{pointer}]"]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return [f"invalid block ({type(exc).__name__}: {exc}) [json-pointer:{pointer}]"]
    return []


def view_errors(view: dict[str, Any]) -> list[str]:
    """What Slack's SDK model of a view refuses (title, blocks, submit ...)."""
    if not view.get("blocks"):
        return []  # Slack takes an empty view; the SDK model would not
    try:
        View(**view).validate_json()
    except SlackObjectFormationError as exc:
        return [f"{exc} [json-pointer:/view]"]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return [f"invalid view ({type(exc).__name__}: {exc}) [json-pointer:/view]"]
    return []


def fallback_errors(text: Any, blocks: Any) -> list[str]:
    """A message with blocks must carry a top-level `text`: notifications, screen
    readers and clients without Block Kit show only that."""
    if blocks and not (isinstance(text, str) and text.strip()):
        return ["a top-level text fallback is required with blocks [json-pointer:/text]"]
    return []


def _block_errors(block: dict[str, Any], pointer: str) -> list[str]:
    kind = block["type"]
    if kind == "section":
        return _section_errors(block, pointer)
    if kind == "header":
        return _text_errors(block.get("text"), f"{pointer}/text", 150, plain_only=True)
    if kind == "actions":
        return _elements_errors(block.get("elements"), f"{pointer}/elements", 25)
    if kind == "context":
        return _list_size_errors(block.get("elements"), f"{pointer}/elements", 10)
    return []


def _section_errors(block: dict[str, Any], pointer: str) -> list[str]:
    errors: list[str] = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        errors.append(f"must provide either text or fields [json-pointer:{pointer}]")
    if text is not None:
        errors.extend(_text_errors(text, f"{pointer}/text", 3000))
    if fields is not None:
        errors.extend(_list_size_errors(fields, f"{pointer}/fields", 10))
        for i, item in enumerate(fields if isinstance(fields, list) else []):
            errors.extend(_text_errors(item, f"{pointer}/fields/{i}", 2000))
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        errors.extend(_element_errors(accessory, f"{pointer}/accessory"))
    return errors


def _list_size_errors(items: Any, pointer: str, maximum: int) -> list[str]:
    if not isinstance(items, list) or not items:
        return [f"must provide at least 1 item [json-pointer:{pointer}]"]
    if len(items) > maximum:
        return [f"no more than {maximum} items allowed [json-pointer:{pointer}]"]
    return []


def _elements_errors(elements: Any, pointer: str, maximum: int) -> list[str]:
    errors = _list_size_errors(elements, pointer, maximum)
    if errors:
        return errors
    for i, element in enumerate(elements):
        errors.extend(_element_errors(element, f"{pointer}/{i}"))
    return errors


def _element_errors(element: Any, pointer: str) -> list[str]:
    if not isinstance(element, dict) or "type" not in element:
        return [f"must provide an object with a type [json-pointer:{pointer}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and len(str(action_id)) > 255:
        errors.append(f"must be less than 256 characters [json-pointer:{pointer}/action_id]")
    if element["type"] == "button":
        errors.extend(_text_errors(element.get("text"), f"{pointer}/text", 75, plain_only=True))
        value = element.get("value")
        if value is not None and len(str(value)) > 2000:
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be a valid enum value [json-pointer:{pointer}/style]")
    return errors


def _text_errors(text: Any, pointer: str, maximum: int, plain_only: bool = False) -> list[str]:
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if not isinstance(text, dict) or text.get("type") not in allowed:
        return [f"must provide a valid text object [json-pointer:{pointer}]"]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(value) > maximum:
        return [f"must be less than {maximum + 1} characters [json-pointer:{pointer}/text]"]
    return []
