"""The handoff summary: a DM to the incoming person, also posted under the announcement. Pure."""

from __future__ import annotations

from typing import Any

from bot.domain.handoffs import MAX_LISTED, Summary
from bot.domain.timefmt import human_duration
from bot.slack.format import cut_mrkdwn, date_token, escape, mention


def _listed(items: list[str], empty: str) -> str:
    if not items:
        return empty
    shown = items[:MAX_LISTED]
    more = f"\n• … and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return "\n".join(f"• {i}" for i in shown) + more


def summary_message(s: Summary) -> dict[str, Any]:
    who = mention(s.outgoing) if s.outgoing else "nobody"
    head = (f":clipboard: Handoff summary for *{escape(s.team)} {escape(s.layer)}*, from {who}'s "
            f"shift ({human_duration(s.end - s.start)}) to {mention(s.incoming)}.")
    pages = [f"{date_token(p.at, '{date_short} {time}')} {escape(p.rule)}"
             + (" :zzz: sleep hours" if p.asleep else "") for p in s.pages]
    sections = [
        f"*Pages:* {len(s.pages)} ({s.sleep_pages} in sleep hours)\n" + _listed(pages, "• none"),
        "*Alerts still open:*\n" + _listed([f"{escape(title)} ({state})"
                                            for state, title in s.open_groups], "• none"),
        "*Open incidents:*\n" + _listed([escape(i) for i in s.incidents], "• none"),
        "*Runs:*\n" + _listed([escape(r) for r in s.runs], "• none"),
        "*Noisiest rule:* " + (f"{escape(s.noisiest[0])} ({s.noisiest[1]} pages)"
                               if s.noisiest else "none"),
        "*Notes from the outgoing shift:*\n" + _listed([escape(n) for n in s.notes], "• none"),
    ]
    text = f"{head} {len(s.pages)} pages, {len(s.open_groups)} alerts open, " \
           f"{len(s.incidents)} open incidents."
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": cut_mrkdwn(part, 3000)}}
               for part in sections]
    return {"text": text, "blocks": blocks}
