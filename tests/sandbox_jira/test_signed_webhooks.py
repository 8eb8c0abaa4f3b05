"""Jira DC 10+ signs webhook deliveries with the secret given at registration, and can
deliver late and out of order (issue 17.1); Jira 9 and older sign nothing."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import requests
from bridge_sandbox.liveserver import LiveServer
from flask import Flask, request

ADMIN = ("admin", "admin")


@pytest.fixture(scope="module")
def raw_receiver():
    """Records the raw body and headers of each delivery."""
    app = Flask("raw-receiver")
    app.received = []

    @app.post("/hook")
    def hook():
        app.received.append((request.get_data(), dict(request.headers)))
        return "", 204

    with LiveServer(app) as server:
        server.received = app.received
        yield server


def _register(jira, url, **extra):
    return requests.post(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN, json={
        "name": "bridge", "url": url, "events": ["jira:issue_updated"],
        "excludeBody": False, **extra}, timeout=5)


def _change(jira, **fields):
    assert requests.post(f"{jira.url}/_sim/issues/EX-1", json=fields,
                         timeout=5).status_code == 200


@pytest.mark.parametrize("version", ["10.3.19", "11.1.0"])
def test_dc10_signs_the_raw_body_with_the_secret(jira_factory, raw_receiver, version):
    jira = jira_factory(version)
    jira.state.configure(basic_auth=True)  # 11 ships with it off; registered by password here
    raw_receiver.received.clear()
    created = _register(jira, raw_receiver.url + "/hook", secret="s3cret-value")
    assert created.status_code == 201
    assert "secret" not in created.json()  # never shown back
    listed = requests.get(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN, timeout=5)
    assert "s3cret-value" not in listed.text
    _change(jira, status="In Progress")
    jira.state.webhook_dispatcher.wait()
    [(raw, headers)] = raw_receiver.received
    expected = hmac.new(b"s3cret-value", raw, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature"] == f"sha256={expected}"


def test_dc10_without_a_secret_signs_nothing(jira_factory, raw_receiver):
    jira = jira_factory("10.3.19")
    raw_receiver.received.clear()
    _register(jira, raw_receiver.url + "/hook")
    _change(jira, status="In Progress")
    jira.state.webhook_dispatcher.wait()
    [(_, headers)] = raw_receiver.received
    assert "X-Hub-Signature" not in headers


def test_jira_9_ignores_the_secret_and_signs_nothing(jira_factory, raw_receiver):
    jira = jira_factory("9.12.0")
    raw_receiver.received.clear()
    assert _register(jira, raw_receiver.url + "/hook", secret="s3cret").status_code == 201
    _change(jira, status="In Progress")
    jira.state.webhook_dispatcher.wait()
    [(_, headers)] = raw_receiver.received
    assert "X-Hub-Signature" not in headers


def test_a_secret_that_is_not_text_is_refused(jira_factory, raw_receiver):
    jira = jira_factory("10.3.19")
    answer = _register(jira, raw_receiver.url + "/hook", secret={"x": 1})
    assert answer.status_code == 400 and "secret" in answer.json()["errors"]


def test_held_deliveries_arrive_late_and_newest_first(jira_factory, raw_receiver):
    import json

    jira = jira_factory("10.3.19")
    raw_receiver.received.clear()
    _register(jira, raw_receiver.url + "/hook", secret="k")
    jira.state.configure(webhook_hold=True)
    _change(jira, status="In Progress")
    jira.state.advance(2)
    _change(jira, status="Done")
    jira.state.webhook_dispatcher.wait()
    assert raw_receiver.received == []  # held back
    assert jira.state.webhook_dispatcher.release(order="reverse") == 2
    stamps = [json.loads(raw)["timestamp"] for raw, _ in raw_receiver.received]
    assert len(stamps) == 2 and stamps[0] > stamps[1]  # newest first
    statuses = [json.loads(raw)["issue"]["fields"]["status"]["name"]
                for raw, _ in raw_receiver.received]
    assert statuses == ["Done", "In Progress"]


def test_basic_auth_is_off_by_default_on_jira_11(jira_factory):
    jira = jira_factory("11.1.0")
    answer = requests.get(jira.rest("myself"), auth=ADMIN, timeout=5)
    assert answer.status_code == 401
    assert answer.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert jira.state.failed_logins.get("admin", 0) == 0  # the password is never checked
    # the browser login page still works
    login = requests.post(f"{jira.url}/login.jsp", data={"os_username": "admin",
                                                         "os_password": "admin"},
                          allow_redirects=False, timeout=5)
    assert login.status_code == 302


@pytest.mark.parametrize("version", ["9.12.0", "10.3.19"])
def test_basic_auth_can_be_turned_off_on_any_profile(jira_factory, version):
    jira = jira_factory(version)
    assert requests.get(jira.rest("myself"), auth=ADMIN, timeout=5).status_code == 200
    jira.state.configure(basic_auth=False)
    assert requests.get(jira.rest("myself"), auth=ADMIN, timeout=5).status_code == 401
