"""The graduation suggestion DM: the rule to paste, with a Dismiss button; pure."""

from __future__ import annotations

from typing import Any

from bot.domain.graduation import Suggestion
from bot.slack.format import code_safe, done_by, escape, mention

ACTION_DISMISS = "graduation_dismiss"


def headline(s: Suggestion) -> str:
    return (f"Self-healing suggestion for {escape(s.team)}: {escape(s.runbook)} fixed "
            f"{escape(s.alertname)} the last {len(s.runs)} times")


def suggestion_message(s: Suggestion) -> dict[str, Any]:
    """`text` and `blocks`; once dismissed, who dismissed it instead of the button."""
    people = ", ".join(mention(p) for p in s.people) or "people"
    intro = (f":hammer_and_wrench: *A self-healing rule for {escape(s.team)}?* `{escape(s.runbook)}` fixed "
             f"*{escape(s.alertname)}* the last {len(s.runs)} times people ran it from the alert: "
             "each time the alert resolved within 10 minutes of the run. Asked for and approved "
             f"by {people}.\nTo let atbat run it before paging anyone, paste this into "
             "`atbat.yml` (`atbat remediation test ALERT.json` shows what it would run):")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{code_safe(s.yaml)}```"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "atbat suggests each rule once. Runs: " + ", ".join(f"`{r}`" for r in s.runs))}]},
    ]
    if s.state == "dismissed":
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": done_by(
            "Dismissed", s.dismissed_by, s.dismissed_at or s.created_at)}]})
    else:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "action_id": ACTION_DISMISS, "value": s.id,
            "text": {"type": "plain_text", "text": "Dismiss"}}]})
    return {"text": headline(s), "blocks": blocks}
