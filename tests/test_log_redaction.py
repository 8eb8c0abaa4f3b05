"""Attacks on the log redaction (issue 11 §11): SQL parameters at debug level, short
secrets that over-match, URL-encoded secrets that slipped through."""

from __future__ import annotations

import io
import logging
from urllib.parse import quote, urlencode

import pytest

from bridge import logs


@pytest.fixture
def debug_logs():
    """The bridge's logging exactly as ``serve`` sets it up, at debug level (its handler
    writing to a buffer instead of stderr)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("debug", "text")
    buffer = io.StringIO()
    next(h for h in root.handlers if h.get_name() == "bridge").setStream(buffer)
    yield buffer.getvalue
    for handler in list(root.handlers):
        if handler.get_name() == "bridge":
            root.removeHandler(handler)
    root.handlers[:], root.level = saved[0], saved[1]
    logs.reset_hidden()


def test_debug_sql_logging_shows_statements_but_no_parameters(app, debug_logs):
    from bridge.db import database
    from bridge.models import AsanaUser

    token = "asana-access-token-0d1e2f3a4b5c"
    with app.app_context():
        AsanaUser.create(gid="1201", email="carol.secret@example.com", name="Carol",
                         access_token=token, refresh_token="refresh-9f8e7d6c5b4a3")
        sealed = database.execute_sql(
            "SELECT access_token, refresh_token FROM asana_user").fetchone()
        AsanaUser.get(AsanaUser.email == "carol.secret@example.com")
        database.close()
    out = debug_logs()
    assert 'INSERT INTO "asana_user"' in out  # the statement is logged: debug is on
    for value in (token, "refresh-9f8e7d6c5b4a3", "carol.secret@example.com", *sealed):
        assert value not in out
    assert "parameters not logged" in out


def test_a_short_secret_is_redacted_only_as_a_whole_word():
    logs.hide("admin")
    try:
        line = logs.redact("login os_username=jira_admin pass admin, admins=admin-team")
    finally:
        logs.reset_hidden()
    assert "jira_admin" in line and "admin-team" in line and "admins" in line
    assert "pass [redacted]," in line


@pytest.mark.parametrize("secret", ["admin", "s3cr3t/with+chars=", "a" * 40])
def test_url_encoded_secrets_are_redacted(secret):
    logs.hide(secret)
    try:
        once = "https://jira.example.com/login?next=" + quote(
            "/x?" + urlencode({"user": "bob", "pw": secret}), safe="")
        form = urlencode({"user": "bob", "pw": secret})
        lines = [logs.redact(once), logs.redact(form), logs.redact(quote(form, safe=""))]
    finally:
        logs.reset_hidden()
    for line in lines:
        assert quote(secret, safe="") not in line and secret not in line, line


def test_url_encoded_oauth_parameters_are_redacted_without_knowing_the_value():
    token = "Rq8vX2mK9LpQ4tZ7"
    for line in (f"GET /plugins/servlet/oauth/authorize?next=%2Fx%3Foauth_token%3D{token}%26a%3D1",
                 f"redirect=%2Fcb%3Foauth_verifier%253D{token}%2526x%253D2"):
        out = logs.redact(line)
        assert token not in out, out
        assert "%26a%3D1" in out or "%2526x%253D2" in out  # what follows is kept
