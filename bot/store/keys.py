"""Every Redis key atbat uses is named here, and nowhere else.

All keys share the `atbat:` prefix so a shared Redis stays tidy and a
`SCAN atbat:*` shows everything the bot owns.
"""

from __future__ import annotations

PREFIX = "atbat:"


def seen_request(dedup_id: str) -> str:
    """Marks a Slack request (trigger_id / event_id) as handled."""
    return f"{PREFIX}seen:{dedup_id}"


def once(purpose: str, ident: str) -> str:
    """Claims a one-time action (a handoff announcement, an escalation step)."""
    return f"{PREFIX}once:{purpose}:{ident}"


def user_profile(user: str) -> str:
    return f"{PREFIX}user:{user}"


def metrics_counters() -> str:
    return f"{PREFIX}metrics:counters"


def metrics_histogram(name: str) -> str:
    return f"{PREFIX}metrics:hist:{name}"


def audit_stream() -> str:
    return f"{PREFIX}audit"


def overrides(team: str) -> str:
    """Hash: override id -> JSON, one per team."""
    return f"{PREFIX}overrides:{team}"


def rotation_edits(team: str) -> str:
    """Hash: layer name -> JSON of a rotation edited from Slack."""
    return f"{PREFIX}rotations:{team}"


def config_fingerprint(team: str) -> str:
    return f"{PREFIX}config-fingerprint:{team}"


def pending(kind: str, ident: str) -> str:
    """A pending request (swap, cover, rotation preview) as JSON."""
    return f"{PREFIX}pending:{kind}:{ident}"


def pending_index(kind: str, ident: str) -> str:
    return f"{PREFIX}pending-index:{kind}:{ident}"


def alert_group(key: str) -> str:
    return f"{PREFIX}alert:{key}"


def alert_open(team: str) -> str:
    return f"{PREFIX}alerts-open:{team}"


def alert_message(key: str) -> str:
    return f"{PREFIX}alert-msg:{key}"


def incident(ident: str) -> str:
    return f"{PREFIX}incident:{ident}"


def incident_by_channel(channel: str) -> str:
    return f"{PREFIX}incident-channel:{channel}"


def incidents_open() -> str:
    return f"{PREFIX}incidents-open"


def run_request(ident: str) -> str:
    return f"{PREFIX}run:{ident}"


def run_lock(lock: str) -> str:
    return f"{PREFIX}run-lock:{lock}"


def incident_seq() -> str:
    """Counter behind incident ids."""
    return f"{PREFIX}incident-seq"


def incidents_resolved() -> str:
    """Sorted set: incident id scored by resolve time (for `/oncall incidents`)."""
    return f"{PREFIX}incidents-resolved"


def incident_slack(ident: str) -> str:
    """Hash: Slack-side progress of an incident (summary ts, steps done)."""
    return f"{PREFIX}incident-slack:{ident}"


def incident_for_alert(alert_key: str) -> str:
    """The incident declared from an alert group (claims the Declare button)."""
    return f"{PREFIX}incident-alert:{alert_key}"


def incident_refresh_pending(ident: str) -> str:
    """Set while a summary/topic re-render is queued, so bursts coalesce."""
    return f"{PREFIX}incident-refresh:{ident}"


def usergroup_synced(team: str) -> str:
    """JSON list: the users atbat last wrote into the team's Slack user group."""
    return f"{PREFIX}usergroup-synced:{team}"


def run_heartbeat(ident: str) -> str:
    """Exists (EX 60 s) while a worker is running the request; gone means the worker died."""
    return f"{PREFIX}run-heartbeat:{ident}"


def run_output(ident: str) -> str:
    """The last megabyte of a run's output."""
    return f"{PREFIX}run-output:{ident}"


def runs_open() -> str:
    """Set of request ids that are pending, approved or running."""
    return f"{PREFIX}runs-open"


