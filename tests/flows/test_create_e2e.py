"""Creating issues end to end over real HTTP: the Asana simulator's App Components host →
the bridge → the Jira simulator, on 7.13 (old create metadata), 8.20 (OAuth 1.0a) and 10.3
(OAuth 2.0). Every answer is checked against Asana's spec by the host (``validate=True``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import (
    ALICE,
    ATTACHMENTS,
    BIG_ATTACHMENT,
    PROJECT,
    TASK_PLAIN,
    TASK_RICH,
    WORKSPACE,
    content_digest,
)

from bridge.models import ActionRun, AttachmentCopy, AuditEvent, IssueLink, JiraCredential
from bridge.services import attachments, create_issue

from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, instance_for, worker_context

pytestmark = pytest.mark.e2e
MB = 1024 * 1024
RICH_FILES = [a for a in ATTACHMENTS if a["parent"] == TASK_RICH]


def _host(bridge, **kw) -> AppComponentsHost:
    return AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET, retry_backoff=0.2, **kw)


def _connect(bridge, jira, version):
    instance_for(bridge, jira, version)
    authorize_user(bridge, jira)


def _values(form) -> dict:
    return {f["id"]: f.get("value") for f in form["metadata"]["fields"]
            if f["type"] != "static_text"}


def _fields(form) -> dict:
    return {f["id"]: f for f in form["metadata"]["fields"]}


def _fill(host, form, values, task=TASK_RICH):
    """Give every Jira field on the form a valid value, as a person would."""
    for f in form["metadata"]["fields"]:
        if not f["id"].startswith("jira.") or values.get(f["id"]):
            continue
        kind = f["type"]
        if kind == "dropdown":
            values[f["id"]] = f["options"][0]["id"]
        elif kind == "checkbox":
            values[f["id"]] = [f["options"][0]["id"]]
        elif kind == "typeahead":
            field = f["typeahead_url"].rsplit("/", 1)[1]
            found = host.typeahead(field, url=f["typeahead_url"], workspace=WORKSPACE,
                                   user=ALICE, task=task, query="a")
            assert found.status == 200, found.body
            values[f["id"]] = found.body["items"][0]
        elif kind == "date":
            values[f["id"]] = "2026-12-31T08:00:00.000Z"
        elif kind == "datetime":
            values[f["id"]] = "2026-12-31T14:48:00.000Z"
        elif f.get("placeholder") == "A number":
            values[f["id"]] = "42"
        else:
            values[f["id"]] = "text-value"
    return values


def _sha256(stored: dict) -> str:
    """Hash of an attachment the Jira simulator stored (on disk, or in memory)."""
    if "path" in stored:
        with open(stored["path"], "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    return hashlib.sha256(stored["data"]).hexdigest()


def _worker(bridge, asana, settings, log):
    env = {**os.environ, **{"BRIDGE_" + k: v for k, v in settings.items()},
           "BRIDGE_PUBLIC_URL": bridge.url, "BRIDGE_ASANA_BASE_URL": asana.url,
           "BRIDGE_ASANA_CLIENT_ID": ASANA_CLIENT_ID,
           "BRIDGE_ASANA_CLIENT_SECRET": ASANA_CLIENT_SECRET}
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    return subprocess.Popen([str(exe), "worker", "--threads", "2"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _wait(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0", "10.3.0"])
def test_create_from_a_task_with_five_files(bridge, jira_factory, asana, settings, tmp_path,
                                            version):
    jira = jira_factory(version)
    jira_state(jira).configure(upload_limit=64 * MB)
    _connect(bridge, jira, version)
    host = _host(bridge)
    opened = host.form_metadata(workspace=WORKSPACE, task=TASK_RICH, user=ALICE)
    assert opened.status == 200, opened.body
    fields = _fields(opened.body)
    assert fields["copy_attachments"]["options"][0]["label"] == \
        "Copy the task's 5 files (12.7 MB) to Jira"
    values = _values(opened.body)
    values["project"] = "EX"
    changed = host.form_change(workspace=WORKSPACE, task=TASK_RICH, user=ALICE,
                               values=values, changed_field="project",
                               url=opened.body["metadata"]["on_change_callback"])
    assert changed.status == 200, changed.body
    values = {**_values(changed.body), "issuetype": "1"}
    typed = host.form_change(workspace=WORKSPACE, task=TASK_RICH, user=ALICE, values=values,
                             changed_field="issuetype",
                             url=changed.body["metadata"]["on_change_callback"])
    assert typed.status == 200, typed.body
    submit_url = typed.body["metadata"]["on_submit_callback"]
    values = _fill(host, typed.body, {**_values(typed.body)})
    log = open(tmp_path / "worker.log", "w")
    worker = _worker(bridge, asana, settings, log)
    try:
        submitted = host.form_submit(workspace=WORKSPACE, task=TASK_RICH, user=ALICE,
                                     values=values, url=submit_url)
        assert submitted.status == 200, submitted.body
        key = submitted.body["resource_name"].split(":")[0]
        assert submitted.body["resource_url"] == f"{jira.url}/browse/{key}"
        again = host.form_submit(workspace=WORKSPACE, task=TASK_RICH, user=ALICE,
                                 values=values, url=submit_url)  # a second click
        assert again.body == submitted.body
        # the widget's footer follows the copy, then shows the usual footer
        footers = []

        def finished():
            widget = host.widget(workspace=WORKSPACE, task=TASK_RICH, user=ALICE,
                                 attachment="1", resource_url=submitted.body["resource_url"])
            assert widget.status == 200, widget.body
            footers.append(widget.body["metadata"]["footer"])
            with bridge.app.app_context():
                link = IssueLink.get()
                return attachments.progress_for(link)["finished"]

        _wait(finished, timeout=90, what="the copies")
    finally:
        _stop(worker)
    texts = [f.get("text", "") for f in footers if f["footer_type"] == "custom_text"]
    assert all(t.startswith("Copying ") and t.endswith(" of 5 attachments") for t in texts)
    last = host.widget(workspace=WORKSPACE, task=TASK_RICH, user=ALICE, attachment="1",
                       resource_url=submitted.body["resource_url"])
    assert last.body["metadata"]["footer"]["footer_type"] == "updated"
    st = jira_state(jira)
    issue = st.issues[key]
    # the issue links back to the task (issue 17 §5), made by the worker with Alice's token
    [back] = st.remote_links_of(key)
    assert back["globalId"] == f"asana-task={TASK_RICH}"
    assert back["object"]["title"] == "Login fails on Safari"
    assert issue["description"].startswith("*Login fails on Safari 17* since the last release.")
    assert "# Open [the login page|https://www.example.com/login]" in issue["description"]
    stored = [a for a in st.attachments.values() if a["issue"] == key]
    assert sorted(a["filename"] for a in stored) == sorted(a["name"] for a in RICH_FILES)
    big = next(a for a in stored if a["filename"] == "safari-trace.zip")
    assert _sha256(big) == content_digest(BIG_ATTACHMENT, 12 * MB + 345)
    assert sum(1 for i in st.issues.values() if i["summary"] == values["summary"]) == 1


def test_a_file_over_the_limit_is_reported_in_the_widget(bridge, jira_factory):
    jira = jira_factory("10.3.0")  # the simulator's default limit: 10 MB
    _connect(bridge, jira, "10.3.0")
    host = _host(bridge)
    values = {"project": "EX", "issuetype": "3", "summary": "Limits", "description": "",
              "copy_attachments": ["copy"]}
    submitted = host.form_submit(workspace=WORKSPACE, task=TASK_RICH, user=ALICE,
                                 values=values)
    assert submitted.status == 200, submitted.body
    with bridge.app.app_context():
        for row in AttachmentCopy.select():
            attachments.attempt(worker_context(), row.id, "test-worker")
    widget = host.widget(workspace=WORKSPACE, task=TASK_RICH, user=ALICE, attachment="1",
                         resource_url=submitted.body["resource_url"])
    assert widget.body["metadata"]["footer"] == {
        "footer_type": "custom_text",
        "text": "4 of 5 attachments copied; not copied: safari-trace.zip"}


def test_signature_expiry_and_reconnect(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    bad = AppComponentsHost(bridge.url, "not-the-secret")
    assert bad.form_metadata(workspace=WORKSPACE, task=TASK_RICH, user=ALICE).status == 400
    expired = _host(bridge, expires_in=-5)
    answer = expired.form_metadata(workspace=WORKSPACE, task=TASK_RICH, user=ALICE)
    assert answer.status == 400 and "expired" in answer.body["error"]
    with bridge.app.app_context():
        JiraCredential.update(state="needs_reconnect").execute()
    answer = _host(bridge).form_metadata(workspace=WORKSPACE, task=TASK_RICH, user=ALICE)
    assert answer.status == 401 and "Connect your Jira account" in answer.body["error"]
    assert answer.headers.get("X-Request-Id")


# -- rule actions ---------------------------------------------------------------------------


def _save_rule(bridge, asana, *, copy=True):
    sim = asana.app.sim
    sim.configure_components(ASANA_CLIENT_ID, bridge_url=bridge.url)
    draft = sim.new_rule_action(project=PROJECT, client_id=ASANA_CLIENT_ID)
    host = _host(bridge)
    common = {"workspace": WORKSPACE, "project": PROJECT, "user": ALICE,
              "action_type": draft["action_type"]}
    opened = host.rule_metadata(**common)
    assert opened.status == 200, opened.body
    values = {**_values(opened.body), "project": "EX"}
    values = {**_values(host.rule_change(**common, action=draft["action"], values=values,
                                         changed_field="project").body), "issuetype": "3"}
    typed = host.rule_change(**common, action=draft["action"], values=values,
                             changed_field="issuetype")
    assert typed.status == 200 and typed.body["metadata"].get("on_submit_callback")
    values = _values(typed.body)
    assert "jira.priority" in values  # optional fields can be fixed in a rule
    values["jira.priority"] = "2"
    if copy:
        values["copy_attachments"] = ["copy"]
    bad = host.rule_submit(**common, action=draft["action"], values={**values, "issuetype": ""},
                           rule_name="Send to Jira")
    assert bad.status == 400 and bad.body["template"] == "form_metadata_v0"
    saved = host.rule_submit(**common, action=draft["action"], values=values,
                             rule_name="Send to Jira")
    assert saved.status == 200, saved.body
    sim.save_rule(action=draft["action"], project=PROJECT, user=ALICE, values=values,
                  client_id=ASANA_CLIENT_ID)
    edit = host.rule_metadata(**common, action=draft["action"])
    assert _fields(edit.body)["project"]["value"] == "EX"  # the saved configuration
    return draft["action"]


def test_a_rule_creates_one_issue_through_retries_faults_and_a_killed_worker(
        bridge, jira_factory, asana, settings, tmp_path):
    jira = jira_factory("10.3.0")
    st = jira_state(jira)
    st.configure(upload_limit=64 * MB)
    _connect(bridge, jira, "10.3.0")
    action = _save_rule(bridge, asana)
    sim = asana.app.sim
    # Jira fails the first create: Asana's retry must not make a second issue
    st.add_fault("error", count=1, status=503, path_prefix="/rest/api/2/issue")
    log = open(tmp_path / "worker.log", "w")
    worker = _worker(bridge, asana, settings, log)
    key = "rule-run-1"
    try:
        st.configure(latency=0.3)
        first = sim.run_rule(action, TASK_RICH, deliveries=2, idempotency_key=key,
                             retry_backoff=0.2)
        st.configure(latency=0.0)
        # the worker dies in the middle of the 12 MB file
        st.configure(latency=3.0)
        _wait(lambda: _copying(bridge, BIG_ATTACHMENT), what="the big copy to start")
        time.sleep(0.5)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        st.configure(latency=0.0)
        later = [sim.run_rule(action, TASK_RICH, idempotency_key=key, retry_backoff=0.2)
                 for _ in range(3)]  # Asana retrying again and again
        worker = _worker(bridge, asana, settings, log)
        _wait(lambda: _all_copied(bridge), timeout=90, what="the copies after the restart")
    finally:
        _stop(worker)
    deliveries = [d for run in [first, *later] for d in run["deliveries"]]
    assert len(deliveries) == 5  # two at once, then three more
    assert sum(d["attempts"] for d in first["deliveries"]) >= 3  # the 503 was retried
    assert all(d["status"] == 200 for d in deliveries)
    assert len({d["body"]["resources_created"][0]["resource_url"] for d in deliveries}) == 1
    assert len(first["attached"] + [g for run in later for g in run["attached"]]) == 1
    created = [i for i in st.issues.values() if i["summary"] == "Login fails on Safari"]
    assert len(created) == 1
    assert created[0]["priority"] == "2"  # the rule's fixed value
    stored = [a for a in st.attachments.values() if a["issue"] == created[0]["key"]]
    assert sorted(a["filename"] for a in stored) == sorted(a["name"] for a in RICH_FILES)
    with bridge.app.app_context():
        assert IssueLink.select().count() == 1
        assert ActionRun.select().count() == 1
        big = AttachmentCopy.get(AttachmentCopy.asana_gid == BIG_ATTACHMENT)
        assert big.attempts >= 2


def test_a_rule_shares_the_files_the_create_form_would(bridge, jira_factory, asana,
                                                       monkeypatch):
    """Which of the task's attachments are files to copy is decided once
    (``create_issue.shareable``): what it leaves out, a rule run neither copies nor lists.
    Here a Jira issue link on the task (never a file) and, through the one decision, the
    task's empty file."""
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    action = _save_rule(bridge, asana)
    sim = asana.app.sim
    sim.add_external_attachment(parent=TASK_RICH, name="EX-1 elsewhere",
                                url=f"{jira.url}/browse/EX-1")
    real, seen = create_issue.shareable, []

    def shareable(ctx, files):
        seen.append(sorted(a.get("name") or "" for a in files))
        return [a for a in real(ctx, files) if a.get("name") != "empty.txt"]

    monkeypatch.setattr(create_issue, "shareable", shareable)
    ran = sim.run_rule(action, TASK_RICH, idempotency_key="shared-files", retry_backoff=0.2)
    assert ran["deliveries"][0]["status"] == 200, ran
    assert seen and "EX-1 elsewhere" in seen[0]
    with bridge.app.app_context():
        planned = sorted(c.name for c in AttachmentCopy.select())
    assert planned == sorted(a["name"] for a in RICH_FILES if a["name"] != "empty.txt")


