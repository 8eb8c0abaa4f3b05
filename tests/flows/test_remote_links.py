"""Remote links back to the Asana task over real HTTP: bridge → Asana simulator (the
task's name and permalink) → Jira simulator (``remotelink``), with the linker's tokens
(issue 17 §5)."""

from __future__ import annotations

import datetime as dt

import pytest
from bridge_sandbox.asana.seed import TASK_PLAIN

from bridge.models import AsanaUser, AuditEvent, IssueLink, RemoteLink
from bridge.services import remote_links

from .conftest import jira_state
from .helpers import authorize_user, oauth2_instance, worker_context

pytestmark = pytest.mark.e2e


@pytest.fixture
def jira10(jira_factory):
    return jira_factory("10.3.0")


def _link(bridge, jira, key="EX-1") -> IssueLink:
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    issue = jira_state(jira).find_issue(key)
    with bridge.app.app_context():
        return IssueLink.create(task_gid=TASK_PLAIN, instance=instance, issue_id=issue["id"],
                                issue_key=key, linked_by=AsanaUser.get())


def _run(bridge) -> list:
    """What a worker does: every due row, once."""
    with bridge.app.app_context():
        return [remote_links.sync(worker_context(), row.id) for row in
                RemoteLink.select().where(RemoteLink.state == "pending")]


def _jira_links(jira, key="EX-1") -> list[dict]:
    return jira_state(jira).remote_links_of(key)


def test_linking_makes_one_remote_link_and_unlinking_removes_it(bridge, asana, jira10):
    link = _link(bridge, jira10)
    task = asana.app.sim.tasks[TASK_PLAIN]
    with bridge.app.app_context():
        remote_links.on_linked(link)
    assert _jira_links(jira10) == []  # queued, not made inside the request
    assert _run(bridge) == ["made"]
    [made] = _jira_links(jira10)
    assert made["globalId"] == f"asana-task={TASK_PLAIN}"
    assert made["object"]["title"] == task["name"]
    assert made["object"]["url"].endswith(f"/{TASK_PLAIN}")
    assert made["object"]["url"].startswith(asana.url)
    assert made["object"]["icon"] == {"url16x16": f"{bridge.url}/static/asana-task-16.svg",
                                      "title": "Asana task"}
    assert made["application"] == {"type": "com.asana", "name": "Asana"}
    # The icon is served by the bridge.
    import requests
    icon = requests.get(made["object"]["icon"]["url16x16"], timeout=5)
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg")
    # Linked again (a repeat, the task renamed): the same remote link, updated.
    asana.app.sim.tasks[TASK_PLAIN]["name"] = "Renamed task"
    with bridge.app.app_context():
        remote_links.on_linked(IssueLink.get_by_id(link.id))
    assert _run(bridge) == ["made"]
    [again] = _jira_links(jira10)
    assert again["id"] == made["id"] and again["object"]["title"] == "Renamed task"
    # Unlinked: the remote link goes, and so does the row.
    with bridge.app.app_context():
        remote_links.on_unlinked(IssueLink.get_by_id(link.id))
        IssueLink.get_by_id(link.id).delete_instance(recursive=True)
    assert _run(bridge) == [None]
    assert _jira_links(jira10) == []
    with bridge.app.app_context():
        assert RemoteLink.select().count() == 0
        assert [e.action for e in AuditEvent.select().where(
            AuditEvent.action.startswith("remote_link"))] == [
            "remote_link.made", "remote_link.made", "remote_link.removed"]


