"""A flood of anonymous sign-ins locks no real user out, and a used ``state`` stays used
(issue 16 §7), over real HTTP between the bridge and the simulators."""

from __future__ import annotations

import pytest

from bridge.models import JiraCredential, PendingAuth, UsedOAuthState
from bridge.services import pending

from .browser import Browser
from .conftest import asana_consent, jira_login, popup_message
from .helpers import authorize_user, oauth1_instance

pytestmark = pytest.mark.e2e


def test_a_flood_of_anonymous_starts_creates_no_rows_and_a_user_still_signs_in(
        bridge, jira_factory, monkeypatch):
    monkeypatch.setattr(pending, "MAX_PENDING", 50)  # a flood well past the cap
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    flood = bridge.app.test_client()
    for i in range(300):  # rotating source addresses: no per-address limit applies
        answer = flood.get("/asana/auth",
                           environ_base={"REMOTE_ADDR": f"10.{i // 250}.{i % 250}.9"})
        assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    with bridge.app.app_context():
        assert PendingAuth.select().count() == 0
        assert UsedOAuthState.select().count() == 0
    authorize_user(bridge, jira)  # the real user: popup to the end, "success"
    with bridge.app.app_context():
        assert JiraCredential.select().count() == 1
        assert PendingAuth.select().count() == 0  # the Jira flow's row was used up
        assert UsedOAuthState.select().count() == 1


def test_a_replayed_asana_callback_is_refused(bridge, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(bridge, jira)
    browser = Browser()
    jira_login(browser, jira, "alice")
    consented = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"))
    callback = next(r.url for r in [*consented.history, consented]
                    if "/oauth/asana/callback" in r.url)
    assert "state=" in callback and "code=" in callback
    replay = browser.get(callback)
    assert replay.status_code == 422 and popup_message(replay) == "error"
    assert "not valid any more" in replay.text
    other = Browser().get(callback)  # another browser with the same URL: refused too
    assert other.status_code == 422 and popup_message(other) == "error"
