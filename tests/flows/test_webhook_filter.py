"""The webhook's JQL filter follows the projects with linked issues (services.webhook_filter):
a link in a project the filter leaves out queues one update, done by a worker with the
authorization the registration used when the bridge keeps it (an application link: the
admin's own OAuth 1.0a token), else shown on the webhook page with its one-click update.
Real HTTP between the bridge and the Jira simulator, which delivers to the bridge."""

from __future__ import annotations

import threading

import pytest
from bridge_sandbox.asana.seed import ALICE, TASK_PLAIN

from bridge import queue
from bridge.models import AsanaUser, AuditEvent, JiraCredential, JiraInstance, JiraWebhook
from bridge.services import credentials, links, webhook_filter, webhooks

from .conftest import jira_state
from .helpers import authorize_user, oauth1_instance, worker_context
from .test_webhook_consent import _setup_oauth2
from .test_widget_service import _status, _view

pytestmark = pytest.mark.e2e


@pytest.fixture
def sent(monkeypatch):
    """The filter updates sent to the queue (they are also really sent)."""
    out = []
    real = queue.enqueue

    def enqueue(name, *args, **kw):
        if name == webhook_filter.TASK:
            out.append(args)
        return real(name, *args, **kw)

    monkeypatch.setattr(queue, "enqueue", enqueue)
    return out


def _link(instance, key: str, task: str = TASK_PLAIN):
    issue = jira_state_of(instance).find_issue(key) or {"id": f"id-{key}"}
    made, _ = links.link(task_gid=task, instance=instance, issue_id=issue["id"],
                         issue_key=key, user=AsanaUser.get(AsanaUser.gid == ALICE))
    return made


_SIMS: dict = {}


def jira_state_of(instance):
    return _SIMS[instance.base_url]


def _oauth1_registered(bridge, jira):
    """An application link whose webhook the admin registered with their own OAuth 1.0a
    token (the page's *Create the webhook with my Jira authorization*), EX-1 linked."""
    _SIMS[jira.url] = jira_state(jira)
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira, user="admin", email="alice@example.com")
    with bridge.app.app_context():
        instance = JiraInstance.get_by_id(instance.id)
        _link(instance, "EX-1")
        cred = credentials.get_active(AsanaUser.get(AsanaUser.gid == ALICE), instance)
        webhooks.register_with_oauth1(instance, bridge.url, cred)
    return instance


def test_a_link_in_a_new_project_updates_the_filter_and_its_changes_reach_the_widget(
        bridge, jira_factory, sent):
    jira = jira_factory("8.20.0")
    sim = jira_state(jira)
    instance = _oauth1_registered(bridge, jira)
    hook, = sim.webhooks.values()
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX")'
    with bridge.app.app_context():
        assert not sent  # EX is in the filter: nothing to do
        _link(instance, "EX-2", task="1200000000000991")
        assert not sent
        # 100 links in SEC, a project the filter leaves out: one update, none done yet
        _link(instance, "SEC-1")
        for n in range(2, 101):
            _link(instance, f"SEC-{n}", task=f"12000000001{n:05d}")
        assert sent == [(instance.id,)]
        assert hook["filters"]["issue-related-events-section"] == 'project in ("EX")'
        assert not sim.webhook_updates  # not inside the user's request
        body = _view(bridge, instance, "SEC-1")
        assert _status(body) == ("Open", "blue")
        # the worker: two at once (a message sent twice), one PUT
        outcomes = []

        def work():
            with bridge.app.app_context():
                outcomes.append(webhook_filter.follow(worker_context(), instance.id))

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["current", "updated"]
    hook, = sim.webhooks.values()  # one webhook in Jira, updated in place
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX", "SEC")'
    assert sim.webhook_updates == [hook["id"]]
    assert hook["lastUpdatedUser"] == sim.users["admin"]["key"]
    with bridge.app.app_context():
        assert webhooks.uncovered_projects(instance) == []
        event = AuditEvent.get(AuditEvent.action == "jira.webhook_filter_updated")
        assert event.detail["via"] == "oauth1" and event.outcome == "ok"
        # a status change in SEC now reaches the bridge, and the next view shows it
        sim.update_issue("SEC-1", {"status": "In Progress"})
        sim.webhook_dispatcher.wait()
        assert sim.webhook_deliveries[-1]["status"] == 204
        assert _status(_view(bridge, instance, "SEC-1")) == ("In Progress", "yellow")
        assert len(sent) == 1  # and no update queued again


