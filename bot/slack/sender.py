"""The one way out to Slack.

Every Web API call and every `response_url` post goes through `Sender`, so that
rate limits and outages are handled in one place: a 429 is retried after its
`Retry-After`, a 5xx or a connection error is retried with exponential
backoff, and what is finally given up on is logged (method and error, never
the token or the message body).
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies

log = logging.getLogger("atbat.sender")

# Errors that retrying cannot fix: answer them to the caller at once.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A slash command or click must be acked within 3 s; a call made before the ack gets this much.
ONCE_TIMEOUT = 0.8


class SlackCallError(Exception):
    """Slack answered `ok: false` (or never answered usefully)."""

    def __init__(self, method: str, error: str, response: Mapping[str, Any] | None = None):
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.response = dict(response or {})


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # the environment is read once per host: Sender._settings_for
    return session


class Sender:
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        max_attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._token = token
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._sleep = sleep
        self._http = _session()
        self._pid = os.getpid()
        self._inherited: list[requests.Session] = []
        self._once: Sender | None = None
        self._environment: dict[tuple[str, str], tuple[dict[str, str], str | bool]] = {}

    def _session(self) -> requests.Session:
        """This process's HTTP session. A process forked from the one that made it (a work
        horse of a worker that ran jobs in itself) gets its own: one keep-alive connection
        used by two processes mixes their answers. The inherited one is kept, unused and
        unclosed, since its sockets are still the parent's."""
        if self._pid != os.getpid():
            self._inherited.append(self._http)
            self._http, self._pid = _session(), os.getpid()
        return self._http

    def _settings_for(self, url: str) -> tuple[dict[str, str], str | bool]:
        """What the environment says for `url`'s host: its proxies (HTTPS_PROXY and the like,
        NO_PROXY honoured) and the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE). Read once
        per host: requests read all of os.environ about three times per call, which cost
        about a quarter of a message sync's CPU."""
        host = urlsplit(url)[:2]
        found = self._environment.get(host)
        if found is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            found = self._environment[host] = (get_environ_proxies(url), bundle or True)
        return found

    def once(self) -> Sender:
        """A sender that tries once and gives up quickly, for calls made while Slack waits
        for an ack (a trigger_id lasts three seconds; a retry would come too late)."""
        if self._once is None:
            self._once = Sender(self.api_url, self._token, max_attempts=1, timeout=ONCE_TIMEOUT)
        return self._once

    def call(self, method: str, **args: Any) -> dict[str, Any]:
        """Call a Web API method; return the `ok: true` answer.

        The body is form-encoded, which every method accepts (read methods such as
        users.info do not take JSON); blocks, views and other structures travel as
        JSON strings, as Slack expects. Raises SlackCallError for `ok: false`
        answers and for retries exhausted.
        """
        response = self._post(
            method,
            self.api_url + method,
            body=form_body(args),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": FORM_TYPE},
        )
        try:
            body = response.json()
        except ValueError:
            raise SlackCallError(method, f"invalid_response (HTTP {response.status_code})") from None
        if not body.get("ok"):
            error = str(body.get("error", "unknown_error"))
            log.warning("slack call refused method=%s error=%s", method, error)
            raise SlackCallError(method, error, body)
        return body

    def respond(self, response_url: str, payload: Mapping[str, Any]) -> None:
        """Post to a slash command's or an interaction's `response_url`."""
        response = self._post("response_url", response_url, json=dict(payload), headers={})
        if response.status_code >= 400:
            raise SlackCallError("response_url", f"HTTP {response.status_code}")

    def upload_file(self, channel: str, filename: str, content: bytes, title: str,
                    thread_ts: str | None = None,
                    initial_comment: str | None = None) -> dict[str, Any]:
        """Slack's external upload: get an upload URL, POST the bytes there, then complete the
        upload into `channel` (in the thread of `thread_ts`). Completing is the one step that
        shows anything: a file uploaded and never completed stays invisible, so an attempt that
        failed before or at that step can be made again from the start."""
        target = self.call("files.getUploadURLExternal", filename=filename, length=len(content))
        response = self._post("upload", target["upload_url"], body=content,
                              headers={"Content-Type": "application/octet-stream"})
        if response.status_code >= 400:
            raise SlackCallError("upload", f"HTTP {response.status_code}")
        return self.call("files.completeUploadExternal",
                         files=[{"id": target["file_id"], "title": title}],
                         channel_id=channel, thread_ts=thread_ts,
                         initial_comment=initial_comment)

    def _post(
        self, what: str, url: str, *, headers: Mapping[str, str],
        json: Mapping[str, Any] | None = None, body: bytes | None = None,
    ) -> requests.Response:
        delay = self.backoff
        last_problem = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            try:
                proxies, verify = self._settings_for(url)
                response = self._session().post(url, json=json, data=body,
                                                headers=dict(headers), timeout=self.timeout,
                                                proxies=proxies, verify=verify)
            except requests.RequestException as exc:
                last_problem = f"connection error: {type(exc).__name__}"
                wait = delay
            else:
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                last_problem = f"HTTP {response.status_code}"
                rate_limited = response.status_code == 429
                wait = _retry_after(response, default=delay) if rate_limited else delay
            if attempt == self.max_attempts:
                break
            log.info(
                "slack call retry method=%s attempt=%d problem=%s wait=%.2fs",
                what, attempt, last_problem, wait,
            )
            self._sleep(wait)
            delay = min(delay * 2, self.max_backoff)
        log.error("slack call given up method=%s attempts=%d problem=%s",
                  what, self.max_attempts, last_problem)
        raise SlackCallError(what, f"gave up after {self.max_attempts} attempts ({last_problem})")


FORM_TYPE = "application/x-www-form-urlencoded"
# quote_plus's encoding, byte by byte: what stays, a space as "+", the rest as %XX.
_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_ESCAPES = {b: "+" if b == 0x20 else f"%{b:02X}" for b in range(256) if b not in _KEPT}


def _form_quote(text: str) -> str:
    # The UTF-8 bytes as the code points 0-255, each mapped in C by str.translate:
    # urllib's quote_plus maps each byte in a Python loop, about 0.4 ms for a message's
    # blocks, as much as the rest of the call.
    return text.encode("utf-8").decode("latin-1").translate(_FORM_ESCAPES)


def form_body(args: Mapping[str, Any]) -> bytes:
    """A Web API call's arguments, form-encoded as urllib's urlencode encodes them."""
    return "&".join(f"{_form_quote(key)}={_form_quote(value)}"
                    for key, value in _form(args).items()).encode("ascii")


def _form(args: Mapping[str, Any]) -> dict[str, str]:
    form: dict[str, str] = {}
    for key, value in args.items():
        if value is None:
            continue
        if isinstance(value, bool):
            form[key] = "true" if value else "false"
        elif isinstance(value, (dict, list, tuple)):
            form[key] = jsonlib.dumps(value, separators=(",", ":"))
        else:
            form[key] = str(value)
    return form


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default