def test_without_link_permission_the_widget_footer_says_so(bridge, asana, jira10):
    from bridge_sandbox.asana.host import AppComponentsHost
    from bridge_sandbox.asana.seed import ALICE, WORKSPACE

    from .conftest import ASANA_CLIENT_SECRET

    jira_state(jira10).projects["EX"]["permissionScheme"]["LINK_ISSUES"] = [
        "group:jira-administrators"]
    link = _link(bridge, jira10)
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    url = f"{jira10.url}/browse/EX-1"
    before = host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, attachment="1",
                         resource_url=url)
    assert before.status == 200 and before.body["metadata"]["footer"]["footer_type"] == "updated"
    with bridge.app.app_context():
        remote_links.on_linked(link)
    assert _run(bridge) == ["refused"]
    assert _jira_links(jira10) == []
    with bridge.app.app_context():
        assert IssueLink.select().count() == 1  # the link in Asana stands
    after = host.widget(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, attachment="1",
                        resource_url=url)
    assert after.status == 200, after.body
    assert after.body["metadata"]["footer"]["footer_type"] == "custom_text"
    assert "did not let" in after.body["metadata"]["footer"]["text"]
    assert "link the issue back" in after.body["metadata"]["footer"]["text"]


def test_jira_down_is_retried_later_and_a_lost_message_is_sent_again(bridge, asana, jira10):
    link = _link(bridge, jira10)
    jira_state(jira10).add_fault("error", count=1, status=503,
                                 path_prefix="/rest/api/2/issue/")
    with bridge.app.app_context():
        remote_links.on_linked(link)
    assert _run(bridge) == ["pending"]  # Jira answered 503: to be tried again later
    assert _run(bridge) == [None]  # not due yet
    with bridge.app.app_context():
        row = RemoteLink.get()
        assert row.state == "pending" and row.attempts == 1
        assert row.next_attempt_at > row.updated_at
        # Time passes and the retry message is lost: the sweep sends it again.
        past = row.updated_at - dt.timedelta(minutes=10)
        RemoteLink.update(next_attempt_at=past, enqueued_at=past).execute()
        assert remote_links.sweep() == 1
    assert _run(bridge) == ["made"]
    assert len(_jira_links(jira10)) == 1


def test_the_lookup_attach_links_back_and_a_removed_attachment_unlinks(bridge, asana, jira10):
    """Through the App Components host: attach (services.links makes the link and asks
    for the back-link); the user removes the attachment in Asana, a later attach to the
    full task forgets that link, and its remote link goes too."""
    from bridge_sandbox.asana.host import AppComponentsHost
    from bridge_sandbox.asana.seed import ALICE, WORKSPACE

    from .conftest import ASANA_CLIENT_SECRET

    oauth2_instance(bridge, jira10)
    authorize_user(bridge, jira10)
    host = AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET)
    sim = asana.app.sim
    first = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, query="EX-1")
    assert first.status == 200, first.body
    sim.attach_resource(TASK_PLAIN, first.body)
    assert _run(bridge) == ["made"]
    assert [link["globalId"] for link in _jira_links(jira10)] == [f"asana-task={TASK_PLAIN}"]
    for attachment in sim.attachments_of(TASK_PLAIN):
        if "/browse/EX-1" in (attachment["url"] or ""):
            sim.remove_attachment(attachment["gid"])
    with bridge.app.app_context():  # older than the time Asana takes to attach it
        IssueLink.update(created_at=dt.datetime(2020, 1, 1)).execute()
    second = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE, query="EX-2")
    assert second.status == 200, second.body
    assert sorted(_run(bridge), key=str) == [None, "made"]  # EX-1's removed, EX-2's made
    assert _jira_links(jira10, "EX-1") == []
    assert len(_jira_links(jira10, "EX-2")) == 1


def test_on_oauth1_jira_the_signed_post_and_delete_work(bridge, asana, jira_factory):
    """Jira 8.20 (OAuth 1.0a, RSA-SHA1): the remote link is made and removed as well."""
    from .helpers import oauth1_instance

    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    issue = jira_state(jira).find_issue("EX-2")
    with bridge.app.app_context():
        link = IssueLink.create(task_gid=TASK_PLAIN, instance=instance, issue_id=issue["id"],
                                issue_key="EX-2", linked_by=AsanaUser.get())
        remote_links.on_linked(link)
    assert _run(bridge) == ["made"]
    assert [x["globalId"] for x in _jira_links(jira, "EX-2")] == [f"asana-task={TASK_PLAIN}"]
    with bridge.app.app_context():
        remote_links.on_unlinked(link)
    assert _run(bridge) == [None]
    assert _jira_links(jira, "EX-2") == []
