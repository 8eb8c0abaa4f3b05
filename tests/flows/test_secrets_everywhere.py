"""No secret in any log line or response body, after the real flows at debug level
(issue 11 §14).

The probe's method: run the flows end to end with the bridge logging at debug, keep every
log line and every body the browsers received, then read the real secrets from the
database (tokens, token secrets, refresh tokens, private keys, client secrets, each also
as its sealed column value) and add the ones the test typed (passwords, the Asana app's
secret, the sealing key), and search for each, as written and URL-encoded.
"""

from __future__ import annotations

import io
import logging
import re
from urllib.parse import quote, quote_plus

import pytest
from bridge_sandbox.asana.seed import WORKSPACE

from bridge import logs
from bridge.models import sealed_columns

from .browser import Browser
from .conftest import ASANA_CLIENT_SECRET, USERS, asana_consent, jira_state, popup_message

pytestmark = pytest.mark.e2e

JIRA_ADMIN_PASSWORD = "Jira-Adm1n-Pw-7731"


@pytest.fixture
def debug_log():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("debug", "text")
    buffer = io.StringIO()
    next(h for h in root.handlers if h.get_name() == "bridge").setStream(buffer)
    yield buffer
    root.handlers[:], root.level = saved


class RecordingBrowser(Browser):
    """A browser that keeps every body it receives (redirects included); the bridge's
    are searched (the simulators' own pages are not the bridge's to answer for)."""

    def __init__(self, bodies: list):
        super().__init__()
        self.session.hooks["response"].append(
            lambda r, *args, **kwargs: bodies.append((r.url, r.status_code, r.text)))


def _login_jira(browser, jira, user, password):
    answer = browser.session.post(f"{jira.url}/login.jsp",
                                  data={"os_username": user, "os_password": password},
                                  allow_redirects=False, timeout=15)
    assert answer.status_code == 302, answer.text


def _secrets_from_database(app) -> set[str]:
    found: set[str] = set()
    db = app.extensions["bridge.db"]
    with app.app_context():
        for model, column in sealed_columns():
            for row in model.select():
                value = getattr(row, column.name)
                if value:
                    found.add(value)
            table, name = model._meta.table_name, column.column_name
            for (raw,) in db.execute_sql(f"SELECT {name} FROM {table}").fetchall():
                if raw:
                    found.add(raw)
        db.close()
    for value in list(found):
        if "PRIVATE KEY" in value:  # the key's base64 lines, each on its own
            found.update(line for line in value.splitlines() if len(line) >= 40)
    return found


def test_no_secret_in_any_log_line_or_response_body(bridge, jira_factory, debug_log):
    bodies: list[tuple[str, int, str]] = []

    # 1. An admin connects Jira 8.20 by application link, typing Jira's admin password.
    jira1 = jira_factory("8.20.0")
    jira_state(jira1).users["admin"]["password"] = JIRA_ADMIN_PASSWORD
    admin = RecordingBrowser(bodies)
    first = admin.get(f"{bridge.url}/jira/connect", params={"jira": jira1.url})
    page = admin.submit(asana_consent(admin, first))
    values = admin.submit(page, workspace=WORKSPACE)
    done = admin.submit(values, action="/applink", username="admin",
                        password=JIRA_ADMIN_PASSWORD)
    assert "Jira is connected" in done.text, done.text[:500]

    # 2. Alice authorizes her Jira account through the popup (OAuth 1.0a).
    alice = RecordingBrowser(bodies)
    _login_jira(alice, jira1, "alice", "alice")
    consent = asana_consent(alice, alice.get(f"{bridge.url}/asana/auth"))
    assert popup_message(alice.submit(consent, button="approve")) == "success"

    # 3. The admin connects Jira 9.12 with an OAuth 2.0 incoming link and its secret.
    jira2 = jira_factory("9.12.0")
    jira_state(jira2).users["admin"]["password"] = JIRA_ADMIN_PASSWORD
    client = jira_state(jira2).add_oauth2_client("Asana bridge",
                                                 f"{bridge.url}/oauth/jira2/callback")
    setup = admin.get(f"{bridge.url}/setup")  # signed in already
    _login_jira(admin, jira2, "admin", JIRA_ADMIN_PASSWORD)
    approve = admin.submit(setup, workspace=WORKSPACE, jira=jira2.url,
                           client_id=client.client_id, client_secret=client.client_secret)
    assert "Jira is connected" in admin.submit(approve, button="approve").text

    # 4. Bob authorizes on the OAuth 2.0 Jira; his popup picks that instance.
    bob = RecordingBrowser(bodies)
    _login_jira(bob, jira2, "bob", "bob")
    page = asana_consent(bob, bob.get(f"{bridge.url}/asana/auth"), email="bob@example.com")
    assert "Which Jira?" in page.text
    page = bob.get(f"{bridge.url}/asana/auth/jira/{_instance_id(page.text, jira2.url)}")
    assert popup_message(bob.submit(page, button="approve")) == "success"

    secrets = _secrets_from_database(bridge.app)
    assert len(secrets) >= 10, "the flows should have stored tokens, keys and secrets"
    secrets |= {bridge.app.config["BRIDGE"].secret_key, ASANA_CLIENT_SECRET,
                JIRA_ADMIN_PASSWORD, client.client_secret, *USERS.values()}
    log_text = debug_log.getvalue()
    assert "DEBUG" in log_text and "SELECT" in log_text  # debug logging was on
    leaks = []
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form in log_text:
                line = next(x for x in log_text.splitlines() if form in x)
                leaks.append(f"log: {secret[:12]}... in {line[:160]!r}")
            for url, status, text in bodies:
                if url.startswith(bridge.url) and form in text:
                    leaks.append(f"body of {url} ({status}): {secret[:12]}...")
    assert leaks == []


def _instance_id(html: str, base_url: str) -> str:
    found = re.search(r'/asana/auth/jira/(\d+)">[^<]*</a> <code>' + re.escape(base_url), html)
    assert found, html
    return found.group(1)
