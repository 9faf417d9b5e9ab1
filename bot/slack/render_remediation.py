"""Block Kit and text for remediation runs: the request message, progress, result, listings.

Pure functions. Parameter values and output are user- or program-controlled:
they are escaped for mrkdwn (no `<!channel>`, no forged links) and triple
backticks are broken so nothing can close a code block early. Buttons carry
only the request id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.config import ParamSpec, Runbook
from bot.domain.remediation import RunRequest
from bot.domain.runbooks import describe_argv
from bot.slack.format import code_safe, cut_mrkdwn, date_token, escape, human_duration, mention
from bot.slack.format import link as mrkdwn_link

ACTION_APPROVE = "run_approve"
ACTION_DENY = "run_deny"
ACTION_CANCEL = "run_cancel"

MAX_SECTION_TEXT = 3000
_CHUNK = 2800  # room for the code fences inside a section
OUTPUT_SHOWN = 3000

POLICY_TEXT = {
    "none": "no approval needed",
    "oncall": "approval by someone on call",
    "manager": "approval by a team manager",
    "two-person": "approval by another team member",
}
STATE_TEXT = {
    "pending": ":hourglass_flowing_sand: Waiting for approval",
    "approved": ":white_check_mark: Approved, queued",
    "denied": ":no_entry: Denied",
    "expired": ":alarm_clock: Expired without approval",
    "running": ":gear: Running",
    "succeeded": ":white_check_mark: Succeeded",
    "failed": ":x: Failed",
    "timed_out": ":hourglass: Timed out (process group killed)",
    "cancelled": ":octagonal_sign: Cancelled",
    "lost": ":ghost: Lost (its worker stopped)",
}


def inline(text: str) -> str:
    """A value inside `inline code`: a backtick would end it, so it is replaced."""
    return "`" + escape(text).replace("`", "\u02cb") + "`"


def code_blocks(text: str, limit: int = _CHUNK) -> list[str]:
    """`text` as one or more ``` blocks, each fitting in a section."""
    safe = code_safe(text) or " "
    return [f"```{safe[i:i + limit]}```" for i in range(0, len(safe), limit)]


def who(actor: str | None) -> str:
    """A Slack user as a mention; atbat itself or a worker as plain text."""
    if actor and actor[:1] in ("U", "W") and actor.isalnum():
        return mention(actor)
    return escape(actor or "atbat")


def message_link(channel: str | None, ts: str | None) -> str | None:
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION_TEXT]}}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                              "text": {"type": "plain_text", "text": text}}
    if style:
        button["style"] = style
    return button


def _packed(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Lines grouped into as few sections as Slack's 3,000-character limit allows."""
    sections: list[str] = []
    for line in lines:
        line = line[:_CHUNK]
        if sections and len(sections[-1]) + 1 + len(line) <= _CHUNK:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    return [_section(s) for s in sections]


# ---------------------------------------------------------------- runbooks


def param_text(spec: ParamSpec) -> str:
    """`service`: one of `a`, `b` — the rules a value must follow."""
    rules = []
    if spec.choices:
        rules.append("one of " + ", ".join(inline(c) for c in spec.choices))
    if spec.type == "int":
        span = ("" if spec.min is None else f" ≥ {spec.min}") + (
            "" if spec.max is None else f" ≤ {spec.max}")
        rules.append("whole number" + span)
    if spec.pattern:
        rules.append(f"matching {inline(spec.pattern)}")
    if spec.default is not None:
        rules.append(f"default {inline(spec.default)}")
    elif not spec.required:
        rules.append("optional")
    text = f"{inline(spec.name)}" + (": " + ", ".join(rules) if rules else "")
    if spec.description:
        text += f" — {escape(spec.description)}"
    return text


def runbooks_text(runbooks: Sequence[Runbook]) -> str:
    if not runbooks:
        return "There is no runbook you may run (runbooks belong to teams in atbat.yml)."
    lines = ["*Runbooks you may run* (`/oncall run RUNBOOK key=value ...`)"]
    for rb in runbooks:
        lines.append(f"\n*{escape(rb.name)}* — {escape(rb.description or '')}".rstrip(" —"))
        lines.append(f"    approval: {POLICY_TEXT.get(rb.approval, rb.approval)}; "
                     f"timeout {human_duration(rb.timeout)}; teams: {', '.join(rb.teams)}")
        lines.extend(f"    • {param_text(p)}" for p in rb.params)
        if not rb.params:
            lines.append("    • no parameters")
    return "\n".join(lines)


# ---------------------------------------------------------------- the request message


def _state_line(req: RunRequest) -> str:
    text = STATE_TEXT.get(req.state, req.state)
    if req.state == "pending":
        text += (f" ({POLICY_TEXT.get(req.approval, req.approval)}); expires "
                 f"{date_token(req.expires_at)}")
    elif req.state in ("approved", "denied") and req.approver:
        verb = "approved" if req.state == "approved" else "denied"
        text += f" — {verb} by {who(req.approver)}"
        if req.decided_at:
            text += f" {date_token(req.decided_at)}"
    elif req.state == "approved":
        text += " (no approval needed)"
    if req.state == "running" and req.cancelled_by:
        text += f" — {who(req.cancelled_by)} asked to stop it"
    if req.state == "cancelled" and req.cancelled_by:
        text += f" by {who(req.cancelled_by)}"
    if req.terminal and req.exit_code is not None:
        text += f" — exit code {req.exit_code}"
    duration = req.duration()
    if duration is not None:
        text += f" after {human_duration(duration)}"
    if req.reason and req.state in ("denied", "cancelled", "lost", "failed"):
        text += f"\n> {cut_mrkdwn(escape(req.reason), 500)}"
    return text


def request_message(req: RunRequest, runbook: Runbook | None) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments (text and blocks) for a request."""
    description = f" — {escape(runbook.description)}" if runbook and runbook.description else ""
    head = (f":wrench: *Run request* {inline(req.id)}: runbook *{escape(req.runbook)}*"
            f"{description}\nRequested by {who(req.requester)}")
    params = [f"• {inline(k)} = {inline(v)}" for k, v in req.params] or ["• no parameters"]
    blocks = [_section(head), *_packed(["*Parameters*", *params]),
              _section("*Command* (run exactly, without a shell)")]
    blocks.extend(_section(chunk) for chunk in code_blocks(describe_argv(req.argv)))
    blocks.append(_section(_state_line(req)))
    buttons = []
    if req.state == "pending":
        buttons = [_button("Approve", ACTION_APPROVE, req.id, "primary"),
                   _button("Deny", ACTION_DENY, req.id, "danger")]
    if req.state in ("pending", "approved", "running") and not req.cancelled_by:
        buttons.append(_button("Cancel", ACTION_CANCEL, req.id))
    if buttons:
        blocks.append({"type": "actions", "block_id": f"run:{req.id}", "elements": buttons})
    text = (f"Run request {req.id}: {req.runbook} by {who(req.requester)} — "
            f"{STATE_TEXT.get(req.state, req.state).split(' ', 1)[-1]}")
    return {"text": text, "blocks": blocks}


# ---------------------------------------------------------------- progress and result


def progress_text(req: RunRequest, elapsed: float) -> str:
    return f":gear: `{req.id}` {escape(req.runbook)}: running, {int(elapsed)} s"


def result_text(req: RunRequest, duration: float, output: str, *, truncated: bool) -> str:
    """The result reply: outcome, exit code, duration, the last 3,000 characters of output."""
    outcome = STATE_TEXT.get(req.state, req.state)
    exit_text = "none (did not start)" if req.exit_code is None else str(req.exit_code)
    shown = output[-OUTPUT_SHOWN:]
    cut = truncated or len(output) > OUTPUT_SHOWN
    lines = [f"{outcome}: `{req.id}` {escape(req.runbook)}",
             f"Exit code {exit_text}, duration {duration:.1f} s"]
    if req.state == "cancelled" and req.cancelled_by:
        lines.append(f"Stopped at the request of {who(req.cancelled_by)}.")
    if cut:
        lines.append(f"Output (last {OUTPUT_SHOWN:,} characters):")
    elif output:
        lines.append("Output:")
    else:
        lines.append("No output.")
    text = "\n".join(lines)
    if output:
        text += "\n```" + (code_safe(shown) or " ") + "```"
    return text


def lost_text(req: RunRequest, reason: str = "its worker stopped sending heartbeats") -> str:
    return (f":ghost: `{req.id}` {escape(req.runbook)} is lost: {escape(reason)}, so whether "
            "the command finished is unknown. Check the target before running it again.")


def undeliverable_text(req: RunRequest, why: str, outcome: str) -> str:
    """The DM to a requester whose request message Slack never took."""
    where = f" in <#{req.extra['channel']}>" if req.extra.get("channel") else ""
    return (f":warning: Your request `{req.id}` to run {escape(req.runbook)} could not be "
            f"posted{where} ({escape(why)}), so nobody could approve it. {outcome}; ask again "
            "once the channel works.")


def locked_text(holder: RunRequest, link: str | None) -> str:
    linked = link and mrkdwn_link(link, "request message")
    where = f" ({linked})" if linked else ""
    return (f"`{holder.id}` for the same runbook and parameters is {holder.state}{where}, "
            f"requested by {who(holder.requester)}. One run at a time: wait for it to "
            "finish, or cancel it.")


# ---------------------------------------------------------------- listings


def jobs_text(open_runs: Sequence[RunRequest], finished: Sequence[RunRequest]) -> str:
    lines = ["*Open runs*"]
    lines.extend(_job_line(r) for r in open_runs)
    if not open_runs:
        lines.append("none")
    if finished:
        lines.append("\n*Recently finished*")
        lines.extend(_job_line(r) for r in finished)
    return "\n".join(lines)


def _job_line(req: RunRequest) -> str:
    params = " ".join(f"{k}={v}" for k, v in req.params)
    return (f"• `{req.id}` *{escape(req.runbook)}* {inline(params) if params else ''} — "
            f"{req.state.replace('_', ' ')}, by {who(req.requester)} "
            f"{date_token(req.created_at)}")


def audit_text(entries: Sequence[Mapping[str, Any]]) -> str:
    if not entries:
        return "The audit stream is empty."
    lines = [f"*Audit* (newest first, {len(entries)})"]
    for entry in entries:
        details = entry.get("details") or {}
        at = _parse(entry.get("at", ""))
        when = date_token(at) if at else escape(entry.get("at", ""))
        actor = entry.get("actor", "")
        summary = ", ".join(f"{k}={_short(v)}" for k, v in sorted(details.items())
                            if k in AUDIT_SHOWN)
        shifts = details.get("shifts")
        if isinstance(shifts, list) and shifts:
            summary = ", ".join(x for x in (summary, _shifts(shifts)) if x)
        lines.append(f"• {when} {who(actor)} *{escape(entry.get('action', ''))}* {summary}")
    return "\n".join(lines)


# The details `/oncall audit` shows (swaps and covers also show their shifts).
AUDIT_SHOWN = ("run", "runbook", "params", "outcome", "exit_code", "reason", "request", "team",
               "layer", "change", "invitee", "worker")


def _shifts(shifts: Sequence[Any]) -> str:
    """A swap's or cover's shifts: "@bob for @alice <start> → <end>"."""
    shown = []
    for piece in shifts[:4]:
        if not isinstance(piece, Mapping):
            continue
        start, end = _parse(str(piece.get("start", ""))), _parse(str(piece.get("end", "")))
        span = f" {date_token(start)} → {date_token(end)}" if start and end else ""
        shown.append(f"{who(str(piece.get('user', '')))} for "
                     f"{who(str(piece.get('replaces', '')))}{span}")
    return "; ".join(shown)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        value = " ".join(f"{k}={v}" for k, v in value.items())
    return inline(str(value)[:120])


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
