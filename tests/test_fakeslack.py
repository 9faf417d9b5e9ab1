"""The local Slack-compatible server, driven by slack_sdk's real WebClient,
and the signed-request client, checked by slack_sdk's verifier and a Bolt app."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.fakeslack import (
    BOT_TOKEN,
    BOT_USER_ID,
    RunningServer,
    SlackClient,
    Workspace,
    create_app,
    serve_in_thread,
    sign,
)

SECRET = "test-signing-secret"
PAYMENTS = "C0PAYMENTS"
QUIET = "C0QUIET"  # the bot is not a member


def button(action_id: str, value: str, text: str = "Go") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "value": value,
        "text": {"type": "plain_text", "text": text},
    }


def alert_blocks() -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Disk full* on db-1"}},
        {
            "type": "actions",
            "block_id": "alert",
            "elements": [button("alert_ack", "a1", "Acknowledge"), button("alert_resolve", "a1")],
        },
    ]


@pytest.fixture
def workspace() -> Workspace:
    return Workspace.from_config(
        users={
            "U0ALICE": {"name": "alice", "tz": "Europe/Berlin", "email": "alice@example.com"},
            "U0BOB": {"name": "bob", "tz": "America/New_York"},
            "U0CAROL": {"name": "carol"},
        },
        channels=[
            {"id": PAYMENTS, "name": "payments", "members": ["U0ALICE", "U0BOB"]},
            {"id": QUIET, "name": "quiet", "members": ["U0ALICE"], "bot_member": False},
        ],
        usergroups={"S0PAYONCALL": {"handle": "payments-oncall", "users": ["U0ALICE"]}},
    )


@pytest.fixture
def server(workspace: Workspace) -> Iterator[RunningServer]:
    running = serve_in_thread(create_app(workspace))
    yield running
    running.stop()


@pytest.fixture
def web(server: RunningServer) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=server.api_url, timeout=5)


def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------- Web API


def test_auth_test_and_bad_tokens(server: RunningServer, web: WebClient) -> None:
    me = web.auth_test()
    assert me["user_id"] == BOT_USER_ID and me["team_id"] == "T0ATBAT"
    bad = slack_error(WebClient(token="xoxb-wrong", base_url=server.api_url).auth_test)
    assert bad.response["error"] == "invalid_auth"
    # The token may also come as a form field instead of the Authorization header.
    raw = requests.post(server.api_url + "auth.test", data={"token": BOT_TOKEN}, timeout=5)
    assert raw.json()["ok"] is True
    missing = requests.post(server.api_url + "auth.test", timeout=5)
    assert missing.status_code == 200 and missing.json()["error"] == "not_authed"


def test_post_update_delete_and_permalink(workspace: Workspace, web: WebClient) -> None:
    posted = web.chat_postMessage(channel=PAYMENTS, text="Disk full", blocks=alert_blocks())
    ts = posted["ts"]
    assert posted["channel"] == PAYMENTS and posted["message"]["blocks"] == alert_blocks()
    reply = web.chat_postMessage(channel=PAYMENTS, text="acked by alice", thread_ts=ts)
    assert float(reply["ts"]) > float(ts)

    web.chat_update(channel=PAYMENTS, ts=ts, text="Disk full (acknowledged)")
    [stored] = workspace.messages(PAYMENTS)
    assert stored["text"] == "Disk full (acknowledged)"
    assert stored["blocks"] == alert_blocks()  # an update without blocks keeps them
    assert stored["reply_count"] == 1
    assert [m["text"] for m in workspace.replies(PAYMENTS, ts)] == ["acked by alice"]

    link = web.chat_getPermalink(channel=PAYMENTS, message_ts=reply["ts"])["permalink"]
    assert link.startswith(f"https://atbat.slack.com/archives/{PAYMENTS}/p")
    assert f"thread_ts={ts}" in link

    web.chat_delete(channel=PAYMENTS, ts=reply["ts"])
    assert workspace.replies(PAYMENTS, ts) == []
    assert slack_error(lambda: web.chat_update(channel=PAYMENTS, ts="1.000001", text="x")).response[
        "error"
    ] == "message_not_found"


def test_message_validation_errors(web: WebClient) -> None:
    def error_of(**kwargs: Any) -> str:
        return slack_error(lambda: web.chat_postMessage(**kwargs)).response["error"]

    assert error_of(channel="C0NOPE", text="hi") == "channel_not_found"
    assert error_of(channel=QUIET, text="hi") == "not_in_channel"
    assert error_of(channel=PAYMENTS) == "no_text"
    assert error_of(channel=PAYMENTS, text="x" * 40_001) == "msg_too_long"
    divider = {"type": "divider"}
    too_many = slack_error(lambda: web.chat_postMessage(channel=PAYMENTS, blocks=[divider] * 51))
    assert too_many.response["error"] == "invalid_blocks"
    assert "no more than 50 items allowed [json-pointer:/blocks]" in too_many.response["errors"]
    long_button = [{"type": "actions", "elements": [button("b", "v", "x" * 76)]}]
    assert error_of(channel=PAYMENTS, blocks=long_button) == "invalid_blocks"
    assert error_of(channel=PAYMENTS, text="hi", thread_ts="123.000001") == "thread_not_found"


MEANT = ["<@U0ALICE> &amp; <#C0PAYMENTS|payments> <@U0BOB|bob>",
         "<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>",
         "<!date^1700000000^{time}^https://x.example/a|22:13>",
         "<https://x.example/a?b=1&amp;c=2|a &lt;link&gt;> <mailto:a@example.com|mail>",
         "> a quote\n>>> and more", "a\ttab\nline"]
LEAKS = ["<!channel> hi", "<!here>", "<!everyone>", "<!subteam^S0PAYONCALL>", "a & b",
         "lasted <1m", "1 > 0", "<javascript:alert(1)|x>", "<@U0ALICE", "cut &amp",
         "\x1b[31m red", "\u202eevil", "zero\u200bwidth", "private \ue000 use"]


@pytest.mark.parametrize("text", MEANT)
def test_entities_the_bot_means_pass(workspace: Workspace, web: WebClient, text: str) -> None:
    section = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    assert web.chat_postMessage(channel=PAYMENTS, text=text, blocks=section)["ok"]
    assert workspace.markup_violations == []


@pytest.mark.parametrize("text", LEAKS)
def test_unescaped_markup_is_refused_wherever_slack_parses_text(
        workspace: Workspace, web: WebClient, text: str) -> None:
    def refused(call: Any) -> list[str]:
        error = slack_error(call).response
        assert error["error"] == "unescaped_markup"
        return error["errors"]

    section = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    field = {"type": "section", "fields": [{"type": "mrkdwn", "text": text}]}
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
    assert refused(lambda: web.chat_postMessage(channel=PAYMENTS, text=text))
    for block in (section, field, context):
        errors = refused(lambda b=block: web.chat_postMessage(channel=PAYMENTS, text="ok",
                                                               blocks=[b]))
        assert all("[json-pointer:/blocks/0/" in e for e in errors), errors
    refused(lambda: web.chat_postEphemeral(channel=PAYMENTS, user="U0ALICE", text=text))
    refused(lambda: web.conversations_setTopic(channel=PAYMENTS, topic=text))
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [section]}
    refused(lambda: web.views_publish(user_id="U0ALICE", view={**view, "type": "home"}))
    assert len(workspace.markup_violations) == 7
    assert workspace.messages(PAYMENTS) == [] and workspace.channels[PAYMENTS].topic == ""


def test_plain_text_is_not_parsed_but_has_no_control_characters(workspace: Workspace,
                                                                  web: WebClient) -> None:
    def header(text: str) -> list[dict[str, Any]]:
        return [{"type": "header", "text": {"type": "plain_text", "text": text}}]

    assert web.chat_postMessage(channel=PAYMENTS, text="ok", blocks=header("a & <b> <!channel>"))
    error = slack_error(lambda: web.chat_postMessage(channel=PAYMENTS, text="ok",
                                                     blocks=header("\u202eevil")))
    assert error.response["errors"] == ["Cf character U+202E [json-pointer:/blocks/0/text/text]"]
    workspace.markup_violations.clear()


def test_only_the_broadcasts_atbat_means_pass(workspace: Workspace, web: WebClient) -> None:
    page = "<!channel> Alert for payments: *critical* &lt;!here&gt;, firing."
    nobody = (":rotating_light: Nobody is on call for *primary* of payments, so atbat paged "
              "<!channel>: *critical* disk full, firing.")
    for text in (page, nobody):
        assert web.chat_postMessage(channel=PAYMENTS, text=text)["ok"]
    for text in (page.replace("&lt;!here&gt;", "<!here>"), f"{page} <!channel>",
                 "<!here> Alert for payments", "Alert for <!channel>"):
        assert slack_error(lambda t=text: web.chat_postMessage(channel=PAYMENTS, text=t))
    section = [{"type": "section", "text": {"type": "mrkdwn", "text": page}}]
    assert slack_error(lambda: web.chat_postMessage(channel=PAYMENTS, text=page, blocks=section))
    assert slack_error(lambda: web.chat_postMessage(channel="U0ALICE", text=page))  # a DM
    assert len(workspace.markup_violations) == 6


def test_post_to_user_id_goes_to_the_bots_dm(workspace: Workspace, web: WebClient) -> None:
    posted = web.chat_postMessage(channel="U0BOB", text="You are on call")
    assert posted["channel"].startswith("D")
    assert [m["text"] for m in workspace.dms("U0BOB")] == ["You are on call"]
    opened = web.conversations_open(users="U0BOB")
    assert opened["channel"]["id"] == posted["channel"]


def test_ephemeral(workspace: Workspace, web: WebClient) -> None:
    sent = web.chat_postEphemeral(channel=PAYMENTS, user="U0ALICE", text="only you")
    [shown] = workspace.ephemerals(user="U0ALICE")
    assert shown["ts"] == sent["message_ts"] and shown["channel"] == PAYMENTS
    assert workspace.ephemerals(user="U0BOB") == []
    outsider = slack_error(
        lambda: web.chat_postEphemeral(channel=PAYMENTS, user="U0CAROL", text="x")
    )
    assert outsider.response["error"] == "user_not_in_channel"


def test_channel_names_and_name_taken(workspace: Workspace, web: WebClient) -> None:
    def error_of(name: str) -> str:
        return slack_error(lambda: web.conversations_create(name=name)).response["error"]

    assert error_of("Inc-Upper") == "invalid_name_specials"
    assert error_of("inc disk") == "invalid_name_specials"
    assert error_of("x" * 81) == "invalid_name_maxlength"
    assert error_of("---") == "invalid_name_punctuation"
    assert error_of("") == "invalid_name_required"
    assert error_of("payments") == "name_taken"

    created = web.conversations_create(name="inc-20261102-" + "d" * 67)["channel"]
    assert len(created["name"]) == 80 and created["is_member"] is True
    web.conversations_archive(channel=created["id"])
    assert error_of(created["name"]) == "name_taken"  # archived names stay taken


def test_invite_topic_info_members(workspace: Workspace, web: WebClient) -> None:
    channel = web.conversations_create(name="inc-disk")["channel"]["id"]
    web.conversations_invite(channel=channel, users="U0ALICE,U0BOB")
    assert set(web.conversations_members(channel=channel)["members"]) == {
        BOT_USER_ID, "U0ALICE", "U0BOB"
    }

    def invite_error(users: str) -> str:
        return slack_error(
            lambda: web.conversations_invite(channel=channel, users=users)
        ).response["error"]

    assert invite_error("U0ALICE") == "already_in_channel"
    assert invite_error("U0NOBODY") == "user_not_found"
    assert invite_error(BOT_USER_ID) == "cant_invite_self"
    assert invite_error("U0CAROL,U0NOBODY") == "user_not_found"
    assert "U0CAROL" not in workspace.channels[channel].members  # all or nothing

    web.conversations_setTopic(channel=channel, topic="SEV2 | lead @alice | investigating")
    info = web.conversations_info(channel=channel)["channel"]
    assert info["topic"]["value"] == "SEV2 | lead @alice | investigating"
    too_long = slack_error(lambda: web.conversations_setTopic(channel=channel, topic="x" * 251))
    assert too_long.response["error"] == "too_long"


def test_history_and_replies(web: WebClient) -> None:
    first = web.chat_postMessage(channel=PAYMENTS, text="one")["ts"]
    web.chat_postMessage(channel=PAYMENTS, text="two")
    web.chat_postMessage(channel=PAYMENTS, text="in thread", thread_ts=first)
    history = web.conversations_history(channel=PAYMENTS)["messages"]
    assert [m["text"] for m in history] == ["two", "one"]  # newest first, no replies
    thread = web.conversations_replies(channel=PAYMENTS, ts=first)["messages"]
    assert [m["text"] for m in thread] == ["one", "in thread"]


def test_users_info_has_time_zone(web: WebClient) -> None:
    alice = web.users_info(user="U0ALICE")["user"]
    assert alice["tz"] == "Europe/Berlin"
    assert alice["tz_offset"] in (3600, 7200) and alice["tz_label"]
    assert slack_error(lambda: web.users_info(user="U0NOBODY")).response["error"] == "user_not_found"
    by_email = web.users_lookupByEmail(email="alice@example.com")["user"]
    assert by_email["id"] == "U0ALICE"


def test_usergroup_update(workspace: Workspace, web: WebClient) -> None:
    updated = web.usergroups_users_update(usergroup="S0PAYONCALL", users=["U0BOB", "U0CAROL"])
    assert updated["usergroup"]["users"] == ["U0BOB", "U0CAROL"]
    assert web.usergroups_users_list(usergroup="S0PAYONCALL")["users"] == ["U0BOB", "U0CAROL"]
    missing = slack_error(lambda: web.usergroups_users_update(usergroup="S0NOPE", users="U0BOB"))
    assert missing.response["error"] == "no_such_subteam"


def test_pins(workspace: Workspace, web: WebClient) -> None:
    ts = web.chat_postMessage(channel=PAYMENTS, text="summary")["ts"]
    web.pins_add(channel=PAYMENTS, timestamp=ts)
    assert workspace.pins[PAYMENTS] == [ts]
    again = slack_error(lambda: web.pins_add(channel=PAYMENTS, timestamp=ts))
    assert again.response["error"] == "already_pinned"


def test_views_open_needs_a_fresh_trigger(workspace: Workspace, web: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "swap",
        "title": {"type": "plain_text", "text": "Swap shifts"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Pick a shift"}}],
    }
    trigger = workspace.new_trigger_id("U0ALICE")
    view = web.views_open(trigger_id=trigger, view=modal)["view"]
    assert view["callback_id"] == "swap" and view["id"].startswith("V")
    assert [v["id"] for v in workspace.open_views("U0ALICE")] == [view["id"]]
    reused = slack_error(lambda: web.views_open(trigger_id=trigger, view=modal))
    assert reused.response["error"] == "invalid_trigger_id"
    updated = web.views_update(view_id=view["id"], hash=view["hash"], view={**modal, "blocks": []})
    assert updated["view"]["blocks"] == []
    stale = slack_error(lambda: web.views_update(view_id=view["id"], hash=view["hash"], view=modal))
    assert stale.response["error"] == "hash_conflict"


def test_file_upload_flow(workspace: Workspace, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=PAYMENTS, text="run started")["ts"]
    done = web.files_upload_v2(
        channel=PAYMENTS, content="line 1\nline 2\n", filename="output.txt",
        title="Output", initial_comment="full output", thread_ts=parent,
    )
    file_id = done["file"]["id"]
    assert workspace.file_content(file_id) == b"line 1\nline 2\n"
    [shared] = workspace.replies(PAYMENTS, parent)
    assert shared["text"] == "full output" and shared["files"][0]["id"] == file_id
    calls = [c.method for c in workspace.calls]
    assert calls[-2:] == ["files.getUploadURLExternal", "files.completeUploadExternal"]


def test_fail_next_answers_429_with_retry_after(workspace: Workspace, web: WebClient) -> None:
    workspace.fail_next("chat.postMessage", status=429, retry_after=7)
    error = slack_error(lambda: web.chat_postMessage(channel=PAYMENTS, text="storm"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    web.chat_postMessage(channel=PAYMENTS, text="storm")  # only the next call failed

    workspace.fail_next("chat.update", status=503, count=2)
    for _ in range(2):
        assert slack_error(
            lambda: web.chat_update(channel=PAYMENTS, ts="1.1", text="x")
        ).response.status_code == 503

    statuses = [c.status for c in workspace.calls_to("chat.postMessage")]
    assert statuses == [429, 200]
    assert workspace.calls_to("chat.postMessage")[1].args["text"] == "storm"


def test_rate_limit_mode(workspace: Workspace, web: WebClient) -> None:
    workspace.rate_limit(per_second=3, retry_after=2)
    outcomes = []
    for i in range(5):
        try:
            web.chat_postMessage(channel=PAYMENTS, text=f"alert {i}")
            outcomes.append(200)
        except SlackApiError as error:
            outcomes.append(error.response.status_code)
            assert error.response.headers["Retry-After"] == "2"
    assert outcomes == [200, 200, 200, 429, 429]
    assert len(workspace.messages(PAYMENTS)) == 3


def test_unknown_method_and_json_body(server: RunningServer, web: WebClient) -> None:
    error = slack_error(lambda: web.api_call("chat.fly"))
    assert error.response["error"] == "unknown_method"
    # A JSON body with the token in the header, as Bolt's own client sends it.
    sent = requests.post(
        server.api_url + "chat.postMessage",
        json={"channel": PAYMENTS, "blocks": alert_blocks(), "text": "json"},
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        timeout=5,
    )
    assert sent.json()["message"]["blocks"] == alert_blocks()


def test_response_url(workspace: Workspace, server: RunningServer) -> None:
    url = workspace.new_response_url(PAYMENTS, "U0ALICE")
    assert url.startswith(server.url + "/response/")
    hook = WebhookClient(url)
    assert hook.send(text="just you").status_code == 200
    assert hook.send(text="everyone", response_type="in_channel").status_code == 200
    assert [m["text"] for m in workspace.ephemerals(PAYMENTS, "U0ALICE")] == ["just you"]
    assert [m["text"] for m in workspace.messages(PAYMENTS)] == ["everyone"]
    for _ in range(3):
        hook.send(text="more")
    assert hook.send(text="sixth").status_code == 404  # five uses, as Slack allows


def test_response_url_replaces_and_deletes_the_original(workspace: Workspace, web: WebClient) -> None:
    ts = web.chat_postMessage(channel=PAYMENTS, text="alert", blocks=alert_blocks())["ts"]
    replace = WebhookClient(workspace.new_response_url(PAYMENTS, "U0ALICE", original_ts=ts))
    replace.send(text="acknowledged", replace_original=True)
    [message] = workspace.messages(PAYMENTS)
    assert message["text"] == "acknowledged" and "blocks" not in message
    replace.send(text="", delete_original=True)
    assert workspace.messages(PAYMENTS) == []


def test_sandbox_state(workspace: Workspace, server: RunningServer, web: WebClient) -> None:
    ts = web.chat_postMessage(channel=PAYMENTS, text="top")["ts"]
    web.chat_postMessage(channel=PAYMENTS, text="reply", thread_ts=ts)
    web.chat_postEphemeral(channel=PAYMENTS, user="U0BOB", text="psst")
    state = requests.get(server.url + "/_sandbox/state", timeout=5).json()
    payments = next(c for c in state["channels"] if c["id"] == PAYMENTS)
    assert [m["text"] for m in payments["messages"]] == ["top"]
    assert [r["text"] for r in payments["messages"][0]["replies"]] == ["reply"]
    assert [e["text"] for e in state["ephemerals"]["U0BOB"]] == ["psst"]
    assert {u["id"] for u in state["users"]} >= {"U0ALICE", "U0BOB", BOT_USER_ID}


def test_wait_for_returns_the_value_or_times_out(workspace: Workspace) -> None:
    assert workspace.wait_for(lambda: [1], timeout=0.1) == [1]
    with pytest.raises(TimeoutError):
        workspace.wait_for(lambda: workspace.messages(PAYMENTS), timeout=0.05)


# ---------------------------------------------------------------- signed requests to the app


class Recorder:
    """A stand-in app that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = Flask("recorder")
        self.app.add_url_rule("/slack/events", "events", self.events, methods=["POST"])

    def events(self) -> tuple[str, int]:
        self.received.append(
            {"body": request.get_data(as_text=True), "headers": dict(request.headers),
             "form": request.form.to_dict()}
        )
        return "", 200


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, RunningServer]]:
    rec = Recorder()
    running = serve_in_thread(rec.app)
    yield rec, running
    running.stop()


