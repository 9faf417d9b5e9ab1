"""What atbat serves, in one place: every `/oncall` subcommand, every Slack listener, every
periodic check. Nothing registers itself by being imported; a feature is wired by a line here.

Help lists the subcommands in the order of COMMANDS within each group (see HELP_ORDER).
"""

from __future__ import annotations

from slack_bolt import App

from bot.periodic import Check
from bot.runtime import Runtime
from bot.services import alerts as alerts_service
from bot.services import autoremediation as autoremediation_service
from bot.services import covers as covers_service
from bot.services import deliveries as deliveries_service
from bot.services import graduation as graduation_service
from bot.services import handoffs as handoffs_service
from bot.services import heartbeats as heartbeats_service
from bot.services import history as history_service
from bot.services import incidents as incidents_service
from bot.services import maintenance as maintenance_service
from bot.services import remediation as remediation_service
from bot.services import reports as reports_service
from bot.services import rotations as rotations_service
from bot.services import silences as silences_service
from bot.services import sleep_budget as sleep_budget_service
from bot.services import swaps as swaps_service
from bot.slack.commands import Router
from bot.slack.listeners import (
    alerts,
    autoremediation,
    covers,
    feedback,
    graduation,
    handoffs,
    heartbeats,
    help,
    home,
    incidents,
    maintenance,
    overrides,
    paging,
    remediation,
    reports,
    rotations,
    schedule,
    silences,
    snoozes,
    swaps,
)

# `/oncall` subcommands.
COMMANDS = (
    alerts.list_alerts, heartbeats.list_heartbeats, help.show_help,
    incidents.incident_command, incidents.incidents_command, incidents.update_command,
    incidents.note_command, incidents.severity_command, incidents.lead_command,
    incidents.resolve_command,
    schedule.who, schedule.next_, schedule.me, schedule.schedule, schedule.calendar_links,
    maintenance.maintenance,
    swaps.swap, swaps.cover, covers.cover_request, swaps.take, handoffs.handoff_note,
    overrides.override, overrides.list_overrides,
    paging.page_command, paging.notify_command, reports.report, rotations.rotation,
    remediation.list_runbooks, remediation.run_runbook, remediation.list_jobs,
    remediation.show_audit, autoremediation.autoremediation,
    silences.list_silences,
)

# Buttons, menus, modals and events: each module's register(app, runtime).
LISTENERS = (help, incidents, alerts, silences, snoozes, maintenance, heartbeats, paging, swaps,
             overrides, rotations, schedule, remediation, autoremediation, graduation, reports,
             feedback, covers, handoffs, home)

# Periodic checks, run by every tick (bot/periodic.py) in this order.
CHECKS: dict[str, Check] = {
    "history": history_service.trim_history,
    "reports": reports_service.post_scheduled_reports,
    "alerts": alerts_service.catch_up,
    "deliveries": deliveries_service.check_owed,
    "heartbeats": heartbeats_service.check,
    "incident-reminders": incidents_service.remind_quiet_incidents,
    "maintenance": maintenance_service.check,
    "handoffs": handoffs_service.check_handoffs,
    "config-changes": rotations_service.check,
    "run-expiry": remediation_service.check_expired_runs,
    "lost-runs": remediation_service.check_lost_runs,
    "self-healing": autoremediation_service.check,
    "graduation": graduation_service.check,
    "silence-warnings": silences_service.warn_expiring,
    "silence-ends": silences_service.close_ended,
    "request-expiry": swaps_service.expire_requests,
    "open-covers": covers_service.expire_open_covers,
    "sleep-budget": sleep_budget_service.offer_cover_after_rough_nights,
}

ROUTER = Router(COMMANDS)


def register(app: App, runtime: Runtime) -> None:
    for feature in LISTENERS:
        feature.register(app, runtime)
