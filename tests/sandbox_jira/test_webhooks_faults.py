"""Webhooks, rate limiting, latency, fault injection and the /_sim control API."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from bridge_sandbox.liveserver import LiveServer
from flask import Flask, request

ADMIN = ("admin", "admin")
BOB = ("bob", "bob")


@pytest.fixture(scope="module")
def receiver():
    """A loopback endpoint that records webhook POSTs."""
    app = Flask("receiver")
    app.received = []

    @app.post("/hook")
    def hook():
        app.received.append(request.get_json())
        return "", 204

    with LiveServer(app) as server:
        server.received = app.received
        yield server


def register(jira, url, events=("jira:issue_updated", "jira:issue_created")):
    return requests.post(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN, json={
        "name": "bridge", "url": url, "events": list(events), "excludeBody": False})


def test_webhook_registration_is_admin_only_and_loopback_only(jira, receiver):
    url = f"{jira.url}/rest/webhooks/1.0/webhook"
    body = {"name": "b", "url": receiver.url + "/hook", "events": ["jira:issue_updated"]}
    assert requests.post(url, auth=BOB, json=body).status_code == 403
    assert requests.post(url, json=body).status_code == 401
    outside = requests.post(url, auth=ADMIN, json=dict(body, url="https://example.com/hook"))
    assert outside.status_code == 400 and "url" in outside.json()["errors"]
    created = register(jira, receiver.url + "/hook")
    assert created.status_code == 201
    hook = created.json()
    assert hook["self"].startswith(f"{jira.url}/rest/webhooks/1.0/webhook/")
    assert [h["name"] for h in requests.get(url, auth=ADMIN).json()] == ["bridge"]
    assert requests.delete(hook["self"], auth=ADMIN).status_code == 204
    assert requests.get(url, auth=ADMIN).json() == []


def test_status_change_via_control_endpoint_fires_issue_updated(jira, receiver):
    receiver.received.clear()
    register(jira, receiver.url + "/hook")
    resp = requests.post(f"{jira.url}/_sim/issues/EX-1",
                         json={"status": "In Progress", "assignee": "bob"})
    assert resp.status_code == 200
    jira.state.webhook_dispatcher.wait()
    [event] = receiver.received
    assert event["webhookEvent"] == "jira:issue_updated"
    assert event["issue"]["key"] == "EX-1"
    assert event["issue"]["fields"]["status"]["name"] == "In Progress"
    items = {i["field"]: i for i in event["changelog"]["items"]}
    assert items["status"]["fromString"] == "Open" and items["status"]["toString"] == "In Progress"
    assert items["assignee"]["to"] == "bob"
    issue = requests.get(jira.rest("issue/EX-1"), auth=BOB).json()["fields"]
    assert issue["assignee"]["name"] == "bob"
    assert issue["updated"] != "2026-11-20T10:15:30.000+0000"


def test_issue_created_event_and_python_api(jira, receiver):
    receiver.received.clear()
    register(jira, receiver.url + "/hook")
    requests.post(jira.rest("issue"), auth=BOB, json={"fields": {
        "project": {"key": "EX"}, "issuetype": {"id": "3"}, "summary": "New"}})
    jira.state.update_issue("EX-2", {"status": "10001"})
    jira.state.webhook_dispatcher.wait()
    assert sorted(e["webhookEvent"] for e in receiver.received) == [
        "jira:issue_created", "jira:issue_updated"]
    assert len(jira.state.webhook_deliveries) == 2
    assert all(d["status"] == 204 for d in jira.state.webhook_deliveries)


def test_webhook_jql_filter(jira, receiver):
    receiver.received.clear()
    requests.post(f"{jira.url}/rest/webhooks/1.0/webhook", auth=ADMIN, json={
        "name": "sec only", "url": receiver.url + "/hook", "events": ["jira:issue_updated"],
        "filters": {"issue-related-events-section": "project = SEC"}})
    jira.state.update_issue("EX-1", {"assignee": None})
    jira.state.update_issue("SEC-1", {"assignee": "admin"})
    jira.state.webhook_dispatcher.wait()
    assert [e["issue"]["key"] for e in receiver.received] == ["SEC-1"]


def test_rate_limiting_token_bucket(jira):
    jira.state.configure(rate_limit={"limit": 2, "interval_seconds": 60, "fill_rate": 1})
    first = requests.get(jira.rest("myself"), auth=BOB)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert first.headers["X-RateLimit-Interval-Seconds"] == "60"
    assert first.headers["X-RateLimit-FillRate"] == "1"
    assert first.headers["retry-after"] == "0"
    assert requests.get(jira.rest("myself"), auth=BOB).status_code == 200
    limited = requests.get(jira.rest("myself"), auth=BOB)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    # per user: alice still has her bucket; anonymous calls are not limited
    assert requests.get(jira.rest("myself"), auth=("alice", "alice")).status_code == 200
    assert requests.get(jira.rest("serverInfo")).status_code == 200
    jira.state.advance(60)
    assert requests.get(jira.rest("myself"), auth=BOB).status_code == 200


def test_rate_limiting_off_by_default(jira):
    resp = requests.get(jira.rest("myself"), auth=BOB)
    assert "X-RateLimit-Limit" not in resp.headers


def test_error_faults_for_next_n_requests(jira):
    jira.state.add_fault("error", count=2, status=503)
    assert requests.get(jira.rest("serverInfo")).status_code == 503
    assert requests.get(jira.rest("serverInfo")).status_code == 503
    assert requests.get(jira.rest("serverInfo")).status_code == 200


def test_faults_via_http_control_and_path_prefix(jira):
    resp = requests.post(f"{jira.url}/_sim/faults", json={
        "kind": "error", "count": 1, "status": 500, "path_prefix": "/rest/api/2/search"})
    assert resp.status_code == 200 and len(resp.json()) == 1
    assert requests.get(jira.rest("serverInfo")).status_code == 200
    assert requests.get(jira.rest("search"), auth=BOB).status_code == 500
    assert requests.get(f"{jira.url}/_sim/faults").json() == []


def test_dropped_connection(jira):
    jira.state.add_fault("drop")
    with pytest.raises(requests.ConnectionError):
        requests.get(jira.rest("serverInfo"))
    assert requests.get(jira.rest("serverInfo")).status_code == 200


def test_slow_response_and_latency(jira):
    jira.state.add_fault("slow", delay=0.3)
    start = time.monotonic()
    assert requests.get(jira.rest("serverInfo")).status_code == 200
    assert time.monotonic() - start >= 0.3
    jira.state.configure(latency=0.2)
    start = time.monotonic()
    requests.get(jira.rest("serverInfo"))
    assert time.monotonic() - start >= 0.2
    with pytest.raises(requests.Timeout):
        jira.state.add_fault("slow", delay=0.6)
        requests.get(jira.rest("serverInfo"), timeout=0.3)


def test_a_held_upload_is_received_whole_and_stored_only_when_released(jira):
    """Jira still writing a file it has whole: the answer waits, the client may be gone."""
    held = jira.state.add_fault("hold", path_prefix="/rest/api/2/issue/EX-1/attachments")
    answers = []
    upload = threading.Thread(target=lambda: answers.append(requests.post(
        jira.rest("issue/EX-1/attachments"), auth=BOB, files={"file": ("a.txt", b"hello")},
        headers={"X-Atlassian-Token": "no-check"})))
    upload.start()
    assert held.received.wait(10)
    time.sleep(0.2)
    assert not [a for a in jira.state.attachments.values() if a["filename"] == "a.txt"]
    assert answers == []
    # the next upload is not held (count=1)
    other = requests.post(jira.rest("issue/EX-1/attachments"), auth=BOB,
                          files={"file": ("b.txt", b"x")},
                          headers={"X-Atlassian-Token": "no-check"})
    assert other.status_code == 200
    held.release()
    upload.join(10)
    assert answers[0].status_code == 200 and answers[0].json()[0]["filename"] == "a.txt"
    assert requests.get(f"{jira.url}/_sim/faults").json() == []


def test_control_endpoints(jira):
    ctl = f"{jira.url}/_sim"
    from .conftest import PUBLIC_KEY

    consumer = requests.post(f"{ctl}/oauth1/consumers",
                             json={"key": "k1", "name": "K1", "public_key": PUBLIC_KEY})
    assert consumer.status_code == 201 and consumer.json()["applinkId"]
    assert requests.post(f"{ctl}/oauth2/clients", json={
        "name": "x", "redirect_uri": "https://x/cb"}).status_code == 404  # 8.20: no OAuth2
    before = requests.get(f"{ctl}/state").json()["clock"]
    requests.post(f"{ctl}/clock", json={"advance": 3600})
    assert requests.get(f"{ctl}/state").json()["clock"] >= before + 3600
    assert requests.post(f"{ctl}/settings", json={"upload_limit": 5}).json()["upload_limit"] == 5
    assert requests.post(f"{ctl}/settings", json={"nope": 1}).status_code == 400
    assert requests.post(f"{ctl}/issues/EX-1", json={"status": "Nope"}).status_code == 400
    assert requests.post(f"{ctl}/issues/EX-99", json={"status": "Done"}).status_code == 404
    assert requests.post(f"{ctl}/reset").json() == {"reset": True}
    state = requests.get(f"{ctl}/state").json()
    assert state["consumers"] == [] and state["settings"]["upload_limit"] == 10485760


def test_control_endpoint_creates_oauth2_client_on_8_22(jira822):
    resp = requests.post(f"{jira822.url}/_sim/oauth2/clients", json={
        "name": "Asana", "redirect_uri": "https://bridge.example.com/cb", "scope": "READ"})
    assert resp.status_code == 201
    body = resp.json()
    assert len(body["clientId"]) == 32 and body["scope"] == "READ"
