"""Sending pages outside Slack: push, SMS and e-mail through Apprise, calls and SMS through Twilio.

One adapter, like `bot.slack.sender` is for Slack: every send answers a
`Sent` saying whether the provider accepted it, and if not, whether trying
again can help. Nothing here decides who is paged or when; callers own
retries, so a page stays owed until a provider accepted it.

Apprise URLs (`ntfys://host/topic`, `mailto://...`, `pover://...`) cover push,
e-mail and SMS gateways without a client per service. A phone number for SMS
or a call goes through Twilio with the official `twilio` library; tests and
the sandbox point it at a local Twilio-compatible server.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import apprise
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

from bot.domain.paging import mask_phone

log = logging.getLogger("atbat.providers")
_PHONE = re.compile(r"\+?\d[\d ()-]{5,}\d")

TWILIO_API = "https://api.twilio.com"
# Twilio answers these for mistakes that no retry fixes (bad number, unverified caller id ...).
RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class Sent:
    accepted: bool
    detail: str  # what the thread says: "accepted by ntfy", "Twilio 21211: not a valid phone number"
    retryable: bool = False
    provider_id: str | None = None


@dataclass(frozen=True)
class TwilioAccount:
    account_sid: str
    auth_token: str
    from_number: str
    api_url: str = TWILIO_API  # the local Twilio-compatible server in tests and the sandbox


class _RedirectingHttpClient(TwilioHttpClient):
    """The library's own HTTP client, sending to `api_url` instead of api.twilio.com."""

    def __init__(self, api_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.api_url = api_url.rstrip("/")
        self._pid = os.getpid()
        self._inherited: list[Any] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self._pid != os.getpid():  # forked (a work horse): never the parent's connections
            # (kept unclosed: they are the parent's); the library then opens one per call
            self._inherited.append(self.session)
            self.session, self._pid = None, os.getpid()
        if url.startswith(TWILIO_API):
            url = self.api_url + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


def apprise_service(url: str) -> str | None:
    """The service an Apprise URL names ("ntfy", "e-mail" ...), or None when Apprise does not know it."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return None
    return str(getattr(plugin, "service_name", "") or urlsplit(url).scheme)


def _provider_name(url: str, service: str) -> str:
    """Who accepted it, for the thread: "ntfy", "the mail server smtp.example.com"."""
    if urlsplit(url).scheme in ("mailto", "mailtos"):
        host = urlsplit(url).hostname
        return f"the mail server {host}" if host else "the mail server"
    return service


def redact_url(url: str) -> str:
    """An Apprise URL with everything after the scheme's host hidden: safe to show and log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}/…" if host else f"{parts.scheme}://…"


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Apprise services that send to the server the URL names; any other (Discord, Pushbullet,
# Telegram ...) reaches its cloud whatever the URL's host says (there it is a token).
_SERVED_AT_HOST = frozenset({"NotifyJSON", "NotifyXML", "NotifyForm", "NotifyGotify",
                             "NotifyNtfy", "NotifyEmail"})


def _destination(url: str) -> str | None:
    """The host Apprise would connect to for `url`, where the URL decides it, else None."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None or type(plugin).__name__ not in _SERVED_AT_HOST:
        return None
    if getattr(plugin, "mode", None) == "cloud":  # ntfy's mode=cloud posts to ntfy.sh
        return None
    return getattr(plugin, "smtp_host", None) or plugin.host  # mailto's smtp= wins


def off_machine(url: str) -> str | None:
    """Why an Apprise URL may not be used where nothing may leave this machine (the
    sandbox), or None when what Apprise sends to is on this machine."""
    host = _destination(url)
    if host in LOCAL_HOSTS:
        return None
    host = host or urlsplit(url).hostname
    where = f"{host} is another machine" if host and host not in LOCAL_HOSTS \
        else "it is not a server on this machine"
    return (f"the sandbox sends nothing off this machine and {redact_url(url)} would ({where}). "
            "A phone number or a plain e-mail address reaches the sandbox's own phone; an "
            "Apprise URL must point at 127.0.0.1")


class Providers:
    """Sends through Apprise and Twilio; `twilio` is None when no account is configured.
    `local_only` (the sandbox) refuses Apprise URLs to other machines instead of sending."""

    def __init__(self, twilio: TwilioAccount | None = None, smtp_url: str | None = None,
                 timeout: float = 10.0, local_only: bool = False) -> None:
        self.twilio = twilio
        self.smtp_url = smtp_url  # an Apprise mailto URL without `to`, for plain addresses
        self.local_only = local_only
        self.timeout = timeout
        self._client = (
            TwilioClient(twilio.account_sid, twilio.auth_token,
                         http_client=_RedirectingHttpClient(twilio.api_url, timeout))
            if twilio else None
        )

    # --- Apprise: push, e-mail, SMS gateways ---------------------------------

    def notify(self, url: str, title: str, body: str) -> Sent:
        service = apprise_service(url)
        if service is None:
            return Sent(False, f"{redact_url(url)} is not a URL Apprise knows")
        refusal = off_machine(url) if self.local_only else None
        if refusal:
            return Sent(False, refusal)
        sender = apprise.Apprise()
        sender.add(url)
        if bool(sender.notify(body=body, title=title)):
            return Sent(True, f"accepted by {_provider_name(url, service)}")
        # Apprise tells no more than success or failure: assume the service may recover.
        return Sent(False, f"{service} did not accept it", retryable=True)

    def email(self, address: str, subject: str, body: str) -> Sent:
        if "://" in address:
            return self.notify(address, subject, body)
        if not self.smtp_url:
            return Sent(False, "no SMTP server is configured (ATBAT_SMTP_URL)")
        separator = "&" if "?" in self.smtp_url else "?"
        return self.notify(f"{self.smtp_url}{separator}to={quote(address)}", subject, body)

    # --- Twilio: calls and SMS to a phone number -----------------------------

    def sms(self, target: str, body: str) -> Sent:
        if "://" in target:
            return self.notify(target, "", body)
        return self._twilio("SMS", lambda c, t: c.messages.create(to=target, from_=t.from_number,
                                                                    body=body))

    def call(self, number: str, twiml_url: str, status_url: str | None = None) -> Sent:
        def create(client: TwilioClient, account: TwilioAccount) -> Any:
            extra = {"status_callback": status_url} if status_url else {}
            return client.calls.create(to=number, from_=account.from_number, url=twiml_url,
                                       method="POST", **extra)
        return self._twilio("call", create)

    def _twilio(self, what: str, send: Any) -> Sent:
        if self._client is None or self.twilio is None:
            return Sent(False, "no Twilio account is configured (TWILIO_ACCOUNT_SID)")
        try:
            resource = send(self._client, self.twilio)
        except TwilioRestException as exc:
            retryable = exc.status >= 500 or exc.status in RETRYABLE_STATUS
            # Twilio's messages repeat the number ("The 'To' number +4915… is not valid"): masked.
            message = _PHONE.sub(lambda m: mask_phone(m.group()),
                                 str(exc.msg).removeprefix("Unable to create record: "))
            return Sent(False, f"Twilio {exc.code or exc.status}: {message}", retryable=retryable)
        except requests.RequestException as exc:
            return Sent(False, f"Twilio could not be reached ({type(exc).__name__})", retryable=True)
        return Sent(True, "accepted by Twilio", provider_id=str(resource.sid))
