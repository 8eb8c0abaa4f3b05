"""The per-task issue limit (``services.links``), attacked with concurrent requests over real
HTTP: in-process (threads) and on ``asana-jira-bridge serve --workers 2`` (gunicorn, two
processes), on SQLite and, with ``BRIDGE_TEST_DATABASE_URL``, PostgreSQL (issue 16 §2).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, PROJECT, TASK_PLAIN, WORKSPACE

from bridge.models import AuditEvent, IssueLink, LinkSlot

from .conftest import ADMIN_EMAIL, ASANA_CLIENT_ID, ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, oauth2_instance

pytestmark = pytest.mark.e2e
SUBMIT = {"project": "EX", "issuetype": "3", "description": ""}


def _ready(bridge, jira_factory, latency=0.3):
    jira = jira_factory("10.3.0")
    jira_state(jira).configure(latency=latency)
    oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    return jira


def _host(url) -> AppComponentsHost:
    return AppComponentsHost(url, ASANA_CLIENT_SECRET, retry_backoff=0.1, timeout=60)


def _at_once(n: int, fn) -> list:
    """``fn(i)`` in ``n`` threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # reported by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _new_issues(jira, prefix: str) -> list[dict]:
    return [i for i in jira_state(jira).issues.values()
            if str(i.get("summary", "")).startswith(prefix)]


def _links(bridge) -> list[IssueLink]:
    with bridge.app.app_context():
        return list(IssueLink.select().order_by(IssueLink.id))


def _twenty_submits(url, jira, prefix):
    host = _host(url)
    results = _at_once(20, lambda i: host.form_submit(
        workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
        values={**SUBMIT, "summary": f"{prefix} {i}"}))
    statuses = sorted(getattr(r, "status", repr(r)) for r in results)
    assert statuses == [200] + [400] * 19, statuses
    for refused in (r for r in results if r.status == 400):
        fields = {f["id"]: f for f in refused.body["metadata"]["fields"]}
        assert fields["task_full"]["name"] == "This task already has its Jira issue."
        assert "on_submit_callback" not in refused.body["metadata"]
    assert len(_new_issues(jira, prefix)) == 1


def _eight_attaches(url, jira):
    state = jira_state(jira)
    keys = [state.create_issue({"project": "EX", "issuetype": "3",
                                "summary": f"Attach target {i}"}, "alice")["key"]
            for i in range(8)]
    host = _host(url)
    results = _at_once(8, lambda i: host.lookup_attach(
        workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, query=keys[i]))
    statuses = sorted(getattr(r, "status", repr(r)) for r in results)
    assert statuses == [200] + [400] * 7, statuses


def test_twenty_submits_at_once_with_limit_one_make_one_issue(bridge, jira_factory):
    jira = _ready(bridge, jira_factory)
    _twenty_submits(bridge.url, jira, "Raced")
    links = _links(bridge)
    assert len(links) == 1 and links[0].task_gid == TASK_PLAIN
    with bridge.app.app_context():  # the slot is bound to the link, no claim left over
        assert [(s.slot, s.link_id) for s in LinkSlot.select()] == [(0, links[0].id)]


def test_eight_attaches_at_once_leave_one_link(bridge, asana, jira_factory):
    jira = _ready(bridge, jira_factory, latency=0.1)
    _eight_attaches(bridge.url, jira)
    assert len(_links(bridge)) == 1


def test_a_removed_attachment_frees_the_slot_for_the_form(bridge, asana, jira_factory):
    _ready(bridge, jira_factory, latency=0)
    host = _host(bridge.url)
    attached = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query="EX-2")
    assert attached.status == 200
    resource = asana.app.sim.attach_resource(TASK_PLAIN, attached.body)
    # The form says so when it opens: a notice, no submit button, nothing on Summary.
    opened = host.form_metadata(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE)
    assert opened.status == 200
    fields = {f["id"]: f for f in opened.body["metadata"]["fields"]}
    assert fields["task_full"]["name"] == "This task already has its Jira issue."
    assert "summary" not in fields and "on_submit_callback" not in opened.body["metadata"]
    # The user removes EX-2 from the task's attachments: the form is usable again.
    asana.app.sim.remove_attachment(resource["gid"])
    opened = host.form_metadata(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE)
    fields = {f["id"]: f for f in opened.body["metadata"]["fields"]}
    assert "task_full" not in fields and "summary" in fields
    made = host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                            values={**SUBMIT, "summary": "After removal"})
    assert made.status == 200, made.body
    assert [link.issue_key for link in _links(bridge)] == [made.body["resource_url"]
                                                           .rsplit("/", 1)[1]]
    with bridge.app.app_context():
        assert AuditEvent.select().where((AuditEvent.action == "link.removed")
                                         & (AuditEvent.target == "EX-2")).count() == 1


