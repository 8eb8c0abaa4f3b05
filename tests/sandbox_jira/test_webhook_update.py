"""A registered webhook is replaced by a PUT on its ``self`` URL (the webhooks plugin's
resource; UNCONFIRMED by the references, docs/jira-server.md §9): the body is a whole
registration, validated as a POST's, and Jira's deliveries follow the new filter."""

from __future__ import annotations

import itertools

import pytest
import requests
from bridge_sandbox.liveserver import LiveServer
from flask import Flask, request

ADMIN = ("admin", "admin")
_CHANGES = itertools.count()  # each change a new summary (an unchanged one fires nothing)
BOB = ("bob", "bob")


@pytest.fixture(scope="module")
def receiver():
    app = Flask("receiver")
    app.received = []

    @app.post("/hook")
    def hook():
        app.received.append(request.get_json())
        return "", 204

    with LiveServer(app) as server:
        server.received = app.received
        yield server


def _body(url, jql, **extra):
    return {"name": "bridge", "url": url, "events": ["jira:issue_updated"],
            "filters": {"issue-related-events-section": jql}, "excludeBody": False, **extra}


def _keys_delivered(jira, receiver):
    for key in ("EX-1", "SEC-1"):
        jira.state.update_issue(key, {"summary": f"changed {key} {next(_CHANGES)}"})
    jira.state.webhook_dispatcher.wait()
    keys = sorted(e["issue"]["key"] for e in receiver.received)  # threads: any order
    receiver.received.clear()
    return keys


def test_a_put_on_self_replaces_the_filter_and_deliveries_follow(jira, receiver):
    receiver.received.clear()
    created = requests.post(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN,
                            json=_body(receiver.url + "/hook", 'project in ("EX")'), timeout=5)
    assert created.status_code == 201
    hook = created.json()
    assert _keys_delivered(jira, receiver) == ["EX-1"]
    updated = requests.put(hook["self"], auth=ADMIN, timeout=5, json=_body(
        receiver.url + "/hook", 'project in ("EX", "SEC")'))
    assert updated.status_code == 200
    assert updated.json()["self"] == hook["self"]
    assert updated.json()["filters"] == {"issue-related-events-section":
                                         'project in ("EX", "SEC")'}
    listed = requests.get(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN, timeout=5).json()
    assert len(listed) == 1 and listed[0]["self"] == hook["self"]
    assert _keys_delivered(jira, receiver) == ["EX-1", "SEC-1"]
    assert jira.state.webhook_updates == [int(hook["self"].rsplit("/", 1)[1])]


def test_a_put_is_admin_only_validated_and_404_for_an_unknown_webhook(jira, receiver):
    hook = requests.post(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN, timeout=5,
                         json=_body(receiver.url + "/hook", "project = EX")).json()
    good = _body(receiver.url + "/hook", "project = SEC")
    assert requests.put(hook["self"], auth=BOB, json=good, timeout=5).status_code == 403
    assert requests.put(hook["self"], json=good, timeout=5).status_code == 401
    bad = requests.put(hook["self"], auth=ADMIN, timeout=5,
                       json=dict(good, url="https://example.com/hook", events=[]))
    assert bad.status_code == 400 and {"url", "events"} <= set(bad.json()["errors"])
    kept = requests.get(hook["self"], auth=ADMIN, timeout=5).json()
    assert kept["filters"] == {"issue-related-events-section": "project = EX"}  # unchanged
    gone = hook["self"].rsplit("/", 1)[0] + "/999"
    assert requests.put(gone, auth=ADMIN, json=good, timeout=5).status_code == 404
    assert not jira.state.webhook_updates


def test_a_put_replaces_the_whole_registration_secret_included(jira_factory, receiver):
    """On DC 10 the secret is part of the registration: a PUT without it leaves the
    webhook unsigned, one with it signs with the new secret."""
    jira = jira_factory("10.3.19")
    hook = requests.post(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN, timeout=5,
                         json=_body(receiver.url + "/hook", "", secret="first")).json()
    hook_id = int(hook["self"].rsplit("/", 1)[1])
    assert jira.state.webhooks[hook_id]["secret"] == "first"
    requests.put(hook["self"], auth=ADMIN, timeout=5,
                 json=_body(receiver.url + "/hook", "", secret="second"))
    assert jira.state.webhooks[hook_id]["secret"] == "second"
    assert "secret" not in requests.get(hook["self"], auth=ADMIN, timeout=5).json()
    requests.put(hook["self"], auth=ADMIN, timeout=5, json=_body(receiver.url + "/hook", ""))
    assert jira.state.webhooks[hook_id]["secret"] is None
