"""``sandbox jira`` command: options and the loopback-only rule."""

from __future__ import annotations

import werkzeug.serving
from bridge_sandbox.jira.app import get_state
from bridge_sandbox.jira.cli import command
from click.testing import CliRunner


def test_refuses_non_loopback_host():
    result = CliRunner().invoke(command, ["--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_runs_werkzeug_with_version_and_base_url(monkeypatch):
    calls = {}

    def fake_run_simple(host, port, app, **kw):
        calls.update(host=host, port=port, app=app, **kw)

    monkeypatch.setattr(werkzeug.serving, "run_simple", fake_run_simple)
    result = CliRunner().invoke(command, ["--port", "8099", "--jira-version", "9.12.0",
                                          "--base-url", "https://jira.example.com"])
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8099
    state = get_state(calls["app"])
    assert state.profile.version == "9.12.0"
    assert state.base_url == "https://jira.example.com"


def test_sandbox_group_finds_the_command():
    from bridge_sandbox.cli import sandbox

    result = CliRunner().invoke(sandbox, ["jira", "--help"])
    assert result.exit_code == 0 and "--jira-version" in result.output