def test_a_fresh_link_not_yet_attached_in_asana_still_counts(bridge, asana, jira_factory):
    """Asana attaches the resource after the bridge answers: until then a link is not
    'removed', or a second request would drop it and link its own issue."""
    _ready(bridge, jira_factory, latency=0)
    host = _host(bridge.url)
    assert host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                              query="EX-1").status == 200
    refused = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                 query="EX-2")
    assert refused.status == 400 and "already has one Jira issue" in refused.body["error"]
    assert [link.issue_key for link in _links(bridge)] == ["EX-1"]


def _rule(host, asana):
    sim = asana.app.sim
    draft = sim.new_rule_action(project=PROJECT)
    common = {"workspace": WORKSPACE, "project": PROJECT, "user": ALICE,
              "action_type": draft["action_type"]}
    saved = host.rule_submit(**common, action=draft["action"],
                             values={"project": "EX", "issuetype": "3"}, rule_name="r")
    assert saved.status == 200, saved.body
    return common, draft["action"]


def test_rule_runs_keep_the_limit(bridge, asana, jira_factory):
    jira = _ready(bridge, jira_factory, latency=0.2)
    host = _host(bridge.url)
    common, action = _rule(host, asana)
    results = _at_once(2, lambda i: host.rule_run(**common, action=action,
                                                  target_object=TASK_PLAIN,
                                                  idempotency_key=f"run-{i}"))
    bodies = [r.body for r in results]
    made = [b for b in bodies if b.get("action_result") == "resources_created"]
    refused = [b for b in bodies if b.get("error")]
    assert len(made) == 1 and len(refused) == 1, bodies
    assert "already has one Jira issue" in refused[0]["error"]
    assert len(_links(bridge)) == 1
    assert sum(1 for i in jira_state(jira).issues.values()
               if i.get("summary") == "Export to CSV is slow") == 1


@pytest.mark.parametrize("then", ["rule", "form", "lookup"])
def test_an_issue_unlinked_right_after_linking_frees_its_slot(bridge, asana, jira_factory,
                                                              then):
    """The user links EX-1, Asana attaches it and shows its widget, the user removes it a
    few seconds later: the task has room again at once for every path, although the link
    is younger than ``links.FRESH`` (the widget request named its attachment)."""
    jira = _ready(bridge, jira_factory, latency=0)
    host = _host(bridge.url)
    common, action = _rule(host, asana)
    linked = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                query="EX-1")
    assert linked.status == 200, linked.body
    resource = asana.app.sim.attach_resource(TASK_PLAIN, linked.body)
    shown = host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                        attachment=resource["gid"], resource_url=resource["url"])
    assert shown.status == 200, shown.body
    asana.app.sim.remove_attachment(resource["gid"])
    if then == "rule":
        ran = host.rule_run(**common, action=action, target_object=TASK_PLAIN,
                            idempotency_key="after-unlink")
        assert ran.body.get("action_result") == "resources_created", ran.body
        key = ran.body["resources_created"][0]["resource_url"].rsplit("/", 1)[1]
    elif then == "form":
        made = host.form_submit(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                values={**SUBMIT, "summary": "After the unlink"})
        assert made.status == 200, made.body
        key = made.body["resource_url"].rsplit("/", 1)[1]
    else:
        made = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query="EX-2")
        assert made.status == 200, made.body
        key = "EX-2"
    assert [link.issue_key for link in _links(bridge)] == [key]
    with bridge.app.app_context():
        assert [s.link_id for s in LinkSlot.select()] == [_links(bridge)[0].id]
    assert jira_state(jira).find_issue(key) is not None


def test_a_run_that_failed_after_jira_keeps_its_slot_for_its_retry(bridge, asana,
                                                                   jira_factory,
                                                                   monkeypatch):
    """Run A makes its issue in Jira, then fails before linking it (500: Asana retries
    later). A fresh run B in between must not take the slot A's issue needs: B is
    refused, A's retry links its issue, and the task has one link."""
    from bridge.services import links

    jira = _ready(bridge, jira_factory, latency=0)
    host = _host(bridge.url)
    common, action = _rule(host, asana)
    real_link, failed = links.link, []

    def link_fails_once(**kw):
        if not failed:
            failed.append(kw["issue_key"])
            raise RuntimeError("the database went away")
        return real_link(**kw)

    monkeypatch.setattr(links, "link", link_fails_once)
    once = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET, retry_attempts=1, timeout=60)
    first = once.rule_run(**common, action=action, target_object=TASK_PLAIN,
                          idempotency_key="run-a")
    assert first.status == 500 and failed, first.body
    fresh = host.rule_run(**common, action=action, target_object=TASK_PLAIN,
                          idempotency_key="run-b")
    assert "already has one Jira issue" in fresh.body.get("error", ""), fresh.body
    retried = host.rule_run(**common, action=action, target_object=TASK_PLAIN,
                            idempotency_key="run-a")
    assert retried.body.get("action_result") == "resources_created", retried.body
    assert [link.issue_key for link in _links(bridge)] == failed
    assert len(_new_issues(jira, "Export to CSV")) == 1
    with bridge.app.app_context():
        assert [s.link_id for s in LinkSlot.select()] == [_links(bridge)[0].id]


