"""Paging a person: follow their notification rules until they acknowledge.

An escalation step calls `page_person` for each person it notifies. The page
is stored once per person, alert occurrence and escalation position; each
rule step ("0m slack, 1m push, 3m call") is an RQ job at its time. A step is
owed until a provider accepted it: a send that can be retried backs off
(15 s up to 5 min) and is tried again across outages and worker restarts,
until the alert is acknowledged or resolved. A send that cannot succeed (an
invalid number, no provider configured) is noted in the thread and the next
step follows at its own time. Low urgency outside the person's working hours
starts at the beginning of their next working hours. The alert's thread names
a person as escalated to once a page reached them, not before.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from datetime import datetime, timedelta

from bot import metrics
from bot.domain.alerts import NO_CHANGE, AlertGroup
from bot.domain.autoremediation import without_tokens
from bot.domain.config import Team
from bot.domain.escalation import unreachable
from bot.domain.paging import (
    ContactMethod,
    Method,
    Page,
    Person,
    RuleStep,
    Urgency,
    contact_target,
    merged,
    page_note,
    parse_rule,
    plain,
    retry_delay,
    still_owed,
    urgency_of,
    verified,
    with_contact,
    without_contact,
)
from bot.providers import Providers, Sent, TwilioAccount, apprise_service, off_machine
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import history
from bot.slack.format import escape
from bot.slack.render_alerts import escalation_dm, payload_digest
from bot.slack.sender import SlackCallError
from bot.store import alerts as alert_store
from bot.store import pages as store
from bot.store import people

log = logging.getLogger("atbat.paging")

METHOD_LABEL = {"slack": "Slack DM", "push": "Push", "sms": "SMS", "call": "Call", "email": "E-mail"}


def providers(rt: Runtime) -> Providers:
    """The process's providers, built from the settings on first use (tests may set their own)."""
    if rt.providers is None:
        s = rt.settings
        account = None
        if s.twilio_account_sid and s.twilio_auth_token and s.twilio_from:
            account = TwilioAccount(s.twilio_account_sid, s.twilio_auth_token, s.twilio_from,
                                    s.twilio_api_url)
        rt.providers = Providers(twilio=account, smtp_url=s.smtp_url,
                                 local_only=s.local_providers_only)
    return rt.providers


def page_id(group: AlertGroup, user: str, position: int) -> str:
    """One page per person, occurrence and escalation step; a resumed pass (after a snooze or
    maintenance) pages again."""
    ident = f"{group.key}\0{group.occurrence}\0{user}\0{position}\0{group.escalation_pass}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def page_person(rt: Runtime, team: Team, group: AlertGroup, user: str, position: int, notify: str,
                now: datetime) -> Page | None:
    """Start paging `user` for this escalation step; None when they were paged for it already."""
    who = person(rt, user)
    urgency = urgency_of(group.severity, team.paging.urgency)
    starts = now
    if urgency == "low":
        tz = who.timezone or history.person_tz(rt, team, user)
        starts = (who.working_hours or team.paging.working_hours).next_start(now, tz)
    page = Page(page_id=page_id(group, user, position), group_key=group.key,
                occurrence=group.occurrence, team=team.name, user=user, urgency=urgency,
                starts_at=starts, steps=who.steps(urgency, team.paging), position=position,
                notify=notify)
    if not store.create(rt.redis, page):
        return None
    if starts > now:
        note(rt, page, f"<@{user}> is paged at <!date^{int(starts.timestamp())}^{{time}} "
                       f"{{date_short_pretty}}|{starts:%Y-%m-%d %H:%M} UTC>: low urgency waits for "
                       f"working hours")
    due_now = [i for i in range(len(page.steps)) if page.step_at(i) <= now]
    for index in range(len(page.steps)):
        if index not in due_now:
            schedule_step(rt, page, index, page.step_at(index), attempt=0)
    log.info("page started alert=%s team=%s user=%s urgency=%s steps=%d starts=%s", group.key,
             team.name, user, urgency, len(page.steps), starts.isoformat())
    for index in due_now:  # sent right here: a job more would only add its queueing to the page
        try:
            send_step(rt, page.page_id, index)
        except Exception:  # the step stays owed: a job tries it again
            log.exception("page step failed, queued again alert=%s user=%s step=%d", group.key, user, index)
            schedule_step(rt, page, index, now, attempt=0)
    return page


def reached(rt: Runtime, page: Page | None) -> bool:
    """Did the page reach its person already? True once per page: the caller names them."""
    return page is not None and store.delivered(rt.redis, page.page_id) \
        and store.claim_named(rt.redis, page.page_id)