def test_signature_verifies_with_slack_sdk(
    workspace: Workspace, server: RunningServer, recorder: tuple[Recorder, RunningServer]
) -> None:
    rec, app_server = recorder
    client = SlackClient(workspace, app_server.url, SECRET)
    assert client.slash("who payments", user="U0ALICE", channel=PAYMENTS).status_code == 200
    [got] = rec.received
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(got["body"], got["headers"])
    assert not SignatureVerifier("other-secret").is_valid_request(got["body"], got["headers"])
    form = got["form"]
    assert form["command"] == "/oncall" and form["text"] == "who payments"
    assert form["user_id"] == "U0ALICE" and form["user_name"] == "alice"
    assert form["channel_name"] == "payments" and form["team_id"] == "T0ATBAT"
    assert form["response_url"].startswith(server.url + "/response/")
    assert sign(SECRET, got["headers"]["X-Slack-Request-Timestamp"], got["body"]) == got[
        "headers"
    ]["X-Slack-Signature"]


def test_slash_retry_headers_stale_timestamp_and_replay(
    workspace: Workspace, recorder: tuple[Recorder, RunningServer]
) -> None:
    rec, app_server = recorder
    client = SlackClient(workspace, app_server.url, SECRET)
    client.slash("who", user="U0ALICE", channel=PAYMENTS, retry_num=1)
    assert rec.received[0]["headers"]["X-Slack-Retry-Num"] == "1"
    first = client.last_request
    client.replay(first, retry_num=2)
    assert rec.received[1]["body"] == rec.received[0]["body"]
    assert rec.received[1]["headers"]["X-Slack-Signature"] == first.headers["X-Slack-Signature"]
    assert rec.received[1]["headers"]["X-Slack-Retry-Num"] == "2"
    old = int(time.time()) - 600
    client.slash("who", user="U0ALICE", channel=PAYMENTS, timestamp=old)
    stale = rec.received[2]
    assert not SignatureVerifier(SECRET).is_valid_request(stale["body"], stale["headers"])
    # Each command gets its own trigger_id.
    assert rec.received[0]["form"]["trigger_id"] != rec.received[2]["form"]["trigger_id"]


