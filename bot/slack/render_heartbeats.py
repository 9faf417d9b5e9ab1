"""`/oncall heartbeats`: each heartbeat's team, timeout, last beat and whether it is missing. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.domain.config import Heartbeat
from bot.domain.heartbeats import HeartbeatState
from bot.domain.timefmt import human_duration
from bot.slack.format import cut_mrkdwn, date_token, escape


def heartbeat_line(heartbeat: Heartbeat, state: HeartbeatState | None, now: datetime) -> str:
    head = f"*{escape(heartbeat.name)}* ({escape(heartbeat.team)}, every {human_duration(heartbeat.timeout)})"
    if state is None or state.last_beat is None:
        last = "no beat yet"
    else:
        last = f"last beat {date_token(state.last_beat)} ({human_duration(now - state.last_beat)} ago)"
    if state is not None and state.missing_since is not None:
        return f":red_circle: {head}: *MISSING* since {date_token(state.missing_since)}, {last}"
    return f":large_green_circle: {head}: {last}"


def heartbeats_list(items: Iterable[tuple[Heartbeat, HeartbeatState | None]],
                    now: datetime) -> tuple[str, list[dict[str, Any]]]:
    lines = [heartbeat_line(hb, state, now) for hb, state in items]
    if not lines:
        text = "No heartbeats are declared (add them under `heartbeats:` in atbat.yml)."
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Heartbeats*"}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": cut_mrkdwn(line, 3000)}}
               for line in lines[:49]]
    return f"{len(lines)} heartbeats", blocks
