"""The admin registers the Jira webhook from the bridge's pages, or reads what to enter by
hand; Jira then reaches the bridge with it (real HTTP, Jira simulator)."""

from __future__ import annotations

import re
import time

import pytest
from bridge_sandbox.asana.seed import WORKSPACE

from bridge.models import AsanaUser, AuditEvent, IssueLink, JiraInstance

from .chromium import needs_chromium
from .conftest import jira_state
from .pagecheck import check_page
from .test_admin_connect import _connect_page

pytestmark = pytest.mark.e2e


def _connected(bridge, jira):
    browser, page = _connect_page(bridge, jira)
    values_page = browser.submit(page, workspace=WORKSPACE)
    done = browser.submit(values_page, action="/applink", username="admin", password="admin")
    assert "Jira is connected" in done.text
    assert "the Jira webhook that keeps widgets fresh" in done.text
    link = re.search(r'href="([^"]*/webhook)"', done.text).group(1)
    return browser, browser.get(f"{bridge.url}{link}" if link.startswith("/") else link)


def test_admin_lets_the_bridge_register_the_webhook(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser, page = _connected(bridge, jira)
    assert page.status_code == 200
    with bridge.app.app_context():  # an issue is linked already: the filter names EX
        IssueLink.create(task_gid="1200000000000997", instance=JiraInstance.get(),
                         issue_id="10000", issue_key="EX-1", linked_by=AsanaUser.get())
    page = browser.get(page.url)
    url = re.search(r'id="v-url">([^<]+)<', page.text).group(1)
    assert url.startswith(f"{bridge.url}/jira/webhook/")
    refused = browser.submit(page, username="admin", password="wrong-password")
    assert refused.status_code == 403 and "refused those credentials" in refused.text
    assert "wrong-password" not in refused.text
    assert not jira_state(jira).webhooks
    done = browser.submit(page, username="admin", password="admin")
    assert done.status_code == 200, done.text
    assert "Jira created the webhook" in done.text
    hook, = jira_state(jira).webhooks.values()
    assert hook["url"] == url
    assert hook["events"] == ["jira:issue_updated", "jira:issue_deleted"]
    assert hook["excludeBody"] is False
    # Jira delivers to it, and the bridge accepts the delivery.
    jira_state(jira).update_issue("EX-1", {"status": "In Progress"})
    jira_state(jira).webhook_dispatcher.wait()
    deadline = time.monotonic() + 5
    while not jira_state(jira).webhook_deliveries and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jira_state(jira).webhook_deliveries[-1]["status"] == 204
    with bridge.app.app_context():
        event = AuditEvent.get(AuditEvent.action == "jira.webhook_registered")
        assert event.detail["jira_admin"] == "admin"
        assert "admin" not in str(JiraInstance.get().webhook_secret)
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX")'
    # issues of another project linked since: the page says the filter leaves them out
    assert 'id="webhook-uncovered"' not in browser.get(page.url).text
    with bridge.app.app_context():
        IssueLink.create(task_gid="1200000000000998", instance=JiraInstance.get(),
                         issue_id="10100", issue_key="SEC-1",
                         linked_by=AsanaUser.get())
    again = browser.get(page.url)
    assert 'id="webhook-uncovered"' in again.text and "issues of SEC" in again.text
    assert 'project in (&#34;EX&#34;, &#34;SEC&#34;)' in again.text
    # registered with a password, which the bridge never keeps: the page says so, and
    # the form updates the webhook in place (one webhook in Jira, the new filter)
    assert "password, which the bridge never stores" in again.text
    assert "Update the webhook in Jira" in again.text
    updated = browser.submit(again, username="admin", password="admin")
    assert "Jira updated the webhook" in updated.text, updated.text[:600]
    assert 'id="webhook-uncovered"' not in updated.text
    hook, = jira_state(jira).webhooks.values()
    assert hook["filters"]["issue-related-events-section"] == 'project in ("EX", "SEC")'


def test_the_page_shows_what_to_enter_by_hand_and_is_admin_only(bridge, jira_factory):
    from .browser import Browser

    jira = jira_factory("10.3.0")
    browser, page = _connected(bridge, jira)
    for text in ("Create a WebHook", "Exclude body", "jira:issue_updated, jira:issue_deleted",
                 "Secret", "signs each delivery"):
        assert text in page.text
    with bridge.app.app_context():
        key = JiraInstance.get().webhook_signing_key
    assert key and f'id="v-secret">{key}<' in page.text
    again = browser.get(page.url)
    assert re.search(r'id="v-url">([^<]+)<', again.text).group(1) == \
        re.search(r'id="v-url">([^<]+)<', page.text).group(1)  # one token per instance
    stranger = Browser().get(page.url)
    assert "/jira/webhook/" not in stranger.text


@needs_chromium
def test_webhook_page_in_a_real_browser(browser_page, bridge, jira_factory):
    from .test_admin_browser import _connect_oauth2_and_open_webhook_page

    page = browser_page
    jira = jira_factory("10.3.0")
    _connect_oauth2_and_open_webhook_page(page, bridge, jira)
    check_page(page, "admin-webhook-1-values")
    assert "/jira/webhook/" in page.inner_text("#v-url")
    with bridge.app.app_context():  # an EX issue is linked: the filter names EX
        IssueLink.create(task_gid="1200000000000997", instance=JiraInstance.get(),
                         issue_id="10000", issue_key="EX-1", linked_by=AsanaUser.get())
    page.click("text=Authorize in Jira and create the webhook")  # no password (17.2)
    page.click("#approve")
    page.wait_for_selector("text=Jira created the webhook")
    check_page(page, "admin-webhook-2-registered")
    assert len(jira_state(jira).webhooks) == 1
    # an issue of a project the filter leaves out is linked: the one-click update
    with bridge.app.app_context():
        IssueLink.create(task_gid="1200000000000998", instance=JiraInstance.get(),
                         issue_id="10100", issue_key="SEC-1", linked_by=AsanaUser.get())
        webhook_page = f"{bridge.url}/jira/instances/{JiraInstance.get().id}/webhook"
    page.goto(webhook_page)  # (not a reload: the page came from the consent's callback)
    page.wait_for_selector("#webhook-uncovered")
    check_page(page, "admin-webhook-3-filter-behind")
    page.click("#update-filter")
    page.click("#approve")
    page.wait_for_selector("text=Jira updated the webhook")
    hook, = jira_state(jira).webhooks.values()
    assert "SEC" in hook["filters"]["issue-related-events-section"]
