"""The command line: every command has help and works; errors are sentences."""

import pytest

from bridge.cli import main


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
    from bridge.migrations import LATEST, MIGRATIONS

    assert f"applied migrations {[v for v, _, _ in MIGRATIONS]}" in first.output
    second = runner.invoke(main, ["init-db"])
    assert f"is up to date (schema version {LATEST})" in second.output


def test_unreachable_database_is_a_sentence_without_its_password(runner, monkeypatch):
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "postgresql://u:hunter2pw@127.0.0.1:1/x")
    for command in (["init-db"], ["jira", "list"], ["doctor"]):
        result = runner.invoke(main, command)
        assert result.exit_code == 1, (command, result.output)
        assert "Error: the database is not usable" in result.output
        assert "hunter2pw" not in result.output
        assert "Traceback" not in result.output


def test_commands_before_init_db_say_so(runner):
    result = runner.invoke(main, ["jira", "list"])
    assert result.exit_code == 1
    assert "asana-jira-bridge init-db" in result.output


def test_admins_add_list_remove(runner, monkeypatch):
    monkeypatch.setenv("BRIDGE_ADMINS", "root@example.com")
    runner.invoke(main, ["init-db"])
    assert runner.invoke(main, ["admins", "add", "Bob@Example.com"]).exit_code == 0
    listing = runner.invoke(main, ["admins", "list"]).output
    assert "root@example.com  (BRIDGE_ADMINS)" in listing
    assert "bob@example.com  (granted by cli)" in listing
    assert runner.invoke(main, ["admins", "remove", "bob@example.com"]).exit_code == 0
    assert "bob@example.com" not in runner.invoke(main, ["admins", "list"]).output
    missing = runner.invoke(main, ["admins", "remove", "bob@example.com"])
    assert missing.exit_code == 1 and "not a granted admin" in missing.output


def test_bad_setting_is_a_sentence_not_a_traceback(runner, monkeypatch):
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "oracle://x")
    result = runner.invoke(main, ["jira", "list"])
    assert result.exit_code == 1
    assert "Error: BRIDGE_DATABASE_URL must start with" in result.output
    assert "Traceback" not in result.output
