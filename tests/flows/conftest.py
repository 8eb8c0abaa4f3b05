"""End-to-end fixtures: the bridge, the Asana simulator and Jira simulators, each a real
HTTP server on a free loopback port, started once per session; state is reset per test.

The bridge app is rebuilt per test (on the database under test) and mounted on the
session's bridge server, whose URL is its ``BRIDGE_PUBLIC_URL``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from bridge_sandbox.liveserver import LiveServer
from flask import Flask

from .browser import Browser

ASANA_CLIENT_ID = "1209999999999999"
ASANA_CLIENT_SECRET = "bridge-test-asana-secret-0123456789"
ADMIN_EMAIL = "alice@example.com"
USERS = {"alice@example.com": "alice-password", "bob@example.com": "bob-password"}


@dataclass
class Server:
    server: LiveServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def app(self) -> Flask:
        return self.server.app


@pytest.fixture(scope="session")
def asana_server():
    from bridge_sandbox.asana import create_asana_simulator

    server = LiveServer()
    server.app = create_asana_simulator(base_url=server.url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bridge_server():
    server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jira_servers():
    from bridge_sandbox.jira import create_jira_simulator

    servers: dict[tuple, LiveServer] = {}

    def make(version: str, public_base_url: str | None = None):
        key = (version, public_base_url)
        if key not in servers:
            server = LiveServer()
            server.app = create_jira_simulator(version=version,
                                               base_url=public_base_url or server.url)
            servers[key] = server.start()
        return servers[key]

    yield make
    for server in servers.values():
        server.stop()


@pytest.fixture
def asana(asana_server, bridge_server):
    sim = asana_server.app.sim
    sim.reset()
    sim.register_app(client_id=ASANA_CLIENT_ID, client_secret=ASANA_CLIENT_SECRET,
                     redirect_uris=[bridge_server.url + "/oauth/asana/callback"],
                     name="Jira bridge")
    return asana_server


@pytest.fixture
def jira_factory(jira_servers):
    """``jira_factory(version, public_base_url=None)`` → a reset Jira simulator server."""
    from bridge_sandbox.jira import get_state

    def make(version: str, public_base_url: str | None = None) -> LiveServer:
        server = jira_servers(version, public_base_url)
        state = get_state(server.app)
        state.reset()
        state.set_clock(time.time)
        return server

    return make


def jira_state(server: LiveServer):
    from bridge_sandbox.jira import get_state

    return get_state(server.app)


@pytest.fixture
def bridge(make_app, bridge_server, asana):
    app = make_app(PUBLIC_URL=bridge_server.url, ASANA_BASE_URL=asana.url,
                   ASANA_CLIENT_ID=ASANA_CLIENT_ID, ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET,
                   ADMINS=ADMIN_EMAIL)
    bridge_server.app = app
    yield bridge_server
    bridge_server.app = None
    # A page may leave a request running (a debounced typeahead): let it finish before
    # make_app closes the database under it (closing a SQLite connection another thread is
    # using can crash the interpreter).
    bridge_server.wait_idle(10)


# -- what a person does in the pages ---------------------------------------------------------


def asana_consent(browser: Browser, page, email: str = ADMIN_EMAIL, allow: bool = True):
    assert "/-/oauth_authorize" in page.url, page.url
    return browser.submit(page, email=email, password=USERS[email], button="decision",
                          button_value="allow" if allow else "deny")


def jira_login(browser: Browser, jira: LiveServer, user: str) -> None:
    response = browser.session.post(f"{jira.url}/login.jsp",
                                    data={"os_username": user, "os_password": user},
                                    allow_redirects=False, timeout=15)
    assert response.status_code == 302, response.text


def popup_message(page) -> str:
    """What the popup's final page posts to Asana ('success' or 'error')."""
    found = re.search(r'id="auth-done" data-message="(\w+)" data-target-origin="([^"]+)"',
                      page.text)
    assert found, f"not the final popup page ({page.status_code} {page.url}):\n{page.text[:800]}"
    return found.group(1)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium under Playwright, once per test module (see chromium.py).

    Not once per session: Playwright's sync API runs an event loop in this thread while
    it is started, and other modules (the simulators' page tests) start their own; a
    session-wide one would make theirs fail with "Sync API inside the asyncio loop"."""
    from .chromium import launch

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh browser context and page; JavaScript errors on any page fail the test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    context.on("page", lambda p: p.on("pageerror", lambda exc: errors.append(str(exc))))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors
