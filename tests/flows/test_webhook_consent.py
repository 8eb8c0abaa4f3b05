"""No Jira admin password (issue 17.2): the webhook is registered with the admin's own
authorization. On an incoming link (8.22+) a one-time consent with scope ADMIN through the
same OAuth 2.0 link, used once and revoked; on an application link the admin's own OAuth
1.0a token. The password form is left only where neither can work, and says why. Real
HTTP, the Jira simulator (including 11.x with basic authentication off)."""

from __future__ import annotations

import re

import pytest
from bridge_sandbox.asana.seed import WORKSPACE

from bridge.jira import versions
from bridge.models import AuditEvent, JiraInstance
from bridge.services import webhooks

from .browser import Browser
from .chromium import needs_chromium
from .conftest import asana_consent, jira_login, jira_state
from .pagecheck import check_page

pytestmark = pytest.mark.e2e


def _setup_oauth2(bridge, jira, scope="ADMIN"):
    """The admin connects Jira on /setup (an incoming link whose Permission is ``scope``)
    and lands on the webhook page."""
    client = jira_state(jira).add_oauth2_client("Asana bridge",
                                                f"{bridge.url}/oauth/jira2/callback",
                                                scope=scope)
    browser = Browser()
    jira_login(browser, jira, "admin")
    form = asana_consent(browser, browser.get(f"{bridge.url}/setup"))
    consent = browser.submit(form, workspace=WORKSPACE, jira=jira.url,
                             client_id=client.client_id, client_secret=client.client_secret)
    done = browser.submit(consent, button="approve")
    assert "Jira is connected" in done.text, done.text[:600]
    link = re.search(r'href="([^"]*/webhook)"', done.text).group(1)
    return browser, browser.get(f"{bridge.url}{link}" if link.startswith("/") else link)


@pytest.mark.parametrize("version", ["9.12.0", "10.3.19", "11.1.0"])
def test_one_time_admin_consent_registers_and_is_revoked(bridge, jira_factory, version):
    jira = jira_factory(version)
    sim = jira_state(jira)
    browser, page = _setup_oauth2(bridge, jira)
    assert "input[name=password]" not in page.text and 'name="password"' not in page.text
    assert "Authorize in Jira and create the webhook" in page.text
    live_before = set(sim.oauth2_tokens)
    consent = browser.submit(page, action="/webhook/consent")
    assert "scope=ADMIN" in consent.url or "ADMIN" in consent.text
    done = browser.submit(consent, button="approve")
    assert done.status_code == 200, done.text[:600]
    assert "Jira created the webhook" in done.text
    hook, = sim.webhooks.values()
    assert hook["lastUpdatedUser"] == sim.users["admin"]["key"]
    assert bool(hook["secret"]) == versions.at_least(version, webhooks.SIGNING_FROM)
    # the ADMIN token was used once and revoked: no token beyond those before is alive
    assert set(sim.oauth2_tokens) <= live_before
    assert not any(t.scope == "ADMIN" for t in sim.oauth2_tokens.values())
    with bridge.app.app_context():
        event = AuditEvent.get(AuditEvent.action == "jira.webhook_registered")
        assert event.detail["via"] == "consent" and event.detail["jira_admin"] == "admin"
    # and Jira's deliveries reach the bridge
    sim.update_issue("EX-1", {"status": "In Progress"})
    sim.webhook_dispatcher.wait()
    assert sim.webhook_deliveries[-1]["status"] == 204


def test_a_link_without_admin_permission_gets_a_sentence(bridge, jira_factory):
    jira = jira_factory("10.3.19")
    browser, page = _setup_oauth2(bridge, jira, scope="WRITE")
    answer = browser.submit(page, action="/webhook/consent")
    assert "Permission is not Admin" in answer.text, answer.text[:600]
    assert not jira_state(jira).webhooks


def test_denying_the_consent_creates_nothing(bridge, jira_factory):
    jira = jira_factory("10.3.19")
    browser, page = _setup_oauth2(bridge, jira)
    consent = browser.submit(page, action="/webhook/consent")
    denied = browser.submit(consent, button="deny")
    assert "No webhook created" in denied.text
    assert not jira_state(jira).webhooks


def test_a_non_admin_consent_is_refused_with_a_sentence(bridge, jira_factory):
    jira = jira_factory("10.3.19")
    browser, page = _setup_oauth2(bridge, jira)
    # the admin's browser is signed in to Jira as bob, who is not a Jira administrator
    jira_login(browser, jira, "bob")
    consent = browser.submit(page, action="/webhook/consent")
    done = browser.submit(consent, button="approve")
    assert "must be a Jira administrator" in done.text, done.text[:600]
    assert not jira_state(jira).webhooks
    assert not any(t.scope == "ADMIN" for t in jira_state(jira).oauth2_tokens.values())


def test_application_link_path_uses_the_admins_own_token(bridge, jira_factory):
    from .helpers import authorize_user
    from .test_admin_webhook import _connected

    jira = jira_factory("8.20.0")
    browser, page = _connected(bridge, jira)
    # not authorized yet: the password form is the only way, and the page says why
    assert 'name="password"' in page.text
    assert "no one-time admin consent" in page.text
    authorize_user(bridge, jira, user="admin", email="alice@example.com")
    page = browser.get(page.url)
    assert 'name="password"' not in page.text
    assert "Create the webhook with my Jira authorization" in page.text
    done = browser.submit(page, action="/webhook/mine")
    assert "Jira created the webhook" in done.text, done.text[:600]
    hook, = jira_state(jira).webhooks.values()
    assert hook["lastUpdatedUser"] == jira_state(jira).users["admin"]["key"]
    with bridge.app.app_context():
        event = AuditEvent.get(AuditEvent.action == "jira.webhook_registered")
        assert event.detail["via"] == "consent"
        assert JiraInstance.get().webhook_secret


@needs_chromium
def test_consent_in_a_real_browser(browser_page, bridge, jira_factory):
    from .test_admin_browser import _connect_oauth2_and_open_webhook_page

    page = browser_page
    jira = jira_factory("11.1.0")
    _connect_oauth2_and_open_webhook_page(page, bridge, jira)
    check_page(page, "admin-webhook-consent-1")
    assert page.locator("input[name=password]").count() == 0
    page.click("text=Authorize in Jira and create the webhook")
    page.click("#approve")
    page.wait_for_selector("text=Jira created the webhook")
    check_page(page, "admin-webhook-consent-2-registered")
    assert len(jira_state(jira).webhooks) == 1
