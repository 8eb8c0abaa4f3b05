"""Jira upgraded in place under a connected instance (9.12 → 10.3, 8.20 → 8.22): the
bridge reads the version again once a day per instance (a turn across workers) and in
``doctor``, stores it with an audit event, and says on the admin page what the upgrade
asks. A Jira that is down or answers garbage changes nothing and is read next period.
Real HTTP to the Jira simulator, which plays the upgrade (``/_sim/version``)."""

from __future__ import annotations

import datetime as dt
import html

import pytest
import requests

from bridge.models import AuditEvent, JiraCredential, JiraInstance
from bridge.services import doctor, jira_upgrades
from bridge.timeutil import utcnow

from .conftest import jira_state
from .helpers import authorize_user, oauth1_instance, worker_context
from .test_admin_webhook import _connected

pytestmark = pytest.mark.e2e

SIGNED_SENTENCE = "the webhook the bridge registered before has no secret"
OAUTH2_SENTENCE = "the application link (OAuth 1.0a) keeps working"


def _upgrade(jira, version: str) -> None:
    answer = requests.post(jira.url + "/_sim/version", json={"version": version}, timeout=5)
    assert answer.status_code == 200, answer.text


def _server_info_reads(jira) -> int:
    return sum(1 for r in jira_state(jira).request_log
               if r["path"] == "/rest/api/2/serverInfo")


def _changes(bridge) -> list[dict]:
    with bridge.app.app_context():
        return [e.detail for e in AuditEvent.select().where(
            AuditEvent.action == jira_upgrades.CHANGED).order_by(AuditEvent.id)]


def test_upgrade_to_10_is_noticed_stored_audited_and_shown(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    browser, webhook_page = _connected(bridge, jira)
    registered = browser.submit(webhook_page, username="admin", password="admin")
    assert "Jira created the webhook" in registered.text
    with bridge.app.app_context():
        assert JiraInstance.get().version == "9.12.0"
    _upgrade(jira, "10.3.0")

    now = utcnow()
    with bridge.app.app_context():
        assert jira_upgrades.check_all(worker_context(), now=now) == 1
        instance = JiraInstance.get()
        assert instance.version == "10.3.0"
        assert instance.version_checked_at is not None
        assert instance.auth_mode == "oauth1"  # nothing about how users authorize moved
    assert _changes(bridge) == [{"instance": instance.id, "before": "9.12.0",
                                 "after": "10.3.0"}]

    page = html.unescape(browser.get(f"{bridge.url}/jira/connect").text)
    assert SIGNED_SENTENCE in page and "Next: Register the webhook again" in page
    assert "(Jira 10.3.0)" in page

    # once a day: a second worker within the day reads nothing
    reads = _server_info_reads(jira)
    with bridge.app.app_context():
        assert jira_upgrades.check_all(worker_context(), now=now + dt.timedelta(hours=1),
                                       holder="other") == 0
    assert _server_info_reads(jira) == reads

    # registered again (now with a secret): the sentence has done its work
    again = browser.submit(browser.get(webhook_page.url), username="admin", password="admin")
    assert again.status_code == 200, again.text[:500]
    assert SIGNED_SENTENCE not in html.unescape(browser.get(f"{bridge.url}/jira/connect").text)


@pytest.mark.parametrize("fault", ["down", "garbage"])
def test_a_jira_down_or_answering_garbage_changes_nothing_and_is_read_next_period(
        bridge, jira_factory, fault):
    jira = jira_factory("9.12.0")
    instance = oauth1_instance(bridge, jira)
    _upgrade(jira, "10.3.0")
    st = jira_state(jira)
    if fault == "down":
        requests.post(jira.url + "/_sim/faults", json={
            "kind": "error", "status": 503, "count": 1,
            "path_prefix": "/rest/api/2/serverInfo"}, timeout=5).raise_for_status()
    else:  # a proxy's page in its place: 200, not Jira
        requests.post(jira.url + "/_sim/faults", json={
            "kind": "error", "status": 200, "count": 1,
            "path_prefix": "/rest/api/2/serverInfo"}, timeout=5).raise_for_status()
    now = utcnow()
    with bridge.app.app_context():
        before = JiraInstance.get_by_id(instance.id)
        assert jira_upgrades.check_all(worker_context(), now=now) == 1
        after = JiraInstance.get_by_id(instance.id)
        assert (after.version, after.version_checked_at) == ("9.12.0",
                                                             before.version_checked_at)
    assert _changes(bridge) == []
    assert not st.faults  # the fault was used: Jira answers again
    with bridge.app.app_context():  # within the period: not read again
        assert jira_upgrades.check_all(worker_context(), now=now + dt.timedelta(hours=2)) == 0
        assert JiraInstance.get_by_id(instance.id).version == "9.12.0"
        # the next period reads it
        assert jira_upgrades.check_all(worker_context(), now=now + dt.timedelta(days=1)) == 1
        assert JiraInstance.get_by_id(instance.id).version == "10.3.0"


def test_doctor_reads_the_version_again_and_says_what_the_upgrade_asks(bridge, jira_factory):
    """8.20 → 8.22 with an application link: stored, audited once, and the admin is told
    that OAuth 1.0a keeps working (users' credentials stay as they are)."""
    jira = jira_factory("8.20.0")
    instance = oauth1_instance(bridge, jira)
    authorize_user(bridge, jira)
    _upgrade(jira, "8.22.0")
    with bridge.app.app_context():
        findings = doctor.check_instance(JiraInstance.get_by_id(instance.id), bridge.url,
                                         timeout=5)
        version, = [f for f in findings if f.check == "version"]
        assert "upgraded from 8.20.0 to 8.22.0" in version.message
        assert any(OAUTH2_SENTENCE in line for line in version.details)
        assert JiraInstance.get_by_id(instance.id).version == "8.22.0"
        assert [c.auth_mode for c in JiraCredential.select()] == ["oauth1"]
        assert [c.state for c in JiraCredential.select()] == ["active"]
        # a second run finds nothing new to store
        again = doctor.check_instance(JiraInstance.get_by_id(instance.id), bridge.url,
                                      timeout=5)
        assert not [f for f in again if f.check == "version"]
        notices = jira_upgrades.notices(JiraInstance.get_by_id(instance.id))
        assert [n.step for n in notices] == ["setup"]
    assert len(_changes(bridge)) == 1


def test_racing_readers_store_and_audit_a_change_once(bridge, jira_factory):
    """The job on one node and ``doctor`` on another read the new version at once: one
    of them stores it, one audit event is written."""
    from .test_refresh_turns import _race

    jira = jira_factory("9.12.0")
    instance = oauth1_instance(bridge, jira)
    with bridge.app.app_context():  # each read 9.12.0 before any stores
        rows = [JiraInstance.get_by_id(instance.id) for _ in range(8)]
    out = _race(bridge, 8, lambda i: jira_upgrades.record(rows[i], "10.3.0", (10, 3, 0)))
    assert sum(1 for change in out if isinstance(change, jira_upgrades.Change)) == 1, out
    assert all(change is None or isinstance(change, jira_upgrades.Change) for change in out)
    assert len(_changes(bridge)) == 1
    with bridge.app.app_context():
        assert JiraInstance.get_by_id(instance.id).version == "10.3.0"
