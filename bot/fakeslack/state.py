"""In-memory state of the local Slack-compatible workspace.

One `Workspace` holds everything the Web API methods read and write: users,
conversations, messages, ephemerals, files, views, user groups, and a record
of every call made to it. All access goes through `lock` (re-entrant), so the
server's request threads and the test thread can share it.
"""

from __future__ import annotations

import copy
import mimetypes
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")

BOT_USER_ID = "U0ATBATBOT"
BOT_ID = "B0ATBATBOT"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0ATBAT-test-token"  # app-level token: Socket Mode
TEAM_ID = "T0ATBAT"
TEAM_DOMAIN = "atbat"
APP_ID = "A0ATBAT"

# Slack lets a response_url be used five times within thirty minutes.
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60
# A trigger_id is good for one view, within three seconds.
TRIGGER_TTL = 3.0


@dataclass
class ApiCall:
    """One Web API request as the server saw it, failed ones included."""

    method: str
    args: dict[str, Any]
    response: dict[str, Any]
    status: int
    at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass
class ResponsePost:
    """One POST to a response_url."""

    hook_id: str
    payload: dict[str, Any]
    status: int
    result: dict[str, Any]


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_im: bool = False
    user: str | None = None  # the other party of an IM
    topic: str = ""
    purpose: str = ""
    members: list[str] = field(default_factory=list)
    created: int = 0
    creator: str = ""

    def to_api(self) -> dict[str, Any]:
        """The conversation object as conversations.info returns it."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_org_shared": False,
            "is_member": BOT_USER_ID in self.members,
            "created": self.created,
            "creator": self.creator,
            "topic": {"value": self.topic, "creator": self.creator, "last_set": 0},
            "purpose": {"value": self.purpose, "creator": self.creator, "last_set": 0},
            "num_members": len(self.members),
        }


@dataclass
class ResponseHook:
    """A response_url: where it posts, and the message it may replace."""

    id: str
    channel: str
    user: str
    created: float
    original_ts: str | None = None
    original_ephemeral: bool = False
    uses: int = 0


@dataclass
class StoredFile:
    id: str
    name: str
    length: int
    title: str = ""
    content: bytes | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)
    created: int = 0

    @property
    def mimetype(self) -> str:
        guessed = mimetypes.guess_type(self.name)[0]
        return guessed or "application/octet-stream"

    @property
    def filetype(self) -> str:
        """Slack's short type: from the extension (md → markdown), else `binary`."""
        extension = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else ""
        return {"md": "markdown", "txt": "text", "jpeg": "jpg", "": "binary"}.get(extension, extension)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": self.mimetype,
            "filetype": self.filetype,
            "user": BOT_USER_ID,
            "size": len(self.content or b""),
            "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{self.id}/{self.name}",
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{BOT_USER_ID}/{self.id}/{self.name}",
            "channels": list(self.channels),
        }


@dataclass
class Fault:
    status: int
    retry_after: int | None
    remaining: int
    error: str


