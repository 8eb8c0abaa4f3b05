"""Jira DC 10+ signs its webhook deliveries (issue 17.1): the bridge registers with a
secret, verifies ``X-Hub-Signature`` over the raw body, refuses unsigned or wrongly
signed deliveries once Jira holds the secret, keeps the URL token for Jira 9 and older,
and a late or out-of-order delivery changes nothing. Real HTTP to the Jira simulator."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
import requests
from bridge_sandbox.asana.seed import ALICE

from bridge import logs
from bridge.db import database
from bridge.models import IssueSnapshot, JiraInstance
from bridge.services import webhooks, widget

from .conftest import jira_state
from .helpers import authorize_user, oauth2_instance
from .test_widget_service import _ctx, _link, _status, _view

pytestmark = pytest.mark.e2e


def _setup(bridge, jira, key="EX-1"):
    instance = oauth2_instance(bridge, jira)
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        _link(instance, key, ALICE)
        return JiraInstance.get_by_id(instance.id)


def _post(bridge, instance, payload: dict, signature: str | None = "auto",
          key: str | None = None):
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        signature = "sha256=" + hmac.new((key or instance.webhook_signing_key).encode(), raw,
                                         hashlib.sha256).hexdigest()
    if signature is not None:
        headers["X-Hub-Signature"] = signature
    with bridge.app.app_context():
        url = webhooks.url_for(JiraInstance.get_by_id(instance.id), bridge.url)
    return requests.post(url, data=raw, headers=headers, timeout=5)


def _generation(bridge) -> int:
    with bridge.app.app_context():
        return IssueSnapshot.get().generation


def _event(key="EX-1", updated="2030-01-01T00:00:00.000+0000", timestamp=None):
    return {"webhookEvent": "jira:issue_updated", "timestamp": timestamp or 1893456000000,
            "issue": {"id": "10000", "key": key, "fields": {"updated": updated}}}


@pytest.mark.parametrize("version", ["10.3.19", "11.1.0"])
def test_registered_with_a_secret_jira_signs_and_the_bridge_follows(bridge, jira_factory,
                                                                    version, caplog):
    jira = jira_factory(version)
    jira_state(jira).configure(basic_auth=True)  # the password path (item 17.2 aside)
    instance = _setup(bridge, jira, "EX-2")
    handler = logs.make_handler("text")
    logging.getLogger().addHandler(handler)
    with bridge.app.app_context(), caplog.at_level(logging.DEBUG):
        webhooks.register(instance, bridge.url, "admin", "admin")
        instance = JiraInstance.get_by_id(instance.id)
        assert instance.webhook_signed and instance.webhook_signing_key
        hook, = jira_state(jira).webhooks.values()
        assert hook["secret"] == instance.webhook_signing_key
        assert _status(_view(bridge, instance, "EX-2"))[0] == "In Progress"
        jira_state(jira).update_issue("EX-2", {"status": "Done"}, user="bob")
        jira_state(jira).webhook_dispatcher.wait()
        delivery = jira_state(jira).webhook_deliveries[-1]
        assert delivery["status"] == 204
        widget.refresh(_ctx(bridge), instance, "EX-2")
        assert _status(_view(bridge, instance, "EX-2"))[0] == "Done"
    logging.getLogger().removeHandler(handler)
    assert instance.webhook_signing_key not in caplog.text  # never logged
    # sealed at rest: the column never holds the key
    with bridge.app.app_context():
        column = database.execute_sql(
            'SELECT "webhook_signing_key" FROM "jira_instance" WHERE "id" = '
            f'{int(instance.id)}').fetchone()[0]
    assert instance.webhook_signing_key not in column


def test_unsigned_and_wrongly_signed_deliveries_are_refused_and_change_nothing(
        bridge, jira_factory, caplog):
    jira = jira_factory("10.3.19")
    instance = _setup(bridge, jira)
    with bridge.app.app_context():
        jira_state(jira).configure(basic_auth=True)
        webhooks.register(instance, bridge.url, "admin", "admin")
        instance = JiraInstance.get_by_id(instance.id)
        _view(bridge, instance, "EX-1")
    before = _generation(bridge)
    handler = logs.make_handler("text")
    logging.getLogger().addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            unsigned = _post(bridge, instance, _event(), signature=None)
            wrong = _post(bridge, instance, _event(), key="not-the-key")
            garbage = _post(bridge, instance, _event(), signature="sha1=abcdef")
    finally:
        logging.getLogger().removeHandler(handler)
    for answer in (unsigned, wrong, garbage):
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["message"].endswith(".")
    assert "must be signed" in unsigned.json()["error"]["message"]
    assert _generation(bridge) == before
    assert instance.webhook_signing_key not in caplog.text
    signed = _post(bridge, instance, _event())
    assert signed.status_code == 204
    assert _generation(bridge) > before


def test_hand_entered_secret_is_required_after_the_first_signed_delivery(bridge,
                                                                         jira_factory):
    jira = jira_factory("10.3.19")
    instance = _setup(bridge, jira)
    with bridge.app.app_context():
        values = webhooks.manual_values(JiraInstance.get_by_id(instance.id), bridge.url)
        instance = JiraInstance.get_by_id(instance.id)
        _view(bridge, instance, "EX-1")
    assert values["secret"] == instance.webhook_signing_key
    # Until Jira is seen signing, the URL token alone still works (the admin may not have
    # entered the secret yet) ...
    assert _post(bridge, instance, _event(updated="2030-01-01T00:00:00.000+0000"),
                 signature=None).status_code == 204
    # ... a signed delivery proves Jira has it; from then on unsigned ones are refused.
    assert _post(bridge, instance, _event(updated="2030-01-02T00:00:00.000+0000")
                 ).status_code == 204
    assert _post(bridge, instance, _event(updated="2030-01-03T00:00:00.000+0000"),
                 signature=None).status_code == 401


def test_jira_9_has_no_secret_and_the_url_token_still_works(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    instance = _setup(bridge, jira)
    with bridge.app.app_context():
        values = webhooks.manual_values(JiraInstance.get_by_id(instance.id), bridge.url)
        webhooks.register(JiraInstance.get_by_id(instance.id), bridge.url, "admin", "admin")
        instance = JiraInstance.get_by_id(instance.id)
        _view(bridge, instance, "EX-1")
    assert values["secret"] is None and instance.webhook_signing_key is None
    hook, = jira_state(jira).webhooks.values()
    assert hook["secret"] is None
    before = _generation(bridge)
    jira_state(jira).update_issue("EX-1", {"status": "In Progress"})
    jira_state(jira).webhook_dispatcher.wait()
    assert jira_state(jira).webhook_deliveries[-1]["status"] == 204
    assert _generation(bridge) > before


def test_late_and_out_of_order_deliveries_change_nothing(bridge, jira_factory):
    jira = jira_factory("10.3.19")
    jira_state(jira).configure(basic_auth=True)
    instance = _setup(bridge, jira)
    with bridge.app.app_context():
        webhooks.register(instance, bridge.url, "admin", "admin")
        instance = JiraInstance.get_by_id(instance.id)
        _view(bridge, instance, "EX-1")
        sim = jira_state(jira)
        sim.configure(webhook_hold=True)
        sim.update_issue("EX-1", {"status": "In Progress"})
        sim.advance(2)
        sim.update_issue("EX-1", {"status": "Done"})
        # the bridge reads the issue (a view after max_age, or another delivery's re-read)
        widget.invalidate(instance, issue_key="EX-1")
        assert widget.refresh(_ctx(bridge), instance, "EX-1")
        assert _status(_view(bridge, instance, "EX-1"))[0] == "Done"
        before = _generation(bridge)
        # Jira's thread pool delivers both now, newest first: neither is newer than the
        # snapshot, so neither marks it stale or asks Jira again.
        reads = sum(1 for r in sim.request_log if r["path"] == "/rest/api/2/issue/EX-1")
        assert sim.webhook_dispatcher.release(order="reverse") == 2
        assert [d["status"] for d in sim.webhook_deliveries[-2:]] == [204, 204]
        assert _generation(bridge) == before
        snap = IssueSnapshot.get()
        assert not snap.stale
        assert _status(_view(bridge, instance, "EX-1"))[0] == "Done"
        assert sum(1 for r in sim.request_log
                   if r["path"] == "/rest/api/2/issue/EX-1") == reads
        # a newer change still goes through
        sim.configure(webhook_hold=False)
        sim.advance(2)
        sim.update_issue("EX-1", {"status": "Open"})
        sim.webhook_dispatcher.wait()
        assert _generation(bridge) > before


def test_deletions_are_never_dropped_as_late(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    instance = _setup(bridge, jira)
    with bridge.app.app_context():
        instance = JiraInstance.get_by_id(instance.id)
        _view(bridge, instance, "EX-1")
    before = _generation(bridge)
    old = {"webhookEvent": "jira:issue_deleted", "timestamp": 1,
           "issue": {"id": "10000", "key": "EX-1",
                     "fields": {"updated": "2001-01-01T00:00:00.000+0000"}}}
    assert _post(bridge, instance, old, signature=None).status_code == 204
    assert _generation(bridge) > before


def test_event_time_reads_jira_times_and_timestamps():
    import datetime as dt

    at = webhooks.event_time({"issue": {"fields": {"updated": "2019-11-08T11:54:11.127+0000"}}})
    assert at == dt.datetime(2019, 11, 8, 11, 54, 11, 127000, tzinfo=dt.UTC)
    assert webhooks.event_time({"timestamp": 1573214051127}) == dt.datetime(
        2019, 11, 8, 11, 54, 11, 127000, tzinfo=dt.UTC)
    for junk in ({"timestamp": "x"}, {"timestamp": True}, {"issue": {"fields": {
            "updated": "yesterday"}}}, {"webhookEvent": "jira:issue_deleted",
                                        "timestamp": 5}):
        assert webhooks.event_time(junk) is None
    snap = {"updated": "2019-11-08T11:54:11.127+0000"}
    assert webhooks.is_older_than(at, snap)
    assert not webhooks.is_older_than(at + dt.timedelta(milliseconds=1), snap)
    assert not webhooks.is_older_than(at, {"missing": True, "updated": snap["updated"]})
    assert not webhooks.is_older_than(None, snap)


def test_the_webhook_is_filtered_to_linked_projects(bridge, jira_factory):
    jira = jira_factory("10.3.19")
    sim = jira_state(jira)
    sim.configure(basic_auth=True)
    instance = _setup(bridge, jira, "EX-1")
    with bridge.app.app_context():
        assert webhooks.jql_for(instance) == 'project in ("EX")'
        webhooks.register(instance, bridge.url, "admin", "admin")
        hook, = sim.webhooks.values()
        assert hook["filters"]["issue-related-events-section"] == 'project in ("EX")'
        assert webhooks.uncovered_projects(instance) == []
        # a change in a project without links is not posted at all
        sim.update_issue("SEC-1", {"status": "In Progress"})
        sim.webhook_dispatcher.wait()
        assert not sim.webhook_deliveries
        sim.update_issue("EX-1", {"status": "In Progress"})
        sim.webhook_dispatcher.wait()
        assert [d["status"] for d in sim.webhook_deliveries] == [204]
        # an issue of another project is linked later: the bridge says the filter misses it
        _link(instance, "SEC-1", ALICE, task="1200000000000999")
        assert webhooks.uncovered_projects(instance) == ["SEC"]
        assert webhooks.manual_values(instance, bridge.url)["jql"] == \
            'project in ("EX", "SEC")'
        webhooks.register(instance, bridge.url, "admin", "admin")
        assert webhooks.uncovered_projects(instance) == []
