"""The demo never says "Ready" over a broken part (issue 15.3): each part is proven to
serve, and one that does not stops the demo with a sentence naming it and what to do."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from bridge_sandbox import demo
from bridge_sandbox.asana import validator

pytestmark = pytest.mark.e2e


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _start_broken(tmp_path, monkeypatch, ports: list[int]):
    """Start the demo; remember the ports it bound, to check they are free again."""
    real = demo.LiveServer

    def remembering(*args, **kwargs):
        server = real(*args, **kwargs)
        ports.append(server.port)
        return server

    monkeypatch.setattr(demo, "LiveServer", remembering)
    with pytest.raises(demo.NotReady) as caught:
        demo.start(tmp_path / "demo")
    assert ports and all(_free(p) for p in ports), "a part outlived the failed start"
    return caught.value


def test_a_worker_that_dies_stops_the_demo_with_a_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "start_worker", lambda config: subprocess.Popen(
        [sys.executable, "-c", "raise SystemExit(3)"]))
    error = _start_broken(tmp_path, monkeypatch, [])
    assert "queue worker" in error.part
    assert "exited with code 3" in str(error) and "scripts/bootstrap" in str(error)


def test_missing_asana_schemas_stop_the_demo_before_ready(tmp_path, monkeypatch):
    """What a clone without ../shared used to hit on the first click: the host could not
    load Asana's schemas. Now the demo stops before it prints its URL."""
    def missing(name="app_components_oas.yaml"):
        raise FileNotFoundError(f"Asana schemas {name} not found")

    validator._schemas.cache_clear()
    validator._validator.cache_clear()
    monkeypatch.setattr(validator, "load_spec", missing)
    try:
        error = _start_broken(tmp_path, monkeypatch, [])
    finally:
        validator._schemas.cache_clear()
        validator._validator.cache_clear()
    assert "App Components host" in error.part
    assert "FileNotFoundError" in str(error)


def test_a_bridge_that_fails_its_health_check_stops_the_demo(tmp_path, monkeypatch):
    real_start = demo.LiveServer.start

    def start(server):
        real_start(server)
        if server.app is not None and "bridge.db" in getattr(server.app, "extensions", {}):
            server.app.view_functions[_health_endpoint(server.app)] = \
                lambda: ({"status": "down"}, 503)

    monkeypatch.setattr(demo.LiveServer, "start", start)
    error = _start_broken(tmp_path, monkeypatch, [])
    assert error.part == "the bridge" and "503" in str(error)


def _health_endpoint(app) -> str:
    return next(rule.endpoint for rule in app.url_map.iter_rules() if rule.rule == "/readyz")


def test_a_healthy_demo_is_ready(tmp_path):
    running = demo.start(tmp_path / "demo")
    try:
        demo.check_ready(running)
    finally:
        running.stop()
