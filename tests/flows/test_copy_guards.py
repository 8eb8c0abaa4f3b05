"""What an Asana user controls in a file copy (issue 16 §7): the file's name reaches Jira
made safe, and Asana's download URL is fetched only from a public address or from the
configured Asana's own origin. Over real HTTP between the simulators and the bridge."""

from __future__ import annotations

import unicodedata

import pytest
from bridge_sandbox.liveserver import LiveServer
from flask import Flask

from bridge.asana import client as asana_client
from bridge.asana.errors import AsanaDownloadExpired, AsanaDownloadRefused
from bridge.models import AsanaUser, AttachmentCopy, IssueLink, JiraCredential
from bridge.services import attachments

from .conftest import ADMIN_EMAIL, ASANA_CLIENT_ID, ASANA_CLIENT_SECRET, jira_state
from .helpers import authorize_user, oauth2_instance, worker_context

pytestmark = pytest.mark.e2e
HOSTILE = ["a\x00b.txt", "esc\x1b[31mred.txt", "invoice\u202egpj.exe", "../../etc/passwd",
           "x" * 5000 + ".pdf", "..\\win.ini"]


def _task_with_files(asana, names):
    sim = asana.app.sim
    task = sim.add_task(name="Files with odd names")
    for i, name in enumerate(names):
        sim.add_upload(parent=task, name=name, content=f"content {i}".encode(),
                       content_type="text/plain")
    return task


def _linked(bridge, jira, task):
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        created = worker_context().jira_with(JiraCredential.get()).create_issue(
            {"project": {"key": "EX"}, "summary": "Copies", "issuetype": {"id": "1"}})
        return IssueLink.create(task_gid=task, instance=instance, issue_id=created["id"],
                                issue_key=created["key"], linked_by=AsanaUser.get())


def _copy_all(bridge, link):

    with bridge.app.app_context():
        files = worker_context().asana(link.linked_by) \
            .attachments(link.task_gid)
        attachments.plan(link, files)
        for row in list(AttachmentCopy.select().where(AttachmentCopy.state == "pending")):
            attachments.attempt(worker_context(), row.id, "test-worker")
        return list(AttachmentCopy.select().order_by(AttachmentCopy.position))


def test_file_names_reach_jira_printable_bounded_and_without_a_path(bridge, asana,
                                                                   jira_factory):
    jira = jira_factory("10.3.0")
    task = _task_with_files(asana, HOSTILE)
    link = _linked(bridge, jira, task)
    rows = _copy_all(bridge, link)
    assert [r.state for r in rows] == ["done"] * len(HOSTILE)
    stored = sorted(a["filename"] for a in jira_state(jira).attachments.values()
                    if a["issue"] == link.issue_key)
    assert len(stored) == len(HOSTILE)
    for name in stored:
        assert all(unicodedata.category(c)[0] != "C" for c in name), repr(name)
        assert "/" not in name and "\\" not in name and ".." not in name
        assert len(name) <= 180
    assert "invoicegpj.exe" in stored and "ab.txt" in stored
    assert any(n.endswith(".pdf") and len(n) == 180 for n in stored)


@pytest.fixture
def elsewhere():
    """A server on loopback that is not the configured Asana: it counts what reaches it."""
    app = Flask("elsewhere")
    hits = []

    @app.route("/<path:path>")
    def anything(path):
        hits.append(path)
        return "secret of the internal network"

    server = LiveServer(app).start()
    server.hits = hits
    yield server
    server.stop()


def test_a_download_url_on_another_loopback_or_private_host_is_never_fetched(asana,
                                                                             elsewhere):
    for url in (f"{elsewhere.url}/file", f"{elsewhere.url.replace('127.0.0.1', 'localhost')}"
                "/file", "http://10.0.0.1:9/file", "http://169.254.169.254/latest/meta-data"):
        with pytest.raises(AsanaDownloadRefused):
            asana_client.open_download(url, asana_base_url=asana.url, timeout=2)
    assert elsewhere.hits == []
    # The configured Asana's own origin (the simulator, on loopback) is asked: here it
    # answers 401, which the bridge reads as an expired link, not as a refused address.
    with pytest.raises(AsanaDownloadExpired):
        asana_client.open_download(f"{asana.url}/api/1.0/users/me", asana_base_url=asana.url,
                                   timeout=5)


def test_a_copy_whose_download_url_is_not_asanas_origin_fails_with_a_sentence(
        make_app, bridge, asana, jira_factory):
    jira = jira_factory("10.3.0")
    task = _task_with_files(asana, ["notes.txt"])
    link = _linked(bridge, jira, task)
    # The same bridge, configured with another spelling of Asana's host: the simulator's
    # download links (on 127.0.0.1) are then a third party's loopback URLs.
    bridge.app = make_app(PUBLIC_URL=bridge.url, ASANA_CLIENT_ID=ASANA_CLIENT_ID,
                          ASANA_BASE_URL=asana.url.replace("127.0.0.1", "localhost"),
                          ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET, ADMINS=ADMIN_EMAIL)
    rows = _copy_all(bridge, link)
    assert [r.state for r in rows] == ["failed"]
    assert rows[0].error == ("notes.txt was not copied: asana gave a download link to a "
                             "private or loopback address; the bridge does not fetch it.")
    assert not [a for a in jira_state(jira).attachments.values()
                if a["issue"] == link.issue_key]
