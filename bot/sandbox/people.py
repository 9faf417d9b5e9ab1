"""The sandbox workspace drawn from the config: its people, channels and user groups."""

from __future__ import annotations

import re
from typing import Any

from bot.domain.config import Config
from bot.fakeslack import Workspace

GENERAL_ID = "C0GENERAL"


def user_name(user_id: str) -> str:
    """A readable handle from an ID: U0ALICE -> alice, W0SAM -> sam."""
    return re.sub(r"^[UW]0*", "", user_id).lower() or user_id.lower()


def people(config: Config) -> dict[str, dict[str, Any]]:
    """Every user the config names, in config order, with their timezone.

    The timezone is the person's own (`people.<id>.timezone`), else their first team's:
    what their Slack profile would say.
    """
    found: dict[str, dict[str, Any]] = {}
    for team in config.teams.values():
        for user in [*(m for r in team.rotations for m in r.members), *team.managers]:
            tz = config.person(user).timezone or team.timezone
            entry = found.setdefault(user, {"tz": tz, "teams": [], "manages": []})
            if user in team.managers and team.name not in entry["manages"]:
                entry["manages"].append(team.name)
            elif user not in team.managers and team.name not in entry["teams"]:
                entry["teams"].append(team.name)
    return found


def build_workspace(config: Config) -> Workspace:
    """Users, a channel per team (its people and the bot), #general, and user groups."""
    everyone = people(config)
    ws = Workspace()
    for user_id, info in everyone.items():
        name = user_name(user_id)
        ws.add_user(user_id, name=name, real_name=name.capitalize(), tz=info["tz"])
        ws.im_with(user_id)  # everyone has a DM with the bot in the sidebar
    for team in config.teams.values():
        members = [*sorted(team.members), *team.managers]
        ws.add_channel(id=team.channel, name=team.name, members=members,
                       topic=f"Team {team.name}: alerts and announcements")
        if team.usergroup:
            ws.add_usergroup(team.usergroup, handle=f"{team.name}-oncall")
    if GENERAL_ID not in ws.channels:
        ws.add_channel(id=GENERAL_ID, name="general", members=list(everyone))
    return ws


def directory(config: Config, ws: Workspace) -> dict[str, Any]:
    """What the page needs besides the live state: who can act, teams, runbooks."""
    everyone = people(config)
    users = []
    for user_id, info in everyone.items():
        role = ", ".join([*info["teams"], *(f"manager of {t}" for t in info["manages"])])
        users.append({"id": user_id, "name": ws.users[user_id]["name"], "tz": info["tz"],
                      "role": role, "manager": bool(info["manages"])})
    teams = [{"name": t.name, "channel": t.channel, "timezone": t.timezone}
             for t in config.teams.values()]
    return {"users": users, "teams": teams, "runbooks": sorted(config.runbooks),
            "bot_user_id": ws.bot_user_id}