def _failed_after_jira(bridge, jira, action: str, keys: list[str]) -> list[str]:
    """Runs recorded as a crashed process leaves them once its claim has expired: Jira
    made the issue (the ``created`` step), no link, no slot held."""
    from bridge.models import ActionRun, RuleAction

    made = []
    with bridge.app.app_context():
        rule = RuleAction.get(RuleAction.action_gid == action)
        for key in keys:
            issue = jira_state(jira).create_issue(
                {"project": "EX", "issuetype": "3", "summary": f"Resumed {key}"}, "alice")
            ActionRun.create(idempotency_key=f"rule:{action}:{key}", action=rule,
                             status="failed",
                             result={"steps": {"created": {"id": str(issue["id"]),
                                                           "key": issue["key"]}},
                                     "fingerprint": TASK_PLAIN})
            made.append(issue["key"])
    return made


def test_twenty_runs_resumed_and_fresh_at_once_keep_the_limit(bridge, asana, jira_factory):
    """Ten retries of runs whose issue Jira already made and ten fresh runs, released
    together: every one of them claims a slot, so one link results (on PostgreSQL too)."""
    jira = _ready(bridge, jira_factory, latency=0.2)
    host = _host(bridge.url)
    common, action = _rule(host, asana)
    resumed = [f"resumed-{i}" for i in range(10)]
    made = _failed_after_jira(bridge, jira, action, resumed)
    keys = resumed + [f"fresh-{i}" for i in range(10)]
    results = _at_once(20, lambda i: host.rule_run(**common, action=action,
                                                   target_object=TASK_PLAIN,
                                                   idempotency_key=keys[i]))
    bodies = [getattr(r, "body", repr(r)) for r in results]
    done = [b for b in bodies if b.get("action_result") == "resources_created"]
    assert len(done) == 1, bodies
    assert all("already has one Jira issue" in b.get("error", "") for b in bodies
               if b is not done[0]), bodies
    linked = [link.issue_key for link in _links(bridge)]
    assert len(linked) == 1
    assert done[0]["resources_created"][0]["resource_url"].endswith("/" + linked[0])
    with bridge.app.app_context():
        assert [s.link_id for s in LinkSlot.select()] == [_links(bridge)[0].id]
    # A resumed run that lost names the issue Jira has but the task does not link.
    for body, key in zip(bodies[:10], made, strict=True):
        if body is not done[0]:
            assert key in body["error"], body


# -- the same races on gunicorn with two worker processes ----------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(bridge, asana, settings, tmp_path):
    """``asana-jira-bridge serve --workers 2`` on the test's database and secrets."""
    port = _free_port()
    env = {**os.environ, **{"BRIDGE_" + k: v for k, v in settings.items()},
           "BRIDGE_PUBLIC_URL": bridge.url, "BRIDGE_ASANA_BASE_URL": asana.url,
           "BRIDGE_ASANA_CLIENT_ID": ASANA_CLIENT_ID,
           "BRIDGE_ASANA_CLIENT_SECRET": ASANA_CLIENT_SECRET, "BRIDGE_ADMINS": ADMIN_EMAIL}
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(exe), "serve", "--workers", "2", "--no-worker",
                                 "--bind", f"127.0.0.1:{port}"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/healthz", timeout=2)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
    yield url
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_twenty_submits_on_two_gunicorn_workers_make_one_issue(bridge, jira_factory, served):
    jira = _ready(bridge, jira_factory)
    _twenty_submits(served, jira, f"Served {uuid.uuid4().hex[:6]}")
    assert len(_links(bridge)) == 1


def test_eight_attaches_on_two_gunicorn_workers_leave_one_link(bridge, jira_factory, served):
    jira = _ready(bridge, jira_factory, latency=0.1)
    _eight_attaches(served, jira)
    assert len(_links(bridge)) == 1
