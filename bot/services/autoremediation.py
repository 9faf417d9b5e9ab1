"""Self-healing: run the known fix before waking anyone.

The decision is taken where paging would start: the first escalation step of a
new alert occurrence asks `hold` (via `bot.services.alerts.paging_paused`).
When an `auto_remediation:` rule of the team matches, `hold` records the
decision once per occurrence (`bot.store.autoremediation.start`: the run request,
its one-run lock and the rule's `max_runs` count in one compare-and-set, so any
number of workers create one run), queues the run on the runs queue with its
output in the alert's thread, and holds paging back until `page_after`.

Paging starts at once when nothing may run (a refused label value, `max_runs`,
the breaker, the kill switch, the lock), at `page_after` while the alert still
fires, or as soon as the run fails, times out, is cancelled or lost (`run_ended`,
queued by the remediation service when a rule's run ends). When the alert
resolves before anyone was paged (`alert_resolved`), the thread says
"Self-healed by RUNBOOK in 1m 20s" and the team's history gets a `selfheal`
entry with outcome `healed`: a page saved.

`check` (every tick) settles what a lost job left open: a run that ended
without its `run_ended`, an alert that resolved without its `alert_resolved`.
The wake-up at `page_at` is the escalation's own job; the alerts catch-up
re-queues it when it is lost.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from bot import metrics
from bot.domain import autoremediation as domain
from bot.domain import history
from bot.domain.alerts import AlertGroup
from bot.domain.autoremediation import PAUSE_REASON, Healing, Plan
from bot.domain.config import AutoRule, Config, Team
from bot.domain.remediation import RunRequest, new_request
from bot.domain.timefmt import human_duration
from bot.runtime import QUEUE_RUNS, QUEUE_URGENT, Runtime
from bot.services import deliveries
from bot.slack.format import date_token, escape
from bot.slack.render_remediation import who
from bot.store import alerts as alert_store
from bot.store import autoremediation as store
from bot.store import remediation as run_store

log = logging.getLogger("atbat.autoremediation")

LOCK_MARGIN = 300  # seconds the one-run lock outlives the run's timeout (queueing, reporting)
RUN_JOB_GRACE = 65  # RQ's limit on a run job beyond the runbook's own timeout


def requester(rule: AutoRule) -> str:
    """Who a rule's run is requested by: the rule itself, shown as "rule NAME"."""
    return f"{domain.REQUESTER_PREFIX}{rule.name}"


def rules_of(config: Config, team: str | None) -> list[AutoRule]:
    return [r for r in config.auto_remediation if r.team == team]


def may_apply(config: Config, group: AlertGroup) -> bool:
    """Could a rule of the group's team match it (hours aside)? Pure, for the ingest path."""
    rules = rules_of(config, group.team)
    if not rules:
        return False
    facts = domain.facts_of(group)
    return any(domain.match(rule, facts) for rule in rules)


# ---------------------------------------------------------------- holding paging back


def hold(rt: Runtime, team: Team, group: AlertGroup, now: datetime) -> bool:
    """True while self-healing holds paging back for this occurrence.

    The first call for a new occurrence decides (once, whatever the number of
    workers); later calls say whether the hold stands, and start paging (with the
    run's outcome on the alert) when it does not.
    """
    if not rules_of(rt.config, team.name) or group.source not in domain.SOURCES:
        return False
    if group.state != "triggered":
        return False  # acknowledged: a person has it (and asked for help, if this pages)
    h = store.get(rt.redis, group.key, group.occurrence)
    if h is None:
        if group.escalation_step >= 0 or group.escalation_pass or group.paused == PAUSE_REASON:
            return False  # paging had begun, or Redis lost the record: never run twice
        h = _start(rt, team, group, now)
        if h is None:
            return False
    if h.state != "running":
        return False
    run = run_store.get_run(rt.redis, h.run)
    why = domain.hold_reason(h, None if run is None else run.state, now)
    if why is None:
        return True
    _begin_paging(rt, group, h, why, now)
    return False