def runs_recent() -> str:
    """List of the newest request ids, newest first (capped)."""
    return f"{PREFIX}runs-recent"


def alert_replies(key: str) -> str:
    """List: thread replies (state changes) of a group waiting to be posted, oldest first."""
    return f"{PREFIX}alert-replies:{key}"


def alert_snapshot(key: str, occurrence: int) -> str:
    """The final state of a past occurrence, so its message can still show it."""
    return f"{PREFIX}alert-snapshot:{key}:{occurrence}"


def alert_render_due() -> str:
    """Sorted set: group key -> when its Slack message was first marked out of date."""
    return f"{PREFIX}alert-render-due"


def replication_probe() -> str:
    """Written before a WAIT that has nothing else to wait for (see alerts.ingest)."""
    return f"{PREFIX}replication-probe"


def alert_sync_lock(key: str) -> str:
    return f"{PREFIX}alert-sync-lock:{key}"


def alert_sync_cooldown(key: str) -> str:
    """Set (for ATBAT_MESSAGE_UPDATE_MS) by each sync of the group's message."""
    return f"{PREFIX}alert-sync-cooldown:{key}"


def history(team: str, kind: str) -> str:
    """Stream: one team's on-call events of one kind, ids in event time, trimmed to history_days."""
    return f"{PREFIX}history:{team}:{kind}"


def history_day(team: str, view: str, day: str) -> str:
    """JSON: one team's report tally of one whole day (team timezone), for one view (a digest
    of timezone and sleep hours); written once the day is over, expires after history_days."""
    return f"{PREFIX}history-day:{team}:{view}:{day}"


def home_opened() -> str:
    """Sorted set: user -> when they last opened their App Home tab (a month kept)."""
    return f"{PREFIX}home-opened"


def home_due(user: str) -> str:
    """A person's App Home tab is owed a redraw (a job is queued); expires if the job is lost."""
    return f"{PREFIX}home-due:{user}"


def history_rules(team: str) -> str:
    """Hash: rule digest -> JSON {alertname, generator_url}, for the rules named in history."""
    return f"{PREFIX}history-rules:{team}"


def silence(ident: str) -> str:
    """JSON of a silence made from atbat (Alertmanager owns the silence itself)."""
    return f"{PREFIX}silence:{ident}"


def silence_message(ident: str) -> str:
    """JSON {channel, ts}: the thread message that shows a silence and its Expire button."""
    return f"{PREFIX}silence-msg:{ident}"


def silences_warn_due() -> str:
    """Sorted set: silence id -> when its expiry warning is due."""
    return f"{PREFIX}silences-warn-due"


def silences_end_due() -> str:
    """Sorted set: silence id -> when it ends (its thread message then loses its buttons)."""
    return f"{PREFIX}silences-end-due"


def maintenance(team: str) -> str:
    """Hash: window id -> JSON of a maintenance window of the team."""
    return f"{PREFIX}maintenance:{team}"


def heartbeat(name: str) -> str:
    """JSON: the last beat of a heartbeat and whether it is missing."""
    return f"{PREFIX}heartbeat:{name}"


def alert_pages(key: str) -> str:
    """Hash: "occurrence:channel:ts" -> one page sent for the group (a DM or a channel post)."""
    return f"{PREFIX}alert-pages:{key}"


def paged(group: str, occurrence: int) -> str:
    """Hash: user -> JSON {team, rule, title}, the people one occurrence of a group paged."""
    return f"{PREFIX}paged:{group}:{occurrence}"


def feedback_answers(group: str, occurrence: int) -> str:
    """Hash: user -> their answer for one occurrence ("actionable", "noise", "morning")."""
    return f"{PREFIX}feedback:{group}:{occurrence}"


def feedback_counts(team: str, rule: str) -> str:
    """Hash: answer -> how many people gave it, for one alert rule (one per person per occurrence)."""
    return f"{PREFIX}feedback-counts:{team}:{rule}"
