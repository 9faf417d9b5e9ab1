"""Settings from the environment (12-factor).

Every problem is reported as one `SettingsError` line naming the variable, so
start-up can print it and exit instead of showing a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from bot.store.connection import RedisUrlError, is_sentinel_url, parse_sentinel_url, sentinel_url

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_CONFIG = "./atbat.yml"
DEFAULT_PORT = 3000
DEFAULT_WAIT_MS = 1000
DEFAULT_MESSAGE_UPDATE_MS = 1000
SENTINEL_EXAMPLE = "redis+sentinel://host1:26379,host2:26379/mymaster/0"


class SettingsError(Exception):
    """A missing or malformed environment variable; str() is the one line to show."""


@dataclass(frozen=True)
class Settings:
    bot_token: str | None
    signing_secret: str | None
    app_token: str | None
    api_url: str
    redis_url: str
    config_path: str
    alert_token: str | None
    port: int
    public_url: str  # where users reach atbat's HTTP routes (calendar feed links)
    # Secrets the config names by variable (Alertmanager credentials, heartbeat tokens).
    env: Mapping[str, str] = field(default_factory=dict, compare=False)
    metrics_token: str | None = None  # guards /metrics and the details of /healthz
    # Pages outside Slack (all optional): Twilio for calls and SMS, an SMTP server for e-mail.
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"  # a local Twilio-compatible server in tests
    smtp_url: str | None = None  # an Apprise mailto:// URL without `to`
    local_providers_only: bool = False  # the sandbox: no Apprise URL off this machine
    # Alerts are acknowledged only once this many replicas have them (WAIT), within wait_ms.
    redis_min_replicas: int = 0
    redis_wait_ms: int = DEFAULT_WAIT_MS
    # An alert's message is updated at most once in this many ms; 0: at every change.
    message_update_ms: int = DEFAULT_MESSAGE_UPDATE_MS

    @property
    def has_slack_credentials(self) -> bool:
        return bool(self.bot_token and self.signing_secret)

    def require_http(self) -> None:
        """HTTP mode needs the bot token and the signing secret."""
        for name, value in (
            ("SLACK_BOT_TOKEN", self.bot_token),
            ("SLACK_SIGNING_SECRET", self.signing_secret),
        ):
            if not value:
                raise SettingsError(f"{name} is not set: HTTP mode needs it (see README, Install)")

    def require_socket(self) -> None:
        if not self.bot_token:
            raise SettingsError("SLACK_BOT_TOKEN is not set: Socket Mode needs it")
        if not self.app_token:
            raise SettingsError("SLACK_APP_TOKEN is not set: Socket Mode needs an xapp- token")

    def __repr__(self) -> str:  # never print secrets, even by accident
        return (
            f"Settings(api_url={self.api_url!r}, redis_url={redact_url(self.redis_url)!r}, "
            f"config_path={self.config_path!r}, port={self.port})"
        )


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        auth, host = rest.split("@", 1)
        user = auth.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env

    bot_token = _optional(env, "SLACK_BOT_TOKEN")
    if bot_token and not bot_token.startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN: expected a bot token starting with xoxb-")
    app_token = _optional(env, "SLACK_APP_TOKEN")
    if app_token and not app_token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN: expected an app-level token starting with xapp-")

    api_url = _optional(env, "SLACK_API_URL") or DEFAULT_API_URL
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"SLACK_API_URL: expected an http(s) URL, got {api_url!r}")
    if not api_url.endswith("/"):
        api_url += "/"

    redis_url = _redis_url(env)
    min_replicas = _count(env, "ATBAT_REDIS_MIN_REPLICAS", 0)
    wait_ms = _count(env, "ATBAT_REDIS_WAIT_MS", DEFAULT_WAIT_MS)

    port_text = _optional(env, "PORT") or str(DEFAULT_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingsError(f"PORT: expected a port number from 1 to 65535, got {port_text!r}")

    public_url = _optional(env, "ATBAT_PUBLIC_URL") or f"http://localhost:{port_text}"
    parsed_public = urlparse(public_url)
    if parsed_public.scheme not in ("http", "https") or not parsed_public.netloc:
        raise SettingsError(
            f"ATBAT_PUBLIC_URL: expected an http(s) URL like https://atbat.example.com, got {public_url!r}"
        )

    return Settings(
        bot_token=bot_token,
        signing_secret=_optional(env, "SLACK_SIGNING_SECRET"),
        app_token=app_token,
        api_url=api_url,
        redis_url=redis_url,
        config_path=_optional(env, "ATBAT_CONFIG") or DEFAULT_CONFIG,
        alert_token=_optional(env, "ATBAT_ALERT_TOKEN"),
        port=int(port_text),
        public_url=public_url.rstrip("/"),
        env=dict(env),
        metrics_token=_optional(env, "ATBAT_METRICS_TOKEN"),
        redis_min_replicas=min_replicas,
        redis_wait_ms=wait_ms,
        message_update_ms=_count(env, "ATBAT_MESSAGE_UPDATE_MS", DEFAULT_MESSAGE_UPDATE_MS),
        **_paging_settings(env),
    )


def _paging_settings(env: Mapping[str, str]) -> dict[str, str | bool | None]:
    sid, token = _optional(env, "TWILIO_ACCOUNT_SID"), _optional(env, "TWILIO_AUTH_TOKEN")
    caller = _optional(env, "ATBAT_TWILIO_FROM")
    if bool(sid) != bool(token):
        missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
        raise SettingsError(f"{missing} is not set: calls and SMS need both Twilio settings")
    if sid and not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
        raise SettingsError("TWILIO_ACCOUNT_SID: expected an account SID like AC followed by 32 hex digits")
    if sid and not (caller and re.fullmatch(r"\+[1-9]\d{6,14}", caller)):
        raise SettingsError("ATBAT_TWILIO_FROM: expected the Twilio number to call from, like +15551234567")
    api_url = _optional(env, "ATBAT_TWILIO_API_URL") or "https://api.twilio.com"
    if urlparse(api_url).scheme not in ("http", "https"):
        raise SettingsError(f"ATBAT_TWILIO_API_URL: expected an http(s) URL, got {api_url!r}")
    smtp_url = _optional(env, "ATBAT_SMTP_URL")
    if smtp_url and not smtp_url.startswith(("mailto://", "mailtos://")):
        raise SettingsError("ATBAT_SMTP_URL: expected an Apprise mailto:// or mailtos:// URL")
    local_only = (_optional(env, "ATBAT_LOCAL_PROVIDERS_ONLY") or "0").lower()
    if local_only not in ("0", "1", "true", "false"):
        raise SettingsError(f"ATBAT_LOCAL_PROVIDERS_ONLY: expected 1 or 0, got {local_only!r}")
    return {"twilio_account_sid": sid, "twilio_auth_token": token, "twilio_from": caller,
            "twilio_api_url": api_url.rstrip("/"), "smtp_url": smtp_url,
            "local_providers_only": local_only in ("1", "true")}


def _redis_url(env: Mapping[str, str]) -> str:
    sentinels = _optional(env, "REDIS_SENTINELS")
    master = _optional(env, "REDIS_SENTINEL_MASTER")
    if sentinels or master:
        if not (sentinels and master):
            raise SettingsError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together: "
                                "set both, e.g. host1:26379,host2:26379 and mymaster")
        url = sentinel_url(sentinels, master)
        name = "REDIS_SENTINELS"
    else:
        url = _optional(env, "REDIS_URL") or DEFAULT_REDIS_URL
        name = "REDIS_URL"
    if is_sentinel_url(url):
        try:
            parse_sentinel_url(url)
        except RedisUrlError as exc:
            raise SettingsError(f"{name}: {exc}; expected e.g. {SENTINEL_EXAMPLE}, "
                                f"got {redact_url(url)!r}") from None
    elif urlparse(url).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(
            "REDIS_URL: expected redis://host:port/db, rediss://..., unix://... or "
            f"{SENTINEL_EXAMPLE}, got {redact_url(url)!r}"
        )
    return url


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = _optional(env, name) or str(default)
    if not text.isdigit():
        raise SettingsError(f"{name}: expected a whole number, got {text!r}")
    return int(text)
