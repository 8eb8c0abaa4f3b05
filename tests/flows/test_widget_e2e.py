"""``GET /asana/widget`` end to end: the Asana simulator's App Components host signs the
requests and validates every answer against Asana's spec; the Jira simulators answer over
real HTTP; a status change in Jira reaches the widget through the webhook; two bridge
nodes on one database see a webhook that only one of them received."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import peewee
import pytest
import requests
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, BOB, TASK_PLAIN, WORKSPACE

from bridge.models import IssueLink, JiraInstance
from bridge.services import webhooks

from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, instance_for, oauth1_instance, oauth2_instance

pytestmark = pytest.mark.e2e
ATTACHMENT = "1500000000000042"


def _connected(bridge, jira, version: str) -> JiraInstance:
    """Instance, Alice authorized, EX-1 attached to the task by Alice through the lookup
    (by URL), webhook registered with a Jira administrator's password (used once)."""
    instance = instance_for(bridge, jira, version)
    authorize_user(bridge, jira)
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    attached = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query=f"{jira.url}/browse/ex-1?focusedCommentId=1",
                                  attachment=ATTACHMENT)
    assert attached.status == 200, attached.body
    assert attached.body["resource_url"] == f"{instance.base_url}/browse/EX-1"
    with bridge.app.app_context():
        link = IssueLink.get()
        assert (link.task_gid, link.issue_key, link.linked_by.gid) == (TASK_PLAIN, "EX-1",
                                                                       ALICE)
        instance = JiraInstance.get_by_id(instance.id)
        webhooks.register(instance, bridge.url, "admin", "admin")
    return instance


def _widget(host: AppComponentsHost, instance: JiraInstance, key: str = "EX-1",
            user: str = ALICE):
    return host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=user, attachment=ATTACHMENT,
                       resource_url=f"{instance.base_url}/browse/{key}")


def _fields(body: dict) -> dict:
    return {f["name"]: f for f in body["metadata"]["fields"]}


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0", "8.22.0", "10.3.0"])
def test_widget_shows_the_issue_and_a_status_change_within_a_second(bridge, jira_factory,
                                                                    version):
    jira = jira_factory(version)
    instance = _connected(bridge, jira, version)
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    answer = _widget(host, instance)  # the host validates every answer against the spec
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-Request-Id"]
    fields = _fields(answer.body)
    assert answer.body["metadata"]["title"].startswith("EX-1 ")
    assert fields["Status"]["text"] == "Open" and fields["Status"]["color"] == "blue"
    assert fields["Priority"]["type"] == "text_with_icon" and fields["Priority"]["icon_url"]
    assert fields["Assignee"]["text"] and fields["Assignee"]["type"] == "text_with_icon"
    assert answer.body["metadata"]["footer"]["footer_type"] == "updated"
    assert _widget(host, instance).body == answer.body  # the cached answer is the same
    # Bob has no Jira credential: the widget still shows what Alice's token reads.
    assert _widget(host, instance, user=BOB).body == answer.body

    changed = time.monotonic()
    moved = requests.post(f"{jira.url}/_sim/issues/EX-1",
                          json={"status": "In Progress", "actor": "bob"}, timeout=5)
    assert moved.status_code == 200
    while _fields(_widget(host, instance).body)["Status"]["text"] != "In Progress":
        assert time.monotonic() - changed < 1.0, "the change did not show within 1 s"
        time.sleep(0.02)
    assert _fields(_widget(host, instance).body)["Status"]["color"] == "yellow"


def test_forged_altered_and_expired_requests_get_a_clear_error(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = _connected(bridge, jira, "8.20.0")
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    assert _widget(host, instance).status == 200  # now cached in this process
    forger = AppComponentsHost(bridge.url, "not-the-client-secret-0123456789")
    forged = _widget(forger, instance)
    assert forged.status == 400 and forged.body["error"]
    signed = host.prepare("widget", workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                          attachment=ATTACHMENT, resource_url=f"{instance.base_url}/browse/EX-1")
    altered = requests.get(signed.url.replace(f"user={ALICE}", f"user={BOB}"),
                           headers=signed.headers, timeout=5)
    assert altered.status_code == 400 and altered.json()["error"]
    late = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET, expires_in=-1)
    expired = _widget(late, instance)
    assert expired.status == 400 and "expired" in expired.body["error"]
    unsigned = requests.get(signed.url, timeout=5)
    assert unsigned.status_code == 400
    elsewhere = host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                            attachment=ATTACHMENT,
                            resource_url="https://jira.elsewhere.example/browse/EX-1")
    assert elsewhere.status == 404 and elsewhere.body["error"]


