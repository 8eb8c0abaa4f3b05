"""An Asana user authorizes their own Jira account from the Authentication URL popup,
over real HTTP (asana-app-components.md §7.1; jira-server.md §1.8, §2.2)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from bridge_sandbox.asana.seed import SIDE_WORKSPACE

from bridge.models import AsanaUser, JiraCredential, PendingAuth

from .browser import Browser
from .conftest import asana_consent, jira_login, jira_state, popup_message
from .helpers import oauth1_instance, oauth2_instance

pytestmark = pytest.mark.e2e


def _to_jira(bridge, jira, user="alice", email="alice@example.com"):
    """Open the popup, sign in to Asana, and arrive at Jira's authorize/consent page."""
    browser = Browser()
    jira_login(browser, jira, user)
    first = browser.get(f"{bridge.url}/asana/auth")
    return browser, asana_consent(browser, first, email=email)


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0", "9.12.0"])
def test_popup_authorizes_jira_with_oauth1(bridge, jira_factory, version):
    jira = jira_factory(version)
    instance = oauth1_instance(bridge, jira)
    browser, page = _to_jira(bridge, jira)
    assert "would like to have read and write access" in page.text
    done = browser.submit(page, button="approve")
    assert popup_message(done) == "success"
    assert 'data-target-origin="http://127.0.0.1' in done.text  # the Asana (simulator) origin
    assert "Alice" in done.text
    with bridge.app.app_context():
        cred = JiraCredential.get()
        assert (cred.instance_id, cred.auth_mode, cred.state) == (instance.id, "oauth1", "active")
        assert cred.jira_username == "alice"
        assert cred.token in jira_state(jira).access_tokens
        raw = bridge.app.extensions["bridge.db"].execute_sql(
            "SELECT token FROM jira_credential").fetchone()[0]
        assert cred.token not in raw
        assert AsanaUser.get().email == "alice@example.com"
        assert PendingAuth.select().count() == 0  # every state was consumed


@pytest.mark.parametrize("version", ["8.22.0", "9.12.0", "10.3.0"])
def test_popup_authorizes_jira_with_oauth2(bridge, jira_factory, version):
    jira = jira_factory(version)
    oauth2_instance(bridge, jira)
    browser, page = _to_jira(bridge, jira, user="bob", email="bob@example.com")
    assert "would like to access your Jira account" in page.text
    done = browser.submit(page, button="approve")
    assert popup_message(done) == "success"
    with bridge.app.app_context():
        cred = JiraCredential.get()
        assert (cred.auth_mode, cred.jira_username) == ("oauth2", "bob")
        assert cred.refresh_token and cred.expires_at is not None


