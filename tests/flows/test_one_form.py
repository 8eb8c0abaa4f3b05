"""One form for the create form and the rule action (issue 18 §2): the copies had drifted
(the rule form did not pick a lone project, labels differed, Jira's general messages
landed on another field). Over real HTTP, answers checked against Asana's spec."""

from __future__ import annotations

import pytest
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, BOB, PROJECT, TASK_PLAIN, WORKSPACE

from .conftest import ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, oauth2_instance

pytestmark = pytest.mark.e2e


def _fields(answer) -> dict:
    return {f["id"]: f for f in answer.body["metadata"]["fields"]}


def _both_forms(host, asana, user, values=None):
    draft = asana.app.sim.new_rule_action(project=PROJECT)
    common = {"workspace": WORKSPACE, "project": PROJECT, "user": user,
              "action_type": draft["action_type"]}
    if values is None:
        return (host.form_metadata(workspace=WORKSPACE, task=TASK_PLAIN, user=user),
                host.rule_metadata(**common))
    return (host.form_change(workspace=WORKSPACE, task=TASK_PLAIN, user=user, values=values,
                             changed_field="project"),
            host.rule_change(**common, action=draft["action"], values=values,
                             changed_field="project"))


def test_a_lone_project_is_chosen_in_both_forms(bridge, asana, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira, user="bob", email="bob@example.com")  # EX only, no SEC
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    for answer in _both_forms(host, asana, BOB):
        assert answer.status == 200, answer.body
        fields = _fields(answer)
        assert [o["id"] for o in fields["project"]["options"]] == ["EX"]
        assert fields["project"]["value"] == "EX"
        assert [o["label"] for o in fields["issuetype"]["options"]] == ["Bug", "Task"]


def test_both_forms_name_their_common_fields_alike(bridge, asana, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    made, rule = _both_forms(host, asana, ALICE, {"project": "EX", "issuetype": "3"})
    assert made.status == rule.status == 200
    assert made.body["metadata"]["title"] == rule.body["metadata"]["title"]
    for name in ("project", "issuetype", "copy_attachments"):
        assert _fields(made)[name]["name"] == _fields(rule)[name]["name"], name


def test_jiras_general_messages_land_on_the_issue_type(bridge, asana, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    form = host.form_change(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                            values={"project": "EX", "issuetype": "3"},
                            changed_field="issuetype")
    values = {f["id"]: f.get("value") for f in form.body["metadata"]["fields"]
              if f["type"] != "static_text"}
    values.update(summary="Refused by Jira")
    jira_state(jira).add_fault("error", count=1, status=400, path_prefix="/rest/api/2/issue")
    answer = host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, values=values)
    assert answer.status == 400, answer.body
    fields = _fields(answer)
    assert "Simulated failure" in fields["issuetype"]["error"]
    assert "error" not in fields["summary"]
