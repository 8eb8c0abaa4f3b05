"""The lookup end to end over real HTTP: the Asana simulator's App Components host calls the
bridge, the bridge calls the Jira simulator with the user's own token (issue 8 §4).

Every answer, errors included, is validated by the host against Asana's spec (its
``validate`` is on, type dispatch included). Refusals are checked to change nothing: no
link, only an audit event that says what was refused.
"""

from __future__ import annotations

import json
import time

import pytest
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.seed import ALICE, BOB, TASK_EMPTY, TASK_LINKS, TASK_PLAIN, WORKSPACE

from bridge.models import AuditEvent, IssueLink

from .browser import Browser
from .conftest import ASANA_CLIENT_SECRET, asana_consent, jira_login, popup_message
from .helpers import authorize_user, instance_for, oauth1_instance, oauth2_instance

pytestmark = pytest.mark.e2e

OAUTH1 = ("7.13.0", "8.20.0")
OAUTH2 = ("8.22.0", "10.3.0")


def _connect(bridge, jira, version: str):
    return instance_for(bridge, jira, version)


def _host(bridge, **kw) -> AppComponentsHost:
    return AppComponentsHost(bridge.url, ASANA_CLIENT_SECRET, **kw)


def _sim(asana):
    return asana.app.sim


def _resources(asana, task: str) -> list[dict]:
    """The task's attachments that are resources attached through the app."""
    return [a for a in _sim(asana).attachments_of(task)
            if a["resource_subtype"] == "external" and "/browse/" in (a["url"] or "")]


def _links(bridge) -> list[IssueLink]:
    with bridge.app.app_context():
        return list(IssueLink.select().order_by(IssueLink.id))


def _refusals(bridge) -> list[str]:
    with bridge.app.app_context():
        return [e.outcome for e in AuditEvent.select().where(
            AuditEvent.action == "lookup.attach_refused").order_by(AuditEvent.id)]


def _attach(host, asana, task, query, user=ALICE, **kw):
    """Attach as Asana does: the call, then Asana attaching the returned resource."""
    result = host.lookup_attach(workspace=WORKSPACE, task=task, user=user, query=query, **kw)
    if result.status == 200:
        _sim(asana).attach_resource(task, result.body)
    return result


def _refused(result, status: int, words: str) -> None:
    assert result.status == status, (result.status, result.body)
    assert set(result.body) == {"error"} and words in result.body["error"], result.body
    assert result.headers.get("X-Request-Id")


@pytest.mark.parametrize("version", OAUTH1 + OAUTH2)
def test_link_by_url_by_key_and_by_search(bridge, asana, jira_factory, version):
    jira = jira_factory(version)
    _connect(bridge, jira, version)
    authorize_user(bridge, jira)
    host = _host(bridge)

    # Search by text: Jira's picker, then status; the chosen item's value is attachable.
    found = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_LINKS, user=ALICE,
                                  query="login page")
    assert found.status == 200, found.body
    [item] = [i for i in found.body["items"] if i["title"].startswith("EX-1 ")]
    assert item["title"] == "EX-1 Login page crashes on submit"
    assert item["subtitle"] == "Open" and item["value"] == f"{jira.url}/browse/EX-1"
    assert len(found.body["items"]) <= 50
    chosen = _attach(host, asana, TASK_LINKS, item["value"])
    assert chosen.status == 200
    assert chosen.body == {"resource_name": "EX-1 Login page crashes on submit",
                           "resource_url": f"{jira.url}/browse/EX-1"}

    # By key, typed in any case.
    by_key = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_EMPTY, user=ALICE,
                                   query="ex-2")
    assert [i["value"] for i in by_key.body["items"]] == [f"{jira.url}/browse/EX-2"]
    assert by_key.body["items"][0]["subtitle"] == "In Progress"
    assert _attach(host, asana, TASK_EMPTY, "ex-2").body["resource_url"] == \
        f"{jira.url}/browse/EX-2"

    # By pasted URL: board links, project views, query and fragment.
    for pasted in (f"{jira.url}/browse/EX-3?focusedCommentId=1#comment-1",
                   f"{jira.url}/projects/EX/issues/EX-3",
                   f"{jira.url}/secure/RapidBoard.jspa?rapidView=1&selectedIssue=EX-3"):
        typed = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                      query=pasted)
        assert [i["value"] for i in typed.body["items"]] == [f"{jira.url}/browse/EX-3"]
    by_url = _attach(host, asana, TASK_PLAIN, f"{jira.url}/projects/EX/issues/EX-3#x")
    assert by_url.body["resource_url"] == f"{jira.url}/browse/EX-3"

    links = _links(bridge)
    assert [(link.task_gid, link.issue_key) for link in links] == \
        [(TASK_LINKS, "EX-1"), (TASK_EMPTY, "EX-2"), (TASK_PLAIN, "EX-3")]
    assert all(link.linked_by.gid == ALICE and link.issue_id.isdigit() for link in links)
    with bridge.app.app_context():
        assert AuditEvent.select().where(AuditEvent.action == "lookup.linked").count() == 3
    # Asana now shows the resources on the tasks (and so, the widget).
    assert [a["url"] for a in _resources(asana, TASK_PLAIN)] == \
        [f"{jira.url}/browse/EX-3"]


