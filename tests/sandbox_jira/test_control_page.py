"""The status-change control (page and JSON) that the demo and the widget tests use."""

from __future__ import annotations

import re

import requests

from .test_webhooks_faults import receiver, register  # noqa: F401  (fixture)

ALICE = ("alice", "alice")


def test_page_lists_issues_with_selects(jira):
    page = requests.get(f"{jira.url}/_sim/issues")
    assert page.status_code == 200
    assert 'id="form-EX-1"' in page.text and "Save EX-1" in page.text
    assert re.search(r'name="status"[^>]*aria-label="Status of EX-1"', page.text)
    selected = re.search(r'aria-label="Status of EX-1">\s*(.*?)</select>', page.text, re.S)
    assert '<option value="1" selected>Open</option>' in selected.group(1)


def test_form_post_changes_the_issue_and_fires_the_webhook(jira, receiver):  # noqa: F811
    receiver.received.clear()
    register(jira, receiver.url + "/hook")
    resp = requests.post(f"{jira.url}/_sim/issues/EX-1",
                         data={"status": "3", "priority": "2", "assignee": ""})
    assert resp.status_code == 200 and "Changed EX-1" in resp.text
    jira.state.webhook_dispatcher.wait()
    [event] = receiver.received
    assert event["webhookEvent"] == "jira:issue_updated"
    assert {i["field"] for i in event["changelog"]["items"]} == {"status", "assignee"}
    f = requests.get(jira.rest("issue/EX-1"), auth=ALICE).json()["fields"]
    assert f["status"]["name"] == "In Progress" and f["assignee"] is None


def test_json_control_by_name_and_bad_values_change_nothing(jira, receiver):  # noqa: F811
    receiver.received.clear()
    register(jira, receiver.url + "/hook")
    bad = requests.post(f"{jira.url}/_sim/issues/EX-2",
                        json={"status": "Done", "priority": "Nope"})
    assert bad.status_code == 400
    assert requests.get(jira.rest("issue/EX-2"), auth=ALICE).json()["fields"]["status"][
        "name"] == "In Progress"
    form_bad = requests.post(f"{jira.url}/_sim/issues/EX-2", data={"assignee": "nobody"})
    assert form_bad.status_code == 400 and "unknown user" in form_bad.text
    assert requests.post(f"{jira.url}/_sim/issues/EX-99", json={"status": "Done"}
                         ).status_code == 404
    ok = requests.post(f"{jira.url}/_sim/issues/EX-2",
                       json={"status": "Done", "priority": "Highest", "actor": "alice"})
    assert ok.status_code == 200
    jira.state.webhook_dispatcher.wait()
    [event] = receiver.received
    assert event["user"]["name"] == "alice"
    assert event["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert event["issue"]["fields"]["resolution"]["name"] == "Done"
