"""A Jira admin connects Jira to Asana, over real HTTP: bridge ⇄ Asana simulator ⇄ Jira
simulator. OAuth 1.0a application links on 7.13 / 8.20 / 9.12, OAuth 2.0 incoming links
on 8.22 / 9.12 / 10.3 (ARCHITECTURE §1, issue 5)."""

from __future__ import annotations

import re

import pytest
from bridge_sandbox.asana.seed import WORKSPACE

from bridge.models import AsanaWorkspace, BridgeAdmin, JiraCredential, JiraInstance

from .browser import Browser
from .conftest import asana_consent, jira_login, jira_state

pytestmark = pytest.mark.e2e


def _connect_page(bridge, jira, email="alice@example.com"):
    """What the plugin's Connect to Asana button leads to: sign in, confirm the URL."""
    browser = Browser()
    first = browser.get(f"{bridge.url}/jira/connect", params={"jira": jira.url})
    page = asana_consent(browser, first, email=email)
    if page.status_code != 200 or "Check this Jira" not in page.text:
        return browser, page
    return browser, browser.submit(page)


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0", "9.12.0"])
def test_admin_connects_oauth1_link_through_applinks_rest(bridge, jira_factory, version):
    jira = jira_factory(version)
    browser, page = _connect_page(bridge, jira)
    assert page.status_code == 200
    assert f"runs Jira {version}" in page.text
    values_page = browser.submit(page, workspace=WORKSPACE)
    assert "Create the application link in Jira" in values_page.text
    consumer_key = re.search(r'id="v-consumer_key">([^<]+)<', values_page.text).group(1)
    assert "-----BEGIN PUBLIC KEY-----" in values_page.text
    assert "PRIVATE KEY" not in values_page.text

    done = browser.submit(values_page, action="/applink", username="admin", password="admin")
    assert done.status_code == 200, done.text
    assert "Jira is connected" in done.text
    assert "Jira accepted a request signed by the bridge" in done.text

    consumer = jira_state(jira).consumers[consumer_key]
    assert consumer.name == "Asana"
    assert consumer.callback == f"{bridge.url}/oauth/jira1/callback"
    with bridge.app.app_context():
        instance = JiraInstance.get()
        assert instance.base_url == jira.url
        assert instance.auth_mode == "oauth1"
        assert instance.version == version
        assert instance.verified_at is not None
        assert instance.workspace.gid == WORKSPACE
        assert consumer.public_key_pem.strip() == instance.public_key.strip()


