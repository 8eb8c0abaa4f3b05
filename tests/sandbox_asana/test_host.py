"""The App Components host signs and shapes requests exactly as Asana does (reference §3-§5)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from urllib.parse import parse_qsl

import pytest
import requests
import upstream
from bridge_sandbox.asana import signing
from bridge_sandbox.asana.host import AppComponentsHost
from bridge_sandbox.asana.validator import ResponseInvalid

from .conftest import CLIENT_SECRET

IDS = {"workspace": "1100000000000001", "user": "1300000000000001"}


def _vectors():
    return upstream.vectors("asana-signature.json")


@pytest.mark.parametrize("case", _vectors()["cases"], ids=lambda c: c["name"])
def test_signature_matches_independent_vectors(case):
    secret = _vectors()["client_secret"]
    assert signing.sign(secret, case["message"]) == case["x_asana_request_signature"]
    assert signing.verify(secret, case["message"], case["x_asana_request_signature"])
    assert not signing.verify(secret, case["message"] + " ", case["x_asana_request_signature"])


@pytest.mark.upstream
def test_signature_matches_upstream_vectors():
    theirs = upstream.shared_json("vectors", "asana-signature.json")
    for case in theirs["cases"]:
        assert signing.sign(theirs["client_secret"], case["message"]) == \
            case["x_asana_request_signature"], case["name"]


def test_host_get_reproduces_vector_message_and_signature():
    vec = _vectors()
    host = AppComponentsHost("https://bridge.example.com", vec["client_secret"],
                             clock=lambda: _ts("2026-12-01T09:59:00.000Z"))
    signed = host.prepare("widget", workspace="12345", task="23456", user="34567",
                          attachment="45678", resource_url="https://jira.example.com/browse/EX-1")
    assert signed.message == vec["cases"][0]["message"]
    assert signed.headers[signing.HEADER] == vec["cases"][0]["x_asana_request_signature"]
    assert signed.url == "https://bridge.example.com/asana/widget?" + signed.message


def _ts(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def host(fake_bridge):
    return AppComponentsHost(fake_bridge.url, CLIENT_SECRET)


def test_widget_get_is_signed_over_raw_query(host, fake_bridge):
    before = time.time()
    resp = host.widget(attachment="9", task="2", resource_url="https://jira.example.com/browse/EX-1",
                       **IDS)
    assert resp.status == 200, resp.body
    call = fake_bridge.app.config["CALLS"][-1]
    assert call["method"] == "GET"
    assert signing.verify(CLIENT_SECRET, call["message"], call["signature"])
    keys = [k for k, _ in parse_qsl(call["message"])]
    assert keys == ["workspace", "task", "user", "locale", "attachment", "expires_at",
                    "resource_url"]
    assert "resource_url=https%3A%2F%2Fjira.example.com%2Fbrowse%2FEX-1" in call["message"]
    expires = _ts(dict(parse_qsl(call["message"]))["expires_at"])
    assert before < expires <= time.time() + 120  # near future, not far
    assert call["payload"]["expires_at"].endswith("Z")


def test_typeahead_carries_query_and_no_task_for_rule_forms(host, fake_bridge):
    resp = host.typeahead("assignee", workspace=IDS["workspace"], user=IDS["user"],
                          query="bob b")
    assert resp.status == 200 and resp.body["items"][0]["value"] == "bob"
    call = fake_bridge.app.config["CALLS"][-1]
    assert call["path"] == "/asana/typeahead/assignee"
    assert "query=bob%20b" in call["message"]
    assert "task" not in dict(parse_qsl(call["message"]))


def test_post_body_is_data_string_signed_as_sent(host, fake_bridge):
    values = {"project": "EX", "summary": "Läuft nicht", "copy": ["yes"]}
    resp = host.form_submit(task="2", values=values, **IDS)
    assert resp.status == 200, resp.body
    call = fake_bridge.app.config["CALLS"][-1]
    raw = json.loads(call["raw_body"])
    assert list(raw) == ["data"] and isinstance(raw["data"], str)
    assert signing.verify(CLIENT_SECRET, raw["data"], call["signature"])
    inner = json.loads(raw["data"])
    assert inner["values"] == values and inner["task"] == "2"
    assert {"expires_at", "user", "workspace"} <= set(inner)
    assert _ts(inner["expires_at"]) > time.time()


def test_form_submit_400_carries_form_with_field_error(host):
    resp = host.form_submit(task="2", values={"project": "EX", "summary": ""}, **IDS)
    assert resp.status == 400
    summary = [f for f in resp.body["metadata"]["fields"] if f["id"] == "summary"][0]
    assert summary["error"] == "Summary is required"


def test_wrong_secret_is_refused_by_a_checking_server(fake_bridge):
    bad = AppComponentsHost(fake_bridge.url, "another-secret")
    resp = bad.form_metadata(task="2", **IDS)
    assert resp.status == 401


def test_expired_request_is_refused(fake_bridge):
    stale = AppComponentsHost(fake_bridge.url, CLIENT_SECRET, clock=lambda: time.time() - 3600)
    assert stale.form_metadata(task="2", **IDS).status == 401


def test_run_action_retried_with_same_idempotency_key(host, fake_bridge):
    fake_bridge.app.config["RUN_FAILURES"] = 2
    sleeps = []
    host.sleep = sleeps.append
    resp = host.rule_run(project="5", action_type="6", action="7", target_object="2", **IDS)
    assert resp.status == 200 and resp.body["action_result"] == "resources_created"
    keys = fake_bridge.app.config["RUN_KEYS"]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert len(resp.attempts) == 3
    assert sleeps == [1.0, 2.0]  # exponential backoff


def test_run_action_retried_after_timeout(host, fake_bridge):
    fake_bridge.app.config["RUN_DELAY"] = 1.0
    host.timeout = 0.3
    host.sleep = lambda s: None
    resp = host.rule_run(project="5", action_type="6", action="7", target_object="2",
                         idempotency_key="k-1", **IDS)
    assert resp.status == 200
    assert fake_bridge.app.config["RUN_KEYS"][-2:] == ["k-1", "k-1"]


def test_run_action_gives_up_after_attempts(host, fake_bridge):
    fake_bridge.app.config["RUN_FAILURES"] = 10
    host.sleep = lambda s: None
    host.retry_attempts = 3
    resp = host.rule_run(project="5", action_type="6", action="7", target_object="2", **IDS)
    assert resp.status == 503 and len(fake_bridge.app.config["RUN_KEYS"]) == 3


def test_invalid_widget_from_app_is_reported(host, fake_bridge):
    fake_bridge.app.config["BROKEN_WIDGET"] = True
    with pytest.raises(ResponseInvalid) as info:
        host.widget(attachment="9", task="2", resource_url="https://jira.example.com/browse/EX-1",
                    **IDS)
    assert info.value.path == "metadata.fields[0].color"


def test_preflight_is_answered_without_signature(fake_bridge, sim_server):
    resp = requests.options(fake_bridge.url + "/asana/form/submit", headers={
        "Origin": sim_server.url, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-asana-request-signature"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == sim_server.url
