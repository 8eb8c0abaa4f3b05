"""The admin pages in a real browser (Chromium via Playwright), as a Jira admin clicks
through them: Connect to Asana with an application link (OAuth 1.0a, Jira before 8.22),
``/setup`` for an incoming OAuth 2.0 link (8.22+) with a wrong client secret and then the
right one, and the first admin claiming the bridge with the setup token. No page is a dead
end (issue 16.11): a failed check shows the link values again with its reason said once,
the OAuth 2.0 form comes back filled in, and a connected Jira shows its state (link,
webhook registered when and how) instead of offering new link values.

Every bridge page on the way passes ``check_page`` (axe-core, 1280 and 375 px, keyboard
focus) and leaves screenshots in ``test-results/screenshots/``.
"""

from __future__ import annotations

import re

import pytest
from bridge_sandbox.asana.seed import WORKSPACE

from bridge.models import BridgeAdmin, JiraInstance

from .chromium import needs_chromium
from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET, jira_state
from .pagecheck import check_page, screenshot

pytestmark = [pytest.mark.e2e, needs_chromium]


def _sign_in_with_asana(page, email="alice@example.com", password="alice-password"):
    page.wait_for_selector("text=wants to access your Asana account")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[value=allow]")


def _jira_login(page, user="admin"):
    page.wait_for_selector("#login-form")
    page.fill("#login-form-username", user)
    page.fill("#login-form-password", user)
    page.click("#login-form-submit")