def _start(rt: Runtime, team: Team, group: AlertGroup, now: datetime) -> Healing | None:
    """Decide for a new occurrence: a rule's run (hold paging) or the reason nothing runs."""
    plan = domain.plan(rt.config, domain.facts_of(group), group.created_at)
    rule = plan.rule
    if rule is None:
        return None
    h = Healing(group=group.key, occurrence=group.occurrence, team=team.name, rule=rule.name,
                runbook=rule.runbook, state="running", fired_at=group.created_at,
                page_at=group.created_at + rule.page_after, config_sha256=rt.config.sha256)
    why = _guard_rails(rt, team, rule, plan)
    req = None if why else _run_request(rt, team, group, rule, plan, now)
    h = domain.refused(h, why) if req is None else replace(h, run=req.id)
    runbook = rt.config.runbooks[rule.runbook]
    event = history.self_healing(group, rule.name, rule.runbook, "refused", now)
    h, made = store.start(rt.redis, h, req, limit=rule.max_runs, now=now, event=event,
                          lock_ttl=int((runbook.approval_ttl + runbook.timeout).total_seconds())
                          + LOCK_MARGIN)
    if not made:
        return h
    if h.state == "refused":
        log.warning("self-healing refused alert=%s team=%s rule=%s reason=%s", group.key,
                    team.name, rule.name, h.reason)
        metrics.count(rt.redis, "self_healing_total", f"rule={rule.name},outcome=refused")
        _note(rt, group.key, group.occurrence,
              f":warning: Self-healing did not run rule `{escape(rule.name)}`: "
              f"{escape(h.reason)}. Paging now.",
              f"Self-healing did not run: {h.reason}", now)
        return h
    assert req is not None
    log.info("self-healing started alert=%s team=%s rule=%s run=%s runbook=%s page_at=%s",
             group.key, team.name, rule.name, req.id, rule.runbook, h.page_at.isoformat())
    if h.page_at > now:
        _note(rt, group.key, group.occurrence,
              f":wrench: Self-healing: rule `{escape(rule.name)}` runs `{escape(rule.runbook)}` "
              f"(`{req.id}`); paging {date_token(h.page_at)} unless the alert resolves first.",
              f"Self-healing: running {rule.runbook}; paging {date_token(h.page_at)} unless "
              "it resolves", now, pause=True)
        rt.enqueue_at(
            h.page_at, "workers.alerts.escalate", group.key, group.occurrence,
            group.escalation_step + 1, queue=QUEUE_URGENT,
            job_id=f"autoheal-wake-{group.key}-{group.occurrence}")
    # Queued after the note, so a quick run's outcome is never overwritten by "running".
    rt.enqueue("workers.remediation.post_request", req.id, queue=QUEUE_URGENT)
    rt.enqueue("workers.remediation.execute", req.id, queue=QUEUE_RUNS, job_id=req.id,
               timeout=int(runbook.timeout.total_seconds()) + RUN_JOB_GRACE)
    return h


def _guard_rails(rt: Runtime, team: Team, rule: AutoRule, plan: Plan) -> str:
    """Why the rule may not run now (kill switch, breaker, refused values), or ""."""
    off = store.switched_off(rt.redis, team.name)
    if off is not None:
        return f"self-healing is switched off for {team.name} (by {off.get('by', 'a manager')})"
    if store.breaker(rt.redis, rule.name).open:
        return (f"the circuit breaker of rule {rule.name} is open after {rule.breaker_after} "
                "failed runs in a row")
    return plan.refused


def _run_request(rt: Runtime, team: Team, group: AlertGroup, rule: AutoRule, plan: Plan,
                 now: datetime) -> RunRequest:
    """The rule's run: approved by the rule itself, its output in the alert's thread."""
    runbook = rt.config.runbooks[rule.runbook]
    ref = alert_store.get_message(rt.redis, group.key, group.occurrence)
    extra = {"channel": ref.channel if ref else team.channel, "rule": rule.name,
             "alert": group.key, "occurrence": str(group.occurrence),
             "config_sha256": rt.config.sha256, "approved_by": ",".join(rule.approved_by)}
    if ref is not None:
        extra["thread_ts"] = ref.ts
    req = new_request(run_store.new_id(), runbook, plan.params, requester(rule), team.name, now,
                      extra)
    # The rule is the approval (its approvers are in the config), whatever the runbook's policy.
    return replace(req, state="approved", approver=requester(rule), decided_at=now,
                   approved_fingerprint=req.fingerprint)


def _begin_paging(rt: Runtime, group: AlertGroup, h: Healing, why: str, now: datetime) -> None:
    """Paging starts for this occurrence: once, with the run's outcome on the alert."""
    event = history.self_healing(group, h.rule, h.runbook, "paged", now, h.run)
    new = store.update(rt.redis, h.group, h.occurrence, lambda old: domain.paging_starts(old, why),
                       event)
    if new is None:
        return
    log.info("self-healing pages alert=%s team=%s rule=%s run=%s reason=%s", h.group, h.team,
             h.rule, h.run, why)
    metrics.count(rt.redis, "self_healing_total", f"rule={h.rule},outcome=paged")
    _note(rt, h.group, h.occurrence, f":wrench: Self-healing did not settle it: {escape(why)}. "
          "Paging now.", f"Self-healing: {why}", now)


