"""Hostile text in every field Slack parses: nothing atbat sends can ping or forge a link.

Alert labels and annotations, incident titles, updates, notes and summaries carry
`<!channel>`, `<!here>`, a user-group and a user mention. Afterwards every Web API
call, response_url post and slash-command answer is searched, wherever Slack
parses text (fallback `text`, mrkdwn objects, topics).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import requests

from tests.conftest import ALERT_TOKEN, FIXTURES

BROADCASTS = ["<!channel>", "<!here>", "<!subteam^S0PAYONCALL>", "<https://evil.example|x>"]
# Alert text may not mention anyone either; a person typing a mention means it.
HOSTILE = [*BROADCASTS, "<@U0EVIL>"]
LOUD = " ".join(HOSTILE)
TYPED = " ".join(BROADCASTS) + " \x1b[31m\u202e"


def parsed_texts(value: Any, parent_type: str | None = None) -> Iterator[str]:
    """Every string Slack would parse for mentions and links in an API argument."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "[{":
            try:
                yield from parsed_texts(json.loads(stripped))
                return
            except ValueError:
                pass
        return
    if isinstance(value, list):
        for item in value:
            yield from parsed_texts(item, parent_type)
        return
    if not isinstance(value, dict):
        return
    kind = value.get("type")
    for key, item in value.items():
        if key in ("text", "topic", "purpose", "initial_comment") and isinstance(item, str):
            if kind != "plain_text":
                yield item
        else:
            yield from parsed_texts(item, kind)


def everything_sent(workspace, answers: list[dict[str, Any]]) -> list[str]:  # noqa: ANN001
    texts: list[str] = []
    for call in workspace.calls:
        texts.extend(parsed_texts(call.args))
    for post in workspace.responses:
        texts.extend(parsed_texts(post.payload))
    for answer in answers:
        texts.extend(parsed_texts(answer))
    return texts


def hostile_alert() -> dict[str, Any]:
    body = json.loads((FIXTURES / "alertmanager_firing.json").read_text())
    alert = body["alerts"][0]
    alert["labels"].update(alertname=f"{LOUD} DiskFull", owner=LOUD)
    alert["annotations"].update(summary=f"{LOUD} disk & <full>", description=f"{LOUD} &amp;")
    body["commonLabels"] = copy.deepcopy(alert["labels"])
    body["commonAnnotations"] = copy.deepcopy(alert["annotations"])
    body["groupLabels"] = {"alertname": alert["labels"]["alertname"], "team": "payments"}
    return body


def test_hostile_text_in_every_field_never_reaches_slack_raw(app_server, slack, runtime,  # noqa: ANN001
                                                             run_jobs, workspace) -> None:
    answers: list[dict[str, Any]] = []

    def slash(text: str, channel: str = "C0PAYMENTS") -> dict[str, Any]:
        answer = slack.slash(text, user="U0ALICE", channel=channel).json()
        answers.append(answer)
        run_jobs()
        return answer

    response = requests.post(f"{app_server.url}/alerts/alertmanager", data=json.dumps(
        hostile_alert()), headers={"Authorization": f"Bearer {ALERT_TOKEN}"}, timeout=10)
    assert response.status_code == 200
    run_jobs()
    [alert] = [m for m in workspace.messages("C0PAYMENTS") if m.get("blocks")]
    slack.click(alert, "alert_incident", user="U0ALICE", channel="C0PAYMENTS")
    run_jobs()
    slash(f"incident {TYPED} checkout down & out sev1")
    incident = [c for c in workspace.channels.values() if c.name.startswith("inc-")][-1]
    for command in (f"update {TYPED} still down", f"note {TYPED} noted",
                    f"resolve {TYPED} fixed"):
        slash(command, channel=incident.id)
    slash("alerts")
    slash("incidents")

    sent = everything_sent(workspace, answers)
    assert len(sent) > 30
    leaks = [t for t in sent if any(h in t for h in HOSTILE) or "\x1b" in t or "\u202e" in t]
    assert leaks == [], "\n".join(sorted({t[:150] for t in leaks}))
    topics = [c.topic for c in workspace.channels.values() if c.name.startswith("inc-")]
    assert topics and all(not any(h in t for h in HOSTILE) for t in topics)
    # The text is still there, shown escaped.
    assert any("&lt;!channel&gt;" in t for t in sent)
