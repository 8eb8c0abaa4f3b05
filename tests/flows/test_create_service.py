"""The create-issue form and submit as services, over real HTTP to both simulators, with
every answer checked against Asana's spec (the HTTP surface is tested in test_create_e2e)."""

from __future__ import annotations

import threading

import pytest
from bridge_sandbox.asana import validator
from bridge_sandbox.asana.seed import ALICE, TASK_PLAIN, TASK_RICH, WORKSPACE

from bridge.models import ActionRun, AttachmentCopy, IssueLink
from bridge.services import create_issue
from bridge.services.context import Context
from bridge.services.create_issue import FormRejected, Urls

from .conftest import jira_state
from .helpers import authorize_user, instance_for, oauth1_instance, oauth2_instance

pytestmark = pytest.mark.e2e


def _urls(bridge):
    return Urls(on_change=f"{bridge.url}/asana/form/change",
                on_submit=f"{bridge.url}/asana/form/submit",
                typeahead=f"{bridge.url}/asana/typeahead/{{field}}")


def _caller(bridge, task=TASK_RICH):
    return Context(settings=bridge.app.config["BRIDGE"],
                   cache=bridge.app.extensions["bridge.cache"], workspace=WORKSPACE,
                   user=ALICE, task=task)


def _fields(form):
    return {f["id"]: f for f in form["metadata"]["fields"]}


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0", "10.3.0"])
def test_form_then_submit_creates_one_issue(bridge, jira_factory, version):
    jira = jira_factory(version)
    instance_for(bridge, jira, version)
    authorize_user(bridge, jira)
    urls = _urls(bridge)
    with bridge.app.app_context():
        caller = _caller(bridge)
        form = create_issue.build_form(caller, urls)
        validator.validate("form", form, strict=False)
        fields = _fields(form)
        assert "instance" not in fields  # one instance: no choice to make
        assert [o["id"] for o in fields["project"]["options"]] == ["EX", "SEC"]
        assert fields["summary"]["value"] == "Login fails on Safari"
        assert fields["description"]["value"].startswith("*Login fails on Safari 17* since")
        assert "# Open [the login page|https://www.example.com/login]" in \
            fields["description"]["value"]
        assert fields["copy_attachments"]["value"] == ["copy"]
        assert fields["copy_attachments"]["options"][0]["label"] == \
            "Copy the task's 5 files (12.7 MB) to Jira"
        assert "on_submit_callback" not in form["metadata"]  # no type chosen yet
        values = {f["id"]: f.get("value") for f in form["metadata"]["fields"]}
        values["project"] = "EX"
        changed = create_issue.build_form(caller, urls, values)
        validator.validate("form", changed, strict=False)
        types = _fields(changed)["issuetype"]["options"]
        assert [t["label"] for t in types] == ["Bug", "Task"]  # no sub-tasks
        values["issuetype"] = "1"
        ready = create_issue.build_form(caller, urls, values)
        assert ready["metadata"]["on_submit_callback"] == urls.on_submit
        values.pop("copy_attachments")
        answer = create_issue.submit(caller, urls, values)
        validator.validate("attached", answer)
        again = create_issue.submit(caller, urls, values)  # a second click
        assert again == answer
        link = IssueLink.get()
        assert answer == {"resource_name": f"{link.issue_key}: Login fails on Safari",
                          "resource_url": f"{jira.url}/browse/{link.issue_key}"}
        assert AttachmentCopy.select().count() == 0  # copy unchecked
    created = [i for i in jira_state(jira).issues.values() if i["summary"] ==
               "Login fails on Safari"]
    assert len(created) == 1
    assert created[0]["description"].startswith("*Login fails on Safari 17*")


def test_two_submits_at_once_create_one_issue(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    jira_state(jira).configure(latency=0.3)
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    urls = _urls(bridge)
    values = {"project": "EX", "issuetype": "3", "summary": "Twice", "description": "",
              "copy_attachments": ["copy"]}
    answers, errors = [], []

    def submit():
        try:
            with bridge.app.app_context():
                answers.append(create_issue.submit(_caller(bridge, TASK_PLAIN), urls, values))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(answers) == 2 and answers[0] == answers[1]
    assert sum(1 for i in jira_state(jira).issues.values() if i["summary"] == "Twice") == 1
    with bridge.app.app_context():
        assert ActionRun.select().count() == 1
        assert IssueLink.select().count() == 1
        assert AttachmentCopy.select().count() == 1  # export-profile.txt


def test_jira_validation_errors_come_back_on_their_fields(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    urls = _urls(bridge)
    values = {"project": "EX", "issuetype": "1", "summary": "x" * 256, "description": ""}
    with bridge.app.app_context():
        with pytest.raises(FormRejected) as rejected:
            create_issue.submit(_caller(bridge), urls, values)
        validator.validate("form", rejected.value.form)
        assert _fields(rejected.value.form)["summary"]["error"] == \
            "Jira takes at most 255 characters."
    assert not jira_state(jira).issues or all(
        i["summary"] != "x" * 256 for i in jira_state(jira).issues.values())


def test_long_notes_are_read_again_at_submit(bridge, jira_factory, asana):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    long_html = "<body>" + "\n".join(f"Line {i} of a long description." for i in range(400)) \
        + "</body>"
    asana.app.sim.tasks[TASK_PLAIN]["html_notes"] = long_html
    urls = _urls(bridge)
    with bridge.app.app_context():
        caller = _caller(bridge, TASK_PLAIN)
        form = create_issue.build_form(caller, urls)
        shown = _fields(form)["description"]["value"]
        assert len(shown) <= 3000 and shown.endswith(create_issue.LONG_NOTES_MARKER)
        values = {"project": "EX", "issuetype": "3", "summary": "Long",
                  "description": "Edited first line.\n" + shown.split("\n", 1)[1]}
        create_issue.submit(caller, urls, values)
    issue = next(i for i in jira_state(jira).issues.values() if i["summary"] == "Long")
    assert issue["description"].startswith("Edited first line.\nLine 1 of")
    assert issue["description"].endswith("Line 399 of a long description.")
    assert create_issue.LONG_NOTES_MARKER not in issue["description"]
