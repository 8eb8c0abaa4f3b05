"""An Asana user authorizes their own Jira account from the Authentication URL popup,
over real HTTP (asana-app-components.md §7.1; jira-server.md §1.8, §2.2)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from bridge.models import AsanaUser, JiraCredential, PendingAuth
from bridge.sandbox.asana.seed import SIDE_WORKSPACE

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
    consent = browser.get(f"{bridge.url}/asana/auth/jira/{second.id}")
    assert popup_message(browser.submit(consent, button="approve")) == "success"
    # An instance not offered to this session cannot be forced.
    assert browser.get(f"{bridge.url}/asana/auth/jira/999").status_code == 422


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


def test_flow_started_on_one_node_finishes_on_another(bridge, jira_factory, make_app, asana):
    """Two bridge nodes share the database; the callback lands on the other node."""
    from bridge.sandbox.liveserver import LiveServer

    from .conftest import ASANA_CLIENT_ID, ASANA_CLIENT_SECRET

    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    other_app = make_app(PUBLIC_URL=bridge.url, ASANA_BASE_URL=asana.url,
                         ASANA_CLIENT_ID=ASANA_CLIENT_ID, ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET)
    with LiveServer(other_app) as other_node:
        browser = Browser()
        jira_login(browser, jira, "alice")
        first = browser.get(f"{bridge.url}/asana/auth")  # node A starts
        answer = browser.submit(first, email="alice@example.com", password="alice-password",
                                button="decision", button_value="allow")
        assert "would like to have read and write access" in answer.text
        approve = browser.session.post(answer.url.split("?")[0],
                                       data={"oauth_token": answer.url.split("oauth_token=")[1],
                                             "approve": "Allow"}, allow_redirects=False)
        callback = approve.headers["Location"].replace(bridge.url, other_node.url)
        done = browser.get(callback)  # node B finishes
        assert popup_message(done) == "success"
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
