"""The sandbox page in headless Chromium, as a new user tries it.

Commands, an alert's buttons, a runbook approved by another person, a swap
typed with `@bob`, a rotation change, an incident with its postmortem, times
per acting person, and Ctrl-C on `python3 dev.py run`. Uses the system's
Chromium (never a browser downloaded by the test tool) and skips when it or
Playwright is missing. Screenshots land in test-output/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.fakeslack import BOT_TOKEN
from bot.sandbox.processes import free_port
from bot.sandbox.run import EXAMPLE_CONFIG, Sandbox
from tests.test_sandbox import ROOT, _alive, _children, stop_quietly, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
WAIT_MS = 15_000

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Name the step that failed: the feature behind it may not be there yet."""
    try:
        yield
    except (AssertionError, PlaywrightError) as exc:
        raise AssertionError(f"sandbox step failed: {what}\n{exc}") from None


def _need_browser() -> None:
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _need_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sandbox(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(EXAMPLE_CONFIG, port=0, state_dir=tmp_path_factory.mktemp("atbat")) as running:
        yield running


@pytest.fixture(scope="module")
def page(browser: Browser, sandbox: Sandbox) -> Iterator[Page]:
    tab = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(f"{sandbox.url}/?as=U0ALICE")
    yield tab
    shot(tab, "sandbox")
    tab.close()
    assert not errors, f"the page raised: {errors}"


def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"))


def act_as(page: Page, user: str) -> None:
    page.select_option("#as-user", user)


def open_channel(page: Page, name: str) -> None:
    page.locator("#sidebar li", has_text=name).first.click()
    expect(page.locator("#channel-name")).to_contain_text(name)


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


def test_a_swap_typed_with_an_at_mention_is_accepted_by_bob(page: Page) -> None:
    act_as(page, "U0ALICE")
    open_channel(page, "payments")
    with step("typing @bo offers bob from the config; picking him completes the name"):
        page.fill("#composer-text", "")
        page.type("#composer-text", "/oncall swap @bo")
        choice = page.locator("#mentions li", has_text="bob")
        expect(choice).to_be_visible()
        page.press("#composer-text", "Enter")
        expect(page.locator("#composer-text")).to_have_value("/oncall swap @bob ")
        page.press("#composer-text", "Enter")
        sent = page.locator("#messages .msg.ephemeral", has_text="Sent to")
        expect(sent).to_be_visible(timeout=WAIT_MS)
        expect(sent.locator(".mention").first).to_have_text("@bob")
        shot(page, "swap-asked")

    with step("bob sees the request in his DM with the bot, with a badge, and accepts"):
        act_as(page, "U0BOB")
        dm = page.locator("#dms li")
        expect(dm.locator(".badge")).to_be_visible(timeout=WAIT_MS)
        dm.click()
        request = page.locator("#messages .msg", has_text="asks to swap shifts with you").last
        expect(request).to_contain_text("@alice")
        same = page.locator(f'#messages .msg[data-ts="{request.get_attribute("data-ts")}"]')
        request.get_by_role("button", name="Accept").click()
        expect(same).to_contain_text("Accepted", timeout=WAIT_MS)
        expect(same.get_by_role("button")).to_have_count(0)

    with step("#payments announces the swap, naming bob"):
        open_channel(page, "payments")
        announcement = page.locator("#messages .msg", has_text="swapped shifts").last
        expect(announcement).to_be_visible(timeout=WAIT_MS)
        expect(announcement).to_contain_text("@bob")
        shot(page, "swap-accepted")


def test_a_rotation_change_is_previewed_and_confirmed(page: Page) -> None:
    act_as(page, "U0MAYA")
    open_channel(page, "payments")
    with step("maya (manager) asks to add dave to primary and gets a preview"):
        send(page, "/oncall rotation payments primary add @dave")
        preview = page.locator("#messages .msg.ephemeral").filter(
            has=page.get_by_role("button", name="Confirm")).last
        expect(preview).to_be_visible(timeout=WAIT_MS)
        expect(preview).to_contain_text("@dave")
    with step("Confirm applies it, the preview says so without its buttons, and #payments announces it"):
        # The preview is redrawn once confirmed: follow it by its ts.
        same = page.locator(f'#messages .msg[data-ts="{preview.get_attribute("data-ts")}"]')
        preview.get_by_role("button", name="Confirm").click()
        expect(same).to_contain_text("Confirmed by @maya", timeout=WAIT_MS)
        expect(same.get_by_role("button")).to_have_count(0)
        announcement = page.locator("#messages .msg:not(.ephemeral)", has_text="@dave").filter(
            has_text="primary").last
        expect(announcement).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#messages")).to_contain_text("Applied", timeout=WAIT_MS)
        shot(page, "rotation-confirmed")


def test_an_incident_is_resolved_and_its_postmortem_is_shown(page: Page) -> None:
    act_as(page, "U0ALICE")
    open_channel(page, "payments")
    with step("alice declares an incident; its channel appears in her sidebar only"):
        send(page, "/oncall incident Checkout is slow sev2")
        channel = page.locator("#channels li", has_text="checkout-is-slow")
        expect(channel).to_be_visible(timeout=WAIT_MS)
        channel.click()
        expect(page.locator("#channel-topic .mention")).to_have_text("@alice", timeout=WAIT_MS)
        page.click("#members-toggle")
        expect(page.locator("#members")).to_contain_text("alice")
        page.click("#members-toggle")
    with step("resolving posts the postmortem draft: Markdown rendered, with a download link"):
        send(page, "/oncall resolve The cache was cold")
        upload = page.locator("#messages .file", has_text="Postmortem")
        expect(upload).to_be_visible(timeout=WAIT_MS)
        expect(upload.locator(".markdown h1")).to_contain_text("Checkout is slow", timeout=WAIT_MS)
        expect(upload.locator(".markdown")).to_contain_text("The cache was cold")
        link = upload.locator("a.file-download")
        answer = page.request.get(page.url.split("/?")[0] + link.get_attribute("href"))
        assert answer.ok and "# Postmortem" in answer.text()
        shot(page, "incident-postmortem")
    with step("sam (search) does not have the incident channel, but can browse and join it"):
        act_as(page, "U0SAM")
        expect(page.locator("#channels")).not_to_contain_text("checkout-is-slow")
        page.locator("#browse li", has_text="Browse channels").click()
        page.locator("#browse li", has_text="checkout-is-slow").click()
        expect(page.locator("#join-bar")).to_be_visible()
        expect(page.locator("#composer")).to_be_hidden()
        page.click("#join")
        expect(page.locator("#channels li", has_text="checkout-is-slow")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#composer")).to_be_visible()


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG, written out by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def test_an_uploaded_picture_is_shown_inline_with_a_download_link(page: Page, sandbox: Sandbox) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=f"{sandbox.url}/api/")
    client.files_upload_v2(channel="C0PAYMENTS", content=png(120, 40, (224, 30, 90)),
                           filename="error-rate.png", title="Error rate, last 24 h",
                           initial_comment="Weekly report")
    act_as(page, "U0ALICE")
    open_channel(page, "payments")
    upload = page.locator("#messages .file", has_text="Error rate, last 24 h")
    expect(upload).to_be_visible(timeout=WAIT_MS)
    picture = upload.locator("img.file-image")
    expect(picture).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 120", arg=picture.element_handle())
    expect(upload.locator("a.file-download")).to_have_attribute("download", "error-rate.png")
    shot(page, "uploaded-picture")


def test_times_are_shown_in_the_acting_persons_timezone(page: Page) -> None:
    # payments' primary hands off on Mondays at 09:00 Berlin time: 03:00 in New York (both in winter,
    # or both in summer, apart from a few weeks a year when only one has switched).
    # erin has her own timezone in the config's people; frank has his team's.
    for user, zone, wanted in [("U0ALICE", "Europe/Berlin", "09:00"),
                               ("U0ERIN", "Europe/London", "08:00"),
                               ("U0FRANK", "America/New_York", "03:00")]:
        with step(f"{user} sees {zone} next to Acting as, and the handoff at {wanted}"):
            act_as(page, user)
            expect(page.locator("#as-tz")).to_contain_text(zone)
            page.locator("#sidebar li", has_text="general").first.click()
            send(page, "/oncall next payments 2")
            reply = page.locator("#messages .msg.ephemeral", has_text="primary").last
            expect(reply).to_be_visible(timeout=WAIT_MS)
            expect(reply.locator(".date").first).to_contain_text(wanted)
            shot(page, f"timezone-{zone.replace('/', '-')}")


def test_the_page_is_readable_without_an_emoji_font_and_wraps_long_text(page: Page) -> None:
    act_as(page, "U0CAROL")
    open_channel(page, "payments")
    with step("an unknown command is answered as Slack does"):
        send(page, "/deploy now")
        expect(page.locator("#messages .msg.ephemeral").last).to_contain_text(
            "/deploy is not a valid command", timeout=WAIT_MS)
    with step("a long unbroken line wraps inside the page"):
        send(page, "see https://example.com/" + "x" * 400 + " and @alice")
        long = page.locator("#messages .msg", has_text="xxxxxxxx").last
        expect(long.locator(".mention")).to_have_text("@alice")
        assert page.evaluate("document.getElementById('messages').scrollWidth <= "
                             "document.getElementById('messages').clientWidth")
    with step("emoji atbat uses are shown as Unicode or a text label, never as an empty box"):
        page.goto(page.url.split("?")[0] + "?as=U0CAROL&emoji=text")
        page.click("#fire-alert")
        alert = page.locator("#messages .msg", has_text="SandboxHighErrorRate").last
        expect(alert.locator(".emoji-text").first).to_be_visible(timeout=WAIT_MS)
        text = alert.inner_text()
        assert ":rotating_light:" not in text and "\U0001F6A8" not in text
        shot(page, "emoji-text")


def test_ctrl_c_on_dev_py_run_leaves_no_process_behind(browser: Browser) -> None:
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
        children = _children(proc.pid)
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.goto(f"http://127.0.0.1:{port}/?as=U0ALICE")
        send(tab, "/oncall who")
        expect(tab.locator("#messages .msg.ephemeral")).to_be_visible(timeout=WAIT_MS)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends it
        assert proc.wait(20) == 0
        expect(tab.locator("#notice")).to_contain_text("not answering", timeout=WAIT_MS)
        shot(tab, "after-ctrl-c")
        tab.close()
        wait_for("every process of dev.py run to exit",
                 lambda: not [pid for pid in children if _alive(pid)], timeout=5)
        assert "Traceback" not in proc.stderr.read()
    finally:
        stop_quietly(proc)


def test_the_home_tab_shows_my_on_call_and_its_buttons_work(page: Page) -> None:
    act_as(page, "U0ALICE")
    with step("atbat Home (under Apps) publishes alice's Home tab"):
        page.locator("#sidebar li[data-home]").click()
        expect(page.locator("#channel-name")).to_have_text("atbat Home")
        home = page.locator("#messages .home")
        expect(home).to_contain_text("My on-call", timeout=WAIT_MS)
        expect(home).to_contain_text("My pages this week")
        expect(page.locator("#composer")).to_be_hidden()
        shot(page, "sandbox-home")
    with step("My report: payments posts the report in alice's DM with atbat"):
        home.get_by_role("button", name="My report: payments").click()
        page.locator("#dms li").first.click()
        expect(page.locator("#messages")).to_contain_text(re.compile(r"On-call report(:| for) payments"),
                                                          timeout=WAIT_MS)


def test_a_page_rings_alices_phone_and_pressing_1_acknowledges_it(page: Page) -> None:
    act_as(page, "U0ALICE")
    open_channel(page, "payments")
    phone = page.locator("#phone")
    with step("alice's Phone panel lists her sandbox push, SMS, call and e-mail"):
        expect(phone).to_contain_text("alice's phone")
        expect(page.locator("#phone-methods")).to_contain_text("push via ntfy")
        expect(page.locator("#phone-methods")).to_contain_text("call …")
    with step("/oncall notify: alice sets her high-urgency steps to every method at once"):
        send(page, "/oncall notify")
        rules = page.locator("#modal-body [data-block=rules_high]")
        expect(rules).to_be_visible(timeout=WAIT_MS)
        rules.fill("0m slack, 0m push, 0m sms, 0m email, 0m call")
        page.click("#modal-submit")
        expect(page.locator("#modal")).to_be_hidden(timeout=WAIT_MS)
    with step("maya pages alice; push, SMS and e-mail arrive on alice's phone, and it rings"):
        act_as(page, "U0MAYA")
        send(page, "/oncall page @alice sev1 Checkout answers 502")
        act_as(page, "U0ALICE")
        # Five steps at 0m go out one after another: give a loaded machine time for all of them.
        for kind in ("push", "sms", "email"):
            expect(phone.locator(f".delivery[data-kind={kind}]", has_text="Checkout answers 502")
                   ).to_be_visible(timeout=2 * WAIT_MS)
        call = phone.locator(".call.ringing")
        expect(call).to_contain_text("Checkout answers 502", timeout=2 * WAIT_MS)
        expect(call).to_contain_text("Press 1 to acknowledge, 2 to escalate")
        expect(page.locator("#phone-toggle")).to_contain_text("ringing")
        shot(page, "phone-ringing")
    with step("alice presses 1: the call says so, and the alert in #payments is acknowledged"):
        call.get_by_role("button", name="1 (Acknowledge)").click()
        ended = phone.locator(".call", has_text="you pressed 1")
        expect(ended).to_contain_text("The alert is acknowledged", timeout=WAIT_MS)
        alert = page.locator("#messages .msg", has_text="Checkout answers 502").last
        expect(alert).to_contain_text(re.compile("acknowledged", re.I), timeout=WAIT_MS)
        alert.locator(".replies-link").click()
        expect(page.locator("#thread-messages")).to_contain_text("pressed 1", timeout=WAIT_MS)
        shot(page, "phone-acknowledged")
        page.click("#close-thread")
