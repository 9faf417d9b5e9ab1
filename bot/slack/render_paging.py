"""Block Kit for paging settings: the /oncall notify modal and the Send test messages."""

from __future__ import annotations

from typing import Any

from bot.domain.paging import METHODS, URGENCIES, ContactMethod, Person, RuleStep
from bot.slack.format import escape

NOTIFY_MODAL = "paging_notify"
ACTION_SEND_TEST = "paging_send_test"
ACTION_TEST_ARRIVED = "paging_test_arrived"
METHOD_NAMES = {"push": "Push (Apprise URL)", "sms": "SMS (number or Apprise URL)",
                "call": "Phone call (number)", "email": "E-mail (address or Apprise URL)"}


def rule_text(steps: tuple[RuleStep, ...]) -> str:
    return ", ".join(f"{int(s.after.total_seconds() // 60)}m {s.method}" for s in steps)


def _contact_line(contact: ContactMethod) -> str:
    if contact.from_config:
        state = "from atbat.yml"
    else:
        state = "tested" if contact.verified else "test sent, not confirmed yet: not used for pages"
    return f"• {escape(contact.shown())} ({state})"


def notify_modal(person: Person, rules: dict[str, tuple[RuleStep, ...]]) -> dict[str, Any]:
    """The person's contact methods and rules, with a form to add a method and change the rules."""
    lines = ["• Slack DM (always)", *(_contact_line(c) for c in person.contacts)]
    options = [{"text": {"type": "plain_text", "text": METHOD_NAMES[m]}, "value": m}
               for m in METHODS if m != "slack"]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "*How atbat reaches you*\n" + "\n".join(lines)}},
        {"type": "input", "block_id": "method", "optional": True,
         "label": {"type": "plain_text", "text": "Add or replace a method"},
         "element": {"type": "static_select", "action_id": "value", "options": options}},
        {"type": "input", "block_id": "target", "optional": True,
         "label": {"type": "plain_text", "text": "Number, address or Apprise URL"},
         "hint": {"type": "plain_text", "text": "e.g. +49 151 12345678 or ntfys://ntfy.example.com/me"},
         "element": {"type": "plain_text_input", "action_id": "value", "max_length": 500}},
    ]
    for urgency in URGENCIES:
        blocks.append({"type": "input", "block_id": f"rules_{urgency}", "optional": True,
                       "label": {"type": "plain_text", "text": f"{urgency.capitalize()} urgency steps"},
                       "hint": {"type": "plain_text", "text": "e.g. 0m slack, 1m push, 3m call"},
                       "element": {"type": "plain_text_input", "action_id": "value", "max_length": 300,
                                   "initial_value": rule_text(rules.get(urgency, ()))}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                   "Saving a new method sends it a test at once: if the test fails, nothing is saved. "
                   "It is used for pages once you confirm in your DM with atbat that the test arrived."}]})
    return {"type": "modal", "callback_id": NOTIFY_MODAL,
            "title": {"type": "plain_text", "text": "Notification settings"},
            "submit": {"type": "plain_text", "text": "Save"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def test_sent(contact: ContactMethod, detail: str) -> dict[str, Any]:
    text = f"Test sent to {escape(contact.shown())} ({escape(detail)}). Did it arrive?"
    return {"text": f"Test sent to {escape(contact.shown())}", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": "paging_test", "elements": [
            _button("It arrived", ACTION_TEST_ARRIVED, f"{contact.method}|{contact.shown()}", "primary"),
            _button("Send again", ACTION_SEND_TEST, contact.method)]}]}


def test_failed(contact: ContactMethod | None, detail: str, method: str) -> dict[str, Any]:
    """A test sent again failed. An untested method is not kept; a tested one stays, with Send again."""
    what = escape(contact.shown()) if contact else escape(method)
    if contact is None or not contact.verified:
        text = (f"The test to {what} failed: {escape(detail)}. It is not kept: add it again with "
                "`/oncall notify`.")
        return {"text": f"The test to {what} failed", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
    text = f"The test to {what} failed: {escape(detail)}. Fix it with `/oncall notify`, or send again."
    return {"text": f"The test to {what} failed", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": "paging_test", "elements": [
            _button("Send again", ACTION_SEND_TEST, method)]}]}


def test_confirmed(shown: str) -> dict[str, Any]:
    text = f"{escape(shown)} is tested: atbat uses it for pages from now on."
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value[:200],
                              "text": {"type": "plain_text", "text": text}}
    if style:
        button["style"] = style
    return button
