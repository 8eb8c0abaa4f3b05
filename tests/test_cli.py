"""The command line: every command has help and works; errors are sentences."""

import re

import pytest

from bridge import create_app
from bridge.cli import main
from bridge.models import AsanaWorkspace, IssueLink, JiraCredential, JiraInstance


def _commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", sorted(_commands(main)), ids=" ".join)
def test_every_command_has_help(runner, path):
    result = runner.invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_sandbox_lists_both_simulators(runner):
    result = runner.invoke(main, ["sandbox", "--help"])
    assert "jira" in result.output and "asana" in result.output


def test_init_db_then_up_to_date(runner):
    first = runner.invoke(main, ["init-db"])
    assert first.exit_code == 0, first.output
    assert "applied migrations [1]" in first.output
    second = runner.invoke(main, ["init-db"])
    assert "is up to date (schema version 1)" in second.output


def test_init_db_never_prints_database_password(runner, monkeypatch):
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "postgresql://u:hunter2pw@127.0.0.1:1/x")
    result = runner.invoke(main, ["init-db"])
    assert result.exit_code != 0
    assert "hunter2pw" not in result.output


def test_bad_setting_is_a_sentence_not_a_traceback(runner, monkeypatch):
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "oracle://x")
    result = runner.invoke(main, ["jira", "list"])
    assert result.exit_code == 1
    assert "Error: BRIDGE_DATABASE_URL must start with" in result.output
    assert "Traceback" not in result.output


def test_jira_add_oauth1_prints_applink_values_and_seals_key(runner, settings):
    runner.invoke(main, ["init-db"])
    result = runner.invoke(main, ["jira", "add", "https://Jira.Example.com/jira/",
                                  "--workspace", "111", "--consumer-key", "asana-test"])
    assert result.exit_code == 0, result.output
    assert "https://jira.example.com/jira (oauth1)" in result.output
    assert "Consumer Key:  asana-test" in result.output
    assert "-----BEGIN PUBLIC KEY-----" in result.output
    assert "PRIVATE KEY" not in result.output

    app = create_app(settings)
    with app.app_context():
        instance = JiraInstance.get()
        assert instance.private_key.startswith("-----BEGIN PRIVATE KEY-----")
        raw = app.extensions["bridge.db"].execute_sql(
            "SELECT private_key FROM jira_instance").fetchone()[0]
        assert "PRIVATE KEY" not in raw
    app.extensions["bridge.db"].close()

    again = runner.invoke(main, ["jira", "add", "https://jira.example.com/jira",
                                 "--workspace", "111"])
    assert again.exit_code == 1 and "already registered" in again.output


def test_jira_add_oauth2_reads_secret_from_prompt(runner, settings):
    runner.invoke(main, ["init-db"])
    result = runner.invoke(main, ["jira", "add", "http://127.0.0.1:8090", "--workspace", "1",
                                  "--auth", "oauth2", "--client-id", "abc"],
                           input="the-client-secret\n")
    assert result.exit_code == 0, result.output
    assert "the-client-secret" not in result.output
    app = create_app(settings)
    with app.app_context():
        assert JiraInstance.get().client_secret == "the-client-secret"
    app.extensions["bridge.db"].close()


def test_jira_add_refuses_cloud(runner):
    runner.invoke(main, ["init-db"])
    result = runner.invoke(main, ["jira", "add", "https://acme.atlassian.net",
                                  "--workspace", "1"])
    assert result.exit_code == 1
    assert "Jira Cloud integration" in result.output


def test_jira_list_and_remove(runner, settings):
    runner.invoke(main, ["init-db"])
    assert "No Jira instances" in runner.invoke(main, ["jira", "list"]).output
    runner.invoke(main, ["jira", "add", "https://a.example.com", "--workspace", "1"])
    runner.invoke(main, ["jira", "add", "https://b.example.com", "--workspace", "1"])
    listing = runner.invoke(main, ["jira", "list"]).output
    assert re.search(r"1\s+1\s+oauth1\s+-\s+https://a.example.com", listing)
    assert "https://b.example.com" in listing

    app = create_app(settings)
    with app.app_context():
        from bridge.models import AsanaUser

        inst = JiraInstance.get(JiraInstance.base_url == "https://a.example.com")
        user = AsanaUser.create(gid="u1")
        JiraCredential.create(asana_user=user, instance=inst, auth_mode="oauth1", token="t")
        IssueLink.create(task_gid="7", instance=inst, issue_id="10", issue_key="EX-1")
    app.extensions["bridge.db"].close()

    result = runner.invoke(main, ["jira", "remove", str(inst.id)], input="y\n")
    assert result.exit_code == 0, result.output
    assert "1 user authorizations and 1 issue links" in result.output
    listing = runner.invoke(main, ["jira", "list"]).output
    assert "https://a.example.com" not in listing and "https://b.example.com" in listing
    with app.app_context():
        assert JiraCredential.select().count() == 0
        assert IssueLink.select().count() == 0
        assert AsanaWorkspace.select().count() == 1
    app.extensions["bridge.db"].close()
    missing = runner.invoke(main, ["jira", "remove", "999", "--yes"])
    assert missing.exit_code == 1 and "no Jira instance with id 999" in missing.output