def test_click_sends_block_actions(
    workspace: Workspace, web: WebClient, recorder: tuple[Recorder, RunningServer]
) -> None:
    rec, app_server = recorder
    client = SlackClient(workspace, app_server.url, SECRET)
    web.chat_postMessage(channel=PAYMENTS, text="alert", blocks=alert_blocks())
    [message] = workspace.messages(PAYMENTS)
    client.click(message, "alert_ack", user="U0BOB", channel=PAYMENTS)
    payload = json.loads(rec.received[0]["form"]["payload"])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0BOB" and payload["channel"]["id"] == PAYMENTS
    assert payload["container"] == {
        "type": "message", "message_ts": message["ts"], "channel_id": PAYMENTS,
        "is_ephemeral": False,
    }
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == ("alert_ack", "alert", "a1")
    assert payload["message"]["blocks"] == alert_blocks()
    assert client.last_request.payload == payload
    with pytest.raises(LookupError):
        client.click(message, "no_such_button", user="U0BOB", channel=PAYMENTS)


# ---------------------------------------------------------------- a real Bolt app end to end


@pytest.fixture
def bolt_app(workspace: Workspace, server: RunningServer) -> Iterator[RunningServer]:
    bolt = App(
        signing_secret=SECRET,
        client=WebClient(token=BOT_TOKEN, base_url=server.api_url, timeout=5),
    )

    @bolt.command("/oncall")
    def oncall(ack: Any, respond: Any, command: dict[str, Any], client: WebClient) -> None:
        ack()
        if command["text"] == "page":
            client.chat_postMessage(channel=command["channel_id"], text="page",
                                    blocks=alert_blocks())
        else:
            respond(f"you said {command['text']}")

    @bolt.action("alert_ack")
    def acked(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        ack()
        respond(text=f"acknowledged by <@{body['user']['id']}>", replace_original=True)

    flask_app = Flask("bolt")
    handler = SlackRequestHandler(bolt)
    flask_app.add_url_rule(
        "/slack/events", "events", lambda: handler.handle(request), methods=["POST"]
    )
    running = serve_in_thread(flask_app)
    yield running
    running.stop()


def test_bolt_app_round_trip(workspace: Workspace, bolt_app: RunningServer) -> None:
    client = SlackClient(workspace, bolt_app.url, SECRET)
    assert client.slash("hello", user="U0ALICE", channel=PAYMENTS).status_code == 200
    shown = workspace.wait_for(lambda: workspace.ephemerals(PAYMENTS, "U0ALICE"))
    assert shown[0]["text"] == "you said hello"

    client.slash("page", user="U0ALICE", channel=PAYMENTS)
    [alert] = workspace.wait_for(lambda: workspace.messages(PAYMENTS))
    assert client.click(alert, "alert_ack", user="U0BOB", channel=PAYMENTS).status_code == 200
    workspace.wait_for(lambda: workspace.messages(PAYMENTS)[0]["text"].startswith("acknowledged"))
    assert workspace.messages(PAYMENTS)[0]["text"] == "acknowledged by <@U0BOB>"

    forged = SlackClient(workspace, bolt_app.url, "wrong-secret")
    assert forged.slash("hello", user="U0ALICE", channel=PAYMENTS).status_code == 401


def test_click_on_an_ephemeral_and_its_replacement(
    workspace: Workspace, web: WebClient, recorder: tuple[Recorder, RunningServer]
) -> None:
    rec, app_server = recorder
    client = SlackClient(workspace, app_server.url, SECRET)
    web.chat_postEphemeral(channel=PAYMENTS, user="U0BOB", text="swap?", blocks=[
        {"type": "actions", "block_id": "swap", "elements": [button("swap_accept", "s1")]},
    ])
    [offer] = workspace.ephemerals(user="U0BOB")
    client.click(offer, "swap_accept", user="U0BOB", channel=PAYMENTS)
    payload = client.last_request.payload
    assert payload is not None and "message" not in payload  # Slack sends none for ephemerals
    assert payload["container"]["is_ephemeral"] is True
    WebhookClient(payload["response_url"]).send(text="Swap accepted", replace_original=True)
    [shown] = workspace.ephemerals(user="U0BOB")
    assert shown["text"] == "Swap accepted" and "blocks" not in shown


def test_submit_view_closes_it_and_sends_state(
    workspace: Workspace, web: WebClient, recorder: tuple[Recorder, RunningServer]
) -> None:
    rec, app_server = recorder
    client = SlackClient(workspace, app_server.url, SECRET)
    modal = {
        "type": "modal",
        "callback_id": "note",
        "title": {"type": "plain_text", "text": "Add a note"},
        "blocks": [{"type": "input", "block_id": "note",
                    "label": {"type": "plain_text", "text": "Note"},
                    "element": {"type": "plain_text_input", "action_id": "text"}}],
    }
    view = web.views_open(trigger_id=workspace.new_trigger_id("U0ALICE"), view=modal)["view"]
    client.submit_view(view, "U0ALICE", {"note": {"text": "rolled back"}})
    payload = client.last_request.payload
    assert payload is not None and payload["type"] == "view_submission"
    assert payload["view"]["state"]["values"] == {
        "note": {"text": {"type": "plain_text_input", "value": "rolled back"}}
    }
    assert workspace.open_views("U0ALICE") == []
    assert client.mention("U0BOB") == "<@U0BOB|bob>"
