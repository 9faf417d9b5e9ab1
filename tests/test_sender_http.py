"""How the Sender puts a Web API call on the wire: the form body, and the proxy settings."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode

import pytest

from bot.slack.format import clean
from bot.slack.sender import Sender, _form, form_body
from tests.web_api import json_api

AWKWARD = [
    "", "plain", "two words", "a+b=c&d", "100% sure?", "path/to/x#frag", "~tilde_dot.dash-",
    "line\nbreak\ttab\r", "quote\"'`", "<@U0ALICE|alice> &amp; <!channel>", "ünïcödé", "日本語",
    "emoji 🚨🔥", "\x00\x1b\x7f", "\u202eRTL", "".join(chr(c) for c in range(32, 127)),
]


def test_the_form_body_is_what_urlencode_makes() -> None:
    args = {f"k{i} {text}": text for i, text in enumerate(AWKWARD)}
    args |= {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "🚨 *a & b*"}}],
             "unfurl_links": False, "thread_ts": None, "count": 3}
    assert form_body(args) == urlencode(_form(args)).encode("ascii")
    parsed = {k: v[0] for k, v in parse_qs(form_body(args).decode(), keep_blank_values=True,
                                           strict_parsing=True).items()}
    assert parsed == _form(args)


def _clean_by_category(text: str) -> str:
    return "".join(ch for ch in text if ch in "\n\t"
                   or unicodedata.category(ch) not in {"Cc", "Cf", "Co", "Cn"})


@pytest.mark.parametrize("text", [*AWKWARD, "".join(chr(c) for c in range(128)),
                                  "mixed ascii \x07 and \u200b zero width"])
def test_clean_takes_out_what_it_took_out_before(text: str) -> None:
    assert clean(text) == _clean_by_category(text)


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A server answering every call `ok` that keeps each request line's target (a proxy
    gets the whole URL there)."""
    seen: list[str] = []
    with json_api(lambda request: seen.append(request.path) or {"ok": True}) as url:
        yield url, seen


def test_calls_go_through_the_proxy_the_environment_names(
        recorder: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, seen = recorder
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sender = Sender("http://slack.example.invalid/api/", "xoxb-test", max_attempts=1)
    sender.call("auth.test")
    sender.call("chat.postMessage", channel="C1", text="hi")
    assert seen == ["http://slack.example.invalid/api/auth.test",
                    "http://slack.example.invalid/api/chat.postMessage"]


def test_no_proxy_is_honoured(recorder: tuple[str, list[str]],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    slack, seen = recorder
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: a call through it fails
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    Sender(f"{slack}/api/", "xoxb-test", max_attempts=1).call("auth.test")
    assert seen == ["/api/auth.test"]  # straight to the server, not through the proxy