def _copying(bridge, gid) -> bool:
    with bridge.app.app_context():
        row = AttachmentCopy.get_or_none(AttachmentCopy.asana_gid == gid)
        return row is not None and row.state == "copying"


def _all_copied(bridge) -> bool:
    with bridge.app.app_context():
        rows = list(AttachmentCopy.select())
        return len(rows) == 5 and all(r.state == "done" for r in rows)


def test_deleted_action_410_and_creator_must_reconnect(bridge, jira_factory, asana):
    jira = jira_factory("8.20.0")
    _connect(bridge, jira, "8.20.0")
    action = _save_rule(bridge, asana, copy=False)
    host = _host(bridge, retry_attempts=1)
    common = {"workspace": WORKSPACE, "project": PROJECT, "user": ALICE,
              "action_type": "1", "target_object": TASK_PLAIN}
    with bridge.app.app_context():
        JiraCredential.update(state="needs_reconnect").execute()
    resave = host.rule_submit(workspace=WORKSPACE, project=PROJECT, user=ALICE,
                              action_type="1", action=action,
                              values={"project": "EX", "issuetype": "3"})
    assert resave.status == 401  # saving needs the creator's usable credential
    with bridge.app.app_context():
        JiraCredential.update(state="active").execute()
    gone = host.rule_run(**common, action="999999", idempotency_key="k-gone")
    assert gone.status == 410
    with bridge.app.app_context():
        JiraCredential.update(state="needs_reconnect").execute()
    answer = host.rule_run(**common, action=action, idempotency_key="k-1")
    assert answer.status == 200
    assert answer.body["action_result"] == "ok"
    assert "must connect their Jira account again" in answer.body["error"]
    with bridge.app.app_context():
        assert AuditEvent.select().where(AuditEvent.action == "rule.creator_reconnect").count() \
            == 1
    assert not [i for i in jira_state(jira).issues.values()
                if i["summary"] == "Export to CSV is slow"]


