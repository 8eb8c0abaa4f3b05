"""Fixtures for the Jira simulator tests: real HTTP over loopback via LiveServer.

One simulator per Jira version is started lazily per test session and reset before every
test that uses it, so tests stay independent and the suite stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import upstream
from bridge_sandbox.jira import create_jira_simulator, get_state
from bridge_sandbox.jira.state import SimState
from bridge_sandbox.liveserver import LiveServer
from flask import Flask

VECTORS = upstream.vectors("oauth1-rsa-sha1.json")
PRIVATE_KEY = VECTORS["private_key_pem"]
PUBLIC_KEY = VECTORS["public_key_pem"]
CONSUMER_KEY = VECTORS["consumer_key"]
CALLBACK = "https://bridge.example.com/oauth1/callback?state=xyz"


@dataclass
class Jira:
    server: LiveServer
    app: Flask

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> SimState:
        return get_state(self.app)

    def rest(self, path: str) -> str:
        return f"{self.url}/rest/api/2/{path.lstrip('/')}"


@pytest.fixture(scope="session")
def jira_factory():
    """``jira_factory(version, public_base_url=None)`` → a started, cached :class:`Jira`.

    ``public_base_url`` sets the Base URL the simulator believes in (proxy mismatch).
    """
    servers: dict[tuple, Jira] = {}

    def make(version: str, public_base_url: str | None = None) -> Jira:
        key = (version, public_base_url)
        if key not in servers:
            server = LiveServer()
            server.app = create_jira_simulator(version=version,
                                               base_url=public_base_url or server.url)
            server.start()
            servers[key] = Jira(server, server.app)
        jira = servers[key]
        jira.state.reset()  # also restores the clock
        return jira

    yield make
    for jira in servers.values():
        jira.server.stop()


@pytest.fixture
def jira(jira_factory) -> Jira:
    """Jira 8.20 — the last version with only OAuth 1.0a."""
    return jira_factory("8.20.0")


@pytest.fixture
def jira822(jira_factory) -> Jira:
    """Jira 8.22 — first version with the OAuth 2.0 provider."""
    return jira_factory("8.22.0")


@pytest.fixture
def consumer(jira):
    return jira.state.add_consumer(CONSUMER_KEY, "Asana Bridge", PUBLIC_KEY)


def login(jira: Jira, user: str, password: str | None = None) -> requests.Session:
    """A browser-like session logged in through ``/login.jsp``."""
    browser = requests.Session()
    resp = browser.post(f"{jira.url}/login.jsp",
                        data={"os_username": user, "os_password": password or user},
                        allow_redirects=False)
    assert resp.status_code == 302, resp.text
    assert "JSESSIONID" in browser.cookies
    return browser


def authorize_oauth1(jira: Jira, request_token: str, user: str = "alice",
                     approve: bool = True) -> requests.Response:
    """Drive the OAuth 1.0a authorize page like a user; returns the redirect response."""
    browser = login(jira, user)
    page = browser.get(f"{jira.url}/plugins/servlet/oauth/authorize",
                       params={"oauth_token": request_token})
    assert page.status_code == 200 and "would like to have read and write access" in page.text
    button = {"approve": "Allow"} if approve else {"deny": "Deny"}
    return browser.post(f"{jira.url}/plugins/servlet/oauth/authorize",
                        data={"oauth_token": request_token, **button}, allow_redirects=False)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def oauth1_tokens(jira, consumer):
    """Run the full 3-legged dance with requests-oauthlib; returns the access-token dict."""
    from oauthlib.oauth1 import SIGNATURE_RSA
    from requests_oauthlib import OAuth1Session

    def dance(user: str = "alice") -> dict:
        oauth = OAuth1Session(CONSUMER_KEY, signature_method=SIGNATURE_RSA, rsa_key=PRIVATE_KEY,
                              callback_uri=CALLBACK)
        rt = oauth.fetch_request_token(f"{jira.url}/plugins/servlet/oauth/request-token")
        redirect = authorize_oauth1(jira, rt["oauth_token"], user=user)
        oauth.parse_authorization_response(redirect.headers["Location"])
        return oauth.fetch_access_token(f"{jira.url}/plugins/servlet/oauth/access-token")

    return dance
