"""The bridge's Jira and Asana calls against a hostile or broken server (issue 11 §2-5,
§12): every entry point goes through bridge/jira's and bridge/asana's guarded sessions,
so these attack the services as an admin or a user reaches them."""

from __future__ import annotations

import json
import socket
import time

import pytest

from bridge.jira.client import JiraClient
from bridge.jira.errors import (
    JiraAnswerTooLarge,
    JiraBadAnswer,
    JiraMisconfigured,
    JiraTimedOut,
)
from bridge.services import instances

from .browser import Browser
from .conftest import (
    ADMIN_EMAIL,
    ASANA_CLIENT_ID,
    ASANA_CLIENT_SECRET,
    asana_consent,
    jira_login,
    jira_state,
    popup_message,
)
from .helpers import oauth2_instance
from .hostile import RawServer, drip_body, drip_headers


@pytest.fixture
def serve():
    servers = []

    def start(handle):
        servers.append(RawServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def answer(body: bytes, status: str = "200 OK", content_type: str = "application/json"):
    def handle(conn, stopped):
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)

    return handle


def endless(conn, stopped):
    """A serverInfo of 400 MB and more, without a Content-Length."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\n\r\n{\"version\": \"")
    block = b"8" * 65536
    for _ in range(400 * 16):
        if stopped.is_set():
            return
        conn.sendall(block)


@pytest.mark.parametrize("handler", [drip_body, drip_headers])
def test_a_dripping_jira_fails_the_probe_at_the_deadline(serve, handler):
    server = serve(handler)
    started = time.monotonic()
    with pytest.raises(JiraTimedOut) as caught:
        instances.probe(server.url, timeout=1.0)
    assert time.monotonic() - started < 2.5
    assert caught.value.public_message == "Jira did not answer in time. Try again later."


def test_a_huge_server_info_is_refused_without_reading_it_whole(serve):
    server = serve(endless)
    started = time.monotonic()
    with pytest.raises(JiraAnswerTooLarge, match="larger than the bridge accepts"):
        instances.probe(server.url, timeout=5.0)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("body", [
    json.dumps({"versionNumbers": ["8", "x"], "version": "8.x"}).encode(),
    json.dumps({"versionNumbers": [8.5, 1], "version": "8.5"}).encode(),
    json.dumps({"versionNumbers": [True], "version": "1"}).encode(),
    json.dumps({"versionNumbers": [10**30], "version": "big"}).encode(),
    json.dumps({"versionNumbers": list(range(100))}).encode(),
    b"[" * 100_000 + b"]" * 100_000,
    b'{"versionNumbers": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b"<html>not json</html>",
    b"",
])
def test_malformed_server_info_is_not_jira_rather_than_a_crash(serve, body):
    server = serve(answer(body))
    with pytest.raises(instances.NotJira):
        instances.probe(server.url, timeout=3.0)


@pytest.mark.parametrize("numbers", [["8", "x"], [8.5, 1], [True], "8.20.0"])
def test_version_numbers_that_are_not_numbers_are_a_bad_answer(serve, numbers):
    """The client reads ``versionNumbers`` (to choose the createmeta form) as the probe
    does (``jira.versions.from_numbers``): what is not whole numbers is Jira's fault, said
    in a sentence, never a crash of the form nor a version guessed from ``int(8.5)``."""
    body = json.dumps({"versionNumbers": numbers, "version": "8.x"}).encode()
    server = serve(answer(body))
    with pytest.raises(JiraBadAnswer, match="not understood"):
        JiraClient(server.url).issue_types("EX")


def test_a_very_long_server_title_and_version_fit_their_columns(serve, app):
    body = {"versionNumbers": [8, 20, 0], "version": "8.20.0-" + "x" * 200,
            "serverTitle": "T" * 5000, "baseUrl": "http://x"}
    server = serve(answer(json.dumps(body).encode()))
    found = instances.probe(server.url, timeout=3.0)
    assert len(found.version) <= 32 and len(found.server_title) <= 255
    with app.app_context():
        instance = instances.create_oauth1_instance("1", found)
        assert instance.name == "T" * 255


def test_a_registered_jira_whose_name_rebinds_to_metadata_is_refused(serve, monkeypatch):
    """Registered instances are re-checked on every connection, not only at probe."""
    server = serve(answer(b'{"name": "alice"}'))
    real = socket.getaddrinfo
    target = {"address": "127.0.0.1"}
    dialled = []
    real_connect = socket.socket.connect

    def resolve(host, port, *args, **kwargs):
        if host == "jira.rebinding.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (target["address"], port))]
        return real(host, port, *args, **kwargs)

    def connect(sock, address):
        dialled.append(address[0])
        assert address[0] == "127.0.0.1", f"tried to dial {address[0]}"
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", connect)
    base = f"http://jira.rebinding.test:{server.port}"
    assert JiraClient(base, timeout=3).get_json("/rest/api/2/myself") == {"name": "alice"}
    target["address"] = "169.254.169.254"
    JiraClient(base, timeout=3).session.close()  # drop pooled connections: a new one
    with pytest.raises(JiraMisconfigured, match="never calls"):
        JiraClient(base, timeout=3).get_json("/rest/api/2/myself")
    assert set(dialled) == {"127.0.0.1"}


# -- flows: the token endpoint and /myself after an exchange (§12) --------------------------


@pytest.fixture
def slow_bridge(make_app, bridge_server, asana):
    app = make_app(PUBLIC_URL=bridge_server.url, ASANA_BASE_URL=asana.url,
                   ASANA_CLIENT_ID=ASANA_CLIENT_ID, ASANA_CLIENT_SECRET=ASANA_CLIENT_SECRET,
                   ADMINS=ADMIN_EMAIL, HTTP_TIMEOUT="1")
    bridge_server.app = app
    yield bridge_server
    bridge_server.app = None


def _popup_to_jira_consent(bridge, jira, user="bob", email="bob@example.com"):
    browser = Browser()
    jira_login(browser, jira, user)
    return browser, asana_consent(browser, browser.get(f"{bridge.url}/asana/auth"),
                                  email=email)


@pytest.mark.e2e
def test_a_token_endpoint_timeout_is_reported_as_a_timeout(slow_bridge, jira_factory):
    jira = jira_factory("9.12.0")
    oauth2_instance(slow_bridge, jira)
    browser, consent = _popup_to_jira_consent(slow_bridge, jira)
    jira_state(jira).add_fault("slow", delay=2.5, path_prefix="/rest/oauth2/latest/token")
    done = browser.submit(consent, button="approve")
    assert popup_message(done) == "error"
    assert "did not answer in time" in done.text
    assert "cannot be reached" not in done.text


@pytest.mark.e2e
def test_a_new_jira_token_is_revoked_when_myself_fails(bridge, jira_factory):
    jira = jira_factory("9.12.0")
    oauth2_instance(bridge, jira)
    browser, consent = _popup_to_jira_consent(bridge, jira)
    jira_state(jira).add_fault("error", status=500, path_prefix="/rest/api/2/myself")
    done = browser.submit(consent, button="approve")
    assert popup_message(done) == "error"
    assert jira_state(jira).oauth2_tokens == {}  # the pair was issued, then revoked


@pytest.mark.e2e
def test_a_new_asana_grant_is_revoked_when_users_me_fails(bridge, asana):
    sim = asana.app.sim
    browser = Browser()
    first = browser.get(f"{bridge.url}/asana/auth")
    sim.rate_limit_per_minute = 0  # /users/me answers 429 right after the code exchange
    done = asana_consent(browser, first, email="bob@example.com")
    assert popup_message(done) == "error"
    assert sim.refresh_tokens == {}  # issued by the exchange, then revoked


@pytest.mark.e2e
def test_the_admin_page_answers_within_the_deadline_for_a_dripping_jira(slow_bridge, serve):
    server = serve(drip_body)
    browser = Browser()
    first = browser.get(f"{slow_bridge.url}/jira/connect", params={"jira": server.url})
    page = asana_consent(browser, first)
    started = time.monotonic()
    result = browser.submit(page)
    assert time.monotonic() - started < 3
    assert result.status_code == 503 and "did not answer in time" in result.text


# -- generated Jira answers (§5) -------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20)
_server_infos = st.fixed_dictionaries(
    {"versionNumbers": st.one_of(st.lists(st.one_of(st.integers(-5, 10**6), st.text(max_size=4),
                                                    st.floats(), st.none(), st.booleans()),
                                          max_size=10), _json)},
    optional={"version": _json, "serverTitle": _json, "baseUrl": _json,
              "deploymentType": st.sampled_from(["Server", "Cloud", "cloud", 5, None])})
_bodies = st.one_of(_server_infos.map(lambda d: json.dumps(d).encode()),
                    _json.map(lambda d: json.dumps(d).encode()),
                    st.binary(max_size=200),
                    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n))


@pytest.fixture(scope="module")
def jira_of_the_moment():
    """One loopback server answering whatever body the current example put in ``body``."""
    current = {"body": b"{}", "status": "200 OK"}

    def handle(conn, stopped):
        body = current["body"]
        conn.sendall(f"HTTP/1.1 {current['status']}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)

    server = RawServer(handle)
    yield server, current
    server.close()


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, status=st.sampled_from(["200 OK", "200 OK", "404 Not Found",
                                              "500 Server Error", "401 Unauthorized"]))
def test_the_probe_answers_any_jira_body_with_a_result_or_a_sentence(jira_of_the_moment,
                                                                     body, status):
    from bridge.errors import BridgeError

    server, current = jira_of_the_moment
    current.update(body=body, status=status)
    try:
        found = instances.probe(server.url, timeout=3.0)
    except BridgeError as exc:
        assert exc.public_message and exc.status < 600
        return
    assert all(isinstance(n, int) for n in found.version_numbers)
    assert len(found.version) <= 32 and len(found.server_title) <= 255
