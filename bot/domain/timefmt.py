"""Durations as people read them, shared by the domain's messages and the Slack renderers."""

from __future__ import annotations

from datetime import timedelta


def human_duration(delta: timedelta) -> str:
    """`45s`, `2m 10s`, `1h 5m`, `3d 4h`: two units at most."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"