class Workspace:
    """A Slack workspace with one bot user, kept in memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.base_url: str | None = None  # set when the server starts
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.team_id = TEAM_ID
        self.team_domain = TEAM_DOMAIN
        self.app_id = APP_ID
        self.tokens: set[str] = {BOT_TOKEN}
        self.app_tokens: set[str] = {APP_TOKEN}
        self.socket_mode: Any = None  # the SocketModeServer, while one runs
        self.trigger_ttl = TRIGGER_TTL
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel → messages, oldest first
        self.ephemeral_messages: list[dict[str, Any]] = []
        self.pins: dict[str, list[str]] = {}
        self.files: dict[str, StoredFile] = {}
        self.views: dict[str, dict[str, Any]] = {}  # view id → view, latest version
        self.view_users: dict[str, str] = {}  # view id → user it was opened for
        self.closed_views: set[str] = set()
        self.last_read: dict[str, dict[str, str]] = {}  # user → channel → ts read up to
        self.calls: list[ApiCall] = []
        self.responses: list[ResponsePost] = []
        self.hooks: dict[str, ResponseHook] = {}
        self.triggers: dict[str, tuple[str, float]] = {}  # trigger id → (user, issued at)
        self.faults: dict[str, list[Fault]] = {}
        self.rate_per_second: float | None = None
        self.rate_retry_after = 1
        self.recent_calls: dict[str, list[float]] = {}
        # Text Slack would parse as unintended markup (see markup.py): refused and kept here.
        self.check_markup = True
        self.markup_violations: list[tuple[str, list[str]]] = []
        self._last_ts_us = 0
        self._counter = 0
        self.add_user(BOT_USER_ID, "atbat", real_name="atbat", is_bot=True)

    # ------------------------------------------------------------ setup

    @classmethod
    def from_config(
        cls,
        users: dict[str, dict[str, Any]],
        channels: Iterable[dict[str, Any]] = (),
        usergroups: dict[str, dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Workspace:
        """Build a workspace from plain data.

        `users`: user id → keyword arguments of `add_user` (name, real_name,
        tz, email, is_bot). `channels`: keyword arguments of `add_channel`.
        `usergroups`: group id → {"handle": ..., "users": [...]}.
        """
        ws = cls(clock=clock)
        for user_id, attrs in users.items():
            ws.add_user(user_id, **attrs)
        for attrs in channels:
            ws.add_channel(**attrs)
        for group_id, attrs in (usergroups or {}).items():
            ws.add_usergroup(group_id, **attrs)
        return ws

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
        is_bot: bool = False,
        tz_label: str | None = None,
    ) -> dict[str, Any]:
        name = name or user_id.lower()
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": real_name or name,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": 0,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 0,
            "profile": {
                "real_name": real_name or name,
                "display_name": name,
                "email": email or f"{name}@example.com",
                "team": self.team_id,
            },
        }
        with self.lock:
            self.users[user_id] = user
        return user

    def add_channel(
        self,
        id: str,
        name: str,
        members: Iterable[str] = (),
        is_private: bool = False,
        is_archived: bool = False,
        topic: str = "",
        bot_member: bool = True,
    ) -> Channel:
        """Add a channel; the bot is a member unless `bot_member` is false."""
        member_list = list(dict.fromkeys(members))
        if bot_member and self.bot_user_id not in member_list:
            member_list.append(self.bot_user_id)
        channel = Channel(
            id=id,
            name=name,
            is_private=is_private,
            is_archived=is_archived,
            topic=topic,
            members=member_list,
            created=int(self.clock()),
            creator=self.bot_user_id,
        )
        with self.lock:
            self.channels[id] = channel
            self.history.setdefault(id, [])
        return channel

    def add_usergroup(
        self, id: str, handle: str | None = None, users: Iterable[str] = (), name: str = ""
    ) -> dict[str, Any]:
        handle = handle or id.lower()
        group = {
            "id": id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "name": name or handle,
            "handle": handle,
            "users": list(users),
            "date_update": int(self.clock()),
        }
        with self.lock:
            self.usergroups[id] = group
        return group

    # ------------------------------------------------------------ ids and lookups

    def new_id(self, prefix: str) -> str:
        with self.lock:
            self._counter += 1
            return f"{prefix}0{self._counter:08d}"

    def new_ts(self) -> str:
        """A message ts: unique and increasing, near the clock."""
        with self.lock:
            now_us = int(self.clock() * 1_000_000)
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            seconds, micros = divmod(self._last_ts_us, 1_000_000)
            return f"{seconds}.{micros:06d}"

    def user_tz_offset(self, user: dict[str, Any]) -> tuple[int, str]:
        """The user's current UTC offset in seconds and a label for their zone."""
        now = datetime.fromtimestamp(self.clock(), tz=UTC).astimezone(ZoneInfo(user["tz"]))
        offset = now.utcoffset()
        seconds = int(offset.total_seconds()) if offset else 0
        return seconds, user["tz_label"] or now.tzname() or user["tz"]

    def channel_by_name(self, name: str) -> Channel | None:
        name = name.lstrip("#")
        with self.lock:
            for channel in self.channels.values():
                if channel.name == name and not channel.is_im:
                    return channel
        return None

    def im_with(self, user_id: str) -> Channel:
        """The bot's direct-message conversation with a user, created on first use."""
        channel_id = "D" + user_id[1:]
        with self.lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                channel = Channel(
                    id=channel_id,
                    name=user_id,
                    is_im=True,
                    user=user_id,
                    members=[self.bot_user_id, user_id],
                    created=int(self.clock()),
                )
                self.channels[channel_id] = channel
                self.history.setdefault(channel_id, [])
            return channel

    def find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self.lock:
            for message in self.history.get(channel, []):
                if message["ts"] == ts:
                    return message
        return None

    def find_ephemeral(self, ts: str) -> dict[str, Any] | None:
        with self.lock:
            for message in self.ephemeral_messages:
                if message["ts"] == ts:
                    return message
        return None

    def new_trigger_id(self, user: str) -> str:
        with self.lock:
            self._counter += 1
            trigger_id = f"{self._counter}.{int(self.clock())}.{self._counter:032x}"
            self.triggers[trigger_id] = (user, self.clock())
        return trigger_id

    def new_response_url(
        self,
        channel: str,
        user: str,
        original_ts: str | None = None,
        original_ephemeral: bool = False,
    ) -> str:
        """A response_url bound to a channel and user (and the message clicked, if any)."""
        hook_id = self.new_id("H")
        with self.lock:
            self.hooks[hook_id] = ResponseHook(
                id=hook_id,
                channel=channel,
                user=user,
                created=self.clock(),
                original_ts=original_ts,
                original_ephemeral=original_ephemeral,
            )
        return f"{self.base_url or 'http://localhost'}/response/{hook_id}"

    # ------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        count: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next `count` calls of `method` with an error status.

        429 comes with `Retry-After` and `ratelimited`, as Slack does; 5xx with
        `internal_error` / `service_unavailable` unless `error` is given.
        """
        default = {429: "ratelimited", 503: "service_unavailable"}.get(status, "internal_error")
        with self.lock:
            self.faults.setdefault(method, []).append(
                Fault(status, retry_after if status == 429 else None, count, error or default)
            )

    def rate_limit(self, per_second: float | None, retry_after: int = 1) -> None:
        """Answer 429 to calls of any one method beyond `per_second` a second; None turns it off."""
        with self.lock:
            self.rate_per_second = per_second
            self.rate_retry_after = retry_after
            self.recent_calls.clear()

    # ------------------------------------------------------------ reading, for tests

    def calls_to(self, method: str) -> list[ApiCall]:
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def messages(self, channel: str, include_replies: bool = False) -> list[dict[str, Any]]:
        """Messages of a channel, oldest first; top-level (and broadcast) unless asked."""
        with self.lock:
            found = [
                m
                for m in self.history.get(channel, [])
                if include_replies or _is_top_level(m)
            ]
            return copy.deepcopy(found)

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread, oldest first, without the parent."""
        with self.lock:
            found = [
                m
                for m in self.history.get(channel, [])
                if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
            ]
            return copy.deepcopy(found)

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        """Messages in the bot's IM with a user, replies included."""
        return self.messages("D" + user_id[1:], include_replies=True)

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages shown (to `user`, in `channel`); `user` is the recipient."""
        with self.lock:
            found = [
                m
                for m in self.ephemeral_messages
                if (channel is None or m["channel"] == channel)
                and (user is None or m["user"] == user)
            ]
            return copy.deepcopy(found)

    def file_content(self, file_id: str) -> bytes | None:
        with self.lock:
            stored = self.files.get(file_id)
            return stored.content if stored else None

    def open_views(self, user: str | None = None) -> list[dict[str, Any]]:
        """Views opened and not closed (latest version of each)."""
        with self.lock:
            return [
                copy.deepcopy(view)
                for view_id, view in self.views.items()
                if view_id not in self.closed_views
                and (user is None or self.view_users.get(view_id) == user)
            ]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.02) -> T:
        """Poll `predicate` until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)


def _is_top_level(message: dict[str, Any]) -> bool:
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or bool(message.get("reply_broadcast"))