# -- required fields of every supported kind (the simulator's SEC project) -------------------

SEC_TASK_FIELDS = {
    "jira.components": "checkbox", "jira.customfield_10200": "dropdown",
    "jira.customfield_10201": "checkbox", "jira.customfield_10203": "typeahead",
    "jira.customfield_10204": "date", "jira.customfield_10205": "single_line_text",
    "jira.customfield_10206": "single_line_text", "jira.customfield_10207": "single_line_text",
}


def _open_type(host, project, issuetype, task=TASK_PLAIN):
    opened = host.form_metadata(workspace=WORKSPACE, task=task, user=ALICE)
    assert opened.status == 200, opened.body
    values = {**_values(opened.body), "project": project}
    changed = host.form_change(workspace=WORKSPACE, task=task, user=ALICE, values=values,
                               changed_field="project")
    values = {**_values(changed.body), "issuetype": issuetype}
    typed = host.form_change(workspace=WORKSPACE, task=task, user=ALICE, values=values,
                             changed_field="issuetype")
    assert typed.status == 200, typed.body
    return typed.body


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0", "10.3.0"])
def test_required_fields_of_every_supported_kind(bridge, jira_factory, version):
    jira = jira_factory(version)
    _connect(bridge, jira, version)
    host = _host(bridge)
    form = _open_type(host, "SEC", "3")
    fields = _fields(form)
    assert {k: fields[k]["type"] for k in SEC_TASK_FIELDS if k in fields} == SEC_TASK_FIELDS
    assert all(fields[k].get("is_required") for k in SEC_TASK_FIELDS)
    values = _fill(host, form, {**_values(form), "jira.customfield_10205": "2.5",
                                "jira.customfield_10207": "backend urgent"},
                   task=TASK_PLAIN)
    values.pop("copy_attachments", None)
    submitted = host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                 values=values)
    assert submitted.status == 200, submitted.body
    key = submitted.body["resource_name"].split(":")[0]
    issue = jira_state(jira).issues[key]
    assert issue["project"] == "SEC" and issue["components"]
    custom = issue["custom"]
    assert set(custom) >= {f"customfield_1020{i}" for i in (0, 1, 3, 4, 5, 6, 7)}
    assert custom["customfield_10205"] == 2.5
    assert custom["customfield_10207"] == ["backend", "urgent"]
    assert custom["customfield_10204"] == "2026-12-31"


