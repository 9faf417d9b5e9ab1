"""Page feedback: asked once per paged person when the group resolves, one answer per person
per occurrence (a second click changes it), counted per rule, with an optional note."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

from bot.domain.feedback import FeedbackTarget
from bot.domain.history import Rule
from bot.runtime import QUEUE_NAMES
from bot.services import feedback
from bot.store import alerts as store_alerts
from bot.store import feedback as store
from bot.store import history
from tests.test_alerts_e2e import firing_key, fixture, post_am, text_of

EPOCH, FAR = datetime(2020, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
RULE = Rule("payments", "PaymentsApiHighErrorRate")


def questions(workspace, user: str) -> list[dict]:
    return [m for m in workspace.dms(user) if "Was this page worth it?" in text_of(m)]


def counts(runtime) -> dict[str, int]:
    [ident] = history.rules(runtime.redis, "payments")
    return store.counts(runtime.redis, "payments", ident)


def page_and_resolve(app_server, run_jobs, clock) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    clock.advance(minutes=3)
    post_am(app_server, fixture("alertmanager_resolved.json"))
    run_jobs()


def test_the_paged_person_is_asked_once_when_it_resolves(app_server, run_jobs, clock,
                                                          workspace, runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    assert questions(workspace, "U0ALICE") == []  # not before it resolves
    clock.advance(minutes=3)
    post_am(app_server, fixture("alertmanager_resolved.json"))
    post_am(app_server, fixture("alertmanager_resolved.json"))  # redelivered: no second question
    run_jobs()
    [question] = questions(workspace, "U0ALICE")
    assert "PaymentsApiHighErrorRate" in text_of(question)
    assert [e["text"]["text"] for b in question["blocks"] if b["type"] == "actions"
            for e in b["elements"]] == ["Actionable", "Noise", "Could have waited till morning"]
    assert questions(workspace, "U0DAVE") == []  # dave was never paged


def test_one_answer_per_person_per_occurrence_and_a_second_click_changes_it(
        app_server, run_jobs, clock, workspace, runtime, slack) -> None:
    page_and_resolve(app_server, run_jobs, clock)
    [question] = questions(workspace, "U0ALICE")
    slack.click(question, "feedback_noise", user="U0ALICE", channel="D0ALICE")
    slack.click(question, "feedback_noise", user="U0ALICE", channel="D0ALICE")
    assert counts(runtime) == {"noise": 1}
    run_jobs()
    [redrawn] = questions(workspace, "U0ALICE")
    assert "Your answer: *Noise*" in text_of(redrawn)
    slack.click(redrawn, "feedback_morning", user="U0ALICE", channel="D0ALICE")
    assert counts(runtime) == {"morning": 1}
    answers = history.read(runtime.redis, "payments", "feedback", EPOCH, FAR)
    assert [e.fields["answer"] for e in answers] == ["noise", "morning"]
    target = FeedbackTarget(firing_key(), 1)
    assert store.answer_of(runtime.redis, target, "U0ALICE") == "morning"


def test_simultaneous_clicks_of_one_person_count_once(app_server, run_jobs, clock, workspace,
                                                       runtime, slack) -> None:
    page_and_resolve(app_server, run_jobs, clock)
    [question] = questions(workspace, "U0ALICE")
    barrier = threading.Barrier(4)

    def click(action: str) -> None:
        barrier.wait()
        slack.click(question, action, user="U0ALICE", channel="D0ALICE")

    threads = [threading.Thread(target=click, args=(a,)) for a in
               ("feedback_noise", "feedback_actionable", "feedback_noise", "feedback_morning")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts(runtime).values()) == 1


def test_only_the_paged_may_answer(app_server, run_jobs, clock, workspace, runtime, slack) -> None:
    page_and_resolve(app_server, run_jobs, clock)
    [question] = questions(workspace, "U0ALICE")
    slack.click(question, "feedback_actionable", user="U0BOB", channel="D0BOB")
    run_jobs()
    assert "Only the people this alert paged can answer" in \
        workspace.ephemerals(user="U0BOB")[-1]["text"]
    assert runtime.redis.keys("atbat:feedback-counts:*") == []


def test_a_note_goes_with_the_answer(app_server, run_jobs, clock, workspace, runtime, slack) -> None:
    page_and_resolve(app_server, run_jobs, clock)
    [question] = questions(workspace, "U0ALICE")
    slack.click(question, "feedback_noise", user="U0ALICE", channel="D0ALICE")
    run_jobs()
    [redrawn] = questions(workspace, "U0ALICE")
    slack.click(redrawn, "feedback_note", user="U0ALICE", channel="D0ALICE")
    [form] = workspace.open_views("U0ALICE")
    slack.submit_view(form, "U0ALICE", {"note": {"text": "threshold <too> low"}})
    answers = history.read(runtime.redis, "payments", "feedback", EPOCH, FAR)
    assert answers[-1].fields["note"] == "threshold <too> low"
    assert answers[-1].fields["answer"] == "noise"
    assert counts(runtime) == {"noise": 1}  # a note is not a second answer


def test_a_question_slack_could_not_take_arrives_once_after_a_two_minute_outage(
        app_server, run_jobs, run_scheduled, clock, workspace, runtime, monkeypatch) -> None:
    monkeypatch.setattr(runtime.sender, "max_attempts", 2)  # an outage fails fast
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    clock.advance(minutes=3)
    workspace.fail_next("chat.postMessage", status=503, count=10_000)  # Slack goes away
    post_am(app_server, fixture("alertmanager_resolved.json"))
    run_jobs()
    for _ in range(12):  # two minutes pass
        clock.advance(seconds=10)
        run_scheduled()
        run_jobs()
    assert questions(workspace, "U0ALICE") == []
    workspace.faults.clear()  # Slack is back
    for _ in range(60):
        clock.advance(seconds=10)
        run_scheduled()
        run_jobs()
    assert len(questions(workspace, "U0ALICE")) == 1
    # Only the small claim is kept for the 40 days, as the capacity figures count
    assert not list(runtime.redis.scan_iter("atbat:delivery:feedback:*"))
    assert list(runtime.redis.scan_iter("atbat:once:feedback-ask:*"))


def test_an_alert_resolved_before_anyone_was_paged_queues_no_question(
        app_server, run_jobs, clock, workspace, runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    post_am(app_server, fixture("alertmanager_resolved.json"))  # before its first page ran
    queued = [j for name in QUEUE_NAMES for j in runtime.queue(name).get_job_ids()]
    assert not [j for j in queued if j.startswith("feedback-ask-")]
    run_jobs()
    assert questions(workspace, "U0ALICE") == []



def test_who_may_have_been_paged(app_server, runtime) -> None:
    post_am(app_server, fixture("alertmanager_firing.json"))
    group = store_alerts.get_group(runtime.redis, firing_key())  # no step has run yet
    assert not feedback.may_have_paged(group)
    assert feedback.may_have_paged(replace(group, escalation_step=0))
    # a resume starts the steps again (escalation_step back to -1) after somebody was paged
    assert feedback.may_have_paged(replace(group, escalation_pass=1))


def test_an_alert_resolved_while_its_first_step_was_paging_still_asks(
        app_server, run_jobs, clock, workspace, runtime, monkeypatch) -> None:
    # The escalation job pages, then records the step: a resolve in between sees no step
    # notified, and the step is never recorded on a resolved group.
    from bot.services import alerts as alert_service
    notify = alert_service._notify

    def notify_then_resolve(*args, **kwargs):
        targets = notify(*args, **kwargs)
        post_am(app_server, fixture("alertmanager_resolved.json"))
        return targets

    monkeypatch.setattr(alert_service, "_notify", notify_then_resolve)
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    run_jobs()
    assert store.paged_people(runtime.redis, FeedbackTarget(firing_key(), 1))  # alice was paged
    [question] = questions(workspace, "U0ALICE")
    assert "PaymentsApiHighErrorRate" in text_of(question)


def test_an_alert_acknowledged_while_its_first_step_was_paging_asks_when_it_resolves(
        app_server, run_jobs, clock, workspace, runtime, monkeypatch) -> None:
    # Acknowledged before the step was recorded: the step stays unrecorded (an acknowledged
    # group takes no step), and the resolve later must still ask the person who was paged.
    from bot.domain.alerts import acknowledge
    from bot.services import alerts as alert_service
    notify = alert_service._notify

    def notify_then_ack(rt, team, group, *args, **kwargs):
        targets = notify(rt, team, group, *args, **kwargs)
        alert_service.transition(rt, group.key, lambda g: acknowledge(g, "U0ALICE", rt.now()))
        return targets

    monkeypatch.setattr(alert_service, "_notify", notify_then_ack)
    post_am(app_server, fixture("alertmanager_firing.json"))
    run_jobs()
    assert store_alerts.get_group(runtime.redis, firing_key()).escalation_step == -1
    clock.advance(minutes=3)
    post_am(app_server, fixture("alertmanager_resolved.json"))
    run_jobs()
    [question] = questions(workspace, "U0ALICE")
    assert "PaymentsApiHighErrorRate" in text_of(question)
