"""``sandbox jira`` command: options and the loopback-only rule."""

from __future__ import annotations

from bridge_sandbox import liveserver
from bridge_sandbox.jira.app import get_state
from bridge_sandbox.jira.cli import command
from click.testing import CliRunner


def test_refuses_non_loopback_host():
    result = CliRunner().invoke(command, ["--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_serves_the_version_and_base_url_on_the_tests_server(monkeypatch):
    calls = {}

    class FakeServer:
        def __init__(self, app, host, port):
            calls.update(host=host, port=port, app=app)

        def serve(self):
            calls["served"] = True

    monkeypatch.setattr(liveserver, "LiveServer", FakeServer)
    result = CliRunner().invoke(command, ["--port", "8099", "--jira-version", "9.12.0",
                                          "--base-url", "https://jira.example.com"])
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 8099 and calls["served"]
    state = get_state(calls["app"])
    assert state.profile.version == "9.12.0"
    assert state.base_url == "https://jira.example.com"


def test_a_port_in_use_is_a_sentence():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = CliRunner().invoke(command, ["--port", str(taken.getsockname()[1])])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1:" in result.output and "Traceback" not in result.output


def test_sandbox_group_finds_the_command():
    from bridge_sandbox.cli import sandbox

    result = CliRunner().invoke(sandbox, ["jira", "--help"])
    assert result.exit_code == 0 and "--jira-version" in result.output