def test_a_jira_validation_error_shows_on_its_field(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    host = _host(bridge)
    form = _open_type(host, "SEC", "3")
    values = _fill(host, form, {**_values(form), "jira.customfield_10203":
                                {"title": "Nobody", "value": "nobody"}}, task=TASK_PLAIN)
    answer = host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, values=values)
    assert answer.status == 400, answer.body
    reviewer = _fields(answer.body)["jira.customfield_10203"]
    assert "nobody" in reviewer["error"]
    assert not [i for i in jira_state(jira).issues.values() if i["project"] == "SEC"
                and i["summary"] == "Export to CSV is slow"]


def test_a_required_field_of_an_unsupported_kind_is_named(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    form = _open_type(_host(bridge), "SEC", "10001")
    fields = _fields(form)
    assert fields["unsupported"]["name"] == "Region"
    assert "jira.customfield_10202" not in fields


@pytest.mark.parametrize("typed", ["inf", "NaN", "1e400", "-Infinity"])
def test_a_number_that_is_not_finite_is_refused_on_its_field(bridge, jira_factory, typed):
    # float() reads these; JSON has no such numbers, so the create request failed inside
    # requests (InvalidJSONError) and the user was told Jira could not be reached.
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    host = _host(bridge)
    form = _open_type(host, "SEC", "3")
    values = _fill(host, form, {**_values(form), "jira.customfield_10205": typed,
                                "jira.customfield_10207": "backend"}, task=TASK_PLAIN)
    values.pop("copy_attachments", None)
    before = len(jira_state(jira).issues)
    submitted = host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                 values=values)
    assert submitted.status == 400, submitted.body
    errors = {f["id"]: f.get("error") for f in submitted.body["metadata"]["fields"]}
    assert errors["jira.customfield_10205"] == "Enter a number."
    assert len(jira_state(jira).issues) == before
