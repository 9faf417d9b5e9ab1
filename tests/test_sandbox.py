"""The sandbox end to end without a browser: its page API drives the real bot and worker."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import apprise
import pytest
import redis
import requests
import yaml

from bot.config import load_config
from bot.domain.paging import ContactMethod, Person
from bot.fakeslack.state import StoredFile
from bot.fakeslack.typed import encode_typed
from bot.sandbox.alerts import alertmanager_payload
from bot.sandbox.files import markdown_html
from bot.sandbox.page import SLASH_COMMANDS
from bot.sandbox.people import GENERAL_ID, build_workspace, user_name
from bot.sandbox.phone import SandboxPhone
from bot.sandbox.processes import free_port
from bot.sandbox.run import EXAMPLE_CONFIG, Sandbox
from bot.services import paging
from bot.store import people as people_store

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


def wait_for(what: str, predicate: Callable[[], T], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(EXAMPLE_CONFIG, port=0, state_dir=tmp_path_factory.mktemp("atbat")) as running:
        yield running


def post(sandbox: Sandbox, path: str, **body: Any) -> requests.Response:
    return requests.post(f"{sandbox.url}/_sandbox/{path}", json=body, timeout=10)


def state(sandbox: Sandbox, user: str = "U0ALICE") -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/page-state", params={"user": user},
                        timeout=10).json()


def channel(snapshot: dict[str, Any], channel_id: str) -> dict[str, Any]:
    return next(c for c in snapshot["channels"] if c["id"] == channel_id)


def alert_message(sandbox: Sandbox) -> dict[str, Any] | None:
    for message in channel(state(sandbox), "C0PAYMENTS")["messages"]:
        if "SandboxHighErrorRate" in json.dumps(message.get("blocks") or message.get("text")):
            return message
    return None


# ---------------------------------------------------------------- without servers


def test_workspace_has_everyone_in_the_config_with_team_channels_and_general() -> None:
    config = load_config(EXAMPLE_CONFIG)
    ws = build_workspace(config)
    people = {u for t in config.teams.values() for u in (*t.members, *t.managers)}
    assert people <= set(ws.users)
    assert ws.users["U0ALICE"]["name"] == "alice" and user_name("U0SAM") == "sam"
    assert ws.users["U0FRANK"]["tz"] == "America/New_York"
    assert ws.users["U0ALICE"]["tz"] == "Europe/Berlin"
    assert config.person("U0ERIN").timezone == "Europe/London"  # her own, not payments'
    assert ws.users["U0ERIN"]["tz"] == "Europe/London"
    for team in config.teams.values():
        members = set(ws.channels[team.channel].members)
        assert members == {*team.members, *team.managers, ws.bot_user_id}
        assert ws.channels[team.channel].name == team.name
    assert set(ws.channels[GENERAL_ID].members) == {*people, ws.bot_user_id}
    assert ws.channel_by_name("general") is not None


def test_test_alert_is_alertmanager_v4_naming_a_runbook_with_its_parameter() -> None:
    config = load_config(EXAMPLE_CONFIG)
    now = datetime(2026, 11, 4, 10, 0, tzinfo=UTC)
    firing = alertmanager_payload(config, "search", True, now, now)
    assert firing["version"] == "4" and firing["status"] == "firing"
    runbook = config.runbooks[firing["commonAnnotations"]["atbat_runbook"]]
    assert "search" in runbook.teams
    spec = runbook.params[0]
    assert firing["commonLabels"][spec.name] in (spec.choices or ())
    assert firing["commonLabels"]["team"] == "search"
    resolved = alertmanager_payload(config, "search", False, now, now)
    assert resolved["groupKey"] == firing["groupKey"]
    assert resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"].startswith("2026-11-04T10:00:00")


def test_typed_mentions_become_tokens_as_slack_sends_them() -> None:
    ws = build_workspace(load_config(EXAMPLE_CONFIG))
    assert encode_typed(ws, "swap @bob payments") == "swap <@U0BOB|bob> payments"
    assert encode_typed(ws, "ping @Bob, @carol. and #payments @here") == (
        "ping <@U0BOB|bob>, <@U0CAROL|carol>. and <#C0PAYMENTS|payments> <!here>")
    assert encode_typed(ws, "hi @bob!", labels=False) == "hi <@U0BOB>!"
    # Unknown names, e-mail addresses and typed brackets stay text.
    assert encode_typed(ws, "@nobody bob@bob.com <@U0BOB> a&b") == (
        "@nobody bob@bob.com &lt;@U0BOB&gt; a&amp;b")


def test_markdown_files_render_without_html_or_unsafe_links() -> None:
    html = markdown_html("# Postmortem <script>x()</script>\n\n| a | b |\n|---|---|\n"
                         "| 1 & 2 | [bad](javascript:alert(1)) [ok](https://example.com) |\n\n"
                         "![pic](http://elsewhere.example/p.png)\n\n```\n<b>code</b>\n```")
    assert "<h1>Postmortem &lt;script&gt;x()&lt;/script&gt;</h1>" in html
    assert "<table>" in html and "<td>1 &amp; 2</td>" in html
    assert "javascript:" not in html and "<a>bad</a>" in html
    assert 'href="https://example.com"' in html
    assert "<img" not in html and "elsewhere.example" not in html
    assert "&lt;b&gt;code&lt;/b&gt;" in html


def test_the_page_has_a_text_fallback_for_every_emoji_atbat_writes() -> None:
    """On a machine without an emoji font, an emoji the page does not know would be an empty box."""
    page_js = (ROOT / "bot" / "sandbox" / "static" / "app.js").read_text()
    known = set(re.findall(r"\b([a-z0-9_]+): \[\"", page_js))
    codes: set[str] = set()
    glyphs: set[str] = set()
    for source in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]:
        text = source.read_text()
        for literal in re.findall(r"\"[^\"\n]*\"|'[^'\n]*'", text):
            codes |= set(re.findall(r":([a-z][a-z0-9_+-]*):", literal))
        # Emoji blocks; geometric shapes (▲ ▼ ●) and arrows are text every font has.
        glyphs |= {ch for ch in text if ord(ch) >= 0x1F000 or 0x2300 <= ord(ch) <= 0x23FF
                   or 0x2600 <= ord(ch) <= 0x27BF}
    codes -= {"user", "team", "hist", "channel"}  # key prefixes like "atbat:user:", not emoji
    glyphs -= {"✓"}  # a text symbol every font has
    assert codes and not codes - known, f"emoji without a fallback in app.js: {sorted(codes - known)}"
    unknown = sorted(g for g in glyphs if g not in page_js)
    assert glyphs and not unknown, f"emoji without a fallback in app.js: {unknown}"


def test_the_page_sends_only_the_manifests_slash_commands() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == SLASH_COMMANDS


# ---------------------------------------------------------------- through the page API


def test_page_and_its_assets_are_served_locally(sandbox: Sandbox) -> None:
    html = requests.get(f"{sandbox.url}/", timeout=5).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/_sandbox/static/") or a.startswith("data:") for a in assets)
    for asset in assets:
        if asset.startswith("/"):
            assert requests.get(sandbox.url + asset, timeout=5).status_code == 200
    info = requests.get(f"{sandbox.url}/_sandbox/info", timeout=5).json()
    maya = next(u for u in info["users"] if u["id"] == "U0MAYA")
    assert maya["manager"] and "manager of payments" in maya["role"]
    assert {t["name"] for t in info["teams"]} == {"payments", "search"}


def test_slash_command_reply_is_shown_only_to_who_typed_it(sandbox: Sandbox) -> None:
    answer = post(sandbox, "say", user="U0ALICE", channel="C0PAYMENTS", text="/oncall help")
    assert answer.status_code == 200 and answer.json()["ok"]
    mine = state(sandbox, "U0ALICE")["ephemerals"].get("U0ALICE", [])
    assert any("/oncall help" in m["text"] and m["channel"] == "C0PAYMENTS" for m in mine)
    assert not state(sandbox, "U0BOB")["ephemerals"].get("U0BOB")
    posted = channel(state(sandbox), "C0PAYMENTS")["messages"]
    assert all("/oncall help" not in m.get("text", "") for m in posted)


def test_plain_messages_and_thread_replies_come_from_the_person(sandbox: Sandbox) -> None:
    post(sandbox, "say", user="U0BOB", channel=GENERAL_ID, text="<b>hello</b> everyone")
    parent = channel(state(sandbox), GENERAL_ID)["messages"][-1]
    assert parent["user"] == "U0BOB" and parent["text"] == "&lt;b&gt;hello&lt;/b&gt; everyone"
    post(sandbox, "say", user="U0CAROL", channel=GENERAL_ID, text="hi bob", thread_ts=parent["ts"])
    parent = channel(state(sandbox), GENERAL_ID)["messages"][-1]
    assert parent["reply_count"] == 1
    assert [(r["user"], r["text"]) for r in parent["replies"]] == [("U0CAROL", "hi bob")]


def test_a_typed_at_mention_reaches_atbat_as_a_user(sandbox: Sandbox) -> None:
    answer = post(sandbox, "say", user="U0ALICE", channel="C0PAYMENTS", text="/oncall swap @bob")
    assert answer.json()["ok"]
    sent = sandbox.client.last_request.form
    assert sent["text"] == "swap <@U0BOB|bob>"
    reply = wait_for("the swap answer", lambda: [
        m for m in state(sandbox)["ephemerals"].get("U0ALICE", []) if "swap" in json.dumps(m).lower()])
    assert "as an @mention" not in json.dumps(reply)
    post(sandbox, "say", user="U0ALICE", channel=GENERAL_ID, text="thanks @bob")
    assert channel(state(sandbox), GENERAL_ID)["messages"][-1]["text"] == "thanks <@U0BOB>"


def test_an_unknown_slash_command_is_answered_as_slack_does(sandbox: Sandbox) -> None:
    sent = len(sandbox.client.sent)
    answer = post(sandbox, "say", user="U0CAROL", channel="C0PAYMENTS", text="/deploy now")
    assert answer.status_code == 200
    assert len(sandbox.client.sent) == sent  # nothing reached atbat
    texts = [m["text"] for m in state(sandbox, "U0CAROL")["ephemerals"]["U0CAROL"]]
    assert texts[-1].startswith("/deploy is not a valid command.")


def test_uploaded_files_are_served_pictures_inline_and_the_rest_as_downloads(sandbox: Sandbox) -> None:
    ws = sandbox.workspace
    with ws.lock:
        ws.files["F0PIC"] = StoredFile(id="F0PIC", name="chart.png", length=4, content=b"\x89PNG",
                                       completed=True)
        ws.files["F0DOC"] = StoredFile(id="F0DOC", name="postmortem.md", length=9,
                                       content=b"# Title\n\n<i>x</i>", completed=True)
        ws.files["F0HALF"] = StoredFile(id="F0HALF", name="half.md", length=3, content=b"abc")
    assert ws.files["F0DOC"].to_api()["filetype"] == "markdown"
    picture = requests.get(f"{sandbox.url}/_sandbox/files/F0PIC", timeout=5)
    assert picture.headers["Content-Type"] == "image/png" and picture.content == b"\x89PNG"
    assert "attachment" not in picture.headers.get("Content-Disposition", "")
    download = requests.get(f"{sandbox.url}/_sandbox/files/F0DOC?download=1", timeout=5)
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    preview = requests.get(f"{sandbox.url}/_sandbox/files/F0DOC/preview", timeout=5).json()
    assert preview["html"].startswith("<h1>Title</h1>") and "&lt;i&gt;" in preview["html"]
    assert requests.get(f"{sandbox.url}/_sandbox/files/F0HALF", timeout=5).status_code == 404
    assert requests.get(f"{sandbox.url}/_sandbox/files/F0PIC/preview", timeout=5).status_code == 400


def test_unread_marks_are_kept_per_person_and_people_join_channels(sandbox: Sandbox) -> None:
    assert post(sandbox, "read", user="U0DAVE", channel=GENERAL_ID, ts="1700000000.000002").ok
    post(sandbox, "read", user="U0DAVE", channel=GENERAL_ID, ts="1600000000.000001")  # never backwards
    assert state(sandbox, "U0DAVE")["last_read"] == {GENERAL_ID: "1700000000.000002"}
    assert GENERAL_ID not in state(sandbox, "U0ERIN")["last_read"]
    assert "U0FRANK" not in channel(state(sandbox), "C0PAYMENTS")["members"]
    assert post(sandbox, "join", user="U0FRANK", channel="C0PAYMENTS").ok
    payments = channel(state(sandbox), "C0PAYMENTS")
    assert "U0FRANK" in payments["members"]
    assert payments["messages"][-1]["text"] == "<@U0FRANK> has joined the channel"
    assert post(sandbox, "join", user="U0FRANK", channel="D0FRANK").status_code == 400


def test_bad_requests_are_refused_with_a_reason(sandbox: Sandbox) -> None:
    answer = post(sandbox, "say", user="U0NOBODY", channel="C0PAYMENTS", text="/oncall help")
    assert answer.status_code == 400 and "unknown user" in answer.json()["error"]
    answer = post(sandbox, "alert", team="nope")
    assert answer.status_code == 400 and "no team" in answer.json()["error"]
    answer = post(sandbox, "click", user="U0ALICE", channel="C0PAYMENTS", ts="1.000001",
                  action_id="alert_ack")
    assert answer.status_code == 400 and "gone" in answer.json()["error"]


def test_test_alert_reaches_the_team_channel_through_the_worker(sandbox: Sandbox) -> None:
    answer = post(sandbox, "alert", team="payments", action="fire")
    assert answer.json()["status"] == 200, answer.text
    message = wait_for("the alert message in #payments", lambda: alert_message(sandbox))
    labels = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions"
              for e in b["elements"]]
    assert "Acknowledge" in labels

    ack = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["text"]["text"] == "Acknowledge")
    clicked = post(sandbox, "click", user="U0MAYA", channel="C0PAYMENTS", ts=message["ts"],
                   action_id=ack["action_id"])
    assert clicked.json() == {"ok": True, "status": 200}
    wait_for("the alert to show its acknowledgement",
             lambda: "acknowledged" in json.dumps(alert_message(sandbox)).lower())

    post(sandbox, "alert", team="payments", action="resolve")
    wait_for("the alert message to show it resolved",
             lambda: "resolved" in json.dumps((alert_message(sandbox) or {}).get("blocks")).lower()
             and "firing" not in json.dumps(alert_message(sandbox)["blocks"][:2]).lower())


def test_the_example_self_healing_rule_heals_the_search_test_alert(sandbox: Sandbox) -> None:
    """examples/atbat.yml's rule: restart-service runs in the alert's thread, nobody is paged."""
    def search_alert() -> dict[str, Any] | None:
        return next((m for m in channel(state(sandbox), "C0SEARCH")["messages"]
                     if "SandboxHighErrorRate" in json.dumps(m.get("blocks"))), None)

    assert post(sandbox, "alert", team="search", action="fire").json()["status"] == 200
    wait_for("the run to succeed", lambda: "restart-service succeeded" in json.dumps(search_alert()),
             timeout=30)
    post(sandbox, "alert", team="search", action="resolve")
    wait_for("the thread to say self-healed",
             lambda: "Self-healed by restart-service" in json.dumps(search_alert()))
    replies = " ".join(r.get("text") or "" for r in search_alert().get("replies") or [])
    assert "Self-healing: rule `restart-erroring-service` runs `restart-service`" in replies
    everyone = state(sandbox)["channels"]
    assert not any("paged for search" in json.dumps(m) for c in everyone if c["id"].startswith("D")
                   for m in c["messages"])


def phone(sandbox: Sandbox, user: str) -> dict[str, Any]:
    return state(sandbox, user)["phone"]


def test_everyone_has_a_working_phone_and_a_key_reaches_the_voice_webhook(sandbox: Sandbox) -> None:
    assert sandbox.worker_env["ATBAT_TWILIO_API_URL"] == sandbox.phone.url
    assert sandbox.worker_env["ATBAT_SMTP_URL"].startswith("mailto://127.0.0.1:")
    assert phone(sandbox, "U0FRANK")["methods"] == ["push via ntfy", "sms …07", "call …07",
                                                     "email f…@example.com"]
    assert phone(sandbox, "U0GRACE")["deliveries"] == []
    # With the example's rules (0m slack, 0m push, 1m call, ...) the push comes at once.
    said = post(sandbox, "say", user="U0SAM", channel="C0SEARCH",
                text="/oncall page @frank sev1 Index is stale")
    assert said.json()["ok"], said.text
    push = wait_for("frank's push", lambda: [d for d in phone(sandbox, "U0FRANK")["deliveries"]
                                              if d["kind"] == "push"])
    assert push[0]["to"] == "frank-pager" and "Index is stale" in push[0]["body"]
    grace = phone(sandbox, "U0GRACE")
    assert grace["deliveries"] == []  # grace sees only her own phone, and whose else got something
    assert {"user": "U0FRANK", "count": 1, "ringing": False} in grace["others"]

    assert sandbox.runtime is not None
    for user in ("U0FRANK", "U0GRACE"):
        paging.set_rules(sandbox.runtime, user, "high", "0m call")
    post(sandbox, "say", user="U0SAM", channel="C0SEARCH", text="/oncall page search sev1 Queue is full")

    def ringing() -> tuple[str, dict[str, Any]] | None:
        return next(((user, c) for user in ("U0FRANK", "U0GRACE") for c in phone(sandbox, user)["calls"]
                     if c["waiting_for_key"]), None)
    user, call = wait_for("the primary's phone to ring", ringing)
    assert "team search. Queue is full" in call["said"][0]
    assert call["to"] == ("+12025550107" if user == "U0FRANK" else "+12025550108")
    assert post(sandbox, "phone/press", user="U0SAM", sid=call["sid"], digit="2").status_code == 400
    assert post(sandbox, "phone/press", user=user, sid=call["sid"], digit="12").status_code == 400
    pressed = post(sandbox, "phone/press", user=user, sid=call["sid"], digit="2")
    assert pressed.json()["call"]["said"][-1] == "The alert is escalated. Goodbye.", pressed.text
    assert post(sandbox, "phone/press", user=user, sid=call["sid"], digit="1").status_code == 400
    wait_for("the thread to say the call was answered with 2", lambda: any(
        "pressed 2" in r.get("text", "") for m in channel(state(sandbox, "U0SAM"), "C0SEARCH")["messages"]
        for r in m.get("replies", [])))


def test_an_apprise_url_to_another_machine_typed_in_notify_is_refused_not_sent(
        sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    added: list[str] = []  # every URL handed to Apprise, in this process (the web app's)
    real_add = apprise.Apprise.add
    monkeypatch.setattr(apprise.Apprise, "add",
                        lambda self, url, *a, **k: added.append(str(url)) or real_add(self, url, *a, **k))
    assert sandbox.worker_env["ATBAT_LOCAL_PROVIDERS_ONLY"] == "1"  # the worker keeps to it too

    def settings() -> dict[str, Any]:
        assert post(sandbox, "say", user="U0BOB", channel="C0PAYMENTS", text="/oncall notify").json()["ok"]
        return next(v for v in state(sandbox, "U0BOB")["my_views"] if v.get("callback_id") == "paging_notify")

    def save(method: str, target: str) -> dict[str, Any]:
        values = {"method": {"value": {"type": "static_select", "selected_option": {"value": method}}},
                  "target": {"value": target}}
        return post(sandbox, "submit", user="U0BOB", view_id=settings()["id"], values=values).json()

    for method, target, host in (("push", "ntfys://ntfy.sh/bob-secret-topic", "ntfy.sh"),
                                 ("email", "mailtos://bob:pw@smtp.example.org?to=bob@example.org",
                                  "smtp.example.org")):
        answer = save(method, target)
        assert answer["errors"]["target"].startswith("Not tested and not saved: the sandbox sends "
                                                     "nothing off this machine"), answer
        assert f"({host} is another machine)" in answer["errors"]["target"]
        assert "bob-secret-topic" not in json.dumps(answer) and "pw@" not in json.dumps(answer)
    assert added == []
    assert phone(sandbox, "U0BOB")["methods"] == ["push via ntfy", "sms …02", "call …02",
                                                   "email b…@example.com"]  # the sandbox's, still
    # Pages and tests go through the same guard, whoever stored the URL.
    assert sandbox.runtime is not None
    sent = paging.providers(sandbox.runtime).notify("ntfys://ntfy.sh/topic", "atbat", "hello")
    assert not sent.accepted and "ntfy.sh is another machine" in sent.detail and added == []
    # A URL on this machine is sent as before.
    local = f"ntfy://127.0.0.1:{sandbox.phone.url.rsplit(':', 1)[1]}/bob-second"
    assert paging.providers(sandbox.runtime).notify(local, "atbat", "hello").accepted
    assert added == [local]


def test_seeding_keeps_a_persons_own_methods_and_moves_an_earlier_sandbox_push(
        redis_client: redis.Redis) -> None:
    now = datetime.now(UTC)
    own = Person("U0BOB", contacts=(ContactMethod("call", "+4915112345689", verified=True),
                                    ContactMethod("push", "ntfys://ntfy.example.com/bob", verified=True)))
    first, second = SandboxPhone(), SandboxPhone()
    first.start()
    second.start()
    try:
        first.seed(redis_client, {"U0ALICE": ("alice", Person("U0ALICE")), "U0BOB": ("bob", own)}, now)
        alice = people_store.get(redis_client, "U0ALICE")
        assert alice is not None and all(c.verified for c in alice.contacts)
        assert sorted(c.method for c in alice.contacts) == ["call", "email", "push", "sms"]
        bob = people_store.get(redis_client, "U0BOB")
        assert bob is not None and "call" not in {c.method for c in bob.contacts}  # his own is kept
        assert bob.contact("push") is not None and bob.contact("push").target.endswith("/bob-pager")
        second.seed(redis_client, {"U0ALICE": ("alice", alice)}, now)  # REDIS_URL kept, new ports
        moved = people_store.get(redis_client, "U0ALICE")
        assert moved is not None and moved.contact("push") is not None
        assert moved.contact("push").target == f"ntfy://{second.url.split('//')[1]}/alice-pager"
        assert "alice-pager" in second.addresses(moved) and "+12025550101" in second.addresses(moved)
    finally:
        first.stop()
        second.stop()


def test_a_config_with_env_secrets_starts_and_its_remote_push_stays_on_this_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    raw["people"]["U0ALICE"] = {"contacts": {"push": "ntfys://${ALICE_NTFY_TOKEN}@ntfy.example.com/alice"}}
    config = tmp_path / "atbat.yml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("ALICE_NTFY_TOKEN", "tk_sandbox_test")
    with Sandbox(config, port=0, state_dir=tmp_path / "state") as running:  # the worker loads it too
        assert running.worker_env["ALICE_NTFY_TOKEN"] == "tk_sandbox_test"
        assert "SLACK_APP_TOKEN" not in running.worker_env
        assert running.runtime is not None
        push = paging.person(running.runtime, "U0ALICE").contact("push")
        assert push is not None and push.target.startswith("ntfy://127.0.0.1:")


def test_stopping_the_sandbox_closes_its_phone_servers(tmp_path: Path) -> None:
    with Sandbox(EXAMPLE_CONFIG, port=0, state_dir=tmp_path) as running:
        servers = running.phone.servers
        assert servers is not None
        url, smtp_port = servers.url, servers.smtp_port
        assert requests.get(f"{url}/_phone/state", timeout=5).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_phone/state", timeout=5)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", smtp_port), timeout=2):
        pass


# ---------------------------------------------------------------- the command


def _children(pid: int) -> set[int]:
    """Descendants of `pid`, from /proc."""
    found: set[int] = set()
    parents = {pid}
    for _ in range(4):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid in parents:
                found.add(int(entry.name))
        parents |= found
    return found


def stop_quietly(proc: subprocess.Popen[str]) -> None:
    """After a failed test: SIGTERM (the process stops its children), SIGKILL only if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_atbat_sandbox_prints_its_url_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ATBAT_CONFIG")}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "sandbox", "--port", str(port),
                             "--config", str(EXAMPLE_CONFIG)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in output, output
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        children = _children(proc.pid)
        assert len(children) >= 2  # redis-server and the worker (and its scheduler)
        assert (tmp_path / ".atbat" / "logs" / "worker.log").exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        wait_for("every child process to exit",
                 lambda: not [pid for pid in children if _alive(pid)], timeout=5)
    finally:
        stop_quietly(proc)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_dev_py_run_passes_a_signal_on_and_leaves_no_process_behind(signum: int) -> None:
    """The signal goes to dev.py alone, as `kill` would send it; Ctrl-C in a terminal goes there too."""
    if not (ROOT / ".venv" / "bin" / "atbat").exists():
        pytest.skip("dev.py's .venv is not set up")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")}
    env["ATBAT_CONFIG"] = str(EXAMPLE_CONFIG)
    proc = subprocess.Popen([sys.executable, str(ROOT / "dev.py"), "run", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            if "Ctrl-C" in line:
                break
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        children = _children(proc.pid)
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in children if _alive(pid)}
        assert "redis-server" in names and len(children) >= 3, names  # atbat run, redis, worker
        proc.send_signal(signum)
        assert proc.wait(20) == 0
        wait_for("every process of dev.py run to exit",
                 lambda: not [pid for pid in children if _alive(pid)], timeout=5)
        rest = proc.stdout.read() + proc.stderr.read()
        assert "Traceback" not in rest and "KeyboardInterrupt" not in rest, rest
    finally:
        stop_quietly(proc)
