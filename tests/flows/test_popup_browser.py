"""The Authentication URL popup in a real browser: the Asana simulator's task page opens
the bridge's ``/asana/auth`` in a popup, the user goes through Asana's consent, Jira's login
and authorization, and the bridge's final page posts ``"success"`` to the opener with
Asana's origin as target (asana-app-components.md §7.1)."""

from __future__ import annotations

import pytest
from bridge_sandbox.asana.seed import PROJECT, TASK_PLAIN

from bridge.models import JiraCredential

from .chromium import needs_chromium
from .conftest import ASANA_CLIENT_ID
from .helpers import oauth1_instance, oauth2_instance
from .pagecheck import check_page, screenshot

pytestmark = [pytest.mark.e2e, needs_chromium]


@pytest.fixture
def task_page(chromium, asana, bridge):
    asana.app.sim.configure_components(client_id=ASANA_CLIENT_ID, bridge_url=bridge.url,
                                       install_on=[PROJECT])
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{asana.url}/demo/task/{TASK_PLAIN}")
    yield page
    context.close()
    assert not errors, errors


def _through_popup(task_page, jira_user: str, button: str):
    with task_page.context.expect_page() as popup_info:
        task_page.click("#connect")
    popup = popup_info.value
    popup.wait_for_selector("text=wants to access your Asana account")
    popup.fill("input[name=email]", "alice@example.com")
    popup.fill("input[name=password]", "alice-password")
    popup.click("button[value=allow]")
    popup.wait_for_selector("#login-form")  # Jira asks the user to log in first
    popup.fill("#login-form-username", jira_user)
    popup.fill("#login-form-password", jira_user)
    popup.click("#login-form-submit")
    popup.click(f"#{button}")
    return popup


@pytest.mark.parametrize(("version", "connect"), [("8.20.0", oauth1_instance),
                                                  ("10.3.0", oauth2_instance)])
def test_popup_connects_and_posts_success_to_asana(task_page, bridge, jira_factory, version,
                                                   connect):
    jira = jira_factory(version)
    instance = connect(bridge, jira)
    _through_popup(task_page, "alice", "approve")
    task_page.wait_for_selector("body[data-auth=success]", state="attached")
    assert "is connected" in task_page.inner_text("#status")
    screenshot(task_page, f"popup-{version}-task-page-connected")
    with bridge.app.app_context():
        cred = JiraCredential.get()
        assert (cred.jira_username, cred.auth_mode) == ("alice", instance.auth_mode)


def test_popup_deny_in_jira_posts_error(task_page, bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    popup = _through_popup(task_page, "alice", "deny")
    task_page.wait_for_selector("body[data-auth=error]", state="attached")
    assert "did not allow access to Jira" in popup.inner_text("#auth-done")
    check_page(popup, "popup-deny-message")  # the sentence stays readable for 6 s
    screenshot(task_page, "popup-deny-task-page")


def test_popup_with_two_jira_instances_asks_which(task_page, bridge, jira_factory):
    oauth1_instance(bridge, jira_factory("8.20.0"))
    second = oauth2_instance(bridge, jira_factory("10.3.0"))
    with task_page.context.expect_page() as popup_info:
        task_page.click("#connect")
    popup = popup_info.value
    popup.wait_for_selector("text=wants to access your Asana account")
    popup.fill("input[name=email]", "alice@example.com")
    popup.fill("input[name=password]", "alice-password")
    popup.click("button[value=allow]")
    popup.wait_for_selector("text=Which Jira?")
    check_page(popup, "popup-choose-jira")
    popup.click(f"a[href$='/asana/auth/jira/{second.id}']")
    popup.wait_for_selector("#login-form")
    popup.fill("#login-form-username", "alice")
    popup.fill("#login-form-password", "alice")
    popup.click("#login-form-submit")
    popup.click("#approve")
    task_page.wait_for_selector("body[data-auth=success]", state="attached")
    with bridge.app.app_context():
        assert JiraCredential.get().instance_id == second.id
