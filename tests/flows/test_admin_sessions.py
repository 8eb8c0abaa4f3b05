"""Admin sessions end on the server (issue 11 §1).

Before: an admin removed with ``admins remove`` kept full rights (POST /jira/connect still
created an instance), a cookie copied before sign-out still worked, and the session's
expiry slid forever. Real HTTP, real sign-in through the Asana simulator.
"""

from __future__ import annotations

import datetime as dt

import pytest
from bridge_sandbox.asana.seed import WORKSPACE
from click.testing import CliRunner

from bridge.models import AdminSession, JiraInstance, utcnow

from .browser import Browser, forms_of
from .conftest import asana_consent

pytestmark = pytest.mark.e2e


def _signed_in(bridge, jira, email):
    """An admin on the Connect page, with the URL confirmed: one click from creating."""
    browser = Browser()
    first = browser.get(f"{bridge.url}/jira/connect", params={"jira": jira.url})
    page = asana_consent(browser, first, email=email)
    assert "Check this Jira" in page.text, page.text[:400]
    return browser, browser.submit(page)


def _copy_cookies(browser: Browser) -> Browser:
    thief = Browser()
    thief.session.cookies.update(browser.session.cookies)
    return thief


def _create(browser, page):
    return browser.submit(page, workspace=WORKSPACE)


def test_an_admin_removed_on_the_command_line_loses_every_right_at_once(bridge, jira_factory,
                                                                        monkeypatch):
    from bridge.cli import main
    from bridge.services import admins

    with bridge.app.app_context():
        admins.grant("bob@example.com", by="test")
    jira = jira_factory("8.20.0")
    browser, confirm = _signed_in(bridge, jira, "bob@example.com")
    for key, value in bridge.app.config["BRIDGE"].values.items():
        if isinstance(value, str) and key in ("INSTANCE_PATH", "DATABASE_URL", "SECRET_KEY"):
            monkeypatch.setenv("BRIDGE_" + key, value)
    result = CliRunner().invoke(main, ["admins", "remove", "bob@example.com"])
    assert result.exit_code == 0, result.output

    created = _create(browser, confirm)  # the form was loaded while still an admin
    assert "/-/oauth_authorize" in created.url or "Sign in" in created.text
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0
        assert AdminSession.select().where(AdminSession.email == "bob@example.com").count() == 0


def test_a_cookie_copied_before_sign_out_is_dead_after_it(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    browser, confirm = _signed_in(bridge, jira, "alice@example.com")
    thief = _copy_cookies(browser)
    assert "Check this Jira" in thief.get(f"{bridge.url}/jira/connect",
                                          params={"jira": jira.url}).text  # works now
    form = [f for f in forms_of(confirm.text) if f.action.endswith("/admin/signout")][0]
    out = browser.session.post(f"{bridge.url}/admin/signout", data=form.fields)
    assert "signed out" in out.text

    replay = _create(thief, confirm)  # the old cookie, the old CSRF token
    assert "/-/oauth_authorize" in replay.url
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0


def test_a_session_ends_at_its_absolute_lifetime_however_busy(bridge, jira_factory):
    from bridge.services import admins

    jira = jira_factory("8.20.0")
    browser, confirm = _signed_in(bridge, jira, "alice@example.com")
    with bridge.app.app_context():
        # Signed in nearly the maximum age ago, and active a moment ago.
        AdminSession.update(created_at=utcnow() - admins.SESSION_MAX_AGE
                            + dt.timedelta(seconds=30), last_seen_at=utcnow()).execute()
    assert "Check this Jira" in browser.get(f"{bridge.url}/jira/connect",
                                            params={"jira": jira.url}).text
    with bridge.app.app_context():
        AdminSession.update(created_at=utcnow() - admins.SESSION_MAX_AGE
                            - dt.timedelta(seconds=1)).execute()
    again = browser.get(f"{bridge.url}/jira/connect", params={"jira": jira.url})
    assert "/-/oauth_authorize" in again.url
    created = _create(browser, confirm)
    assert "/-/oauth_authorize" in created.url
    with bridge.app.app_context():
        assert JiraInstance.select().count() == 0


def test_an_idle_session_ends(bridge, jira_factory):
    from bridge.services import admins

    jira = jira_factory("8.20.0")
    browser, _ = _signed_in(bridge, jira, "alice@example.com")
    with bridge.app.app_context():
        AdminSession.update(last_seen_at=utcnow() - admins.SESSION_IDLE
                            - dt.timedelta(seconds=1)).execute()
    assert "/-/oauth_authorize" in browser.get(f"{bridge.url}/jira/connect").url


def test_visiting_the_confirmation_page_again_answers_with_a_page(bridge, jira_factory):
    """Issue 11 §5: a second visit to an instance's confirmation page was once seen
    answering 500 from the OAuth 1.0a link proof."""
    jira = jira_factory("8.20.0")
    browser, confirm = _signed_in(bridge, jira, "alice@example.com")
    values = _create(browser, confirm)
    done = browser.submit(values, action="/applink", username="admin", password="admin")
    assert "Jira is connected" in done.text
    with bridge.app.app_context():
        instance_id = JiraInstance.get().id
    for _ in range(3):
        again = browser.get(f"{bridge.url}/jira/instances/{instance_id}/confirm")
        assert again.status_code == 200 and "Jira is connected" in again.text