@pytest.mark.parametrize("version", ["8.20.0", "10.3.0"])
def test_a_user_without_a_credential_is_sent_to_authenticate(bridge, asana, jira_factory,
                                                             version):
    jira = jira_factory(version)
    _connect(bridge, jira, version)
    authorize_user(bridge, jira)  # alice only
    host = _host(bridge)
    typed = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=BOB, query="EX-1")
    assert typed.status == 401 and typed.outcome == "auth_required"
    assert "Connect your Jira account" in typed.body["error"]
    attached = _attach(host, asana, TASK_PLAIN, f"{jira.url}/browse/EX-1", user=BOB)
    assert attached.status == 401 and attached.auth_url == f"{bridge.url}/asana/auth"
    assert _links(bridge) == [] and _refusals(bridge) == ["jira_not_connected"]
    # After the popup, the same call goes through.
    authorize_user(bridge, jira, user="bob", email="bob@example.com")
    assert _attach(host, asana, TASK_PLAIN, "EX-1", user=BOB).status == 200


def test_refusals_are_clear_and_change_nothing(bridge, asana, jira_factory):
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    authorize_user(bridge, jira)
    authorize_user(bridge, jira, user="bob", email="bob@example.com")
    host = _host(bridge)

    # Another host name, a Cloud site, another port of the same host: refused in
    # the typeahead (a header, no items) and on attach; none of them is ever fetched.
    for url, words in ((jira.url.replace("127.0.0.1", "localhost") + "/browse/EX-1",
                        "not a Jira connected to this Asana workspace"),
                       ("https://acme.atlassian.net/browse/EX-1", "Jira Cloud issue"),
                       ("http://127.0.0.1:9/browse/EX-1", "not a Jira connected")):
        typed = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                      query=url)
        assert typed.status == 200 and typed.body["items"] == []
        assert words in typed.body["header"]
        _refused(_attach(host, asana, TASK_PLAIN, url), 400, words)

    # An issue Bob's Jira account cannot see (SEC is for sec-team): same answer as none.
    for query in ("SEC-1", f"{jira.url}/browse/SEC-1", "EX-999"):
        _refused(_attach(host, asana, TASK_PLAIN, query, user=BOB), 404,
                 "cannot see it")
    hidden = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=BOB,
                                   query="rotate signing keys")
    assert hidden.status == 200 and hidden.body["items"] == []
    seen = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                 query="rotate signing keys")
    assert [i["title"] for i in seen.body["items"]] == ["SEC-1 Rotate the signing keys"]

    # Not a key nor a URL.
    _refused(_attach(host, asana, TASK_PLAIN, "login page"), 400, "Paste the URL of a Jira")

    # JQL metacharacters: the words are searched for, the query keeps its meaning.
    for text in ('zzz" OR key = "EX-2', "zzz) OR (project = EX", 'EX-1" OR summary ~ "*',
                 "zzz\\\" OR key = EX-2 --"):
        typed = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                      query=text)
        assert typed.status == 200, typed.body
        assert typed.body["items"] == [], text

    # Forged, altered and expired requests.
    forged = AppComponentsHost(bridge.url, "not-the-secret")
    _refused(forged.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query="EX-1"), 400, "signature does not match")
    altered = host.prepare("lookup_attach", workspace=WORKSPACE, task=TASK_PLAIN, user=BOB,
                           query="EX-2")
    altered.body = json.dumps({"data": altered.message.replace(BOB, ALICE)})
    _refused(host.send(altered), 400, "signature does not match")
    stale = _host(bridge, clock=lambda: time.time() - 300)
    _refused(stale.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                 query="EX-1"), 400, "expired")

    assert _links(bridge) == []
    assert _resources(asana, TASK_PLAIN) == []
    assert _refusals(bridge) == ["other_host", "jira_cloud_url", "other_host",
                                 "issue_not_visible", "issue_not_visible",
                                 "issue_not_visible", "not_an_issue"]