def test_admin_enters_link_values_by_hand_then_confirms(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser, page = _connect_page(bridge, jira)
    values_page = browser.submit(page, workspace=WORKSPACE)
    key = re.search(r'id="v-consumer_key">([^<]+)<', values_page.text).group(1)
    pem = re.search(r'id="v-public_key">([^<]+)<', values_page.text).group(1)

    too_early = browser.get(f"{bridge.url}/jira/instances/1/confirm")
    assert too_early.status_code == 502
    assert too_early.text.count("does not know") == 1  # said once (issue 16.11)
    # ... on the page with the values and both ways on (create it, check again)
    assert re.search(r'id="v-consumer_key">([^<]+)<', too_early.text).group(1) == key
    assert "/jira/instances/1/applink" in too_early.text
    assert 'href="/jira/instances/1/confirm"' in too_early.text

    jira_state(jira).add_consumer(key, "Asana", pem)  # what the admin does in Jira's UI
    confirmed = browser.get(f"{bridge.url}/jira/instances/1/confirm")
    assert confirmed.status_code == 200 and "Jira is connected" in confirmed.text


def test_wrong_jira_admin_password_is_reported_and_not_stored(bridge, jira_factory, caplog):
    jira = jira_factory("8.20.0")
    browser, page = _connect_page(bridge, jira)
    values_page = browser.submit(page, workspace=WORKSPACE)
    refused = browser.submit(values_page, action="/applink", username="admin",
                             password="not-the-pw")
    assert refused.status_code == 403
    assert "refused those credentials" in refused.text
    assert "not-the-pw" not in refused.text
    assert not jira_state(jira).consumers


def test_connect_get_never_calls_out(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser = Browser()
    page = asana_consent(browser, browser.get(f"{bridge.url}/jira/connect",
                                              params={"jira": jira.url}))
    assert "Check this Jira" in page.text and jira.url in page.text
    assert not jira_state(jira).request_log  # only the CSRF-protected POST probes Jira


def test_cloud_url_is_refused_with_a_pointer(bridge):
    browser = Browser()
    first = browser.get(f"{bridge.url}/jira/connect",
                        params={"jira": "https://acme.atlassian.net/browse/X-1"})
    page = browser.submit(asana_consent(browser, first))
    assert page.status_code == 400
    assert "Jira Cloud integration" in page.text
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0


def test_unreachable_jira_is_reported(bridge):
    browser = Browser()
    first = browser.get(f"{bridge.url}/jira/connect", params={"jira": "http://127.0.0.1:9"})
    page = browser.submit(asana_consent(browser, first))
    assert page.status_code == 503
    assert "cannot be reached" in page.text


def test_asana_user_who_is_not_admin_is_refused(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser, page = _connect_page(bridge, jira, email="bob@example.com")
    assert page.status_code == 403
    assert "not an administrator" in page.text
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0


def test_csrf_token_is_required(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser, page = _connect_page(bridge, jira)
    forged = browser.session.post(f"{bridge.url}/jira/connect",
                                  data={"jira": jira.url, "workspace": WORKSPACE})
    assert forged.status_code == 400 and "form has expired" in forged.text
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0


def test_first_admin_claims_the_bridge_with_the_setup_token(make_app, bridge_server, asana,
                                                            jira_factory):
    from bridge.services.admins import ensure_setup_token

    from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET

    app = make_app(PUBLIC_URL=bridge_server.url, ASANA_BASE_URL=asana.url,
                   ASANA_CLIENT_ID=ASANA_CLIENT_ID, ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET)
    bridge_server.app = app
    settings = app.config["BRIDGE"]
    with app.app_context():
        token = ensure_setup_token(settings.instance_path, settings.admins)
        assert token and ensure_setup_token(settings.instance_path, settings.admins) == token
    jira = jira_factory("8.20.0")
    browser = Browser()
    page = asana_consent(browser, browser.get(f"{bridge_server.url}/jira/connect",
                                              params={"jira": jira.url}),
                         email="bob@example.com")
    assert "Become the first administrator" in page.text
    wrong = browser.submit(page, setup_token="guess")
    assert wrong.status_code == 403 and "not valid" in wrong.text
    page = browser.submit(browser.submit(wrong, setup_token=token))
    assert page.status_code == 200 and "runs Jira 8.20.0" in page.text
    with app.app_context():
        assert BridgeAdmin.get().email == "bob@example.com"
        assert ensure_setup_token(settings.instance_path, settings.admins) is None
    # The token is single-use: a second person cannot claim with it.
    other = Browser()
    first = other.get(f"{bridge_server.url}/jira/connect")
    refused = asana_consent(other, first, email="alice@example.com")
    assert refused.status_code == 403


def _setup(bridge, jira, client_id, client_secret, version_text=None):
    browser = Browser()
    first = browser.get(f"{bridge.url}/setup")
    page = asana_consent(browser, first)
    assert "Connect Jira with OAuth 2.0" in page.text
    jira_login(browser, jira, "admin")
    return browser, browser.submit(page, workspace=WORKSPACE, jira=jira.url,
                                   client_id=client_id, client_secret=client_secret)


@pytest.mark.parametrize("version", ["8.22.0", "9.12.0", "10.3.0"])
def test_admin_sets_up_oauth2_incoming_link(bridge, jira_factory, version):
    jira = jira_factory(version)
    client = jira_state(jira).add_oauth2_client("Asana bridge",
                                                f"{bridge.url}/oauth/jira2/callback")
    browser, consent = _setup(bridge, jira, client.client_id, client.client_secret)
    assert "would like to access your Jira account" in consent.text
    done = browser.submit(consent, button="approve")
    assert done.status_code == 200, done.text
    assert "Jira is connected" in done.text and f"Jira {version}" in done.text
    with bridge.app.app_context():
        instance = JiraInstance.get()
        assert (instance.auth_mode, instance.client_id) == ("oauth2", client.client_id)
        assert instance.client_secret == client.client_secret
        raw = bridge.app.extensions["bridge.db"].execute_sql(
            "SELECT client_secret FROM jira_instance").fetchone()[0]
        assert client.client_secret not in raw
        cred = JiraCredential.get()
        assert cred.jira_username == "admin" and cred.state == "active"
        assert AsanaWorkspace.get(AsanaWorkspace.gid == WORKSPACE).name == "Example Org"


def test_setup_reports_a_wrong_client_secret(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    client = jira_state(jira).add_oauth2_client("Asana bridge",
                                                f"{bridge.url}/oauth/jira2/callback")
    browser, consent = _setup(bridge, jira, client.client_id, "wrong-secret")
    result = browser.submit(consent, button="approve")
    assert result.status_code == 502
    assert "rejected the OAuth 2.0 client id or client secret" in result.text
    assert "wrong-secret" not in result.text
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0


def test_setup_refuses_jira_before_8_22(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser, page = _setup(bridge, jira, "cid", "secret")
    assert page.status_code == 400
    assert "has no OAuth 2.0 provider" in page.text


def test_sign_out_needs_a_post_with_csrf(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser, page = _connect_page(bridge, jira)
    assert browser.get(f"{bridge.url}/admin/signout").status_code == 405
    forged = browser.session.post(f"{bridge.url}/admin/signout")
    assert forged.status_code == 400
    from .browser import forms_of

    form = [f for f in forms_of(page.text) if f.action.endswith("/admin/signout")][0]
    out = browser.session.post(f"{bridge.url}/admin/signout", data=form.fields)
    assert out.status_code == 200 and "signed out" in out.text
    again = browser.get(f"{bridge.url}/jira/connect")
    assert "/-/oauth_authorize" in again.url  # back to signing in


def test_admin_failure_pages_lead_on(bridge, jira_factory):
    """Issue 16.11: no admin page is a dead end."""
    from .browser import forms_of

    jira = jira_factory("8.20.0")
    browser, page = _connect_page(bridge, jira)
    missing = browser.get(f"{bridge.url}/jira/instances/999/webhook")
    assert missing.status_code == 404 and "No such Jira instance" in missing.text
    assert 'href="/jira/connect"' in missing.text
    form = [f for f in forms_of(page.text) if f.action.endswith("/admin/signout")][0]
    out = browser.session.post(f"{bridge.url}/admin/signout", data=form.fields)
    assert 'href="/admin/signin"' in out.text
    other = Browser()
    denied = asana_consent(other, other.get(f"{bridge.url}/jira/connect"), allow=False)
    assert "did not allow access to Asana" in denied.text
    assert 'href="/admin/signin"' in denied.text


def test_a_jira_connected_with_oauth2_offers_no_link_values(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    client = jira_state(jira).add_oauth2_client("Asana bridge",
                                                f"{bridge.url}/oauth/jira2/callback")
    browser, consent = _setup(bridge, jira, client.client_id, client.client_secret)
    assert "Jira is connected" in browser.submit(consent, button="approve").text
    check = browser.submit(browser.get(f"{bridge.url}/jira/connect",
                                       params={"jira": jira.url}))
    assert "This Jira is already connected" in check.text
    assert "incoming link (OAuth 2.0)" in check.text
    assert "Create application link values" not in check.text
    assert f'<option value="{WORKSPACE}"' not in check.text  # only the other workspace
