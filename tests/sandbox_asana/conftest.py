"""Fixtures for the Asana simulator tests: servers start once per session over loopback,
state is reset before every test."""

from __future__ import annotations

import pytest
from bridge_sandbox.liveserver import LiveServer

CLIENT_ID = "1200000000000001"
CLIENT_SECRET = "sim-client-secret-0123456789abcdef"
REDIRECT_URI = "http://127.0.0.1:9/oauth/asana/callback"


@pytest.fixture(scope="session")
def sim_server():
    from bridge_sandbox.asana import create_asana_simulator

    server = LiveServer()
    server.app = create_asana_simulator(base_url=server.url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_bridge_server(sim_server):
    from .fake_bridge import create_fake_bridge

    server = LiveServer(create_fake_bridge(CLIENT_SECRET, allowed_origin=sim_server.url,
                                           client_id=CLIENT_ID))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server):
    """The simulator app, reset, with the test OAuth app registered."""
    app = sim_server.app
    app.sim.reset()
    app.sim.register_app(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT_URI],
        name="Jira bridge (test)",
    )
    app.base = sim_server.url
    return app


@pytest.fixture
def fake_bridge(fake_bridge_server):
    fake_bridge_server.app.reset()
    return fake_bridge_server
