"""manifest.yml is a valid Slack app manifest that grants exactly the scopes atbat uses.

The schema in tests/schemas/slack_app_manifest.schema.json is Slack's own, vendored
verbatim from the public repository slackapi/manifest-schema, file
schemas/manifest.schema.1.0.0.json (commit 19557f58d932d71155ce85c581dc7c72637abe1c).
That repository's top-level manifest.schema.json dispatches on
`_metadata.major_version` and sends version 1 manifests (classic apps such as atbat,
which Slack does not host) to this file.

One quirk of the published schema: `display_information.background_color` spells its
pattern `regex`, a keyword JSON Schema does not know, so validators ignore it. The
test applies that `regex` itself, read from the schema, rather than editing the
vendored file.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.yml"
SCHEMA = Path(__file__).parent / "schemas" / "slack_app_manifest.schema.json"
EVENTS_PATH = "/slack/events"  # the one Bolt endpoint, see DESIGN.md "Processes"

# What atbat does in Slack and the bot scope Slack's method reference requires for it.
# A scope in the manifest that appears nowhere here is a scope nothing needs.
NEEDS: list[tuple[str, str]] = [
    ("/oncall slash command", "commands"),
    ("chat.postMessage", "chat:write"),
    ("chat.update", "chat:write"),
    ("chat.postEphemeral", "chat:write"),
    ("chat.delete", "chat:write"),
    ("chat.postMessage to a public channel atbat is not in", "chat:write.public"),
    ("conversations.open", "im:write"),
    ("users.info", "users:read"),
    ("conversations.info (public channel)", "channels:read"),
    ("conversations.members (public channel)", "channels:read"),
    ("conversations.info (private channel)", "groups:read"),
    ("conversations.create", "channels:manage"),
    ("conversations.invite", "channels:manage"),
    ("conversations.setTopic", "channels:manage"),
    ("conversations.setPurpose", "channels:manage"),
    ("conversations.archive", "channels:manage"),
    ("conversations.join", "channels:join"),
    ("pins.add", "pins:write"),
    ("files.getUploadURLExternal", "files:write"),
    ("files.completeUploadExternal", "files:write"),
    ("usergroups.users.list", "usergroups:read"),
    ("usergroups.users.update", "usergroups:write"),
]


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    """Every reason the manifest is invalid, as 'key.path: message' lines."""
    schema = load_schema()
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]
    color_rule = schema["definitions"]["app-manifests.v1.display_information.schema"]
    color_regex = color_rule["properties"]["background_color"]["regex"]
    color = manifest.get("display_information", {}).get("background_color")
    if isinstance(color, str) and not re.search(color_regex, color):
        errors.append(f"display_information.background_color: {color!r} !~ {color_regex}")
    return errors


def oncall_command(manifest: dict[str, Any]) -> dict[str, Any]:
    commands = manifest["features"]["slash_commands"]
    matching = [c for c in commands if c["command"] == "/oncall"]
    assert len(matching) == 1, f"expected one /oncall command, got {commands}"
    return matching[0]


def test_vendored_schema_is_a_valid_draft7_schema() -> None:
    schema = load_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)


def test_manifest_validates_against_slack_schema() -> None:
    assert schema_errors(load_manifest()) == []


def test_metadata_selects_the_v1_schema() -> None:
    # Slack's top-level schema sends major_version 1 (or none) to the v1 schema
    # vendored here; a 2 would be checked against the hosted-app schema instead.
    assert load_manifest()["_metadata"]["major_version"] == 1


def test_bot_has_every_scope_its_calls_need() -> None:
    granted = set(load_manifest()["oauth_config"]["scopes"]["bot"])
    missing = [(call, scope) for call, scope in NEEDS if scope not in granted]
    assert missing == []


def test_bot_has_no_scope_that_nothing_needs() -> None:
    granted = load_manifest()["oauth_config"]["scopes"]["bot"]
    assert len(granted) == len(set(granted)), "a scope is listed twice"
    needed = {scope for _, scope in NEEDS}
    assert sorted(set(granted) - needed) == []


def test_no_user_scopes() -> None:
    # atbat acts only as its bot user; a user token would act as whoever installed it.
    scopes = load_manifest()["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}


def test_oncall_command_escapes_mentions_and_posts_to_bolt() -> None:
    command = oncall_command(load_manifest())
    assert command["should_escape"] is True  # mentions arrive as <@U0ALICE|alice>
    assert urlparse(command["url"]).path == EVENTS_PATH
    for word in ("who", "next", "swap @user", "incident", "run RUNBOOK", "help"):
        assert word in command["usage_hint"]


def test_interactivity_posts_to_the_same_endpoint() -> None:
    settings = load_manifest()["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert urlparse(settings["interactivity"]["request_url"]).path == EVENTS_PATH
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert settings["org_deploy_enabled"] is False


def test_events_go_to_the_same_endpoint_and_only_the_home_tab_is_subscribed() -> None:
    manifest = load_manifest()
    events = manifest["settings"]["event_subscriptions"]
    assert urlparse(events["request_url"]).path == EVENTS_PATH
    assert events["bot_events"] == ["app_home_opened"]  # views.publish needs no scope
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_socket_mode_variant_is_also_valid() -> None:
    # The README tells Socket Mode users to flip one flag and drop the URLs.
    manifest = load_manifest()
    manifest["settings"]["socket_mode_enabled"] = True
    del manifest["settings"]["interactivity"]["request_url"]
    del manifest["features"]["slash_commands"][0]["url"]
    assert schema_errors(manifest) == []


def _set(manifest: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = manifest
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value


BROKEN: list[tuple[str, Any, str]] = [
    ("display_information.name", "a" * 36, "display_information.name"),
    ("display_information.description", "d" * 141, "display_information.description"),
    ("display_information.long_description", "too short", "long_description"),
    ("display_information.background_color", "navy", "background_color"),
    ("display_information.homepage", "https://atbat.example.com", "display_information"),
    ("features.bot_user.display_name", "", "features.bot_user.display_name"),
    ("settings.socket_mode_enable", True, "settings"),  # typo of socket_mode_enabled
    ("settings.interactivity.request_url", "atbat.example.com/slack/events", "request_url"),
    ("oauth_config.scopes.bot", "chat:write", "oauth_config.scopes.bot"),
    ("oauth_config.scopes.admin", ["admin"], "oauth_config.scopes"),
    ("unknown_top_level_key", {}, "<root>"),
]


@pytest.mark.parametrize(("path", "value", "reported_at"), BROKEN,
                         ids=[f"{p}={str(v)[:12]}" for p, v, _ in BROKEN])
def test_a_broken_manifest_fails(path: str, value: Any, reported_at: str) -> None:
    manifest = copy.deepcopy(load_manifest())
    _set(manifest, path, value)
    errors = schema_errors(manifest)
    assert errors, f"setting {path} to {value!r} should make the manifest invalid"
    assert any(reported_at in e for e in errors), errors


@pytest.mark.parametrize(("field", "value"), [
    ("command", "oncall"),          # must start with "/"
    ("command", "/" + "x" * 32),    # at most 32 characters
    ("should_escape", "true"),      # a YAML string, not a boolean
    ("usage_hint", "u" * 1001),
    ("description", "d" * 2001),
    ("shortcut", "o"),              # not a slash command field
])
def test_a_broken_slash_command_fails(field: str, value: Any) -> None:
    manifest = copy.deepcopy(load_manifest())
    manifest["features"]["slash_commands"][0][field] = value
    errors = schema_errors(manifest)
    assert any(e.startswith("features.slash_commands.0") for e in errors), errors
