"""The sandbox page in headless Chromium: commands, an alert's buttons, a runbook approved by another person.

Uses the system's Chromium (never a browser downloaded by the test tool) and
skips when it or Playwright is missing. A screenshot lands in test-output/.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.run import EXAMPLE_CONFIG, Sandbox

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
WAIT_MS = 15_000

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Name the step that failed: the feature behind it may not be there yet."""
    try:
        yield
    except (AssertionError, PlaywrightError) as exc:
        raise AssertionError(f"sandbox step failed: {what}\n{exc}") from None


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with Sandbox(EXAMPLE_CONFIG, port=0, state_dir=tmp_path_factory.mktemp("atbat")) as sandbox, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(f"{sandbox.url}/?as=U0ALICE")
        yield tab
        OUTPUT.mkdir(exist_ok=True)
        tab.screenshot(path=str(OUTPUT / "sandbox.png"))
        browser.close()
        assert not errors, f"the page raised: {errors}"


def act_as(page: Page, user: str) -> None:
    page.select_option("#as-user", user)


def send(page: Page, text: str) -> None:
    page.fill("#composer-text", text)
    page.press("#composer-text", "Enter")


def test_user_text_is_shown_as_text_and_mrkdwn_is_rendered(page: Page) -> None:
    send(page, '<img src=x onerror="document.body.dataset.owned=1"> *bold* and `code`')
    message = page.locator("#messages .msg", has_text="onerror").last
    expect(message).to_contain_text('<img src=x onerror="document.body.dataset.owned=1">')
    expect(message.locator(".msg-body b")).to_have_text("bold")
    expect(message.locator(".msg-body code")).to_have_text("code")
    assert message.locator("img").count() == 0
    assert page.evaluate("document.body.dataset.owned") is None


def test_who_alert_ack_and_an_approved_runbook_run(page: Page) -> None:
    with step("/oncall who answers with the on-call, only visible to alice"):
        send(page, "/oncall who")
        reply = page.locator("#messages .msg.ephemeral", has_text="primary")
        expect(reply).to_be_visible(timeout=WAIT_MS)
        expect(reply).to_contain_text("Only visible to you")
        expect(reply.locator(".mention").first).to_have_text(re.compile(r"@(alice|bob|carol)"))

    with step("a test alert appears in #payments with its buttons"):
        page.click("#fire-alert")
        alert = page.locator("#messages .msg", has_text="SandboxHighErrorRate")
        expect(alert).to_be_visible(timeout=WAIT_MS)
        expect(alert.get_by_role("button", name="Acknowledge")).to_be_visible()

    with step("Acknowledge (as the payments manager) updates the message and its thread"):
        act_as(page, "U0MAYA")
        alert.get_by_role("button", name="Acknowledge").click()
        expect(alert).to_contain_text(re.compile("acknowledged", re.I), timeout=WAIT_MS)
        alert.locator(".replies-link").click()
        expect(page.locator("#thread-messages")).to_contain_text(
            re.compile("acknowledged", re.I), timeout=WAIT_MS)
        page.click("#close-thread")

    with step("alice asks for a runbook run; bob approves it; the output shows in the thread"):
        act_as(page, "U0ALICE")
        send(page, "/oncall run restart-service service=payments-api")
        pending = page.locator("#messages .msg", has_text="restart-service").filter(
            has=page.get_by_role("button", name="Approve")).last
        expect(pending).to_be_visible(timeout=WAIT_MS)
        # The message loses its Approve button once approved: follow it by its ts.
        request = page.locator(f'#messages .msg[data-ts="{pending.get_attribute("data-ts")}"]')
        act_as(page, "U0BOB")
        request.get_by_role("button", name="Approve").click()
        replies = request.locator(".replies-link")
        expect(replies).to_be_visible(timeout=WAIT_MS)
        replies.click()
        expect(page.locator("#thread-messages")).to_contain_text("payments-api: healthy",
                                                                 timeout=WAIT_MS)
