"""``asana-jira-bridge jira add | list | remove`` against a Jira simulator."""

from __future__ import annotations

import re

import pytest

from bridge import create_app
from bridge.cli import main
from bridge.models import AsanaUser, AsanaWorkspace, IssueLink, JiraCredential, JiraInstance

from .conftest import jira_state


@pytest.fixture
def cli(runner):
    runner.invoke(main, ["init-db"])

    def run(*args, **kwargs):
        return runner.invoke(main, list(args), **kwargs)

    return run


def _app(settings):
    return create_app(settings)


def test_jira_add_reads_the_version_and_prints_applink_values(cli, settings, jira_factory):
    jira = jira_factory("8.20.0")
    result = cli("jira", "add", jira.url + "/", "--workspace", "111")
    assert result.exit_code == 0, result.output
    assert f"{jira.url} (Jira 8.20.0, oauth1)" in result.output
    key = re.search(r"Consumer Key:  (\S+)", result.output).group(1)
    assert "-----BEGIN PUBLIC KEY-----" in result.output
    assert "PRIVATE KEY" not in result.output
    app = _app(settings)
    with app.app_context():
        instance = JiraInstance.get()
        assert (instance.consumer_key, instance.version) == (key, "8.20.0")
        assert instance.private_key.startswith("-----BEGIN PRIVATE KEY-----")
        raw = app.extensions["bridge.db"].execute_sql(
            "SELECT private_key FROM jira_instance").fetchone()[0]
        assert "PRIVATE KEY" not in raw
    app.extensions["bridge.db"].close()
    again = cli("jira", "add", jira.url, "--workspace", "111")
    assert again.exit_code == 1 and "already registered" in again.output


def test_jira_add_oauth2_by_default_on_8_22_reads_secret_from_prompt(cli, settings,
                                                                      jira_factory):
    jira = jira_factory("9.12.0")
    client = jira_state(jira).add_oauth2_client("bridge", "https://bridge/oauth/jira2/callback")
    result = cli("jira", "add", jira.url, "--workspace", "1", "--client-id", client.client_id,
                 input=client.client_secret + "\n")
    assert result.exit_code == 0, result.output
    assert "(Jira 9.12.0, oauth2)" in result.output
    assert client.client_secret not in result.output
    app = _app(settings)
    with app.app_context():
        assert JiraInstance.get().client_secret == client.client_secret
    app.extensions["bridge.db"].close()


def test_jira_add_refuses_oauth2_before_8_22_and_cloud_and_unreachable(cli, jira_factory):
    jira = jira_factory("8.20.0")
    old = cli("jira", "add", jira.url, "--workspace", "1", "--auth", "oauth2",
              "--client-id", "x", input="y\n")
    assert old.exit_code == 1 and "no OAuth 2.0 provider" in old.output
    cloud = cli("jira", "add", "https://acme.atlassian.net", "--workspace", "1")
    assert cloud.exit_code == 1 and "Jira Cloud integration" in cloud.output
    down = cli("jira", "add", "http://127.0.0.1:9", "--workspace", "1")
    assert down.exit_code == 1 and "cannot be reached" in down.output


def test_jira_list_and_remove(cli, settings, jira_factory):
    assert "No Jira instances" in cli("jira", "list").output
    first, second = jira_factory("8.20.0"), jira_factory("10.3.0")
    cli("jira", "add", first.url, "--workspace", "1")
    cli("jira", "add", second.url, "--workspace", "1", "--auth", "oauth1")
    listing = cli("jira", "list").output
    assert re.search(rf"1\s+1\s+oauth1\s+8\.20\.0\s+{re.escape(first.url)}", listing)
    assert re.search(rf"2\s+1\s+oauth1\s+10\.3\.0\s+{re.escape(second.url)}", listing)

    app = _app(settings)
    with app.app_context():
        inst = JiraInstance.get(JiraInstance.base_url == first.url)
        user = AsanaUser.create(gid="u1")
        JiraCredential.create(asana_user=user, instance=inst, auth_mode="oauth1", token="t")
        IssueLink.create(task_gid="7", instance=inst, issue_id="10", issue_key="EX-1")
    app.extensions["bridge.db"].close()

    result = cli("jira", "remove", str(inst.id), input="y\n")
    assert result.exit_code == 0, result.output
    assert "1 user authorizations and 1 issue links" in result.output
    listing = cli("jira", "list").output
    assert first.url not in listing and second.url in listing
    with app.app_context():
        assert JiraCredential.select().count() == 0
        assert IssueLink.select().count() == 0
        assert AsanaWorkspace.select().count() == 1
    app.extensions["bridge.db"].close()
    missing = cli("jira", "remove", "999", "--yes")
    assert missing.exit_code == 1 and "no Jira instance with id 999" in missing.output


def test_jira_remove_frees_the_slots_of_its_links(cli, settings, jira_factory):
    """A link made minutes before the removal held a slot of its task: the removal frees
    it (``delete_instance(recursive=True)`` would only empty the slot's link, leaving the
    slot taken until its claim grows old)."""
    from bridge.models import LinkSlot
    from bridge.services import links

    first, second = jira_factory("8.20.0"), jira_factory("8.21.0")
    cli("jira", "add", first.url, "--workspace", "1")
    cli("jira", "add", second.url, "--workspace", "1")
    app = _app(settings)
    with app.app_context():
        gone, kept = JiraInstance.select().order_by(JiraInstance.id)
        links.link(task_gid="7", instance=gone, issue_id="10", issue_key="EX-1", user=None,
                   slot=links.claim("7", 2))
        links.link(task_gid="8", instance=kept, issue_id="10", issue_key="EX-1", user=None,
                   slot=links.claim("8", 1))
    app.extensions["bridge.db"].close()

    assert cli("jira", "remove", str(gone.id), "--yes").exit_code == 0
    with app.app_context():
        assert [(s.task_gid, s.link_id is not None) for s in LinkSlot.select()] == [("8", True)]
        links.claim("7", 1)  # the task's one place is free at once
    app.extensions["bridge.db"].close()
