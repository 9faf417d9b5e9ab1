"""Who a Slack user is: their timezone (to read the times they type) and their name.

`users.info` is asked at most once a day per user (the store keeps the answer
for `PROFILE_TTL`). Reading a TIME a user typed needs their timezone while
Slack waits for the ack, so the lookup is bounded (one attempt, short timeout)
and the caller falls back to a team's timezone when Slack is slow.

Names are for places that must never wait on Slack (calendar feeds): they read
the cache only, and `request_names` has a job fill it for the people missing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.schedule import zone
from bot.runtime import Runtime
from bot.slack.sender import Sender, SlackCallError
from bot.store.users import Profile, cached_profile, save_profile

log = logging.getLogger("atbat.users")

# A slash command must be acked within 3 s; users.info gets this much of it.
LOOKUP_TIMEOUT_SECONDS = 0.8


@dataclass(frozen=True)
class UserZone:
    """The timezone to read a user's TIME in, and whether it really is theirs."""

    tz: str
    from_profile: bool  # False: Slack could not tell us fast enough; a fallback is used



def profile_from_slack(user_object: dict) -> Profile | None:
    """A Profile from a users.info `user`; None when its timezone is missing or unknown."""
    tz = user_object.get("tz") or ""
    try:
        zone(tz)
    except ValueError:
        return None
    return Profile(user=user_object.get("id", ""), name=user_object.get("name", ""), tz=tz)


_fast_senders: dict[tuple[str, str], Sender] = {}


def _fast_sender(api_url: str, token: str) -> Sender:
    """A sender that tries once and gives up quickly (kept per process: it pools connections)."""
    key = (api_url, token)
    if key not in _fast_senders:
        _fast_senders[key] = Sender(api_url, token, max_attempts=1, timeout=LOOKUP_TIMEOUT_SECONDS)
    return _fast_senders[key]


def user_zone(rt: Runtime, user: str, fallback_tz: str) -> UserZone:
    """The user's timezone from the cache or `users.info`; `fallback_tz` if Slack is slow or silent."""
    r, api_url, token = rt.redis, rt.settings.api_url, rt.settings.bot_token
    profile = cached_profile(r, user)
    if profile is None and token:
        try:
            answer = _fast_sender(api_url, token).call("users.info", user=user)
            profile = profile_from_slack(answer.get("user") or {})
        except SlackCallError as exc:
            log.warning("users.info failed user=%s error=%s: using fallback tz=%s", user, exc.error,
                        fallback_tz)
        if profile is not None:
            save_profile(r, Profile(user=user, name=profile.name, tz=profile.tz))
    if profile is None:
        return UserZone(tz=fallback_tz, from_profile=False)
    return UserZone(tz=profile.tz, from_profile=True)


# ---------------------------------------------------------------- names


def cached_names(rt: Runtime, users: Iterable[str]) -> dict[str, str]:
    """The names the cache knows, without asking Slack."""
    names = {}
    for user in set(users):
        profile = cached_profile(rt.redis, user)
        if profile is not None and profile.name:
            names[user] = profile.name
    return names


def request_names(rt: Runtime, users: Iterable[str]) -> None:
    """Have a job look up (users.info) the people the cache has no name for."""
    known = cached_names(rt, users)
    missing = sorted(set(users) - set(known))
    if not missing or not rt.settings.bot_token:
        return
    digest = hashlib.sha256(",".join(missing).encode()).hexdigest()[:16]
    rt.enqueue("workers.profiles.look_up", missing, job_id=f"profiles-{digest}")


def look_up(rt: Runtime, users: list[str]) -> None:
    """Cache each user's profile from users.info (the job behind `request_names`)."""
    for user in users:
        if cached_profile(rt.redis, user) is not None:
            continue
        try:
            answer = rt.sender.call("users.info", user=user)
        except SlackCallError as exc:
            log.warning("users.info failed user=%s error=%s", user, exc.error)
            continue
        profile = profile_from_slack(answer.get("user") or {})
        if profile is not None:
            save_profile(rt.redis, Profile(user=user, name=profile.name, tz=profile.tz))
