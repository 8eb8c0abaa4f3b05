"""The whole bridge against each Jira line people run (issue 17.4): 8.20 (OAuth 1.0a
application link), 9.12, 10.3 and 11.x (OAuth 2.0 incoming link), with the differences
the references document: signed, asynchronous webhooks from 10.0 and basic
authentication off by default on 11. Real HTTP to the Jira simulator's profiles."""

from __future__ import annotations

import time

import pytest
import requests
from bridge_sandbox.asana.seed import ALICE

from bridge.jira import versions
from bridge.jira.oauth2 import FIRST_VERSION as OAUTH2_FIRST_VERSION
from bridge.jira.webhooks import WebhookAdminRefused
from bridge.models import JiraInstance
from bridge.services import instances, webhooks

from .conftest import jira_state
from .helpers import authorize_user, oauth1_instance, oauth2_instance
from .test_widget_service import _link, _status, _view

pytestmark = pytest.mark.e2e

BASIC_AUTH_OFF_FROM = (11,)  # jira-server.md §6 item 17
VERSIONS = [("8.20.0", oauth1_instance), ("9.12.0", oauth2_instance),
            ("10.3.19", oauth2_instance), ("11.1.0", oauth2_instance)]


def _enter_by_hand(jira, values: dict) -> None:
    """What an admin does in Jira's WebHooks page: a browser session, no REST password."""
    session = requests.Session()
    assert session.post(f"{jira.url}/login.jsp", data={"os_username": "admin",
                                                       "os_password": "admin"},
                        allow_redirects=False, timeout=5).status_code == 302
    body = {"name": values["name"], "url": values["url"], "events": values["events"],
            "excludeBody": False}
    if values["secret"]:
        body["secret"] = values["secret"]
    created = session.post(f"{jira.url}/rest/webhooks/1.0/webhook", json=body, timeout=5)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("version, connect", VERSIONS, ids=[v for v, _ in VERSIONS])
def test_connect_authorize_link_and_follow_a_change(bridge, jira_factory, version, connect):
    jira = jira_factory(version)
    sim = jira_state(jira)
    signed = versions.at_least(version, webhooks.SIGNING_FROM)
    instance = connect(bridge, jira)
    assert instance.auth_mode == ("oauth2" if versions.at_least(version, OAUTH2_FIRST_VERSION)
                                  else "oauth1")
    authorize_user(bridge, jira)
    with bridge.app.app_context():
        assert instances.probe(jira.url).version == version
        _link(instance, "EX-2", ALICE)
        instance = JiraInstance.get_by_id(instance.id)
        assert _status(_view(bridge, instance, "EX-2"))[0] == "In Progress"

        if versions.at_least(version, BASIC_AUTH_OFF_FROM):
            # basic authentication is off: a password cannot register it
            with pytest.raises(WebhookAdminRefused):
                webhooks.register(instance, bridge.url, "admin", "admin")
            assert not sim.webhooks
            _enter_by_hand(jira, webhooks.manual_values(instance, bridge.url))
        else:
            webhooks.register(instance, bridge.url, "admin", "admin")
        hook, = sim.webhooks.values()
        assert bool(hook["secret"]) == signed

        changed = time.monotonic()
        sim.update_issue("EX-2", {"status": "Done"}, user="bob")
        while _status(_view(bridge, instance, "EX-2"))[0] != "Done":
            assert time.monotonic() - changed < 2.0, "the change did not show"
            time.sleep(0.02)
        sim.webhook_dispatcher.wait()
        assert sim.webhook_deliveries[-1]["status"] == 204
        instance = JiraInstance.get_by_id(instance.id)
        assert instance.webhook_signed == signed


@pytest.mark.parametrize("version", ["8.20.0", "9.12.0", "10.3.19", "11.1.0"])
def test_profiles_differ_as_the_references_say(jira_factory, version):
    jira = jira_factory(version)
    sim = jira_state(jira)
    info = requests.get(f"{jira.url}/rest/api/2/serverInfo", timeout=5).json()
    assert info["version"] == version and info["deploymentType"] == "Server"
    oauth2_page = requests.get(f"{jira.url}/rest/oauth2/latest/authorize", timeout=5,
                               allow_redirects=False)
    assert (oauth2_page.status_code == 404) == (not versions.at_least(version,
                                                                      OAUTH2_FIRST_VERSION))
    password = requests.get(f"{jira.url}/rest/api/2/myself", auth=("admin", "admin"),
                            timeout=5)
    assert password.status_code == (401 if versions.at_least(version, BASIC_AUTH_OFF_FROM)
                                    else 200)
    assert sim.profile.signs_webhooks == versions.at_least(version, webhooks.SIGNING_FROM)