def owed_count(rt: Runtime) -> int:
    """Pages not delivered yet whose alert still waits for someone (for /metrics)."""
    pages = store.owed_pages(rt.redis)
    groups = {g.key: g for g in alert_store.get_groups(rt.redis, {p.group_key for p in pages})}
    return sum(1 for p in pages if still_owed(groups.get(p.group_key), p))


def schedule_step(rt: Runtime, page: Page, index: int, at: datetime, attempt: int) -> None:
    job_id = f"page-{page.page_id}-{index}-{attempt}"
    args = (page.page_id, index)
    if at <= rt.now():
        rt.enqueue("workers.paging.send_step", *args, queue=QUEUE_URGENT, job_id=job_id)
    else:
        rt.enqueue_at(at, "workers.paging.send_step", *args, queue=QUEUE_URGENT, job_id=job_id)


def send_step(rt: Runtime, pid: str, index: int) -> None:
    """Send step `index` of a page, once, if the alert still waits for someone."""
    page = store.get(rt.redis, pid)
    if page is None or index >= len(page.steps):
        return
    group = alert_store.get_group(rt.redis, page.group_key)
    if not still_owed(group, page):
        store.no_longer_owed(rt.redis, pid, index)
        return  # acknowledged, resolved or re-opened as a new occurrence: nothing is owed
    assert group is not None
    if page.step_at(index) > rt.now():
        schedule_step(rt, page, index, page.step_at(index), attempt=0)  # woken early
        return
    if not store.start_sending(rt.redis, pid, index):
        return
    method = page.steps[index].method
    try:
        sent = _send(rt, page, group, index)
    except Exception:
        store.finish_sending(rt.redis, pid, index, done=False)
        raise
    label = f"{METHOD_LABEL[method]} to <@{page.user}>"
    if sent.accepted or not sent.retryable:
        store.finish_sending(rt.redis, pid, index, done=True)
        # Reached after the escalation line was written (it names only who was reached by
        # then): name them now. Sent inside the escalation job, the line names them itself.
        late = sent.accepted and group.escalation_step >= page.position \
            and store.claim_named(rt.redis, pid)
        if late and method == "slack":
            note(rt, page, f"Paged <@{page.user}>" if page.notify.startswith("@")  # a page to one person
                 else f"Escalated to {page.notify or 'you'}: <@{page.user}>")
        elif not (sent.accepted and method == "slack"):
            # A provider's words (a Twilio error, a host name, a URL someone typed) are escaped.
            detail = escape(sent.detail)
            note(rt, page, f"{label}: {detail}" if sent.accepted else f"{label} failed: {detail}")
        if not sent.accepted and (method == "slack" or index == len(page.steps) - 1) \
                and not store.delivered(rt.redis, pid):
            _unreachable(rt, page, f"<@{page.user}> cannot be reached ({escape(sent.detail)})")
        team = rt.config.teams.get(page.team)
        if sent.accepted and team is not None and store.first_delivery(rt.redis, pid):
            # One page event per person and escalation step, by the method that reached them first.
            history.record_page(rt, team, group, page.user, page.position, rt.now(), method=method)
        metrics.count(rt.redis, "pages_total",
                      f"method={method},outcome={'delivered' if sent.accepted else 'failed'}")
        if not sent.accepted:
            metrics.count(rt.redis, "deliveries_failed_total", "kind=page")
        log.info("page step alert=%s team=%s user=%s method=%s outcome=%s detail=%s", page.group_key,
                 page.team, page.user, method, "delivered" if sent.accepted else "failed", sent.detail)
        return
    attempts = store.finish_sending(rt.redis, pid, index, done=False)
    retry_at = rt.now() + retry_delay(attempts - 1)
    schedule_step(rt, page, index, retry_at, attempt=attempts)
    metrics.count(rt.redis, "pages_total", f"method={method},outcome=retrying")
    log.warning("page step owed alert=%s team=%s user=%s method=%s attempt=%d retry_at=%s detail=%s",
                page.group_key, page.team, page.user, method, attempts, retry_at.isoformat(), sent.detail)