def _connect_oauth2_and_open_webhook_page(page, bridge, jira):
    """An admin connects ``jira`` through an incoming link with the Admin permission on
    /setup, then follows the page's lead to the webhook page (shared by the webhook
    tests of both registration paths)."""
    client = jira_state(jira).add_oauth2_client("Asana bridge",
                                                f"{bridge.url}/oauth/jira2/callback",
                                                scope="ADMIN")
    page.goto(f"{bridge.url}/setup")
    _sign_in_with_asana(page)
    page.wait_for_selector("text=Connect Jira with OAuth 2.0")
    page.select_option("select[name=workspace]", WORKSPACE)
    page.fill("input[name=jira]", jira.url)
    page.fill("input[name=client_id]", client.client_id)
    page.fill("input[name=client_secret]", client.client_secret)
    page.click("text=Save and authorize")
    _jira_login(page)
    page.click("#approve")
    page.wait_for_selector("text=Jira is connected")
    page.click("text=Next: the Jira webhook that keeps widgets fresh")
    page.wait_for_selector("text=Keep widgets fresh: the Jira webhook")


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0"])
def test_connect_to_asana_with_an_application_link(browser_page, bridge, jira_factory,
                                                   version):
    page = browser_page
    jira = jira_factory(version)
    page.goto(f"{bridge.url}/jira/connect?jira={jira.url}")  # the plugin's button
    _sign_in_with_asana(page)
    page.wait_for_selector("text=Check this Jira")
    check_page(page, f"admin-oauth1-{version}-1-check")
    page.click("text=Check this Jira")
    page.wait_for_selector(f"text=runs Jira {version}")
    check_page(page, f"admin-oauth1-{version}-2-workspace")
    page.select_option("select[name=workspace]", WORKSPACE)
    page.click("text=Create application link values")
    page.wait_for_selector("text=Create the application link in Jira")
    check_page(page, f"admin-oauth1-{version}-3-values")
    assert "BEGIN PUBLIC KEY" in page.inner_text("#v-public_key")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=bridge.url)
    page.click("button[aria-label='Copy Consumer Key']")
    page.wait_for_selector("button[aria-label='Copy Consumer Key'] >> text=Copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.inner_text("#v-consumer_key")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong")
    page.click("text=Create the link in Jira")
    page.wait_for_selector("text=refused those credentials")
    check_page(page, f"admin-oauth1-{version}-4-refused")
    page.go_back()
    page.wait_for_selector("text=Create the application link in Jira")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin")
    page.click("text=Create the link in Jira")
    page.wait_for_selector("text=Jira is connected")
    check_page(page, f"admin-oauth1-{version}-5-connected")
    assert "Jira accepted a request signed by the bridge" in page.inner_text("main")
    page.click("text=Next: the Jira webhook that keeps widgets fresh")
    page.wait_for_selector("text=Keep widgets fresh")
    check_page(page, f"admin-oauth1-{version}-6-webhook")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin")
    page.click("text=Create the webhook in Jira")
    page.wait_for_selector("text=Jira created the webhook")
    check_page(page, f"admin-oauth1-{version}-7-webhook-created")
    with bridge.app.app_context():
        instance = JiraInstance.get()
        assert (instance.auth_mode, instance.version) == ("oauth1", version)
        assert instance.verified_at is not None
        assert instance.consumer_key in jira_state(jira).consumers
    _connected_jira_shows_its_state(page, bridge, jira, "application link (OAuth 1.0a)",
                                    f"admin-oauth1-{version}")


def _connected_jira_shows_its_state(page, bridge, jira, link_kind, name):
    """Issue 16.11: a connected Jira says so, with what is set up, and leads on; it does
    not offer to create its link values again."""
    page.goto(f"{bridge.url}/jira/instances/1/webhook")  # a fresh GET, not the POST answer
    status = page.inner_text("#webhook-status")
    assert "registered" in status and "not registered" not in status
    assert "by alice@example.com" in status and "as Jira user admin" in status
    assert "jira:issue_updated, jira:issue_deleted" in status
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", status), status
    check_page(page, f"{name}-8-webhook-registered")

    page.goto(f"{bridge.url}/jira/connect?jira={jira.url}")  # the plugin's button again
    state = page.inner_text("#connected")
    assert jira.url in state and "Example Org" in state and link_kind in state
    assert "webhook registered" in state
    check_page(page, f"{name}-9-connected-overview")
    page.click("text=Check this Jira")
    page.wait_for_selector("text=is already connected")
    assert page.locator("text=Create application link values").count() == 0
    assert page.locator("button:has-text('Save and authorize')").count() == 0
    check_page(page, f"{name}-10-already-connected")
    page.click("#connected >> text=Webhook")
    page.wait_for_selector("#webhook-status >> text=registered")


def test_checking_the_link_before_it_exists_shows_the_values_again(browser_page, bridge,
                                                                   jira_factory):
    """Issue 16.11: "I created the link: check it" before the link exists used to end on a
    page that said "with the values above" twice, with no values and no way on."""
    page = browser_page
    jira = jira_factory("8.20.0")
    page.goto(f"{bridge.url}/jira/connect?jira={jira.url}")
    _sign_in_with_asana(page)
    page.click("text=Check this Jira")
    page.select_option("select[name=workspace]", WORKSPACE)
    page.click("text=Create application link values")
    page.wait_for_selector("text=Create the application link in Jira")
    key = page.inner_text("#v-consumer_key")
    pem = page.inner_text("#v-public_key")
    page.click("text=I created the link: check it")
    page.wait_for_selector(".flash.error")
    main = page.inner_text("main")
    assert main.count("does not know") == 1, main  # said once
    assert page.inner_text("#v-consumer_key") == key  # the values, shown again
    assert "BEGIN PUBLIC KEY" in page.inner_text("#v-public_key")
    assert page.locator("text=Create the link in Jira").count() == 1  # ways on
    check_page(page, "admin-oauth1-check-too-early")
    jira_state(jira).add_consumer(key, "Asana", pem)  # the admin creates it in Jira's UI
    page.click("text=I created the link: check it")
    page.wait_for_selector("text=Jira is connected")


@pytest.mark.parametrize("version", ["8.22.0", "10.3.0"])
def test_setup_oauth2_wrong_secret_then_the_right_one(browser_page, bridge, jira_factory,
                                                      version):
    page = browser_page
    jira = jira_factory(version)
    client = jira_state(jira).add_oauth2_client("Asana bridge",
                                                f"{bridge.url}/oauth/jira2/callback")
    page.goto(f"{bridge.url}/setup")
    _sign_in_with_asana(page)
    page.wait_for_selector("text=Connect Jira with OAuth 2.0")
    check_page(page, f"admin-oauth2-{version}-1-form")

    def submit(secret):
        page.select_option("select[name=workspace]", WORKSPACE)
        page.fill("input[name=jira]", jira.url)
        page.fill("input[name=client_id]", client.client_id)
        page.fill("input[name=client_secret]", secret)
        page.click("text=Save and authorize")

    submit("not-the-secret")
    _jira_login(page)
    page.click("#approve")
    page.wait_for_selector("text=rejected the OAuth 2.0 client id or client secret")
    check_page(page, f"admin-oauth2-{version}-2-wrong-secret")
    assert "not-the-secret" not in page.content()
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0
    # Issue 16.11: the form again, with what was entered (not the secret) and the
    # redirect URL, the error said once: only the secret is typed again.
    main = page.inner_text("main")
    assert main.count("rejected the OAuth 2.0 client id") == 1, main
    assert f"{bridge.url}/oauth/jira2/callback" in main
    assert page.input_value("input[name=jira]") == jira.url
    assert page.input_value("input[name=client_id]") == client.client_id
    assert page.input_value("input[name=client_secret]") == ""
    assert page.input_value("select[name=workspace]") == WORKSPACE

    page.fill("input[name=client_secret]", client.client_secret)
    page.click("text=Save and authorize")
    page.click("#approve")  # still signed in to Jira
    page.wait_for_selector("text=Jira is connected")
    check_page(page, f"admin-oauth2-{version}-3-connected")
    assert f"Jira {version}" in page.inner_text("main")
    page.click("text=Next: the Jira webhook that keeps widgets fresh")
    page.wait_for_selector("text=Keep widgets fresh")
    check_page(page, f"admin-oauth2-{version}-4-webhook")
    assert "not registered" in page.inner_text("#webhook-status")
    with bridge.app.app_context():
        instance = JiraInstance.get()
        assert (instance.auth_mode, instance.client_id) == ("oauth2", client.client_id)
    page.goto(f"{bridge.url}/setup")  # what is set up already, and the way on
    state = page.inner_text("#connected")
    assert jira.url in state and "incoming link (OAuth 2.0)" in state
    assert "no webhook yet" in state
    check_page(page, f"admin-oauth2-{version}-5-setup-again")


def test_first_admin_claims_the_bridge_in_the_browser(browser_page, make_app, bridge_server,
                                                      asana, jira_factory):
    from bridge.services.admins import ensure_setup_token

    app = make_app(PUBLIC_URL=bridge_server.url, ASANA_BASE_URL=asana.url,
                   ASANA_CLIENT_ID=ASANA_CLIENT_ID, ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET)
    bridge_server.app = app
    try:
        settings = app.config["BRIDGE"]
        with app.app_context():
            token = ensure_setup_token(settings.instance_path, settings.admins)
        jira = jira_factory("8.20.0")
        page = browser_page
        page.goto(f"{bridge_server.url}/jira/connect?jira={jira.url}")
        _sign_in_with_asana(page, "bob@example.com", "bob-password")
        page.wait_for_selector("text=Become the first administrator")
        check_page(page, "admin-claim-1-token")
        page.fill("input[name=setup_token]", "guess")
        page.click("text=Continue")
        page.wait_for_selector("text=not valid")
        screenshot(page, "admin-claim-2-wrong-token")
        page.fill("input[name=setup_token]", token)
        page.click("text=Continue")
        page.wait_for_selector("text=Check this Jira")
        with app.app_context():
            assert BridgeAdmin.get().email == "bob@example.com"
    finally:
        bridge_server.app = None
