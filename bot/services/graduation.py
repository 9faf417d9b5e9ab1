"""Graduation suggestions: suggest a self-healing rule for a fix people keep approving.

A person's run asked for from an alert's Run button carries the alert (group,
occurrence, alertname, labels: `alert_extra`). When it ends (`run_ended`, from
the remediation service), whether it fixed the alert is settled at once, or 10
minutes after the run when the alert still fires then (`settle`, a scheduled
job, and the `graduation` check every tick for a job that was lost): one `fix`
entry in the team's history per run. When the last
`suggest_rules_after` (default 5) entries of the same alert rule, runbook and
parameters-from-labels all fixed it, the team's managers get one DM with the
`auto_remediation:` YAML to paste and a Dismiss button (`consider`); an alert
that a rule matches already (at any hour) gets none. The YAML is parsed by the
config loader and matched against the last alert before it is shown. The
suggestion is claimed in Redis by its key, so it is made once with any number
of workers, and never again once dismissed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import yaml

from bot.config import ConfigError, parse_auto_rules
from bot.domain import autoremediation
from bot.domain import graduation as domain
from bot.domain.alerts import AlertGroup, parse_iso
from bot.domain.graduation import GraduationError, RunEvidence
from bot.domain.history import Event, rule_of
from bot.domain.remediation import RunRequest
from bot.runtime import QUEUE_DEFAULT, Runtime
from bot.services import deliveries, messages
from bot.slack.format import code_safe
from bot.slack.render_graduation import suggestion_message
from bot.store import alerts as alert_store
from bot.store import graduation as store
from bot.store import history as history_store
from bot.store import remediation as run_store

log = logging.getLogger("atbat.graduation")

SETTLE_GRACE = timedelta(seconds=5)
CHECK_RECENT = 100  # the newest runs the periodic check looks at
CHECK_SINCE = timedelta(days=1)


def alert_extra(group: AlertGroup) -> dict[str, str]:
    """What a run asked for from this alert remembers of it (the run request's `extra`)."""
    facts = autoremediation.facts_of(group)
    return {"from_alert": group.key, "from_occurrence": str(group.occurrence),
            "alertname": rule_of(group).alertname,
            "alert_labels": json.dumps(dict(sorted(facts.labels.items())))}


def _evidence(req: RunRequest) -> RunEvidence | None:
    """A person's run from an alert that started; None for anything else."""
    extra = req.extra
    if (not extra.get("from_alert") or extra.get("rule")
            or req.requester.startswith(autoremediation.REQUESTER_PREFIX)
            or req.started_at is None or not req.terminal or not req.team):
        return None
    try:
        labels = {str(k): str(v) for k, v in json.loads(extra.get("alert_labels") or "{}").items()}
        occurrence = int(extra.get("from_occurrence") or 0)
    except (ValueError, AttributeError):
        return None
    return RunEvidence(team=req.team, alertname=extra.get("alertname", ""), runbook=req.runbook,
                       params=req.param_dict, labels=labels, run=req.id,
                       requester=req.requester, approver=req.approver or "", group=extra["from_alert"],
                       occurrence=occurrence)


def _resolved_at(group: AlertGroup | None, occurrence: int) -> datetime | None:
    if group is None:
        return None
    if group.occurrence == occurrence:
        return None if group.is_open else group.resolved_at
    previous = group.previous_occurrence or {}
    if previous.get("occurrence") == occurrence and previous.get("resolved_at"):
        return parse_iso(str(previous["resolved_at"]))
    return None


def run_ended(rt: Runtime, req: RunRequest) -> None:
    """A run reached its final state: settle a person's run from an alert now, or once the
    10 minutes after it are over. Never fails the caller (the run's own result comes first)."""
    try:
        if _evidence(req) is None or settle(rt, req.id):
            return
        assert req.finished_at is not None
        at = req.finished_at + domain.FIX_WINDOW + SETTLE_GRACE
        rt.enqueue_at(at, "workers.graduation.settle", req.id, queue=QUEUE_DEFAULT,
                      job_id=f"graduation-settle-{req.id}")
    except Exception:
        log.exception("graduation: run not considered run=%s", req.id)


def settle(rt: Runtime, run_id: str) -> bool:
    """Record whether the run fixed its alert (once per run); False while it cannot be told yet."""
    req = run_store.get_run(rt.redis, run_id)
    e = None if req is None else _evidence(req)
    if req is None or e is None:
        return True
    resolved = _resolved_at(alert_store.get_group(rt.redis, e.group), e.occurrence)
    now = rt.now()
    if (req.state == "succeeded" and resolved is None and req.finished_at is not None
            and now < req.finished_at + domain.FIX_WINDOW):
        return False
    outcome = domain.fix_outcome(req.state, req.started_at, req.finished_at, resolved)
    seconds = (resolved - req.finished_at).total_seconds() if resolved and req.finished_at else None
    event = domain.fix_event(e, outcome, now, seconds)
    if not store.record_fix(rt.redis, e.team, event, run_id,
                            timedelta(days=rt.config.history_days)):
        return True
    log.info("graduation: run settled run=%s team=%s alertname=%s runbook=%s outcome=%s", run_id,
             e.team, e.alertname, e.runbook, outcome)
    if outcome == domain.FIXED:
        consider(rt, e.team, event, now)
    return True


def check(rt: Runtime, now: datetime) -> None:
    """Every tick: settle the recent runs from alerts whose scheduled settling was lost (a
    worker restart, Redis failing over) once their 10 minutes are over."""
    for req in run_store.recent_runs(rt.redis, CHECK_RECENT):
        if (_evidence(req) is None or req.created_at < now - CHECK_SINCE
                or (req.finished_at is not None
                    and now < req.finished_at + domain.FIX_WINDOW + SETTLE_GRACE)
                or store.settled(rt.redis, req.id)):
            continue
        settle(rt, req.id)


def consider(rt: Runtime, team_name: str, event: Event, now: datetime) -> str | None:
    """Suggest a rule when the last N runs of this key all fixed the alert; the suggestion's id."""
    n = rt.config.suggest_rules_after
    team = rt.config.teams.get(team_name)
    runbook = rt.config.runbooks.get(event.get("runbook"))
    if n <= 0 or team is None or runbook is None:
        return None
    found = history_store.read(rt.redis, team.name, "fix",
                               now - timedelta(days=rt.config.history_days),
                               now + timedelta(seconds=1))
    streak = domain.streak(found, event.get("key"), n)
    if streak is None:
        return None
    labels = json.loads(event.get("labels") or "{}")
    facts = autoremediation.AlertFacts(team=team.name, labels=labels)
    covered = next((r for r in rt.config.auto_remediation
                    if r.team == team.name and autoremediation.match(r, facts)), None)
    if covered is not None:  # at other hours, or switched off: the rule is there already
        log.info("graduation: a rule covers it already team=%s alertname=%s rule=%s", team.name,
                 event.get("alertname"), covered.name)
        return None
    rule = domain.suggested_rule(streak, team, runbook,
                                 [r.name for r in rt.config.auto_remediation])
    text = yaml.safe_dump({"auto_remediation": [rule]}, sort_keys=False, width=1000)
    why = _untested(rt, text, facts, json.loads(event.get("params") or "{}"), now)
    if why:
        log.error("graduation: suggestion not made team=%s alertname=%s runbook=%s why=%s",
                  team.name, event.get("alertname"), runbook.name, why)
        return None
    suggestion = domain.new_suggestion(store.new_id(), event.get("key"), streak, team, rule, text,
                                       now)
    if not store.create(rt.redis, suggestion, timedelta(days=rt.config.history_days)):
        return None
    log.info("graduation: rule suggested suggestion=%s team=%s alertname=%s runbook=%s rule=%s "
             "runs=%d", suggestion.id, team.name, suggestion.alertname, runbook.name,
             suggestion.rule, len(streak))
    for manager in team.managers:
        deliveries.owe(rt, "notice", f"suggestion-{suggestion.id}-{manager}", "chat.postMessage",
                       {"channel": manager, **suggestion_message(suggestion)},
                       on_accepted=("workers.graduation.posted", suggestion.id, manager))
    return suggestion.id


def _untested(rt: Runtime, text: str, facts: autoremediation.AlertFacts,
              params: dict[str, Any], now: datetime) -> str:
    """Why the YAML would not do what it says: not loading, or not running the same run."""
    if len(code_safe(text)) > domain.MAX_YAML or "```" in text:
        return "the YAML does not fit one Slack message"
    try:
        rules = parse_auto_rules(text, rt.config)
    except ConfigError as exc:
        return str(exc)
    plan = autoremediation.plan(replace(rt.config, auto_remediation=rules), facts, now)
    if not plan.runs:
        return plan.refused or "; ".join(plan.notes) or "the rule does not fire"
    if dict(plan.params) != params:
        return f"the rule would run with {dict(plan.params)}, not {params}"
    return ""


def posted(rt: Runtime, ident: str, manager: str, answer: dict[str, str]) -> None:
    """A manager's DM was accepted: remember it, so Dismiss can update every copy."""
    if not answer.get("channel") or not answer.get("ts"):
        return
    s = store.add_message(rt.redis, ident, manager, answer["channel"], answer["ts"])
    if s.state == "dismissed":  # dismissed by another manager while this one was on its way
        messages.update(rt, answer["channel"], answer["ts"], suggestion_message(s))


def dismiss(rt: Runtime, ident: str, user: str) -> str:
    """A manager of the team dismisses the suggestion: every copy loses its button."""
    s = store.get(rt.redis, ident)
    if s is None:
        raise GraduationError("This suggestion no longer exists.")
    team = rt.config.teams.get(s.team)
    if team is None or not team.is_manager(user):
        raise GraduationError(f"Only a manager of {s.team} may dismiss this suggestion.")
    s = store.dismiss(rt.redis, ident, user, rt.now())
    for channel, ts in s.messages.values():
        messages.update(rt, channel, ts, suggestion_message(s))
    log.info("graduation: suggestion dismissed suggestion=%s team=%s by=%s", ident, s.team, user)
    return "Dismissed: atbat will not suggest this rule again."
