"""The App Home tab: my on-call now and next, my teams' open alerts, my pages this week.

Published with `views.publish` when someone opens the tab (`app_home_opened`),
from a job so the event is acked at once, and redrawn when what it shows changes
(an alert of my teams changes, I am paged, a handoff makes or ends my shift, a swap,
cover, take, override or rotation edit moves my shifts) for people who opened it in
the last `RECENT` days only: one queued redraw per person stands for a burst of
changes (`bot.store.home`). The `views.publish` call is owed until Slack accepts it
(`bot.services.deliveries`): a redraw during a Slack outage arrives after it, and a
newer redraw replaces one still owed. Its buttons ask for my report and open a cover
request for my next shift.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.domain.config import Team
from bot.domain.history import Event
from bot.domain.reports import is_sleep_page
from bot.domain.schedule import Override
from bot.domain.swaps import PlanError
from bot.oncall import team_schedule
from bot.runtime import Runtime
from bot.services import covers, deliveries, messages
from bot.slack.render_home import HomeData, MyShift, home_view
from bot.store import alerts as alerts_store
from bot.store import history as history_store
from bot.store import home as store
from bot.store.swap_requests import RequestError

log = logging.getLogger("atbat.home")

AHEAD = timedelta(days=60)
WEEK = timedelta(days=7)
NEXT_SHOWN = 3
RECENT = timedelta(days=7)  # redraw only the tabs opened this recently
DUE_TTL = timedelta(minutes=2)  # a redraw mark whose job was lost lets the next change queue


def _shifts(rt: Runtime, team: Team, user: str, now: datetime) -> list[MyShift]:
    sched = team_schedule(rt.redis, team)
    return [MyShift(team.name, s.layer, s.start, s.end)
            for s in sched.user_shifts(user, now, now + AHEAD)[:NEXT_SHOWN]]


def _my_pages(rt: Runtime, team: Team, user: str, now: datetime) -> list[tuple[Event, bool]]:
    pages = history_store.read(rt.redis, team.name, "page", now - WEEK, now + timedelta(seconds=1))
    return [(p, is_sleep_page(p, team.sleep_hours, team.timezone)) for p in pages
            if p.fields.get("user") == user]


def gather(rt: Runtime, user: str, now: datetime) -> HomeData:
    teams = rt.config.teams_of(user)
    shifts = sorted((s for t in teams for s in _shifts(rt, t, user, now)), key=lambda s: s.start)
    groups = [g for t in teams for g in alerts_store.open_groups(rt.redis, t.name)]
    pages = [p for t in teams for p in _my_pages(rt, t, user, now)]
    names = {i: r.alertname for t in teams for i, r in history_store.rules(rt.redis, t.name).items()}
    return HomeData(user=user, now=now, teams=tuple(t.name for t in teams), shifts=tuple(shifts),
                    groups=tuple(groups),
                    pages=tuple((p.at, names.get(p.fields.get("rule", ""), "an alert"), asleep)
                                for p, asleep in sorted(pages, key=lambda x: x[0].at)))


def publish(rt: Runtime, user: str) -> None:
    store.take_due(rt.redis, user)  # before reading: a change from now on queues another redraw
    data = gather(rt, user, rt.now())
    deliveries.owe(rt, "home", user, "views.publish", {"user_id": user, "view": home_view(data)},
                   replace_owed=True, keep=False)
    deliveries.deliver_now(rt, "home", user)
    log.info("home published user=%s teams=%s shifts=%d alerts=%d pages=%d", user,
             ",".join(data.teams) or "-", len(data.shifts), len(data.groups), len(data.pages))


def request_publish(rt: Runtime, user: str) -> None:
    rt.enqueue("workers.home.publish", user)


def opened(rt: Runtime, user: str) -> None:
    """`app_home_opened`: remember it (changes redraw the tab from now on) and publish it."""
    store.opened(rt.redis, user, rt.now())
    request_publish(rt, user)


def refresh(rt: Runtime, users: Iterable[str], why: str) -> None:
    """What these people's tabs show changed: redraw those opened lately, once per burst."""
    wanted = sorted({u for u in users if u})
    queued = [u for u in store.opened_since(rt.redis, wanted, rt.now() - RECENT)
              if store.mark_due(rt.redis, u, DUE_TTL)]
    for user in queued:
        request_publish(rt, user)
    if queued:
        log.info("home redraw queued why=%s users=%s", why, ",".join(queued))


def shifts_changed(rt: Runtime, users: Iterable[str], why: str) -> None:
    """Who is on call changed for these people (a swap, cover, take, override or rotation
    edit): one job redraws their tabs, so the command or click only queues it."""
    wanted = sorted({u for u in users if u})
    if wanted:
        rt.enqueue("workers.home.refresh", wanted, why)


def override_people(overrides: Iterable[Override]) -> set[str]:
    """Whose shifts overrides change: the person on call instead and the person replaced."""
    return {u for o in overrides for u in (o.user, o.replaces) if u}


def team_people(team: Team) -> list[str]:
    """Everyone whose tab lists the team's alerts: its rotation members and managers."""
    return sorted(team.members | set(team.managers))


def my_report(rt: Runtime, user: str, team_name: str) -> str | None:
    """Post the team's 7-day report in my DM with atbat; the refusal, or None."""
    team = rt.config.teams.get(team_name)
    if team is None or team not in rt.config.teams_of(user):
        return "That is not one of your teams."
    rt.enqueue("workers.reports.post", team.name, user, 7, rt.now().isoformat())
    return None


def cover_my_next_shift(rt: Runtime, user: str, team_name: str) -> None:
    """An open cover request for my next shift; what happened goes to my DM."""
    team = rt.config.teams.get(team_name)
    if team is None:
        return
    try:
        covers.create(rt, team, user, None, None, "", rt.now())
    except (PlanError, RequestError) as exc:
        messages.post(rt, user, f"No cover request for {team.name}: {exc}")
        return
    messages.post(rt, user, f"Asked {team.name} who can cover your next shift; you will hear "
                            "back here.")
    request_publish(rt, user)
