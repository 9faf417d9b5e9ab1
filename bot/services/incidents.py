"""Incidents: declare, run and resolve; open the channel, keep summary and topic current, remind.

`declare` and `apply` run on the request path (store transition, then queue
jobs); the job bodies (`setup`, `refresh`, `invite`, `resolved`) make the
slow Slack calls.

Each job re-reads the incident and skips the steps already done (recorded in
the incident's Slack-progress hash), so a retried or duplicated job never
creates a second channel, a second summary or a second announcement.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rq import Retry

from bot import metrics
from bot.domain import incidents as domain
from bot.domain.incidents import Incident, IncidentError, NoChange
from bot.oncall import team_schedule
from bot.runtime import QUEUE_DEFAULT, QUEUE_URGENT, Runtime
from bot.services import messages
from bot.slack import render_incidents as render
from bot.slack import render_postmortem
from bot.slack.format import clean_title
from bot.slack.sender import SlackCallError
from bot.store import alerts as alert_store
from bot.store import incidents as store
from bot.store import remediation as run_store
from bot.store.base import claim

log = logging.getLogger("atbat.incidents")

MAX_SUFFIX = 20
STUCK_SETUP_SECONDS = 180  # a setup not finished by then is resumed by the periodic check
JOB_RETRY = Retry(max=3, interval=[5, 30, 120])


# ---------------------------------------------------------------------------
# Declaring and running (the request path)


def declare(rt: Runtime, *, title: str, severity: int, team: str, requester: str,
            alert_key: str | None = None, alert_title: str = "",
            origin: tuple[str, str] = ("", "")) -> tuple[Incident, bool]:
    """Store a new incident and enqueue its channel setup; (incident, created_now).

    From an alert, a declaration that already happened returns that incident.
    """
    now = rt.now()
    inc = domain.declare(store.next_id(rt.redis), title, severity, team, requester, requester, now)
    if alert_key:
        inc = domain.link_alert(inc, requester, alert_key, now, title=alert_title)
    owner = store.create(rt.redis, inc, now, alert_key=alert_key)
    if owner.id != inc.id:
        return owner, False
    enqueue_setup(rt, inc.id, *origin)
    log.info("incident declared incident=%s by=%s team=%s severity=%s alert=%s", inc.id, requester,
             team, severity, alert_key or "")
    return inc, True


def apply(rt: Runtime, incident_id: str, user: str, action: str, change: store.Change) -> Incident:
    """Transition, then tell the channel and re-render; IncidentError/NoChange go to the user."""
    before, after = store.update(rt.redis, incident_id, change, actor=user, action=action, at=rt.now())
    post_entries(rt, after, list(after.timeline[len(before.timeline):]))
    enqueue_refresh(rt, after.id)
    newcomers = []
    if after.lead != before.lead:
        newcomers.append(after.lead)
    if after.severity <= 2 < before.severity:
        team = rt.config.teams.get(after.team)
        newcomers += list(team.managers) if team else []
    if newcomers:
        enqueue_invite(rt, after.id, newcomers)
    if before.is_open and not after.is_open:
        enqueue_resolved(rt, after.id)
    log.info("incident %s incident=%s by=%s version=%d", action, after.id, user, after.version)
    return after


def enqueue_setup(rt: Runtime, incident_id: str, origin_channel: str = "", origin_ts: str = "") -> None:
    rt.enqueue("workers.incidents.setup", incident_id, origin_channel, origin_ts,
               queue=QUEUE_URGENT, job_id=f"atbat-incident-setup-{incident_id}", retry=JOB_RETRY)


def enqueue_refresh(rt: Runtime, incident_id: str) -> None:
    """Re-render the pinned summary and the topic from the latest state; bursts coalesce."""
    if store.request_refresh(rt.redis, incident_id):
        rt.enqueue("workers.incidents.refresh", incident_id, queue=QUEUE_DEFAULT)


def enqueue_resolved(rt: Runtime, incident_id: str) -> None:
    rt.enqueue("workers.incidents.resolved", incident_id, queue=QUEUE_DEFAULT,
               job_id=f"atbat-incident-resolved-{incident_id}", retry=JOB_RETRY)


def enqueue_invite(rt: Runtime, incident_id: str, users: list[str]) -> None:
    rt.enqueue("workers.incidents.invite", incident_id, users, queue=QUEUE_DEFAULT)


# ---------------------------------------------------------------------------
# Declaring: channel, topic, invitations, pinned summary, announcement


def setup(rt: Runtime, incident_id: str, origin_channel: str = "", origin_ts: str = "") -> None:
    if not store.lock_setup(rt.redis, incident_id):
        log.info("incident setup already running incident=%s", incident_id)
        return
    try:
        _setup(rt, incident_id, origin_channel, origin_ts)
    finally:
        store.unlock_setup(rt.redis, incident_id)


def _setup(rt: Runtime, incident_id: str, origin_channel: str, origin_ts: str) -> None:
    inc = store.get(rt.redis, incident_id)
    if inc is None:
        log.warning("incident setup for a missing incident incident=%s", incident_id)
        return
    state = store.slack_state(rt.redis, incident_id)
    if state.get("ready"):
        return
    inc = _ensure_channel(rt, inc, state)
    now = rt.now()
    if not state.get("invited"):
        _invite(rt, inc, _first_responders(rt, inc, now))
        store.mark(rt.redis, incident_id, invited="1")
    if not state.get("summary_ts"):
        posted = rt.sender.call("chat.postMessage", channel=inc.channel_id,
                                **render.summary_message(inc, now))
        state["summary_ts"] = posted["ts"]
        store.mark(rt.redis, incident_id, summary_ts=posted["ts"])
    if not state.get("pinned"):
        _pin(rt, inc.channel_id, state["summary_ts"])
        store.mark(rt.redis, incident_id, pinned="1")
    if not state.get("announce_ts"):
        ts = _announce(rt, inc)
        store.mark(rt.redis, incident_id, announce_ts=ts or "-")
    if origin_channel and origin_ts and not state.get("origin_noted"):
        _note_in_origin_thread(rt, inc, origin_channel, origin_ts)
        store.mark(rt.redis, incident_id, origin_noted="1")
    store.mark(rt.redis, incident_id, ready="1")
    # The incident may have changed while this ran: render the latest topic and summary.
    enqueue_refresh(rt, incident_id)
    _refresh_alert_messages(rt, inc)
    log.info("incident opened incident=%s channel=%s team=%s severity=%s", incident_id,
             inc.channel_id, inc.team, inc.severity)
    metrics.count(rt.redis, "incidents_total", f"team={inc.team or 'none'},severity={inc.severity}")


def _ensure_channel(rt: Runtime, inc: Incident, state: dict[str, str]) -> Incident:
    """Create the channel once; the id is stored before anything else happens."""
    if inc.channel_id:
        return inc
    previous_attempt = state.get("attempt", "")
    day = inc.created_at.date()
    channel: dict[str, Any] | None = None
    for suffix in (None, *range(2, MAX_SUFFIX + 1)):
        name = domain.channel_name(inc.title, day, suffix)
        store.mark(rt.redis, inc.id, attempt=name)
        try:
            channel = rt.sender.call("conversations.create", name=name, is_private=False)["channel"]
            break
        except SlackCallError as exc:
            if exc.error != "name_taken":
                raise
            # Taken by our own earlier run that died before recording the id?
            if name == previous_attempt:
                channel = _find_own_channel(rt, name)
                if channel is not None:
                    break
            store.mark(rt.redis, inc.id, attempt="")
    if channel is None:
        raise SlackCallError("conversations.create", f"name_taken up to suffix {MAX_SUFFIX}")
    _, inc = store.update(
        rt.redis, inc.id, lambda cur: domain.attach_channel(cur, channel["id"], channel["name"]),
        actor=inc.requester, action="channel", at=rt.now(),
    )
    return inc


def _find_own_channel(rt: Runtime, name: str) -> dict[str, Any] | None:
    cursor = None
    for _ in range(50):
        page = rt.sender.call("conversations.list", types="public_channel", exclude_archived=True,
                              limit=1000, cursor=cursor)
        for channel in page.get("channels", []):
            if channel.get("name") == name and channel.get("is_member"):
                return channel
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def _first_responders(rt: Runtime, inc: Incident, now: datetime) -> list[str]:
    users = [inc.requester, inc.lead]
    team = rt.config.teams.get(inc.team)
    if team is not None:
        users += team_schedule(rt.redis, team, now).on_call_users(now)
        if inc.severity <= 2:
            users += list(team.managers)
    return list(dict.fromkeys(u for u in users if u))


def _invite(rt: Runtime, inc: Incident, users: list[str]) -> None:
    members = set(rt.sender.call("conversations.members", channel=inc.channel_id).get("members", []))
    for user in users:
        if user in members:
            continue
        try:
            rt.sender.call("conversations.invite", channel=inc.channel_id, users=user)
        except SlackCallError as exc:
            # One deactivated or unknown user must not keep the others out.
            log.warning("incident invite failed incident=%s user=%s error=%s", inc.id, user, exc.error)


def invite(rt: Runtime, incident_id: str, users: list[str]) -> None:
    inc = store.get(rt.redis, incident_id)
    if inc is not None and inc.channel_id:
        _invite(rt, inc, users)


def _pin(rt: Runtime, channel: str, ts: str) -> None:
    try:
        rt.sender.call("pins.add", channel=channel, timestamp=ts)
    except SlackCallError as exc:
        if exc.error != "already_pinned":
            raise


def _announce(rt: Runtime, inc: Incident) -> str | None:
    team = rt.config.teams.get(inc.team)
    if team is None:
        return None
    return _post_tolerant(rt, team.channel, render.announcement(inc, inc.channel_id))


def _note_in_origin_thread(rt: Runtime, inc: Incident, channel: str, ts: str) -> None:
    text = f"🚨 Incident declared from this alert: <#{inc.channel_id}> (by <@{inc.requester}>)"
    _post_tolerant(rt, channel, {"text": text}, thread_ts=ts)


def _post_tolerant(rt: Runtime, channel: str, message: dict[str, Any], **extra: Any) -> str | None:
    """Post where the bot may not be invited; a refusal is logged, not retried."""
    try:
        return rt.sender.call("chat.postMessage", channel=channel, **message, **extra)["ts"]
    except SlackCallError as exc:
        if exc.error in ("not_in_channel", "channel_not_found", "is_archived"):
            log.warning("incident post refused channel=%s error=%s", channel, exc.error)
            return None
        raise


# ---------------------------------------------------------------------------
# Keeping the pinned summary and the topic current


def refresh(rt: Runtime, incident_id: str) -> None:
    store.refresh_started(rt.redis, incident_id)
    inc = store.get(rt.redis, incident_id)
    state = store.slack_state(rt.redis, incident_id)
    if inc is None or not inc.channel_id:
        return
    topic = render.topic(inc)
    if state.get("topic") != topic:
        rt.sender.call("conversations.setTopic", channel=inc.channel_id, topic=topic)
        store.mark(rt.redis, incident_id, topic=topic)
    if state.get("summary_ts"):
        rt.sender.call("chat.update", channel=inc.channel_id, ts=state["summary_ts"],
                       **render.summary_message(inc, rt.now()))


def post_entries(rt: Runtime, inc: Incident, entries: list[domain.TimelineEntry]) -> None:
    """Tell the channel what just went on the timeline (from a handler: enqueued)."""
    for entry in entries:
        line = render.timeline_entry_line(entry)
        if entry.kind == "update":
            line = f"📣 *Update* {line}"
        messages.post(rt, inc.channel_id, line)


# ---------------------------------------------------------------------------
# Linking a remediation run requested in an incident channel


def link_run(rt: Runtime, channel: str, run_id: str, actor: str, text: str = "") -> Incident | None:
    """Put a run on the timeline of the open incident whose channel it was requested in.

    For the remediation feature; returns None when ``channel`` is no open incident's.
    """
    inc = store.by_channel(rt.redis, channel)
    if inc is None or not inc.is_open:
        return None
    now = rt.now()
    try:
        before, after = store.update(rt.redis, inc.id,
                                     lambda cur: domain.link_run(cur, actor, run_id, now, text),
                                     actor=actor, action="run", at=now)
    except NoChange:
        return inc
    except IncidentError:  # resolved meanwhile
        return None
    post_entries(rt, after, list(after.timeline[len(before.timeline):]))
    enqueue_refresh(rt, after.id)
    return after


# ---------------------------------------------------------------------------
# Resolving: announcements and the postmortem draft


def _refresh_alert_messages(rt: Runtime, inc: Incident) -> None:
    """The alerts it was declared from link the incident while it is open (and offer Declare
    incident again once it is resolved): their messages are re-rendered."""
    for key in inc.alert_keys:
        if alert_store.mark_out_of_date(rt.redis, key, rt.now()):
            rt.enqueue("workers.alerts.sync_message", key, queue=QUEUE_URGENT,
                       job_id=f"alert-sync-{key}-incident-{inc.id}-{int(rt.now().timestamp())}")


def resolved(rt: Runtime, incident_id: str) -> None:
    inc = store.get(rt.redis, incident_id)
    if inc is None or inc.is_open or not inc.channel_id:
        return
    _refresh_alert_messages(rt, inc)
    state = store.slack_state(rt.redis, incident_id)
    message = render.resolve_announcement(inc)
    if not state.get("resolved_posted"):
        rt.sender.call("chat.postMessage", channel=inc.channel_id, **message)
        store.mark(rt.redis, incident_id, resolved_posted="1")
    if not state.get("postmortem"):
        file_id = upload_postmortem(rt, inc)
        store.mark(rt.redis, incident_id, postmortem=file_id)
    if not state.get("resolved_announced"):
        team = rt.config.teams.get(inc.team)
        if team is not None:
            _post_tolerant(rt, team.channel, message)
        store.mark(rt.redis, incident_id, resolved_announced="1")
    log.info("incident resolved incident=%s team=%s duration_s=%d", incident_id, inc.team,
             int((inc.resolved_at - inc.created_at).total_seconds()) if inc.resolved_at else -1)


def postmortem_text(rt: Runtime, inc: Incident) -> str:
    alerts = alert_store.get_groups(rt.redis, inc.alert_keys)
    runs = [run for run in (run_store.get_run(rt.redis, i) for i in inc.runs) if run]
    people = {e.author for e in inc.timeline} | {inc.lead, inc.requester}
    people |= {a.acked_by or "" for a in alerts}
    people |= {p for run in runs for p in (run.requester, run.approver or "")}
    names = _names(rt, people)
    return render_postmortem.postmortem_markdown(inc, alerts, runs, rt.now(), names=names)


def _names(rt: Runtime, people: set[str]) -> dict[str, str]:
    """Display names for the Markdown file, where Slack mentions do not render."""
    names: dict[str, str] = {}
    for user in sorted(p for p in people if p):
        try:
            names[user] = rt.sender.call("users.info", user=user)["user"]["name"]
        except (SlackCallError, KeyError):
            continue
    return names


def upload_postmortem(rt: Runtime, inc: Incident) -> str:
    """Upload the draft as a Markdown file into the incident channel; its file id."""
    content = postmortem_text(rt, inc).encode()
    answer = rt.sender.upload_file(
        inc.channel_id, f"postmortem-{inc.channel_name or inc.id}.md", content,
        f"Postmortem draft: {clean_title(inc.title)}"[:250],
        initial_comment="📝 Postmortem draft: complete it and share it with the team.")
    return str(answer["files"][0]["id"])


# ---------------------------------------------------------------------------
# Periodic: update reminders for SEV1/SEV2, resuming stuck setups


def remind_quiet_incidents(rt: Runtime, now: datetime) -> None:
    for inc in store.list_open(rt.redis):
        if not store.slack_state(rt.redis, inc.id).get("ready"):
            _resume_if_stuck(rt, inc, now)
            continue
        team = rt.config.teams.get(inc.team)
        interval = team.incident_update_reminder if team else domain.DEFAULT_REMINDER_INTERVAL
        if domain.needs_update_reminder(inc, now, interval):
            _remind(rt, inc.id, now, interval)


def _remind(rt: Runtime, incident_id: str, now: datetime, interval: Any) -> None:
    def change(cur: Incident) -> Incident:
        # Re-checked on the latest state: of two workers, only one records the reminder.
        if not domain.needs_update_reminder(cur, now, interval):
            raise NoChange("not due")
        return domain.record_reminder(cur, now)

    try:
        _, inc = store.update(rt.redis, incident_id, change, actor="atbat", action="reminder", at=now)
    except NoChange:
        return
    messages.enqueue_call(rt, "chat.postMessage",
                          {"channel": inc.channel_id, **render.reminder_message(inc, now)},
                          queue=QUEUE_URGENT)
    log.info("incident reminder incident=%s lead=%s severity=%s", inc.id, inc.lead, inc.severity)


def _resume_if_stuck(rt: Runtime, inc: Incident, now: datetime) -> None:
    """A setup whose job died or gave up is tried again, at most every few minutes."""
    if (now - inc.created_at).total_seconds() < STUCK_SETUP_SECONDS:
        return
    slot = int(now.timestamp()) // STUCK_SETUP_SECONDS
    if claim(rt.redis, "incident-resume", f"{inc.id}:{slot}", STUCK_SETUP_SECONDS * 2):
        log.warning("incident setup resumed incident=%s", inc.id)
        enqueue_setup(rt, inc.id)