def test_the_cached_answer_has_the_full_answers_headers(bridge, jira_factory, asana):
    """The short path (``widget_cache``) answers before Flask: the browser on Asana's origin
    must get the same CORS and safety headers from it as from the full view."""
    jira = jira_factory("8.20.0")
    instance = _connected(bridge, jira, "8.20.0")
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)

    def headers():
        signed = host.prepare("widget", workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                              attachment=ATTACHMENT,
                              resource_url=f"{instance.base_url}/browse/EX-1")
        answer = requests.get(signed.url, headers={**signed.headers, "Origin": asana.url},
                              timeout=5)
        assert answer.status_code == 200, answer.text
        return {k: v for k, v in answer.headers.items()
                if k not in ("Date", "Server", "X-Request-Id", "Content-Length")}

    served, reads = headers(), _issue_reads(jira)
    assert served["Access-Control-Allow-Origin"] == asana.url
    cached = headers()
    assert _issue_reads(jira) == reads  # the second answer did not read Jira: memory
    assert cached == served


def _issue_reads(jira) -> int:
    return sum(1 for r in jira.app.extensions["jira_sim"].request_log
               if r["path"] == "/rest/api/2/issue/EX-1")


def test_a_viewer_without_a_credential_on_an_unlinked_task_is_sent_to_authenticate(
        bridge, jira_factory):
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    answer = _widget(host, instance, user=BOB)
    assert answer.status == 401 and answer.body["error"]
    assert answer.headers["X-Request-Id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def second_node(settings, asana, tmp_path):
    """Another bridge process (gunicorn) on the same database and secret key."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
           **{"BRIDGE_" + k: v for k, v in settings.items()},
           "BRIDGE_INSTANCE_PATH": str(tmp_path / "node-b"), "BRIDGE_PUBLIC_URL": url,
           "BRIDGE_ASANA_BASE_URL": asana.url, "BRIDGE_ASANA_CLIENT_ID": ASANA_CLIENT_ID,
           "BRIDGE_ASANA_CLIENT_SECRET": ASANA_CLIENT_SECRET, "BRIDGE_LOG_LEVEL": "warning"}
    log = tmp_path / "node-b.log"
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    with open(log, "w") as out:
        proc = subprocess.Popen([str(exe), "serve", "--workers", "1", "--no-migrate",
                                 "--bind", f"127.0.0.1:{port}"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"the second node did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_two_nodes_on_one_database_both_honour_a_webhook_one_received(
        bridge, jira_factory, second_node):
    jira = jira_factory("10.3.0")
    instance = _connected(bridge, jira, "10.3.0")  # Jira's webhook goes to this node only
    node_a = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    node_b = AppComponentsHost(second_node, ASANA_CLIENT_SECRET)
    first = _widget(node_b, instance)
    assert first.status == 200, first.body
    assert _fields(first.body)["Status"]["text"] == "Open"
    assert _widget(node_b, instance).body == first.body  # node B now serves from memory
    assert _widget(node_a, instance).body == first.body

    changed = time.monotonic()
    requests.post(f"{jira.url}/_sim/issues/EX-1", json={"status": "Done"}, timeout=5)
    while _fields(_widget(node_b, instance).body)["Status"]["text"] != "Done":
        assert time.monotonic() - changed < 1.0, "node B did not see node A's webhook"
        time.sleep(0.02)
    deliveries = [d for d in jira.app.extensions["jira_sim"].webhook_deliveries
                  if d["status"] is not None]
    assert deliveries and all(d["url"].startswith(bridge.url) for d in deliveries)
    assert _fields(_widget(node_a, instance).body)["Status"]["text"] == "Done"


def test_two_jira_instances_in_one_workspace_side_by_side(bridge, jira_factory):
    from bridge_sandbox.asana.seed import TASK_RICH

    from .browser import Browser
    from .conftest import asana_consent, jira_login, popup_message

    old, new = jira_factory("8.20.0"), jira_factory("10.3.0")
    first = oauth1_instance(bridge, old)
    authorize_user(bridge, old)
    second = oauth2_instance(bridge, new)
    browser = Browser()  # with two instances the popup asks which one
    jira_login(browser, new, "alice")
    assert "Which Jira?" in asana_consent(browser, browser.get(f"{bridge.url}/asana/auth")).text
    consent = browser.get(f"{bridge.url}/asana/auth/jira/{second.id}")
    assert popup_message(browser.submit(consent, button="approve")) == "success"
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    for task, jira, key in ((TASK_PLAIN, old, "EX-1"), (TASK_RICH, new, "EX-2")):
        attached = host.lookup_attach(workspace=WORKSPACE, task=task, user=ALICE,
                                      query=f"{jira.url}/browse/{key}")
        assert attached.status == 200, attached.body
    requests.post(f"{new.url}/_sim/issues/EX-2", json={"status": "Done"}, timeout=5)
    one = host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=BOB, attachment=ATTACHMENT,
                      resource_url=f"{first.base_url}/browse/EX-1")
    two = host.widget(workspace=WORKSPACE, task=TASK_RICH, user=BOB, attachment=ATTACHMENT,
                      resource_url=f"{second.base_url}/browse/EX-2")
    assert _fields(one.body)["Status"]["text"] == "Open"
    assert _fields(two.body)["Status"]["text"] == "Done"


@pytest.mark.parametrize("version", ["8.20.0", "10.3.0"])
def test_a_miss_costs_one_jira_call_and_two_sql_statements(make_app, bridge_server, asana,
                                                           jira_factory, version,
                                                           monkeypatch):
    """Issue 18.8: with every view asking Jira (``BRIDGE_WIDGET_MAX_AGE=0``), a widget
    view over HTTP makes one Jira call and two SQL statements: the link with its instance,
    snapshot and credentials in one read, and the snapshot's write. It opens each sealed
    secret it needs once, and is answered in front of Flask (its request set-up is a fifth
    of what a miss adds to Jira's answer)."""
    from .conftest import ADMIN_EMAIL

    bridge_server.app = make_app(PUBLIC_URL=bridge_server.url, ASANA_BASE_URL=asana.url,
                                 ASANA_CLIENT_ID=ASANA_CLIENT_ID,
                                 ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET,
                                 ADMINS=ADMIN_EMAIL, WIDGET_MAX_AGE="0")
    try:
        jira = jira_factory(version)
        instance = _connected(bridge_server, jira, version)
        host = AppComponentsHost(bridge_server.url, ASANA_CLIENT_SECRET)
        assert _widget(host, instance).status == 200  # the snapshot exists, maps are loaded
        db = bridge_server.app.extensions["bridge.db"]
        statements: list[str] = []
        db.query_hooks.append(lambda event: statements.append(event.sql))
        from bridge.asana import signing

        verified = []
        real_verify = signing.verify_get
        monkeypatch.setattr(signing, "verify_get",
                            lambda *a, **k: verified.append(1) or real_verify(*a, **k))
        import flask

        from bridge import sealing

        flask_requests = []  # Flask's request set-up, which a miss need not pay

        def started(sender, **extra):
            flask_requests.append(flask.request.path)

        flask.request_started.connect(started, bridge_server.app)
        opened: list[tuple[str, str]] = []
        sealer = sealing.current()
        real_open = sealer.open
        monkeypatch.setattr(sealer, "open",
                            lambda value, context: opened.append((context, value))
                            or real_open(value, context))
        log = jira_state(jira).request_log
        deliveries = jira_state(jira).webhook_deliveries
        for status in ("In Progress", "Done"):
            delivered = len(deliveries)
            requests.post(f"{jira.url}/_sim/issues/EX-1", json={"status": status},
                          timeout=5).raise_for_status()
            deadline = time.monotonic() + 5  # the webhook's own statements come first
            while len(deliveries) == delivered and time.monotonic() < deadline:
                time.sleep(0.02)
            statements.clear()
            verified.clear()
            opened.clear()
            flask_requests.clear()
            calls = len(log)
            answer = _widget(host, instance)
            assert answer.status == 200, answer.body
            assert _fields(answer.body)["Status"]["text"] == status
            assert len(log) == calls + 1, log[calls:]
            assert log[-1]["path"] == "/rest/api/2/issue/EX-1"
            assert len(statements) <= 2, "\n".join(s[:150] for s in statements)
            if isinstance(db, peewee.PostgresqlDatabase):
                # Prepared once per connection (PREPARE and its first EXECUTE in one round
                # trip): PostgreSQL plans the read and the write once, not on every miss.
                # (Which pooled connection a view gets is the pool's choice: a connection's
                # first miss prepares.)
                first_use = ("PREPARE bridge_widget_", "EXECUTE bridge_widget_")
                assert all(s.startswith(first_use) for s in statements), \
                    "\n".join(s[:150] for s in statements)
            else:
                assert statements[-1].lstrip().upper().startswith("UPDATE")
            assert len(verified) == 1  # in front of Flask, once
            assert flask_requests == []  # answered in front of Flask (widget_cache)
            # Each secret opened once: the viewer who linked the issue is one reader.
            assert len(opened) == len(set(opened)), [c for c, _ in opened]
            assert {c for c, _ in opened} <= {"jira_credential.token",
                                              "jira_credential.access_token",
                                              "jira_instance.private_key"}
        # A miss that fails is handed to the app, whose error mapping answers it (Asana's
        # shape), with the call verified once and nothing read twice.
        verified.clear()
        calls = len(log)
        other = host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                            attachment=ATTACHMENT,
                            resource_url="https://jira.elsewhere.example/browse/EX-1")
        assert other.status == 404 and set(other.body) == {"error"}, other.body
        assert other.headers["X-Request-Id"]
        assert flask_requests == ["/asana/widget"] and len(verified) == 1
        assert len(log) == calls
    finally:
        bridge_server.app = None


def test_a_miss_that_crashes_logs_no_token_it_read_jira_with(make_app, bridge_server, asana,
                                                             jira_factory, monkeypatch):
    """A miss is tried in front of Flask (``widget_cache``) and its failure answered by the
    app, whose first hook starts the request's redaction afresh: the token the read was
    made with stays redacted in what the failure logs."""
    import io
    import logging

    from bridge import logs
    from bridge.models import JiraCredential
    from bridge.services import widget

    from .conftest import ADMIN_EMAIL

    bridge_server.app = make_app(PUBLIC_URL=bridge_server.url, ASANA_BASE_URL=asana.url,
                                 ASANA_CLIENT_ID=ASANA_CLIENT_ID,
                                 ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET,
                                 ADMINS=ADMIN_EMAIL, WIDGET_MAX_AGE="0")
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        jira = jira_factory("10.3.0")
        instance = _connected(bridge_server, jira, "10.3.0")
        with bridge_server.app.app_context():
            token = JiraCredential.get().access_token

        def crash(issue, base_url=None):
            raise RuntimeError(f"could not summarize, read with {token}")

        monkeypatch.setattr(widget, "summarize", crash)
        logs.configure("info", "text")
        buffer = io.StringIO()
        next(h for h in root.handlers if h.get_name() == "bridge").setStream(buffer)
        host = AppComponentsHost(bridge_server.url, ASANA_CLIENT_SECRET)
        answer = _widget(host, instance)
        assert answer.status == 500 and set(answer.body) == {"error"}, answer.body
        bridge_server.wait_idle()
        out = buffer.getvalue()
        assert "could not summarize, read with" in out  # the crash is logged...
        assert token not in out  # ...without the token
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "bridge":
                root.removeHandler(handler)
        root.handlers[:], root.level = saved[0], saved[1]
        bridge_server.app = None
