"""Silences from Slack: the service that listeners, jobs and the periodic check call.

Alertmanager owns every silence; atbat keeps a record of the ones made from
Slack (for the thread message, the audit and the expiry warning). A silence
is recorded only after Alertmanager accepted it, so a refusal or an outage
leaves nothing behind.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.alertmanager import Alertmanager, AlertmanagerError, Silence
from bot.domain.alerts import AlertGroup
from bot.domain.config import Team
from bot.domain.silences import (
    EXTEND_BY,
    SilenceError,
    SilenceRecord,
    check_end,
    check_matchers,
    matchers_from_labels,
    matchers_text,
    parse_matchers,
    silence_end,
)
from bot.oncall import team_schedule
from bot.runtime import QUEUE_URGENT, Runtime
from bot.services import deliveries, messages
from bot.slack.render_alerts import payload_digest
from bot.slack.render_silences import expiry_warning, silence_message, silence_modal
from bot.store import alerts as alert_store
from bot.store import silences as store

log = logging.getLogger("atbat.silences")


def client(rt: Runtime, team: Team) -> Alertmanager:
    if team.alertmanager is None:
        raise AlertmanagerError(f"No Alertmanager is configured for {team.name} "
                                "(set `alertmanager:` in atbat.yml).")
    return Alertmanager(team.alertmanager, rt.settings.env)


def may_silence(group: AlertGroup, team: Team | None) -> bool:
    return group.source == "alertmanager" and team is not None and team.alertmanager is not None


def modal_for(group: AlertGroup) -> dict:
    labels = dict(group.labels)
    if group.alerts:  # the group's common labels, as Alertmanager groups them
        common = None
        for alert in group.alerts.values():
            items = set(alert.labels.items())
            common = items if common is None else common & items
        labels = dict(sorted(common or set())) or labels
    return silence_modal(group, matchers_text(matchers_from_labels(labels)))


def create(rt: Runtime, group: AlertGroup, team: Team, user: str, *, choice: str,
           until: datetime | None, matchers: str, comment: str) -> SilenceRecord:
    """Create the silence in Alertmanager, then record it; raises SilenceError or
    AlertmanagerError with the user's message (nothing recorded then)."""
    now = rt.now()
    ends_at = silence_end(choice, until, now)
    parsed = check_matchers(parse_matchers(matchers))
    am = client(rt, team)
    note = comment.strip() or f"Silenced from Slack: {group.title[:200]}"
    silence_id = am.create(parsed, now, ends_at, f"{user} via atbat", note)
    record = SilenceRecord(id=silence_id, team=team.name, alert_key=group.key, created_by=user,
                           created_at=now, ends_at=ends_at, matchers=parsed,
                           url=am.silence_url(silence_id))
    store.save(rt.redis, record, actor=user, action="silence.create", now=now, comment=note)
    rt.enqueue("workers.silences.show", silence_id, queue=QUEUE_URGENT)
    log.info("silence created user=%s team=%s alert=%s silence=%s until=%s", user, team.name,
             group.key, silence_id, ends_at.isoformat())
    return record


def expire(rt: Runtime, team: Team, silence_id: str, user: str) -> str:
    am = client(rt, team)
    current = am.get(silence_id)
    if current is None or current.state == "expired":
        _forget(rt, silence_id, user)
        return "This silence has already ended."
    am.expire(silence_id)
    if store.mark_expired(rt.redis, silence_id, user, rt.now()) is None:
        store.audit_only(rt.redis, actor=user, action="silence.expire", now=rt.now(),
                         silence=silence_id, team=team.name)
    rt.enqueue("workers.silences.show", silence_id, queue=QUEUE_URGENT)
    log.info("silence expired user=%s team=%s silence=%s", user, team.name, silence_id)
    return "Silence expired: these alerts page again."


def _forget(rt: Runtime, silence_id: str, user: str) -> None:
    if store.mark_expired(rt.redis, silence_id, user, rt.now()) is not None:
        rt.enqueue("workers.silences.show", silence_id, queue=QUEUE_URGENT)


def extend(rt: Runtime, team: Team, silence_id: str, user: str) -> tuple[str, SilenceRecord | None]:
    """Extend by an hour; Alertmanager may give the silence a new id."""
    am = client(rt, team)
    now = rt.now()
    current = am.get(silence_id)
    if current is None or current.state == "expired":
        _forget(rt, silence_id, user)
        raise SilenceError("This silence has already ended; make a new one.")
    ends_at = check_end(max(current.ends_at, now) + EXTEND_BY, now)
    new_id = am.create(current.matchers, current.starts_at, ends_at, current.created_by,
                       current.comment, silence_id=silence_id)
    record = store.get(rt.redis, silence_id)
    if record is not None:
        record = record.extended(new_id, ends_at)
        store.save(rt.redis, record, actor=user, action="silence.extend", now=now,
                   replaces=silence_id)
        rt.enqueue("workers.silences.show", new_id, queue=QUEUE_URGENT)
    else:
        store.audit_only(rt.redis, actor=user, action="silence.extend", now=now,
                         silence=new_id, team=team.name, ends_at=ends_at)
    log.info("silence extended user=%s team=%s silence=%s until=%s", user, team.name, new_id,
             ends_at.isoformat())
    return f"Silence extended by 1h, until {ends_at:%Y-%m-%d %H:%M} UTC.", record