def test_a_lost_authorization_leaves_the_filter_behind_and_the_page_says_so(
        bridge, jira_factory, sent):
    from .test_admin_webhook import _connected

    jira = jira_factory("8.20.0")
    sim = jira_state(jira)
    _SIMS[jira.url] = sim
    browser, page = _connected(bridge, jira)
    authorize_user(bridge, jira, user="admin", email="alice@example.com")
    with bridge.app.app_context():
        instance = JiraInstance.get()
        _link(instance, "EX-1")
    done = browser.submit(browser.get(page.url), action="/webhook/mine")
    assert "Jira created the webhook" in done.text, done.text[:600]
    with bridge.app.app_context():
        JiraCredential.update(state="needs_reconnect").execute()  # revoked in Jira, say
        _link(instance, "SEC-1")
        assert sent == [(instance.id,)]
        assert webhook_filter.follow(worker_context(), instance.id) == "needs_admin"
        assert "no longer valid" in JiraWebhook.get().problem
        assert webhook_filter.sweep() == 0  # not sent again: an admin must act
    hook, = sim.webhooks.values()
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX")'
    behind = browser.get(page.url)
    assert 'id="webhook-uncovered"' in behind.text and "issues of SEC" in behind.text
    assert "no longer valid" in behind.text
    # the admin connects their Jira account again; one click updates the filter
    authorize_user(bridge, jira, user="admin", email="alice@example.com")
    behind = browser.get(page.url)
    assert 'id="update-filter"' in behind.text
    updated = browser.submit(behind, action="/webhook/mine")
    assert "Jira updated the webhook" in updated.text, updated.text[:600]
    assert 'id="webhook-uncovered"' not in updated.text
    assert "on the issues of <code>project in (&#34;EX&#34;, &#34;SEC&#34;)</code>" in \
        updated.text
    hook, = sim.webhooks.values()
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX", "SEC")'


def test_a_consent_registration_keeps_nothing_so_the_page_updates_it_in_one_step(
        bridge, jira_factory, sent):
    jira = jira_factory("10.3.19")
    sim = jira_state(jira)
    _SIMS[jira.url] = sim
    browser, page = _setup_oauth2(bridge, jira)
    with bridge.app.app_context():
        instance = JiraInstance.get()
        _link(instance, "EX-1")
    consent = browser.submit(browser.get(page.url), action="/webhook/consent")
    assert "Jira created the webhook" in browser.submit(consent, button="approve").text
    with bridge.app.app_context():
        _link(instance, "SEC-1")
        assert sent == []  # no kept authorization: nothing queued, nothing invented
        assert JiraWebhook.get().behind_since is not None
    behind = browser.get(page.url)
    assert "issues of SEC" in behind.text and "one-time admin consent" in behind.text
    assert "Authorize in Jira and update the filter" in behind.text
    consent = browser.submit(behind, action="/webhook/consent")
    done = browser.submit(consent, button="approve")
    assert "Jira updated the webhook" in done.text, done.text[:600]
    hook, = sim.webhooks.values()
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX", "SEC")'
    assert hook["secret"]  # the whole registration was sent again, its secret included
    assert sim.webhook_updates == [hook["id"]]
    assert not any(t.scope == "ADMIN" for t in sim.oauth2_tokens.values())  # revoked
    with bridge.app.app_context():
        assert JiraWebhook.get().behind_since is None


def test_a_webhook_whose_address_the_bridge_never_kept_is_found_in_jira_by_its_url(
        bridge, jira_factory, sent):
    """Registered by an older release (the migration knows its filter, not its address)
    or entered by hand: the update finds it in Jira's list by its URL and replaces it."""
    jira = jira_factory("8.20.0")
    sim = jira_state(jira)
    instance = _oauth1_registered(bridge, jira)
    with bridge.app.app_context():
        JiraWebhook.update(self_url=None).execute()  # as the migration from the audit log leaves it
        _link(instance, "SEC-1")
        assert sent == [(instance.id,)]
        assert webhook_filter.follow(worker_context(), instance.id) == "updated"
        assert JiraWebhook.get().self_url.startswith(jira.url)
    hook, = sim.webhooks.values()
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX", "SEC")'
    # entered by hand in Jira, then "Create the webhook" on the page: still one webhook
    sim.webhooks.clear()
    with bridge.app.app_context():
        JiraWebhook.delete().execute()
        values = webhooks.manual_values(instance, bridge.url)
    import requests

    by_hand = requests.post(f"{jira.url}/rest/webhooks/1.0/webhook", auth=("admin", "admin"),
                            json={"name": "typed by an admin", "url": values["url"],
                                  "events": ["jira:issue_updated"]}, timeout=5).json()
    with bridge.app.app_context():
        assert webhooks.register(instance, bridge.url, "admin", "admin") is True  # updated
    hook, = sim.webhooks.values()
    assert hook["name"] == values["name"] and hook["events"] == values["events"]
    assert by_hand["self"].endswith(f"/{hook['id']}")


def test_a_webhook_deleted_in_jira_is_not_made_again_behind_the_admins_back(
        bridge, jira_factory, sent):
    jira = jira_factory("8.20.0")
    sim = jira_state(jira)
    instance = _oauth1_registered(bridge, jira)
    sim.webhooks.clear()  # an admin deleted it in Jira
    with bridge.app.app_context():
        _link(instance, "SEC-1")
        assert webhook_filter.follow(worker_context(), instance.id) == "failed"
        assert "no longer in Jira" in JiraWebhook.get().problem
        assert AuditEvent.get(AuditEvent.action == "jira.webhook_filter_updated").outcome \
            == "failed"
    assert not sim.webhooks