def test_the_issue_limit_counts_only_links_still_on_the_task(bridge, asana, jira_factory):
    jira = jira_factory("8.22.0")
    _connect(bridge, jira, "8.22.0")
    authorize_user(bridge, jira)
    host = _host(bridge)
    assert _attach(host, asana, TASK_PLAIN, "EX-1").status == 200
    # Attaching the same issue again is not a second link.
    assert _attach(host, asana, TASK_PLAIN, f"{jira.url}/browse/EX-1").status == 200
    assert len(_links(bridge)) == 1
    _refused(_attach(host, asana, TASK_PLAIN, "EX-2"), 400, "already has one Jira issue")
    assert [link.issue_key for link in _links(bridge)] == ["EX-1"]
    # The user removes the attachment in Asana: that link no longer counts.
    sim = _sim(asana)
    for attachment in _resources(asana, TASK_PLAIN):
        sim.remove_attachment(attachment["gid"])
    assert _attach(host, asana, TASK_PLAIN, "EX-2").status == 200
    assert [link.issue_key for link in _links(bridge)] == ["EX-2"]
    assert _refusals(bridge) == ["too_many_issues"]


def test_the_limit_is_a_setting(make_app, bridge, asana, jira_factory):
    from .conftest import ADMIN_EMAIL, ASANA_CLIENT_ID

    bridge.app = make_app(PUBLIC_URL=bridge.url, ASANA_BASE_URL=asana.url,
                          ASANA_CLIENT_ID=ASANA_CLIENT_ID,
                          ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET, ADMINS=ADMIN_EMAIL,
                          MAX_ISSUES_PER_TASK="2")
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    authorize_user(bridge, jira)
    host = _host(bridge)
    assert _attach(host, asana, TASK_PLAIN, "EX-1").status == 200
    assert _attach(host, asana, TASK_PLAIN, "EX-2").status == 200
    _refused(_attach(host, asana, TASK_PLAIN, "EX-3"), 400, "already has 2 Jira issues")


def _authorize_on(bridge, jira, instance, user="alice", email="alice@example.com"):
    browser = Browser()
    jira_login(browser, jira, user)
    page = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"), email=email)
    assert "Which Jira?" in page.text
    page = browser.get(f"{bridge.url}/asana/auth/jira/{instance.id}")
    assert popup_message(browser.submit(page, button="approve")) == "success"


def test_two_instances_side_by_side(bridge, asana, jira_factory):
    old, new = jira_factory("8.20.0"), jira_factory("10.3.0")
    first = oauth1_instance(bridge, old)
    second = oauth2_instance(bridge, new)
    host = _host(bridge)
    _authorize_on(bridge, new, second)
    # Connected to the second only: it answers alone (the first is not asked).
    typed = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query="EX-1")
    assert [i["value"] for i in typed.body["items"]] == [f"{new.url}/browse/EX-1"]
    assert typed.body["items"][0]["subtitle"].startswith("Open · ")
    _refused(_attach(host, asana, TASK_PLAIN, f"{old.url}/browse/EX-1"), 401,
             "Connect your Jira account")
    _authorize_on(bridge, old, first)
    typed = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query="EX-1")
    assert sorted(i["value"] for i in typed.body["items"]) == \
        sorted([f"{old.url}/browse/EX-1", f"{new.url}/browse/EX-1"])
    searched = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                     query="release notes")
    assert {i["value"] for i in searched.body["items"]} == \
        {f"{old.url}/browse/EX-2", f"{new.url}/browse/EX-2"}
    assert _attach(host, asana, TASK_PLAIN, f"{new.url}/browse/EX-1").status == 200
    assert _attach(host, asana, TASK_EMPTY, f"{old.url}/browse/EX-1").status == 200
    links = _links(bridge)
    assert [(link.task_gid, link.instance_id) for link in links] == \
        [(TASK_PLAIN, second.id), (TASK_EMPTY, first.id)]


def test_a_workspace_without_jira_says_so(bridge, asana):
    host = _host(bridge)
    typed = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query="EX-1")
    assert typed.status == 200 and typed.body["items"] == []
    assert "No Jira is connected" in typed.body["header"]
    _refused(_attach(host, asana, TASK_PLAIN, "EX-1"), 404, "No Jira is connected")
    assert _links(bridge) == [] and _refusals(bridge) == ["no_jira_connected"]


def test_the_asana_attachment_is_remembered(bridge, asana, jira_factory):
    jira = jira_factory("10.3.0")
    _connect(bridge, jira, "10.3.0")
    authorize_user(bridge, jira)
    host = _host(bridge)
    assert _attach(host, asana, TASK_PLAIN, "EX-1", attachment="1600000000000001").status == 200
    assert _attach(host, asana, TASK_PLAIN, "EX-1", attachment="1600000000000002").status == 200
    [link] = _links(bridge)
    assert link.attachment_gid == "1600000000000002"  # attached again: the newer one