def active(rt: Runtime, team: Team) -> list[Silence]:
    return [s for s in client(rt, team).list() if s.state in ("active", "pending")]


def enqueue_click(rt: Runtime, verb: str, team_name: str, silence_id: str, user: str,
                  response_url: str | None, replace_original: bool) -> None:
    """Expire / Extend 1h, authorized at the click, done by a job (Alertmanager may be slow)."""
    rt.enqueue("workers.silences.click", verb, team_name, silence_id, user, response_url,
               replace_original, queue=QUEUE_URGENT)


def click(rt: Runtime, verb: str, team_name: str, silence_id: str, user: str) -> str:
    """Expire or Extend 1h pressed (already authorized); the answer for the presser."""
    team = rt.config.teams[team_name]
    try:
        if verb == "expire":
            return expire(rt, team, silence_id, user)
        return extend(rt, team, silence_id, user)[0]
    except (SilenceError, AlertmanagerError) as exc:
        return str(exc)


# ---------------------------------------------------------------- the thread message


def show(rt: Runtime, silence_id: str) -> None:
    """Post or update the silence's message in its alert's thread."""
    record = store.get(rt.redis, silence_id)
    if record is None or not record.alert_key:
        return
    payload = silence_message(record)
    ref = store.get_message(rt.redis, silence_id)
    if ref is not None:  # owed until Slack takes it; a later redraw supersedes it
        messages.update(rt, ref[0], ref[1], payload)
        return
    group = alert_store.get_group(rt.redis, record.alert_key)
    message = None if group is None else alert_store.get_message(rt.redis, group.key,
                                                                  group.occurrence)
    if message is None:
        return
    deliveries.owe(rt, "message", f"silence-{silence_id}", "chat.postMessage",
                   {"channel": message.channel, "thread_ts": message.ts, **payload},
                   on_accepted=("workers.silences.shown", silence_id, payload_digest(payload)))


def shown(rt: Runtime, silence_id: str, digest: str, answer: dict[str, str]) -> None:
    """Slack took the thread message: remember it, and redraw it if the silence changed since."""
    store.save_message(rt.redis, silence_id, answer["channel"], answer["ts"])
    record = store.get(rt.redis, silence_id)
    if record is not None and payload_digest(silence_message(record)) != digest:
        show(rt, silence_id)


# ---------------------------------------------------------------- the expiry warning


def warn_expiring(rt: Runtime, now: datetime) -> None:
    for silence_id in store.warnings_due(rt.redis, now):
        record = store.get(rt.redis, silence_id)
        if record is None or record.state != "active" or record.ends_at <= now:
            store.forget_warning(rt.redis, silence_id)
            continue
        rt.enqueue("workers.silences.warn", silence_id, queue=QUEUE_URGENT,
                   job_id=f"silence-warn-{silence_id}-{int(record.ends_at.timestamp())}")


def warn(rt: Runtime, silence_id: str) -> None:
    """DM the creator (or, when they are off shift, the on-call) once per end time."""
    now = rt.now()
    record = store.get(rt.redis, silence_id)
    team = rt.config.teams.get(record.team) if record else None
    if record is None or team is None or record.state != "active":
        return
    on_call = team_schedule(rt.redis, team, now).on_call_users(now)
    creator_on_shift = record.created_by in on_call or not on_call
    targets = [record.created_by] if creator_on_shift else on_call
    if not store.claim_warning(rt.redis, record, now):
        return
    payload = expiry_warning(record, creator_on_shift)
    ends = int(record.ends_at.timestamp())
    for user in targets:  # owed until Slack takes it; pointless once the silence has ended
        deliveries.owe(rt, "silence_warning", f"{silence_id}:{ends}:{user}", "chat.postMessage",
                       {"channel": user, **payload}, expires_at=record.ends_at)
    log.info("silence warning owed silence=%s team=%s to=%s", silence_id, team.name,
             ",".join(targets))


# ---------------------------------------------------------------- ending by itself


def close_ended(rt: Runtime, now: datetime) -> None:
    """Silences made from atbat that ran out: their thread message must stop offering buttons."""
    for silence_id in store.ends_due(rt.redis, now):
        rt.enqueue("workers.silences.close", silence_id, queue=QUEUE_URGENT,
                   job_id=f"silence-close-{silence_id}")


def close(rt: Runtime, silence_id: str) -> None:
    """Ask Alertmanager first: it may have been extended in its own UI (then follow that)."""
    now = rt.now()
    record = store.get(rt.redis, silence_id)
    team = rt.config.teams.get(record.team) if record else None
    if record is None or team is None or record.state != "active":
        store.forget_end(rt.redis, silence_id)
        return
    try:
        current = client(rt, team).get(silence_id)
    except AlertmanagerError:
        return  # asked again at the next check
    if current is not None and current.state != "expired" and current.ends_at > now:
        store.save(rt.redis, record.extended(silence_id, current.ends_at), actor="alertmanager",
                   action="silence.extend", now=now)
    elif store.mark_ended(rt.redis, silence_id, now) is not None:
        show(rt, silence_id)
        log.info("silence ended team=%s silence=%s", team.name, silence_id)