def test_oauth1_on_jira_9_12_for_admins_who_keep_application_links(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    oauth1_instance(bridge, jira)
    browser, page = _to_jira(bridge, jira)
    assert popup_message(browser.submit(page, button="approve")) == "success"


def test_deny_in_jira_posts_error(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    browser, page = _to_jira(bridge, jira)
    done = browser.submit(page, button="deny")
    assert popup_message(done) == "error"
    assert "did not allow access to Jira" in done.text
    with bridge.app.app_context():
        assert JiraCredential.select().count() == 0


def test_deny_in_jira_oauth2_posts_error(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    browser, page = _to_jira(bridge, jira)
    assert popup_message(browser.submit(page, button="deny")) == "error"


def test_deny_in_asana_posts_error(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    browser = Browser()
    first = browser.get(f"{bridge.url}/asana/auth")
    done = asana_consent(browser, first, allow=False)
    assert popup_message(done) == "error"
    assert "did not allow access to Asana" in done.text


def test_request_token_expired_before_approval(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    browser, page = _to_jira(bridge, jira)
    token = page.url.split("oauth_token=")[1]
    approved = browser.session.post(page.url.split("?")[0],
                                    data={"oauth_token": token, "approve": "Allow"},
                                    allow_redirects=False)
    assert approved.status_code == 302
    jira_state(jira).advance(11 * 60)  # request tokens live 10 minutes (§1.4)
    done = browser.get(approved.headers["Location"])
    assert popup_message(done) == "error"
    assert done.status_code == 400
    assert "took too long" in done.text
    with bridge.app.app_context():
        assert JiraCredential.select().count() == 0


def test_no_jira_for_the_workspace(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira, workspace="9999")  # not a workspace of the user's
    browser = Browser()
    done = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"))
    assert popup_message(done) == "error"
    assert "No Jira is connected to your Asana workspace" in done.text


def test_several_instances_let_the_user_choose(bridge, jira_factory):
    first_jira, second_jira = jira_factory("8.20.0"), jira_factory("10.3.0")
    oauth1_instance(bridge, first_jira)
    second = oauth2_instance(bridge, second_jira, workspace=SIDE_WORKSPACE)
    browser = Browser()
    jira_login(browser, second_jira, "alice")
    page = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"))
    assert "Which Jira?" in page.text
    # An instance that exists but was not offered to this user cannot be forced.
    elsewhere = oauth1_instance(bridge, jira_factory("9.12.0"), workspace="9999")
    assert browser.get(f"{bridge.url}/asana/auth/jira/{elsewhere.id}").status_code == 422
    consent = browser.get(f"{bridge.url}/asana/auth/jira/{second.id}")
    assert popup_message(browser.submit(consent, button="approve")) == "success"


def test_reused_or_unknown_state_answers_422(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    browser = Browser()
    first = browser.get(f"{bridge.url}/asana/auth")
    answer = browser.session.post(first.url.split("?")[0], data={
        **dict(parse_qsl(first.url.split("?", 1)[1])),
        "email": "alice@example.com", "password": "alice-password", "decision": "allow"},
        allow_redirects=False)
    callback = answer.headers["Location"]
    assert browser.get(callback).status_code == 200  # first use proceeds to Jira
    again = browser.get(callback)
    assert again.status_code == 422
    assert popup_message(again) == "error"
    forged = browser.get(f"{bridge.url}/oauth/asana/callback",
                         params={"code": "x", "state": "made-up"})
    assert forged.status_code == 422


def test_a_callback_opened_in_another_browser_does_not_complete(bridge, jira_factory):
    """Login CSRF: an attacker starts the popup flow, then gets a victim who is logged in
    to Jira to approve it. The callback lands in the victim's browser, which did not
    start the flow, so the victim's Jira account is not linked to the attacker."""
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    attacker = Browser()
    jira_login(attacker, jira, "bob")
    at_jira = asana_consent(attacker, attacker.get(f"{bridge.url}/asana/auth"),
                            email="bob@example.com")
    authorize_url = at_jira.url  # Jira's authorize page for the attacker's request token
    assert "/plugins/servlet/oauth/authorize?oauth_token=" in authorize_url
    victim = Browser()
    jira_login(victim, jira, "alice")
    page = victim.get(authorize_url)
    done = victim.submit(page, button="approve")
    assert done.status_code == 422 and popup_message(done) == "error"
    with bridge.app.app_context():
        assert JiraCredential.select().count() == 0


def test_flow_started_on_one_node_finishes_on_another(bridge, jira_factory, settings, asana,
                                                      tmp_path):
    """Node B is a separate process (gunicorn, through ``serve``) on the same database and
    key: the only thing the two nodes share is what the flow stored there."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import requests

    from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET

    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **{"BRIDGE_" + k: v for k, v in settings.items()},
           "BRIDGE_INSTANCE_PATH": str(tmp_path / "node-b"),
           "BRIDGE_PUBLIC_URL": bridge.url, "BRIDGE_ASANA_BASE_URL": asana.url,
           "BRIDGE_ASANA_CLIENT_ID": ASANA_CLIENT_ID,
           "BRIDGE_ASANA_CLIENT_SECRET": ASANA_CLIENT_SECRET}
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    node_b = subprocess.Popen([str(exe), "serve", "--workers", "1", "--no-migrate",
                               "--bind", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        node_b_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(node_b_url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        browser = Browser()
        jira_login(browser, jira, "alice")
        first = browser.get(f"{bridge.url}/asana/auth")  # node A starts
        at_jira = browser.submit(first, email="alice@example.com", password="alice-password",
                                 button="decision", button_value="allow")
        approve = browser.session.post(at_jira.url.split("?")[0],
                                       data={"oauth_token": at_jira.url.split("oauth_token=")[1],
                                             "approve": "Allow"}, allow_redirects=False)
        callback = approve.headers["Location"]
        assert callback.startswith(bridge.url)
        done = browser.get(callback.replace(bridge.url, node_b_url))  # node B finishes
        assert popup_message(done) == "success"
        assert done.headers["Server"].startswith("gunicorn")
    finally:
        node_b.terminate()
        node_b.wait(timeout=30)
    with bridge.app.app_context():
        assert JiraCredential.get().state == "active"


def test_proxy_mismatch_fails_the_popup_with_a_sentence(bridge, jira_factory):
    jira = jira_factory("8.20.0", public_base_url="https://jira.example.com")
    oauth1_instance(bridge, jira)
    browser = Browser()
    done = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"))
    assert popup_message(done) == "error"
    assert done.status_code == 502
    assert "misconfigured" in done.text and "asana-jira-bridge doctor" in done.text
    assert "oauth_signature" not in done.text


def test_skewed_jira_clock_fails_the_popup_with_a_sentence(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    jira_state(jira).advance(-10 * 60)
    browser = Browser()
    done = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"))
    assert popup_message(done) == "error"
    assert "misconfigured" in done.text


def test_jira_down_fails_the_popup_with_a_sentence(bridge, jira_factory):
    jira = jira_factory("10.3.0")
    oauth2_instance(bridge, jira)
    browser = Browser()
    jira_login(browser, jira, "alice")
    page = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"))
    jira_state(jira).add_fault("error", count=5, status=503,
                               path_prefix="/rest/oauth2/latest/token")
    done = browser.submit(page, button="approve")
    assert popup_message(done) == "error"
    assert done.status_code == 503 and "cannot be reached right now" in done.text


def test_auth_endpoint_is_rate_limited(bridge):
    browser = Browser()
    answers = [browser.session.get(f"{bridge.url}/asana/auth", allow_redirects=False)
               for _ in range(31)]
    assert {a.status_code for a in answers[:30]} == {302}
    assert answers[30].status_code == 429
    assert popup_message(answers[30]) == "error"
