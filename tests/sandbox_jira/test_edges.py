"""What happens around Jira rather than in it: the servlet container's request-size limit,
the Date header of the standalone simulator, Seraph's CAPTCHA after failed logins."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode, urlsplit

import requests

from .conftest import login

BOB = ("bob", "bob")


def _long_jql(clauses: int = 2000) -> str:
    return " OR ".join(f"key = EX-{n}" for n in range(1, clauses + 1))


def test_over_long_get_is_refused_like_tomcat_and_post_works(jira):
    jql = _long_jql()
    url = jira.rest("search") + "?" + urlencode({"jql": jql, "validateQuery": "false"})
    assert len(url) > 30_000
    resp = requests.get(url, auth=BOB)
    # Tomcat's maxHttpHeaderSize (8192 in Jira's server.xml): 400 before Jira runs
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "Bad Request" in resp.text
    posted = requests.post(jira.rest("search"), auth=BOB,
                           json={"jql": jql, "validateQuery": False, "fields": ["summary"]})
    assert posted.status_code == 200 and posted.json()["total"] == 3


def test_requests_under_the_limit_pass(jira):
    jql = _long_jql(150)  # ~2.4 KB of JQL, ~4 KB encoded
    resp = requests.get(jira.rest("search"), auth=BOB,
                        params={"jql": jql, "validateQuery": "false"})
    assert resp.status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_sends_one_date_header_from_the_simulated_clock(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from bridge.cli import main; main()",
                             "sandbox", "jira", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base + "/rest/api/2/serverInfo", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        requests.post(base + "/_sim/clock", json={"offset": 3600}, timeout=5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/rest/api/2/serverInfo")
        resp = conn.getresponse()
        resp.read()
        dates = resp.msg.get_all("Date")
        conn.close()
        assert len(dates) == 1, dates
        skew = parsedate_to_datetime(dates[0]).timestamp() - time.time()
        assert 3500 < skew < 3700
    finally:
        proc.terminate()
        proc.wait(10)


def test_three_failed_basic_logins_then_captcha(jira):
    for _ in range(3):
        bad = requests.get(jira.rest("myself"), auth=("alice", "wrong"))
        assert bad.status_code == 401
        assert bad.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    # the right password no longer helps
    for auth in (("alice", "alice"), ("alice", "wrong")):
        denied = requests.get(jira.rest("myself"), auth=auth)
        assert denied.status_code == 403
        assert denied.headers["X-Authentication-Denied-Reason"] == (
            f"CAPTCHA_CHALLENGE; login-url={jira.url}/login.jsp")
        assert denied.headers["X-Seraph-LoginReason"] == "AUTHENTICATION_DENIED"
    # other users are not affected
    assert requests.get(jira.rest("myself"), auth=BOB).status_code == 200
    # signing in through the browser clears it
    login(jira, "alice")
    assert requests.get(jira.rest("myself"), auth=("alice", "alice")).status_code == 200


def test_successful_login_resets_the_count_and_control_clears(jira):
    for _ in range(2):
        requests.get(jira.rest("myself"), auth=("bob", "wrong"))
    assert requests.get(jira.rest("myself"), auth=BOB).status_code == 200
    for _ in range(2):
        requests.get(jira.rest("myself"), auth=("bob", "wrong"))
    assert requests.get(jira.rest("myself"), auth=BOB).status_code == 200
    for _ in range(3):
        requests.get(jira.rest("myself"), auth=("bob", "wrong"))
    assert requests.get(jira.rest("myself"), auth=BOB).status_code == 403
    state = requests.get(jira.url + "/_sim/captcha").json()
    assert state["captcha"] == ["bob"]
    requests.delete(jira.url + "/_sim/captcha/bob")
    assert requests.get(jira.rest("myself"), auth=BOB).status_code == 200


def test_captcha_login_url_keeps_the_context_path():
    from bridge_sandbox.jira import create_jira_simulator
    from bridge_sandbox.liveserver import LiveServer

    server = LiveServer()
    server.app = create_jira_simulator("8.20.0", base_url=server.url + "/jira")
    with server:
        url = server.url + "/jira/rest/api/2/myself"
        for _ in range(3):
            requests.get(url, auth=("bob", "nope"))
        denied = requests.get(url, auth=BOB)
        login_url = denied.headers["X-Authentication-Denied-Reason"].split("login-url=")[1]
        assert urlsplit(login_url).path == "/jira/login.jsp"
