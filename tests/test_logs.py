"""Secrets never reach the logs or an error body (ARCHITECTURE §8)."""

import io
import json
import logging

import pytest
from flask import request

from bridge import logs

TOKEN = "tok-5f3a9c1e7b2d4a60"
SECRET = "cs-9b8a7c6d5e4f3a2b1c0d"


@pytest.fixture
def log_stream():
    """The bridge's real handler (with its redacting filter) writing to a buffer."""
    stream = io.StringIO()
    handler = logs.make_handler("text", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {TOKEN}",
        f"headers={{'Authorization': 'OAuth oauth_token=\"{TOKEN}\", oauth_signature=\"x\"'}}",
        f"POST /token grant_type=refresh_token&refresh_token={TOKEN}&client_secret={SECRET}",
        f'{{"access_token": "{TOKEN}", "token_type": "bearer"}}',
        f"GET /rest/api/2/myself?oauth_token={TOKEN}&oauth_signature=abc",
        f"basic auth: Basic {TOKEN}",
        "-----BEGIN PRIVATE KEY-----\nMIIEv" + TOKEN + "\n-----END PRIVATE KEY-----",
        f'{{"client_secret": "{SECRET}\\"{TOKEN}", "x": 1}}',
        f"password: {TOKEN}",
    ],
)
def test_redact_removes_credentials(line):
    out = logs.redact(line)
    assert TOKEN not in out
    assert SECRET not in out
    assert logs.REDACTED in out


def test_redact_keeps_ordinary_text():
    assert logs.redact("linked EX-12 to task 1234") == "linked EX-12 to task 1234"
    # The bridge's own error codes stay readable in its logs.
    line = "request.failed error_code=jira_reconnect status=401"
    assert logs.redact(line) == line


def test_registered_secret_is_redacted_anywhere():
    logs.register_secret("a-configured-secret-value")
    assert "a-configured-secret-value" not in logs.redact("x=a-configured-secret-value;")


def test_token_in_a_failing_request_reaches_neither_log_nor_response(make_app, log_stream):
    app = make_app(ASANA_CLIENT_ID="123", ASANA_CLIENT_SECRET=SECRET,
                   PUBLIC_URL="https://bridge.example.com")

    @app.get("/explode")
    def explode():
        # A handler that fails while holding credentials, as a Jira call gone wrong would.
        auth = request.headers["Authorization"]
        logging.getLogger("bridge.jira").warning("calling Jira with %s", auth)
        raise RuntimeError(f"Jira said no to {auth} and {request.args['access_token']} "
                           f"using {SECRET}")

    client = app.test_client()
    response = client.get(f"/explode?access_token={TOKEN}",
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert TOKEN not in body and SECRET not in body
    error = json.loads(body)["error"]
    assert error["code"] == "internal_error" and error["request_id"]

    logged = log_stream.getvalue()
    assert "RuntimeError" in logged  # the failure is logged, with its traceback ...
    assert "request.crashed" in logged
    assert TOKEN not in logged and SECRET not in logged  # ... but not the credentials


def test_json_log_format_is_one_object_a_line_and_redacted():
    stream = io.StringIO()
    logger = logging.getLogger("bridge.test.json")
    handler = logs.make_handler("json", stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("refresh with refresh_token=%s", TOKEN, extra={"instance": 4})
    finally:
        logger.removeHandler(handler)
    record = json.loads(stream.getvalue().strip())
    assert record["level"] == "info" and record["logger"] == "bridge.test.json"
    assert record["instance"] == 4
    assert TOKEN not in record["message"]