# ---------------------------------------------------------------- the run ended


def run_ended(rt: Runtime, run_id: str) -> None:
    """A rule's run reached its final state: record it once (and on the rule's breaker),
    say it in the alert's thread, and start paging at once unless it succeeded."""
    req = run_store.get_run(rt.redis, run_id)
    if req is None or not req.terminal or not req.extra.get("alert"):
        return
    key, occurrence = req.extra["alert"], int(req.extra.get("occurrence") or 0)
    rule = rt.config.auto_rule(req.extra.get("rule", ""))
    threshold = rule.breaker_after if rule is not None else 3
    duration = req.duration()
    now = rt.now()
    h, breaker, opened = store.settle_run(
        rt.redis, key, occurrence, req.state, req.exit_code,
        None if duration is None else duration.total_seconds(), threshold, now)
    if h is None:
        return
    text = domain.outcome_text(h.runbook, req.state, req.exit_code, h.seconds, req.reason)
    log.info("self-healing run ended alert=%s rule=%s run=%s outcome=%s failures=%d", key, h.rule,
             run_id, req.state, breaker.failures)
    metrics.count(rt.redis, "self_healing_runs_total", f"rule={h.rule},outcome={req.state}")
    if opened:
        _tell_managers(rt, h, breaker.failures, text)
    if req.state != "succeeded":
        _wake(rt, key, occurrence)  # the escalation job starts paging with this outcome
        return
    if h.state == "running":
        _note(rt, key, occurrence, f":white_check_mark: Self-healing: {escape(text)}; paging "
              f"{date_token(h.page_at)} if the alert still fires.",
              f"Self-healing: {text}; paging {date_token(h.page_at)} if it still fires", now)
    elif h.state == "paged":
        _note(rt, key, occurrence, f":white_check_mark: Self-healing: {escape(text)}.",
              f"Self-healing: {text}", now)


def _wake(rt: Runtime, key: str, occurrence: int) -> None:
    group = alert_store.get_group(rt.redis, key)
    if group is None or group.occurrence != occurrence or not group.is_open:
        return
    rt.enqueue("workers.alerts.escalate", key, occurrence, group.escalation_step + 1,
               queue=QUEUE_URGENT, job_id=f"autoheal-page-{key}-{occurrence}")


def _tell_managers(rt: Runtime, h: Healing, failures: int, last: str) -> None:
    team = rt.config.teams.get(h.team)
    if team is None:
        return
    text = (f":rotating_light: Self-healing rule `{escape(h.rule)}` ({escape(team.name)}) failed "
            f"{failures} times in a row (last: {escape(last)}). Its circuit breaker is open: "
            f"matching alerts page at once. `/oncall autoremediation {escape(team.name)} on` "
            "closes it once the cause is fixed.")
    log.warning("self-healing breaker open rule=%s team=%s failures=%d", h.rule, team.name,
                failures)
    for manager in team.managers:  # owed until Slack accepts it
        deliveries.owe(rt, "notice", f"autoheal-breaker-{h.rule}-{h.run}-{manager}",
                       "chat.postMessage", {"channel": manager, "text": text})


# ---------------------------------------------------------------- the alert resolved


def alert_resolved(rt: Runtime, key: str, occurrence: int) -> None:
    """The alert resolved: before anyone was paged, that is a page saved."""
    group = alert_store.get_group(rt.redis, key)
    if group is None or group.occurrence != occurrence or group.is_open:
        return
    h = store.get(rt.redis, key, occurrence)
    if h is None or h.state != "running":
        return
    now = rt.now()
    event = history.self_healing(group, h.rule, h.runbook, "healed", now, h.run)
    new = store.update(rt.redis, key, occurrence, domain.healed, event)
    if new is None:  # the run failed and nobody was paged (acknowledged meanwhile): no page saved
        store.update(rt.redis, key, occurrence, domain.ended)
        return
    took = human_duration((group.resolved_at or now) - group.created_at)
    log.info("self-healed alert=%s team=%s rule=%s run=%s after=%s", key, h.team, h.rule, h.run,
             took)
    metrics.count(rt.redis, "self_healing_total", f"rule={h.rule},outcome=healed")
    _note(rt, key, occurrence, f":white_check_mark: Self-healed by `{escape(h.runbook)}` in {took}: "
          "nobody was paged.", f"Self-healed by {h.runbook} in {took}", now, resolved_ok=True)