def _unreachable(rt: Runtime, page: Page, why: str) -> None:
    """A page failed for good before reaching its person: the next escalation step now,
    not after its delay (the thread says why).

    Sent inside the escalation job, the step is not marked notified yet, and marking it
    would undo the request: then this runs as a job of its own, after the mark.
    """
    group = alert_store.get_group(rt.redis, page.group_key)
    if group is not None and group.occurrence == page.occurrence \
            and group.escalation_step < page.position:
        rt.enqueue_at(
            rt.now() + timedelta(seconds=1), "workers.paging.unreachable", page.page_id, why,
            queue=QUEUE_URGENT, job_id=f"unreachable-{page.page_id}-{int(rt.now().timestamp())}")
        return
    team = rt.config.teams.get(page.team)
    now = rt.now()
    outcome = alert_store.transition(rt.redis, page.group_key, lambda g: (
        (g, NO_CHANGE) if g is None else unreachable(g, page.occurrence, why, now,
                                                     policy=team.escalation if team else None)),
        now)
    group = outcome.group
    if group is None or not outcome.changed:
        return
    log.warning("page unreachable alert=%s team=%s user=%s detail=%s", page.group_key, page.team,
                page.user, why)
    metrics.count(rt.redis, "pages_total", "method=any,outcome=unreachable")
    if outcome.change.kind == "escalate":
        rt.enqueue("workers.alerts.escalate", group.key, group.occurrence,
                   group.escalation_step + 1, queue=QUEUE_URGENT,
                   job_id=f"esc-unreachable-{group.key}-v{group.version}")
    if outcome.render_requested:  # the thread says why
        rt.enqueue("workers.alerts.sync_message", group.key, queue=QUEUE_URGENT,
                   job_id=f"alert-sync-{group.key}-v{group.version}")


def unreachable_later(rt: Runtime, pid: str, why: str) -> None:
    page = store.get(rt.redis, pid)
    if page is not None:
        _unreachable(rt, page, why)


def _send(rt: Runtime, page: Page, group: AlertGroup, index: int) -> Sent:
    method = page.steps[index].method
    if method == "slack":
        return _slack_dm(rt, page, group)
    contact = person(rt, page.user).contact(method)
    if contact is None:
        return Sent(False, f"no verified {method} contact")
    title = plain(f"atbat: {group.team or 'your team'} paged you", 100)
    healing = f" ({without_tokens(group.self_healing)})" if group.self_healing else ""
    body = plain(f"[{group.severity.upper()}] {group.title}{healing}", 400)
    sender = providers(rt)
    if method == "push":
        return sender.notify(contact.target, title, body)
    if method == "sms":
        return sender.sms(contact.target, plain(f"{title}: {body}", 300))
    if method == "email":
        return sender.email(contact.target, title, f"{body}\n\nAcknowledge in Slack or answer the call.")
    base = rt.settings.public_url
    return sender.call(contact.target, f"{base}/twilio/voice/{page.page_id}",
                       f"{base}/twilio/voice/{page.page_id}/status")


def _slack_dm(rt: Runtime, page: Page, group: AlertGroup) -> Sent:
    """The DM with an Acknowledge button, recorded with the group so it keeps showing its state."""
    message = escalation_dm(group, page.notify or "you")
    try:
        answer = rt.sender.call("chat.postMessage", channel=page.user, **message)
    except SlackCallError as exc:
        retryable = exc.error.startswith("gave up")
        return Sent(False, f"Slack answered {exc.error}", retryable=retryable)
    alert_store.save_page(rt.redis, group.key, alert_store.PageRef(
        group.occurrence, answer["channel"], answer["ts"], "dm", page.notify, "",
        payload_digest(message)))
    _request_sync(rt, group.key)  # the group may have changed while the DM was on its way
    return Sent(True, "delivered")


def _request_sync(rt: Runtime, key: str) -> None:
    """Ask for the alert's message, thread and page DMs to be brought up to date (coalesced)."""
    if alert_store.mark_out_of_date(rt.redis, key, rt.now()):
        rt.enqueue("workers.alerts.sync_message", key, queue=QUEUE_URGENT,
                   job_id=f"alert-sync-{key}-late-{int(rt.now().timestamp())}")


def note(rt: Runtime, page: Page, text: str) -> None:
    """Add a line to the alert's thread (and its history) for this page.

    The thread is posted by the alert's own coalesced message sync; escalation
    calls into this module, so the job is queued here rather than through it.
    """
    now = rt.now()
    outcome = alert_store.transition(rt.redis, page.group_key,
                                     lambda g: page_note(g, page.occurrence, page.user, text, now), now)
    if outcome.render_requested and outcome.group is not None:
        rt.enqueue("workers.alerts.sync_message", page.group_key, queue=QUEUE_URGENT,
                   job_id=f"alert-sync-{page.group_key}-v{outcome.group.version}")



# ---------------------------------------------------------------- contact methods set in Slack


def person(rt: Runtime, user: str) -> Person:
    """What `user` set up for being paged: the config, with what they set in Slack on top."""
    return merged(rt.config.person(user), people.get(rt.redis, user))


def new_contact(method: Method, raw: str) -> ContactMethod:
    """A contact as typed, checked but not stored; ValueError says what is wrong."""
    return ContactMethod(method, contact_target(method, raw, lambda url: apprise_service(url) is not None))