def page(page_id: str) -> str:
    """A person paged for one alert occurrence (bot.domain.paging.Page)."""
    return f"{PREFIX}page:{page_id}"


def page_sending(page_id: str, step: int) -> str:
    """Held while one worker sends a page step, so two never send it at once."""
    return f"{PREFIX}page-sending:{page_id}:{step}"


def page_step_done(page_id: str, step: int) -> str:
    """Set once a provider accepted the step, or it failed for good: never sent again."""
    return f"{PREFIX}page-done:{page_id}:{step}"


def page_attempts(page_id: str, step: int) -> str:
    return f"{PREFIX}page-attempts:{page_id}:{step}"


def pages_of(group_key: str, occurrence: int) -> str:
    """The ids of everyone paged for an alert occurrence."""
    return f"{PREFIX}pages-of:{group_key}:{occurrence}"


def twilio_callback_seen(signature_digest: str) -> str:
    """A signed Twilio callback already handled: a replay of it is refused."""
    return f"{PREFIX}twilio-seen:{signature_digest}"


def pages_sent_by(user: str, hour_slot: int) -> str:
    """How many pages `user` sent from Slack in one hour (the rate limit of /oncall page)."""
    return f"{PREFIX}pages-sent:{user}:{hour_slot}"


def person_paging(user: str) -> str:
    """JSON: contact methods and notification rules a person set in Slack (/oncall notify)."""
    return f"{PREFIX}person-paging:{user}"


def requests_expiring() -> str:
    """Sorted set: pending swap/cover request id -> when it expires (its DM then says so)."""
    return f"{PREFIX}requests-expiring"


def open_covers() -> str:
    """Sorted set: open cover request id -> when it expires (its shift starts)."""
    return f"{PREFIX}open-covers"


def delivery(delivery_id: str) -> str:
    """An owed Slack call (bot.domain.deliveries.Delivery); kept after it is done, as its claim."""
    return f"{PREFIX}delivery:{delivery_id}"


def delivery_sending(delivery_id: str) -> str:
    """Held while one worker makes the call, so two never make it at once."""
    return f"{PREFIX}delivery-sending:{delivery_id}"


def deliveries_owed(kind: str) -> str:
    """Sorted set: owed delivery id -> when its next attempt is due, one per kind."""
    return f"{PREFIX}deliveries-owed:{kind}"


def pages_owed() -> str:
    """Sorted set: "<page id>:<step>" -> next attempt, for page steps a provider has not accepted yet."""
    return f"{PREFIX}pages-owed"


def healing(group: str, occurrence: int) -> str:
    """JSON: what self-healing decided for one alert occurrence (bot.domain.autoremediation.Healing)."""
    return f"{PREFIX}autoheal:{group}:{occurrence}"


def healing_open() -> str:
    """Sorted set: "group occurrence" -> page_at, the self-healing records not settled yet."""
    return f"{PREFIX}autoheal-open"


def healing_runs(rule: str) -> str:
    """Sorted set: run id -> when an automatic remediation rule started it (for max_runs)."""
    return f"{PREFIX}autoheal-runs:{rule}"


def healing_breaker(rule: str) -> str:
    """JSON: the circuit breaker of an automatic remediation rule (failed runs in a row)."""
    return f"{PREFIX}autoheal-breaker:{rule}"


def healing_off(team: str) -> str:
    """JSON {by, at}: set while a manager has switched the team's self-healing off."""
    return f"{PREFIX}autoheal-off:{team}"


def suggestion(ident: str) -> str:
    """JSON: a rule atbat suggested to a team's managers (bot.domain.graduation.Suggestion)."""
    return f"{PREFIX}suggestion:{ident}"


def suggestion_of(key: str) -> str:
    """The id of the suggestion made for a fix key: set once, so each rule is suggested once."""
    return f"{PREFIX}suggestion-key:{key}"
