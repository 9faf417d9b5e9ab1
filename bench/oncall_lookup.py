"""How fast is "who is on call now"? Run by hand:

    .venv/bin/python bench/oncall_lookup.py

Builds 500 teams x 3 layers x 10 members, with 1,000 overrides per team spread
over 2026 across its layers, and times (best of several runs, time.perf_counter):
one team's on-call (all 3 layers) now, the same at random instants of the year,
the same with the handoff memo emptied before every lookup, all 500 teams, one
team's next 30 days, and a plain dict lookup as the floor.
Target: <= 50 us per team lookup.
"""

from __future__ import annotations

import random
import sys
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain import schedule  # noqa: E402
from bot.domain.schedule import (  # noqa: E402
    ActiveWindow,
    Override,
    OverrideIndex,
    Rotation,
    on_call_at,
    shifts_between,
)

TEAMS = 500
MEMBERS = 10
OVERRIDES_PER_TEAM = 1000
TARGET_US = 50.0
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 17, 13, 37, tzinfo=UTC)


def build_team(rng: random.Random, n: int) -> tuple[list[Rotation], OverrideIndex]:
    members = tuple(f"U{n:04d}{i:02d}" for i in range(MEMBERS))
    rotations = [
        Rotation("primary", members, datetime(2026, 1, 5, 9), timedelta(weeks=1), "Europe/Berlin"),
        Rotation("secondary", members[::-1], datetime(2026, 1, 5, 9), timedelta(weeks=1),
                 "America/New_York"),
        Rotation("business", members[3:] + members[:3], datetime(2026, 1, 5, 8),
                 timedelta(hours=12), "Asia/Tokyo",
                 ActiveWindow(frozenset(range(5)), time(9), time(18))),
    ]  # fmt: skip
    overrides = []
    for i in range(OVERRIDES_PER_TEAM):
        start = YEAR_START + timedelta(minutes=rng.randrange(365 * 24 * 60))
        length = timedelta(minutes=rng.randrange(30, 3 * 24 * 60))
        layer = rotations[rng.randrange(3)].name
        overrides.append(Override(layer, rng.choice(members), start, start + length, f"o{i}"))
    return rotations, OverrideIndex(overrides)


def best_us(fn: Callable[[], object], iterations: int, repeats: int = 5) -> float:
    """Best per-call time in microseconds over ``repeats`` runs of ``iterations``."""
    runs = []
    for _ in range(repeats):
        started = clock.perf_counter()
        for _ in range(iterations):
            fn()
        runs.append((clock.perf_counter() - started) / iterations * 1e6)
    return min(runs)


def main() -> int:
    rng = random.Random(2026)
    started = clock.perf_counter()
    teams = [build_team(rng, n) for n in range(TEAMS)]
    build_s = clock.perf_counter() - started
    rotations, index = teams[0]
    by_name = {f"team{n}": team for n, team in enumerate(teams)}
    instants = [YEAR_START + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(4096)]

    def team_now() -> object:
        return [on_call_at(r, index, NOW) for r in rotations]

    cursor = iter(())

    def team_random() -> object:
        nonlocal cursor
        t = next(cursor, None)
        if t is None:
            cursor = iter(instants)
            t = next(cursor)
        return [on_call_at(r, index, t) for r in rotations]

    def team_cold() -> object:
        schedule._localize.cache_clear()
        schedule._window_on.cache_clear()
        return [on_call_at(r, index, NOW) for r in rotations]

    empty = OverrideIndex()

    def bare_cold() -> object:
        # No override to short-cut the rotation arithmetic, nothing memoized.
        schedule._localize.cache_clear()
        schedule._window_on.cache_clear()
        t = instants[rng.randrange(len(instants))]
        return [on_call_at(r, empty, t) for r in rotations]

    def all_teams() -> object:
        return [[on_call_at(r, idx, NOW) for r in rots] for rots, idx in teams]

    def month() -> object:
        return [shifts_between(r, index, NOW, NOW + timedelta(days=30)) for r in rotations]

    def floor() -> object:
        return by_name["team0"]

    rows = [
        ("dict lookup (floor)", best_us(floor, 200_000)),
        ("one team, 3 layers, now", best_us(team_now, 20_000)),
        ("one team, 3 layers, random instants", best_us(team_random, 20_000)),
        ("one team, 3 layers, cold memo", best_us(team_cold, 5_000)),
        ("one team, no overrides, cold, random t", best_us(bare_cold, 5_000)),
        ("all 500 teams, now", best_us(all_teams, 10, repeats=3)),
        ("one team, next 30 days", best_us(month, 2_000)),
    ]
    sample = [len(s) for s in month()]
    print(f"{TEAMS} teams x 3 layers x {MEMBERS} members, {OVERRIDES_PER_TEAM} overrides per "
          f"team; built and indexed in {build_s:.1f} s")  # fmt: skip
    print(f"{'measure':40} {'us':>12}")
    print("-" * 53)
    for name, us in rows:
        print(f"{name:40} {us:12.2f}")
    print(f"(per team when doing all 500: {rows[5][1] / TEAMS:.2f} us; "
          f"30-day shifts per layer: {sample})")  # fmt: skip
    worst = max(us for _, us in rows[1:5])
    verdict = "PASS" if worst <= TARGET_US else "FAIL"
    print(f"{verdict}: slowest single-team on-call lookup {worst:.2f} us (target <= {TARGET_US:.0f} us)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
