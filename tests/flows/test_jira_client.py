"""The bridge's Jira client against the simulator: version-aware create metadata (§3.7),
error mapping (§1.5, §3.11), redirects and timeouts."""

from __future__ import annotations

import pytest

from bridge.jira import versions
from bridge.jira.client import JiraClient
from bridge.jira.errors import (
    JiraInvalidInput,
    JiraMisconfigured,
    JiraNotFound,
    JiraPermissionDenied,
    JiraRateLimited,
    JiraUnavailable,
)

from .conftest import jira_state


def _basic(user: str):
    return (user, user)


@pytest.mark.parametrize(("version", "paged"), [("7.13.0", False), ("8.20.0", True),
                                                ("9.12.0", True), ("10.3.0", True)])
def test_create_metadata_uses_the_form_the_version_has(jira_factory, version, paged):
    jira = jira_factory(version)
    client = JiraClient(jira.url, _basic("alice"))
    types = client.issue_types("EX")
    assert sorted(t["name"] for t in types) == ["Bug", "Sub-task", "Task"]
    fields = client.create_fields("EX", "1")
    by_id = {f["fieldId"]: f for f in fields}
    assert by_id["summary"]["required"] is True
    paths = [r["path"] for r in jira_state(jira).request_log]
    used_paged = any("/createmeta/EX/issuetypes" in p for p in paths)
    used_old = any(p.endswith("/issue/createmeta") for p in paths)
    assert (used_paged, used_old) == (paged, not paged)
    assert client.version == versions.parse(version)


@pytest.mark.parametrize("version", ["7.13.0", "8.20.0", "10.3.0"])
def test_creatable_projects_leave_out_those_the_user_may_only_browse(jira_factory, version):
    jira = jira_factory(version)
    alice = JiraClient(jira.url, _basic("alice"))
    assert [p["key"] for p in alice.creatable_projects()] == ["EX", "SEC"]
    jira_state(jira).projects["SEC"]["permissionScheme"]["CREATE_ISSUES"] = ["user:nobody"]
    projects = JiraClient(jira.url, _basic("alice")).creatable_projects()
    assert [p["key"] for p in projects] == ["EX"]
    assert set(projects[0]) == {"key", "name", "id"} and projects[0]["id"].isdigit()


def test_create_metadata_pages_until_is_last(jira_factory):
    jira = jira_factory("10.3.0")
    client = JiraClient(jira.url, _basic("alice"))
    fields = client._paged(JiraClient.CREATEMETA_FIELDS.format(project="EX", issuetype="1"),
                           page_size=2)
    assert len(fields) == len({f["fieldId"] for f in fields}) > 2
    starts = [r for r in jira_state(jira).request_log if "/issuetypes/1" in r["path"]]
    assert len(starts) >= 2  # more than one page was fetched


def test_unknown_project_and_issue(jira_factory):
    jira = jira_factory("8.20.0")
    client = JiraClient(jira.url, _basic("alice"))
    with pytest.raises(JiraNotFound):
        client.issue("EX-999")
    with pytest.raises((JiraNotFound, JiraInvalidInput)):
        client.issue_types("NOPE")


def test_hidden_issue_is_not_found_for_bob(jira_factory):
    jira = jira_factory("8.20.0")
    assert JiraClient(jira.url, _basic("alice")).issue("SEC-1")["key"] == "SEC-1"
    with pytest.raises(JiraNotFound):
        JiraClient(jira.url, _basic("bob")).issue("SEC-1")


def test_field_errors_are_kept_for_the_form(jira_factory):
    jira = jira_factory("8.20.0")
    with pytest.raises(JiraInvalidInput) as err:
        JiraClient(jira.url, _basic("alice")).create_issue(
            {"project": {"key": "EX"}, "issuetype": {"id": "1"}})
    assert "summary" in err.value.field_errors


def test_creating_in_a_project_the_user_cannot_see_is_refused(jira_factory):
    jira = jira_factory("8.20.0")
    with pytest.raises((JiraPermissionDenied, JiraInvalidInput)):
        JiraClient(jira.url, _basic("bob")).create_issue(
            {"project": {"key": "SEC"}, "issuetype": {"id": "3"}, "summary": "x"})
    assert not jira_state(jira).issues.get("SEC-2")