# ---------------------------------------------------------------- periodic check


def check(rt: Runtime, now: datetime) -> None:
    """Settle what lost jobs left open: runs ended without `run_ended`, alerts resolved
    without `alert_resolved`; forget records whose alert is gone."""
    for key, occurrence in store.open_records(rt.redis):
        h = store.get(rt.redis, key, occurrence)
        group = alert_store.get_group(rt.redis, key)
        if h is None or group is None:
            store.forget(rt.redis, key, occurrence)
            continue
        run = run_store.get_run(rt.redis, h.run) if h.run else None
        if h.run and not h.outcome and (run is None or run.terminal):
            if run is None:
                store.update(rt.redis, key, occurrence,
                             lambda old: domain.ran(old, "lost", None, None))
            else:
                run_ended(rt, run.id)
        if h.state == "running" and (group.occurrence != occurrence or not group.is_open):
            if group.occurrence == occurrence:
                alert_resolved(rt, key, occurrence)
            else:
                store.update(rt.redis, key, occurrence,
                             lambda old: domain.paging_starts(old, "a newer occurrence fired"))


# ---------------------------------------------------------------- notes on the alert


def _note(rt: Runtime, key: str, occurrence: int, text: str, line: str, now: datetime, *,
          pause: bool = False, resolved_ok: bool = False) -> None:
    """Say `text` in the alert's thread and show `line` on it; its message follows."""
    outcome = alert_store.transition(
        rt.redis, key, lambda g: domain.note(g, occurrence, text, line, now, pause=pause,
                                             resolved_ok=resolved_ok), now)
    if outcome.render_requested and outcome.group is not None:
        rt.enqueue("workers.alerts.sync_message", key, queue=QUEUE_URGENT,
                   job_id=f"alert-sync-{key}-v{outcome.group.version}")


# ---------------------------------------------------------------- switch and status


def switch(rt: Runtime, team: Team, on: bool, user: str) -> str:
    """`/oncall autoremediation TEAM on|off` by a manager; audited."""
    rules = [r.name for r in rules_of(rt.config, team.name)]
    changed = store.switch(rt.redis, team.name, on, user, rt.now(), rules)
    log.info("self-healing switched team=%s on=%s by=%s changed=%s", team.name, on, user, changed)
    if not changed:
        return f"Self-healing for {team.name} is already {'on' if on else 'off'}."
    if on:
        return (f"Self-healing for {team.name} is on: its rules run again and their circuit "
                "breakers are closed.")
    return f"Self-healing for {team.name} is off: matching alerts page at once until `on`."


def status_lines(rt: Runtime, team: Team, now: datetime) -> list[str]:
    """The state of the team's self-healing, for `/oncall autoremediation` and `/oncall who`."""
    rules = rules_of(rt.config, team.name)
    if not rules:
        return []
    off = store.switched_off(rt.redis, team.name)
    lines = ["Self-healing: *on*" if off is None
             else f"Self-healing: *off* (by {who(off.get('by') or 'a manager')})"]
    for rule in rules:
        breaker = store.breaker(rt.redis, rule.name)
        done = store.runs_in_window(rt.redis, rule.name, rule.max_runs, now)
        state = "breaker *open*" if breaker.open else (
            f"{breaker.failures} failed in a row" if breaker.failures else "ok")
        pages = f"pages after {human_duration(rule.page_after)}" if rule.page_after \
            else "pages at once, runs alongside"
        lines.append(f"• `{escape(rule.name)}` → `{escape(rule.runbook)}`: {state}; "
                     f"{done}/{rule.max_runs.count} runs in the last "
                     f"{human_duration(rule.max_runs.window)}; {pages}")
    return lines


def who_line(rt: Runtime, team: Team) -> str | None:
    """One line for `/oncall who`: the team's self-healing on or off, and open breakers."""
    rules = rules_of(rt.config, team.name)
    if not rules:
        return None
    off = store.switched_off(rt.redis, team.name)
    state = "*on*" if off is None else f"*off* (by {who(off.get('by') or 'a manager')})"
    text = f":wrench: Self-healing for {escape(team.name)}: {state}, {len(rules)} " \
           f"rule{'s' if len(rules) != 1 else ''}"
    tripped = [r.name for r in rules if store.breaker(rt.redis, r.name).open]
    if tripped:
        text += "; circuit breaker open: " + ", ".join(f"`{escape(n)}`" for n in tripped)
    return text
