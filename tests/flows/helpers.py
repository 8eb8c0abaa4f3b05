"""Set-up shortcuts for flow tests that are not about the admin pages themselves."""

from __future__ import annotations

from bridge_sandbox.asana.seed import WORKSPACE

from bridge.jira import versions
from bridge.jira.oauth2 import FIRST_VERSION as OAUTH2_FIRST_VERSION
from bridge.models import JiraInstance
from bridge.services import instances

from .conftest import jira_state


def oauth1_instance(bridge, jira, workspace: str = WORKSPACE,
                    register: bool = True) -> JiraInstance:
    """An instance connected by application link, as the admin flow leaves it."""
    with bridge.app.app_context():
        found = instances.probe(jira.url)
        instance = instances.create_oauth1_instance(workspace, found)
        if register:
            jira_state(jira).add_consumer(instance.consumer_key, "Asana", instance.public_key,
                                          callback=f"{bridge.url}/oauth/jira1/callback")
        return instance


def oauth2_instance(bridge, jira, workspace: str = WORKSPACE) -> JiraInstance:
    client = jira_state(jira).add_oauth2_client("Asana bridge",
                                                f"{bridge.url}/oauth/jira2/callback")
    with bridge.app.app_context():
        found = instances.probe(jira.url)
        return instances.save_oauth2_instance(workspace, found, client.client_id,
                                              client.client_secret)


def authorize_user(bridge, jira, user: str = "alice", email: str = "alice@example.com"):
    """Run the Authentication URL popup to the end, approving everything."""
    from .browser import Browser
    from .conftest import asana_consent, jira_login, popup_message

    browser = Browser()
    jira_login(browser, jira, user)
    page = asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"), email=email)
    done = browser.submit(page, button="approve")
    assert popup_message(done) == "success", done.text


def worker_context():
    """What the queue worker hands its handlers (``bridge.tasks``): the app's settings and
    memory, no acting user (call inside the app's context)."""
    from flask import current_app

    from bridge.services.context import Context

    return Context.background(current_app.config["BRIDGE"],
                              current_app.extensions["bridge.cache"])


def instance_for(bridge, jira, version: str) -> JiraInstance:
    """The instance as an admin connects a Jira of ``version``: an incoming OAuth 2.0 link
    from 8.22 (``jira.oauth2.FIRST_VERSION``), an application link (OAuth 1.0a) before.
    The choice is checked against the simulator's own gate, so a comparison gone wrong
    (as text, "10.3.0" < "8.22") fails here instead of quietly testing OAuth 1.0a."""
    connect = (oauth2_instance if versions.at_least(version, OAUTH2_FIRST_VERSION)
               else oauth1_instance)
    instance = connect(bridge, jira)
    expected = "oauth2" if jira_state(jira).profile.has_oauth2_provider else "oauth1"
    assert instance.auth_mode == expected, f"Jira {version} connected with {instance.auth_mode}"
    return instance