def test_rate_limit_carries_retry_after(jira_factory):
    jira = jira_factory("10.3.0")
    jira_state(jira).configure(rate_limit={"limit": 1, "interval_seconds": 60,
                                           "fill_rate": 1})
    client = JiraClient(jira.url, _basic("alice"))
    client.myself()
    with pytest.raises(JiraRateLimited) as err:
        client.myself()
    assert err.value.retry_after is not None and err.value.retry_after > 0


def test_server_errors_and_dropped_connections_are_unavailable(jira_factory):
    jira = jira_factory("8.20.0")
    client = JiraClient(jira.url, _basic("alice"))
    jira_state(jira).add_fault("error", status=503)
    with pytest.raises(JiraUnavailable):
        client.myself()
    jira_state(jira).add_fault("drop")
    with pytest.raises(JiraUnavailable):
        client.myself()


def test_slow_jira_times_out(jira_factory):
    jira = jira_factory("8.20.0")
    jira_state(jira).add_fault("slow", delay=2.0)
    with pytest.raises(JiraUnavailable, match="did not answer in time"):
        JiraClient(jira.url, _basic("alice"), timeout=0.5).myself()


def test_redirects_are_not_followed(jira_factory):
    jira = jira_factory("8.22.0")
    # Jira's pages send anonymous users to login.jsp: a 302 the client must not follow.
    client = JiraClient(jira.url, None)
    with pytest.raises(JiraMisconfigured) as err:
        client.request("GET", "/plugins/servlet/oauth2/consent")
    assert err.value.problem == "redirect"
    assert not any(r["path"] == "/login.jsp" for r in jira_state(jira).request_log)


def test_search_and_projects_follow_the_users_permissions(jira_factory):
    jira = jira_factory("9.12.0")
    alice, bob = JiraClient(jira.url, _basic("alice")), JiraClient(jira.url, _basic("bob"))
    found = alice.search("key = SEC-1", fields=("summary", "status"))
    assert [i["key"] for i in found["issues"]] == ["SEC-1"]
    assert set(found["issues"][0]["fields"]) >= {"summary", "status"}
    assert {p["key"] for p in alice.projects()} == {"EX", "SEC"}
    assert {p["key"] for p in bob.projects()} == {"EX"}
    with pytest.raises(JiraInvalidInput) as err:
        alice.search("key = EX-999")
    assert "does not exist" in " ".join(err.value.messages)


def _keep_alive_jira(seen: list):
    """A keep-alive HTTP/1.1 server answering an issue with a session cookie as Jira
    sets one (the simulator sets it at a login only); ``seen`` gets
    ``(client address, Cookie header)`` of each request."""
    import http.server
    import json
    import threading

    class KeepAlive(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - the standard library's name
            seen.append((self.client_address, self.headers.get("Cookie")))
            body = json.dumps({"id": "10000", "key": "EX-1", "fields": {}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", "JSESSIONID=A1B2C3; Path=/; HttpOnly")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_calls_to_one_jira_reuse_one_kept_alive_connection_and_carry_no_cookie():
    """Jira (Tomcat) keeps HTTP/1.1 connections alive, and every client of one instance
    shares its pooled session (``session_for``): two widget reads, even with two users'
    clients, cost one TCP connection, so no TLS handshake and no name resolution per
    call (a new connection is resolved and its address checked, docs/outbound-http.md).
    Shared by every user, that session keeps no cookie: the session Jira opened while
    answering Alice is not sent with Bob's token."""
    from bridge.jira.signing import BearerAuth

    seen: list = []
    server = _keep_alive_jira(seen)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for token in ("alice-token", "bob-token"):
            assert JiraClient(url, BearerAuth(token)).issue("EX-1")["key"] == "EX-1"
        assert len(seen) == 2
        assert seen[0][0] == seen[1][0]  # one connection: the same client port
        assert seen[1][1] is None  # no JSESSIONID of Alice's with Bob's call
    finally:
        server.shutdown()
        server.server_close()


def test_the_simulator_lets_users_of_one_jira_share_one_connection(jira_factory):
    """The simulator keeps connections alive as Jira's Tomcat does, so the pooled session
    (``session_for``) is exercised: Alice's and Bob's reads ride on one connection."""
    jira = jira_factory("9.12.0")
    opened = jira.connections
    for user in ("alice", "bob", "alice", "bob"):
        assert JiraClient(jira.url, _basic(user)).issue("EX-1")["key"] == "EX-1"
    assert jira.connections - opened <= 1  # none when a pooled one was still open
