"""Set-up shortcuts for flow tests that are not about the admin pages themselves."""

from __future__ import annotations

from bridge_sandbox.asana.seed import WORKSPACE

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
