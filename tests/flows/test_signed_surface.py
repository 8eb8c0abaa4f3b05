"""The signed App Components surface over real HTTP: Asana's host (the simulator's) calls
the bridge; every answer, errors included, is validated against Asana's spec by the host
(``check_response``, type dispatch included). A test blueprint made with
``SignedBlueprint`` stands for the real routes, so the hook itself is what is tested."""

from __future__ import annotations

import json
import time

import pytest
import requests
from bridge_sandbox.asana import validator
from bridge_sandbox.asana.host import AppComponentsHost, check_response
from bridge_sandbox.asana.seed import ALICE, BOB, TASK_PLAIN, WORKSPACE

from bridge.web.app_components import AsanaCall, Context, SignedBlueprint

from .conftest import ASANA_CLIENT_SECRET
from .helpers import authorize_user, oauth1_instance

pytestmark = pytest.mark.e2e

PATHS = {"lookup_typeahead": "/asana/probe/typeahead", "lookup_attach": "/asana/probe/attach"}
seen: list[AsanaCall] = []
probe = SignedBlueprint("probe", __name__)


@probe.get("/probe/typeahead")
def probe_typeahead(ctx: Context):
    call = ctx.call
    if call.text == "jira":
        me = ctx.jira_for(ctx.instances()[0]).myself()
        return {"items": [{"title": me["displayName"], "value": me["name"]}]}
    return {"items": [{"title": call.text or "nothing", "value": call.user}]}


@probe.post("/probe/attach")
def probe_attach(ctx: Context):
    seen.append(ctx.call)
    return {"resource_name": "EX-1", "resource_url": "https://jira.example.com/browse/EX-1"}


@pytest.fixture
def surface(bridge):
    seen.clear()
    bridge.app.register_blueprint(probe)
    return bridge


def _host(bridge, secret=ASANA_CLIENT_SECRET, **kw) -> AppComponentsHost:
    return AppComponentsHost(bridge.url, secret, paths=PATHS, **kw)


def _error(result, status: int) -> str:
    assert result.status == status, (result.status, result.body)
    check_response(result.request.kind, result.status, result.body,
                   result.headers.get("Content-Type", ""))
    validator.validate("error", result.body)
    assert set(result.body) == {"error"}
    assert result.headers.get("X-Request-Id")
    return result.body["error"]


def test_signed_get_and_post_reach_the_view_with_the_call(surface):
    host = _host(surface)
    result = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                   query="login fails: 100% & more")
    assert result.status == 200 and result.body["items"][0]["title"] == \
        "login fails: 100% & more"
    assert result.headers["X-Request-Id"]
    attached = host.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                  query="EX-1", attachment="1500000000000009")
    assert attached.status == 200
    [call] = seen
    assert (call.user, call.workspace, call.task, call.attachment, call.text) == \
        (ALICE, WORKSPACE, TASK_PLAIN, "1500000000000009", "EX-1")


def test_head_is_verified_like_get(surface):
    host = _host(surface)
    signed = host.prepare("lookup_typeahead", workspace=WORKSPACE, task=TASK_PLAIN,
                          user=ALICE, query="x")
    assert requests.head(signed.url, headers=signed.headers, timeout=10).status_code == 200
    assert requests.head(signed.url, timeout=10).status_code == 400


def test_forged_request_is_refused_and_changes_nothing(surface):
    forged = _host(surface, secret="not-the-apps-secret")
    message = _error(forged.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                          query="EX-1", attachment="1"), 400)
    assert "signature does not match" in message
    _error(forged.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                   query="x"), 400)
    assert seen == []


def test_altered_requests_are_refused(surface):
    host = _host(surface)
    signed = host.prepare("lookup_typeahead", workspace=WORKSPACE, task=TASK_PLAIN,
                          user=ALICE, query="mine")
    signed.url = signed.url.replace(f"user={ALICE}", f"user={BOB}")
    _error(host.send(signed), 400)
    post = host.prepare("lookup_attach", workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                        query="EX-1", attachment="1")
    post.body = json.dumps({"data": post.message.replace("EX-1", "EX-2")})
    _error(host.send(post), 400)
    # The same object re-serialised with other spacing is another message (§10.3).
    post = host.prepare("lookup_attach", workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                        query="EX-1", attachment="1")
    post.body = json.dumps({"data": json.dumps(json.loads(post.message))})
    _error(host.send(post), 400)
    assert seen == []


def test_expired_request_is_refused_with_a_sentence(surface):
    stale = _host(surface, clock=lambda: time.time() - 120)  # expired a minute ago
    message = _error(stale.lookup_attach(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                         query="EX-1", attachment="1"), 400)
    assert "expired" in message
    assert seen == []


def test_missing_signature_and_malformed_bodies_are_refused(surface):
    host = _host(surface)
    signed = host.prepare("lookup_attach", workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                          query="EX-1", attachment="1")
    signed.headers.pop("x-asana-request-signature")
    assert "no Asana signature" in _error(host.send(signed), 400)
    for body in ("not json", json.dumps({"values": {}}), json.dumps({"data": {"a": 1}})):
        response = requests.post(surface.url + PATHS["lookup_attach"], data=body, timeout=10,
                                 headers={"Content-Type": "application/json",
                                          "X-Asana-Request-Signature": "0" * 64})
        assert response.status_code == 400
        validator.validate("error", response.json())
        assert response.headers["X-Request-Id"]
    assert seen == []


def test_a_user_without_a_jira_credential_is_sent_to_authenticate(surface, jira_factory):
    jira = jira_factory("8.20.0")
    oauth1_instance(surface, jira)
    host = _host(surface)
    result = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                   query="jira")
    assert "Connect your Jira account" in _error(result, 401)
    assert result.outcome == "auth_required" and result.auth_flow == "required"
    assert host.auth_flows[0]["auth_url"] == surface.url + "/asana/auth"
    authorize_user(surface, jira)  # the popup, as the host would open it
    result = host.lookup_typeahead(workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                                   query="jira")
    assert result.status == 200 and result.body["items"][0]["value"] == "alice"


def test_unknown_app_components_paths_answer_in_asanas_shape(surface):
    response = requests.get(surface.url + "/asana/no-such-thing", timeout=10)
    assert response.status_code == 404
    validator.validate("error", response.json())
    assert response.headers["X-Request-Id"]
    # The bridge's other JSON routes keep their own shape.
    other = requests.get(surface.url + "/no-such-thing", timeout=10).json()
    assert set(other["error"]) >= {"code", "message", "request_id"}


def test_preflight_and_the_authentication_url_are_not_signed(surface, asana):
    origin = asana.url.rstrip("/")
    preflight = requests.options(surface.url + PATHS["lookup_attach"], timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-asana-request-signature"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    popup = requests.get(surface.url + "/asana/auth", timeout=10, allow_redirects=False)
    assert popup.status_code == 302 and "/-/oauth_authorize" in popup.headers["Location"]
    # A signed call from Asana's origin carries CORS too, errors included.
    host = _host(surface, secret="forged")
    signed = host.prepare("lookup_typeahead", workspace=WORKSPACE, task=TASK_PLAIN, user=ALICE,
                          query="x")
    signed.headers["Origin"] = origin
    refused = host.send(signed)
    assert refused.status == 400 and refused.headers["Access-Control-Allow-Origin"] == origin