def refused_here(rt: Runtime, contact: ContactMethod) -> str | None:
    """Why this atbat may not use a typed contact (the sandbox keeps to this machine: an
    Apprise URL to another one is refused, never tested), or None."""
    if not providers(rt).local_only or "://" not in contact.target:
        return None
    refusal = off_machine(contact.target)
    return f"Not tested and not saved: {refusal}." if refusal else None


def add_tested_contact(rt: Runtime, user: str, contact: ContactMethod, detail: str) -> ContactMethod:
    """Store a contact whose Send test the provider accepted; it is used for pages once the
    person confirms the test arrived. A contact whose test failed is never stored."""
    people.update(rt.redis, user, lambda p: with_contact(p, contact.method, contact.target),
                  action="paging.contact_added", at=rt.now(), method=contact.method,
                  contact=contact.shown(), test=detail)
    log.info("contact added user=%s method=%s contact=%s", user, contact.method, contact.shown())
    return contact


def remove_contact(rt: Runtime, user: str, method: Method) -> None:
    people.update(rt.redis, user, lambda p: without_contact(p, method), action="paging.contact_removed",
                  at=rt.now(), method=method)


TEST_DEADLINE = 2.5  # seconds for a test sent while Slack waits on a modal (it closes the request at 3)


def try_contact(rt: Runtime, contact: ContactMethod, within: float | None = None) -> Sent:
    """Send "atbat test page" through one contact; nothing is stored. With `within`, a provider
    slower than that many seconds counts as a failed test."""
    if within is None:
        return _send_test_page(rt, contact)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="send-test")
    try:
        return pool.submit(_send_test_page, rt, contact).result(timeout=within)
    except FutureTimeout:
        return Sent(False, f"the provider did not answer within {within:g} s")
    finally:
        pool.shutdown(wait=False)


def _send_test_page(rt: Runtime, contact: ContactMethod) -> Sent:
    title, body = "atbat test page", "This is a test from atbat. Confirm in Slack that it arrived."
    sender = providers(rt)
    if contact.method == "push":
        return sender.notify(contact.target, title, body)
    if contact.method == "sms":
        return sender.sms(contact.target, f"{title}: {body}")
    if contact.method == "email":
        return sender.email(contact.target, title, body)
    return sender.call(contact.target, f"{rt.settings.public_url}/twilio/voice/test")


def send_test(rt: Runtime, user: str, method: Method) -> tuple[ContactMethod | None, Sent]:
    """Send a test again to the person's contact for `method` (Send again).

    When the test fails and the contact is still untested, it is dropped: a method that
    failed its test is not kept.
    """
    contact = next((c for c in person(rt, user).contacts if c.method == method), None)
    if contact is None:
        return None, Sent(False, f"you have no {method} contact")
    sent = try_contact(rt, contact)
    log.info("contact test user=%s method=%s accepted=%s detail=%s", user, method, sent.accepted, sent.detail)
    if not sent.accepted and not contact.verified:
        people.update(rt.redis, user, lambda p: _without_untested(p, contact),
                      action="paging.contact_dropped", at=rt.now(), method=method,
                      contact=contact.shown(), test=sent.detail)
    return contact, sent


def _without_untested(stored: Person, contact: ContactMethod) -> Person:
    """`stored` without `contact`, if it is still there and still untested."""
    return replace(stored, contacts=tuple(c for c in stored.contacts if c != contact))


def confirm_contact(rt: Runtime, user: str, method: Method, target_shown: str) -> bool:
    """The test arrived: the contact (still the one tested) is used for pages from now on."""
    current = next((c for c in person(rt, user).contacts if c.method == method), None)
    if current is None or current.shown() != target_shown:
        return False
    people.update(rt.redis, user, lambda p: verified(p, method, current.target),
                  action="paging.contact_verified", at=rt.now(), method=method, contact=target_shown)
    return True


def set_rules(rt: Runtime, user: str, urgency: Urgency, text: str) -> tuple[RuleStep, ...]:
    """Replace the person's steps for an urgency; ValueError names the bad step, nothing is stored."""
    steps = parse_rule(text)
    has = {"slack"} | {c.method for c in person(rt, user).contacts}
    missing = [s.method for s in steps if s.method not in has]
    if missing:
        raise ValueError(f"you have no {missing[0]} contact yet: add it first, or use another method")
    people.update(rt.redis, user, lambda p: replace(p, rules={**p.rules, urgency: steps}),
                  action="paging.rules_set", at=rt.now(), urgency=urgency, rules=text)
    return steps
