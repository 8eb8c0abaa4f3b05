"""One mapping from errors to answers (issue 18 §4): ``web.errors.answer`` for every JSON
route family, 429 and 503 keep ``Retry-After`` when the cause carried it, a form travels
as the answer body, and "connect your Jira first" is one class."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from flask import Blueprint

from bridge.asana import signing
from bridge.asana.errors import AsanaUnavailable
from bridge.asana.errors import error_from_response as asana_error_from_response
from bridge.errors import BridgeError
from bridge.jira.errors import (
    JiraNotConnected,
    JiraRateLimited,
    JiraUnavailable,
    error_from_response,
)
from bridge.services.context import Context
from bridge.web.app_components import SignedBlueprint

SECRET = "unit-test-asana-secret-0123456789"
RAISED: dict[str, Exception] = {}


class FakeResponse:
    def __init__(self, status: int, headers: dict | None = None):
        self.status_code = status
        self.headers = headers or {}
        self.text = ""

    def json(self):
        raise ValueError("no body")


def _app(make_app):
    app = make_app(ASANA_CLIENT_ID="1209", ASANA_CLIENT_SECRET=SECRET,
                   PUBLIC_URL="https://bridge.example.com")
    signed = SignedBlueprint("raiser", __name__)
    plain = Blueprint("plain_raiser", __name__)

    @signed.get("/raise")
    def raise_signed(ctx):
        raise RAISED["exc"]

    @plain.get("/plain/raise")
    def raise_plain():
        raise RAISED["exc"]

    app.register_blueprint(signed)
    app.register_blueprint(plain)
    return app


def _signed_get(client, path="/asana/raise"):
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)).strftime(
        "%Y-%m-%dT%H%%3A%M%%3A%S.000Z")
    query = f"workspace=1&user=2&expires_at={expires}"
    return client.get(f"{path}?{query}", headers={signing.HEADER: signing.sign(SECRET, query)})


@pytest.mark.parametrize("exc, status, wait", [
    (JiraRateLimited(retry_after=7.2), 429, "8"),
    (JiraUnavailable(retry_after=30), 503, "30"),
    (JiraUnavailable(), 503, None),
    (AsanaUnavailable(retry_after=float("inf")), 503, "3600"),
    (JiraNotConnected(), 401, None),
    (BridgeError("Gone.", status=410, code="gone"), 410, None),
])
def test_each_route_family_keeps_the_status_and_retry_after(make_app, exc, status, wait):
    client = _app(make_app).test_client()
    RAISED["exc"] = exc
    signed = _signed_get(client)
    assert signed.status_code == status, signed.get_data(as_text=True)
    assert signed.get_json() == {"error": exc.public_message}  # Asana's shape
    assert signed.headers.get("Retry-After") == wait
    plain = client.get("/plain/raise")
    assert plain.status_code == status
    assert plain.get_json()["error"]["message"] == exc.public_message  # the bridge's shape
    assert plain.headers.get("Retry-After") == wait


def test_an_answer_body_is_answered_instead_of_the_sentence(make_app):
    from bridge.services.create_issue import FormRejected

    client = _app(make_app).test_client()
    form = {"template": "form_metadata_v0", "metadata": {"title": "t", "fields": []}}
    RAISED["exc"] = FormRejected(form)
    answered = _signed_get(client)
    assert answered.status_code == 400 and answered.get_json() == form


def test_a_503_from_jira_or_asana_carries_its_retry_after():
    jira = error_from_response(FakeResponse(503, {"Retry-After": "120"}))
    assert isinstance(jira, JiraUnavailable) and jira.retry_after == 120
    assert error_from_response(FakeResponse(502, {"Retry-After": "120"})).retry_after is None
    asana = asana_error_from_response(FakeResponse(503, {"Retry-After": "45"}))
    assert isinstance(asana, AsanaUnavailable) and asana.retry_after == 45


def test_not_connected_is_one_class_wherever_it_is_raised(app):
    from bridge.models import AsanaUser, AsanaWorkspace, JiraInstance
    from bridge.services import create_issue, credentials, widget

    assert not hasattr(widget, "NeedsJiraConnection")
    assert not hasattr(create_issue, "NotConnected")
    assert not hasattr(credentials, "JiraNotConnected") or \
        credentials.JiraNotConnected is JiraNotConnected
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1", name="W")
        instance = JiraInstance.create(workspace=ws, base_url="https://j.example",
                                       auth_mode="oauth1")
        user = AsanaUser.create(gid="2", email="a@example.com")
        with pytest.raises(JiraNotConnected) as caught:
            credentials.get_active(user, instance)
        assert caught.value.status == 401
        caller = Context(settings=app.config["BRIDGE"], cache=app.extensions["bridge.cache"],
                         workspace="1", user="2")
        with pytest.raises(JiraNotConnected) as caught:
            create_issue.usable_instances(caller)
        assert "create issues" in caught.value.public_message
    json.dumps(caught.value.public_message)


@pytest.mark.parametrize(("header", "expected"), [
    ("inf", 3600.0), ("1e12", 3600.0), ("86400", 3600.0),  # bounded: no overflow, no
    ("nan", None), ("-5", 0.0), ("soon", None), ("7", 7.0),  # pause for centuries
])
def test_a_retry_after_from_jira_or_asana_is_a_bounded_number_of_seconds(header, expected):
    # The header comes from a server: "inf" overflowed utcnow() + timedelta in the field
    # sync's and the copies' workers, "1e12" paused a project's sync for 31,000 years.
    for mapped in (error_from_response(FakeResponse(429, {"Retry-After": header})),
                   asana_error_from_response(FakeResponse(429, {"Retry-After": header}))):
        assert mapped.retry_after == expected, (type(mapped).__name__, header)
