"""The sandbox's phone: local push, SMS, e-mail and voice servers, and what each person received.

`SandboxPhone` starts the Twilio-compatible and ntfy-compatible HTTP server
and the SMTP server of `bot.fakephone`, gives atbat's settings pointing at
them (Twilio account, caller number, API URL, SMTP URL), and seeds every
person in the config with tested contact methods on them: a push topic, a
phone number for SMS and calls, an e-mail address. A person's own methods
(from `people:` or set in Slack) are kept, except Apprise URLs to other
machines: nothing leaves this one. Those in a config are replaced by the
sandbox's own; one typed in `/oncall notify` is refused with the reason
(`ATBAT_LOCAL_PROVIDERS_ONLY`), not sent. The example config stays free of
sandbox addresses.

The Phone panel shows, for one person, what arrived at their methods; a key
pressed on a ringing call goes through the Twilio-compatible server, which
posts it to atbat's voice webhook signed as Twilio would.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

from bot.domain.paging import METHODS, ContactMethod, Person
from bot.fakephone.server import PhoneServers, start_phone
from bot.providers import off_machine
from bot.store import people

CALLER = "+12025550100"  # the number atbat calls from (555-01xx: numbers kept for fiction)
DOMAIN = "example.com"
RING_SECONDS = 120.0  # an unanswered call stops ringing after this long, as a phone would


def number_of(index: int) -> str:
    """The sandbox phone number of the person at `index` in the config: +1 202 555 01xx."""
    return f"+12025550{101 + index % 99:03d}"


class SandboxPhone:
    """The local provider servers, started and stopped with the sandbox."""

    def __init__(self) -> None:
        self.servers: PhoneServers | None = None

    def start(self) -> None:
        self.servers = start_phone(account_sid="AC" + secrets.token_hex(16),
                                   auth_token=secrets.token_hex(16), ring_seconds=RING_SECONDS)

    def stop(self) -> None:
        if self.servers is not None:
            self.servers.stop()
            self.servers = None

    @property
    def url(self) -> str:
        return self.servers.url if self.servers else ""

    def env(self) -> dict[str, str]:
        """atbat's settings for sending pages to these servers."""
        assert self.servers is not None
        return {"TWILIO_ACCOUNT_SID": self.servers.account_sid,
                "TWILIO_AUTH_TOKEN": self.servers.auth_token,
                "ATBAT_TWILIO_FROM": CALLER, "ATBAT_TWILIO_API_URL": self.servers.url,
                "ATBAT_SMTP_URL": f"mailto://127.0.0.1:{self.servers.smtp_port}"
                                  f"?from=atbat@{DOMAIN}&mode=insecure",
                "ATBAT_LOCAL_PROVIDERS_ONLY": "1"}

    def contacts(self, name: str, index: int) -> tuple[ContactMethod, ...]:
        """The methods the sandbox gives a person: all four, on these servers, tested."""
        assert self.servers is not None
        number = number_of(index)
        return (ContactMethod("push", f"ntfy://{urlsplit(self.servers.url).netloc}/{name}-pager",
                              verified=True),
                ContactMethod("sms", number, verified=True),
                ContactMethod("call", number, verified=True),
                ContactMethod("email", f"{name}@{DOMAIN}", verified=True))

    def seed(self, r: redis.Redis, everyone: dict[str, tuple[str, Person]], now: datetime) -> None:
        """Give each person (user -> name, their settings) the sandbox methods they lack.

        With a Redis of its own (REDIS_URL) a person may still hold the push topic of an
        earlier sandbox, on a port gone since: it is moved to this one. A method whose
        Apprise URL points off this machine (a config given with --config) is shadowed by
        the sandbox's: nothing leaves the machine. Numbers and plain addresses already go
        to the local Twilio and SMTP servers.
        """
        for index, (user, (name, person)) in enumerate(everyone.items()):
            ours = self.contacts(name, index)
            have = {c.method for c in person.contacts if not _replaced(c)}
            missing = tuple(c for c in ours if c.method not in have)
            if not missing:
                continue

            def add(stored: Person, missing: tuple[ContactMethod, ...] = missing) -> Person:
                kept = tuple(c for c in stored.contacts if not _replaced(c))
                methods = {c.method for c in kept}
                return replace(stored, contacts=(*kept, *(c for c in missing if c.method not in methods)))
            people.update(r, user, add, action="paging.contact_added", at=now,
                          method=",".join(c.method for c in missing), contact="sandbox phone")

    def addresses(self, person: Person) -> set[str]:
        """Where this person's deliveries arrive on these servers: topic, number, address."""
        found: set[str] = set()
        here = urlsplit(self.url).netloc
        for contact in person.contacts:
            target = contact.target
            if "://" not in target:
                found.add(target)
                continue
            parts = urlsplit(target)
            if contact.method == "push" and parts.netloc == here:
                found.add(parts.path.strip("/").split("/")[0])
        return found

    def view(self, person: Person) -> dict[str, Any]:
        """What the Phone panel shows for a person: deliveries newest first, calls with their state."""
        servers = self.servers  # None once the sandbox stops, while the page may still ask
        if servers is None:
            return {"methods": [], "deliveries": [], "calls": []}
        mine = self.addresses(person)
        snapshot = servers.phone.snapshot()
        started = {d["sid"]: d["at"] for d in snapshot["deliveries"] if d["kind"] == "call"}
        deliveries = [d for d in snapshot["deliveries"] if d["kind"] != "call" and d.get("to") in mine]
        calls = [{**c, "at": started.get(c["sid"], 0)} for c in snapshot["calls"] if c["to"] in mine]
        order = {m: i for i, m in enumerate(METHODS)}
        methods = [c.shown() if c.verified else f"{c.shown()} (test not confirmed yet)"
                   for c in sorted(person.contacts, key=lambda c: order[c.method])]
        return {"methods": methods, "deliveries": deliveries[::-1][:50],
                "calls": sorted(calls, key=lambda c: c["at"], reverse=True)[:20]}

    def press(self, person: Person, sid: str, digit: str) -> dict[str, Any]:
        """Press a key on one of this person's calls, through the Twilio-compatible server."""
        assert self.servers is not None
        with self.servers.phone.lock:
            call = self.servers.phone.calls.get(sid)
            to = call.to if call else None
        if to is None or to not in self.addresses(person):
            return {"ok": False, "error": "no such call on this phone"}
        answer = requests.post(f"{self.servers.url}/_phone/calls/{sid}/press", json={"digit": digit},
                               timeout=10)
        body = answer.json()
        return {"ok": bool(body.get("ok")), "error": body.get("error"), "call": body.get("call")}


def _replaced(contact: ContactMethod) -> bool:
    """A contact the sandbox puts its own in place of: a push topic an earlier sandbox gave
    (whichever port it had), or an Apprise URL to another machine."""
    if "://" not in contact.target:
        return False
    if re.fullmatch(r"ntfy://127\.0\.0\.1:\d+/[\w.-]+-pager", contact.target):
        return True
    return off_machine(contact.target) is not None
