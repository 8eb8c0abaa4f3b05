"""Registering the webhook in Jira (which REST resource, what a refusal means) and the
per-instance token that authenticates Jira's deliveries."""

from __future__ import annotations

import logging

import pytest
from bridge_sandbox.liveserver import LiveServer
from flask import Flask, jsonify, request

from bridge import logs
from bridge.jira import webhooks as jira_webhooks
from bridge.jira.errors import JiraError


@pytest.fixture
def fake_jira():
    """A stand-in Jira whose answers each test sets; it records what it was sent."""
    app = Flask("fake-jira")
    app.calls = []
    app.methods = []
    app.answers = {}

    @app.route("/rest/<path:path>", methods=["POST", "PUT"])
    def anything(path):
        app.calls.append(("/rest/" + path, request.get_json(), request.authorization))
        app.methods.append(request.method)
        status, body, headers = app.answers.get("/rest/" + path, (404, {}, {}))
        response = jsonify(body)
        response.status_code = status
        response.headers.update(headers)
        return response

    with LiveServer(app) as server:
        server.flask = app
        yield server


def _register(server, version=(9, 12, 0), password="s3cret-admin-pw"):
    return jira_webhooks.register_webhook(
        server.url, "admin", password, name="Asana bridge", url="http://127.0.0.1:9/jira/webhook/1.x",
        events=["jira:issue_updated", "jira:issue_deleted"], version=version, timeout=5)


def test_jira_9_uses_the_webhooks_plugin_resource_with_the_body_kept(fake_jira):
    fake_jira.flask.answers[jira_webhooks.LEGACY_PATH] = (
        201, {"self": f"{fake_jira.url}/rest/webhooks/1.0/webhook/7"}, {})
    assert _register(fake_jira).endswith("/webhook/7")
    (path, body, auth), = fake_jira.flask.calls
    assert path == jira_webhooks.LEGACY_PATH
    assert body["events"] == ["jira:issue_updated", "jira:issue_deleted"]
    assert body["excludeBody"] is False  # without the body Jira would not name the issue
    assert (auth.username, auth.password) == ("admin", "s3cret-admin-pw")


def test_jira_10_tries_its_own_resource_then_the_older_one(fake_jira):
    fake_jira.flask.answers[jira_webhooks.LEGACY_PATH] = (201, {"id": 3}, {})
    # only an id: the webhook's own URL under the resource that made it (for its update)
    assert _register(fake_jira, version=(10, 3, 0)) == \
        f"{fake_jira.url}{jira_webhooks.LEGACY_PATH}/3"
    assert [c[0] for c in fake_jira.flask.calls] == [jira_webhooks.JIRA10_PATH,
                                                       jira_webhooks.LEGACY_PATH]
    fake_jira.flask.calls.clear()
    fake_jira.flask.answers[jira_webhooks.JIRA10_PATH] = (201, {"id": 4}, {})
    assert _register(fake_jira, version=(10, 3, 0)) == \
        f"{fake_jira.url}{jira_webhooks.JIRA10_PATH}/4"
    assert [c[0] for c in fake_jira.flask.calls] == [jira_webhooks.JIRA10_PATH]


def _update(server, self_url, version=(9, 12, 0)):
    jira_webhooks.update_webhook(
        server.url, self_url, "admin", "s3cret-admin-pw", name="Asana bridge",
        url="http://127.0.0.1:9/jira/webhook/1.x", events=["jira:issue_updated"],
        version=version, timeout=5, jql='project in ("EX", "SEC")', secret="k" * 43)


def test_an_update_puts_the_whole_registration_to_the_webhooks_own_url(fake_jira):
    hook = f"{jira_webhooks.LEGACY_PATH}/7"
    fake_jira.flask.answers[hook] = (200, {"self": fake_jira.url + hook}, {})
    _update(fake_jira, fake_jira.url + hook)
    (path, body, auth), = fake_jira.flask.calls
    assert (path, fake_jira.flask.methods) == (hook, ["PUT"])
    assert body == {"name": "Asana bridge", "url": "http://127.0.0.1:9/jira/webhook/1.x",
                    "events": ["jira:issue_updated"], "excludeBody": False,
                    "filters": {"issue-related-events-section": 'project in ("EX", "SEC")'},
                    "secret": "k" * 43}
    assert (auth.username, auth.password) == ("admin", "s3cret-admin-pw")


def test_an_update_says_when_the_webhook_is_gone_or_jira_will_not_update_it(fake_jira):
    hook = f"{jira_webhooks.LEGACY_PATH}/7"
    with pytest.raises(jira_webhooks.WebhookGone):  # the fake answers 404 to the unknown
        _update(fake_jira, fake_jira.url + hook)
    fake_jira.flask.answers[hook] = (405, {}, {})
    with pytest.raises(jira_webhooks.WebhookNotUpdatable):
        _update(fake_jira, fake_jira.url + hook)
    fake_jira.flask.answers[hook] = (403, {}, {})
    with pytest.raises(jira_webhooks.WebhookAdminRefused):
        _update(fake_jira, fake_jira.url + hook)


@pytest.mark.parametrize("elsewhere", ["http://attacker.example{path}",
                                       "https://{netloc}{path}",
                                       "{base}/../other{path}?x=1"])
def test_an_update_never_sends_the_admins_authorization_off_the_jira(fake_jira, elsewhere):
    from urllib.parse import urlsplit

    path = f"{jira_webhooks.LEGACY_PATH}/7"
    self_url = elsewhere.format(path=path, netloc=urlsplit(fake_jira.url).netloc,
                                base=fake_jira.url)
    with pytest.raises(JiraError, match="outside its base URL"):
        _update(fake_jira, self_url)
    assert not fake_jira.flask.calls


def test_refusals_become_sentences_and_the_password_is_never_logged(fake_jira, caplog):
    logs.reset_hidden()
    handler = logs.make_handler("text")
    logging.getLogger().addHandler(handler)
    try:
        fake_jira.flask.answers[jira_webhooks.LEGACY_PATH] = (401, {}, {})
        with pytest.raises(jira_webhooks.WebhookAdminRefused) as refused:
            _register(fake_jira)
        assert "administrator" in refused.value.public_message
        fake_jira.flask.answers[jira_webhooks.LEGACY_PATH] = (
            403, {}, {"X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE; login-url=x"})
        with pytest.raises(jira_webhooks.WebhookCaptcha) as captcha:
            _register(fake_jira)
        assert "CAPTCHA" in captcha.value.public_message
        fake_jira.flask.answers[jira_webhooks.LEGACY_PATH] = (500, {}, {})
        with pytest.raises(JiraError) as broken:
            _register(fake_jira)
        assert "by hand" in broken.value.public_message
        logging.getLogger("bridge.test").warning("attempt with s3cret-admin-pw failed")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "s3cret-admin-pw" not in logs.redact("attempt with s3cret-admin-pw failed")


def test_a_webhook_url_is_redacted_from_logs():
    line = 'POST /jira/webhook/12.Zm9vYmFyLWJheg_x HTTP/1.1" 204'
    assert logs.redact(line) == 'POST /jira/webhook/[redacted] HTTP/1.1" 204'


def test_the_instance_token_is_made_once_sealed_and_checked_whole(app):
    from bridge.db import database
    from bridge.models import AsanaWorkspace, JiraInstance
    from bridge.services import webhooks

    with app.app_context():
        ws = AsanaWorkspace.create(gid="1")
        instance = JiraInstance.create(workspace=ws, base_url="https://jira.example.com",
                                       auth_mode="oauth2")
        token = webhooks.token_for(instance)
        assert token.startswith(f"{instance.id}.") and len(token) > 40
        assert webhooks.token_for(JiraInstance.get_by_id(instance.id)) == token
        raw = database.execute_sql(
            'SELECT "webhook_secret" FROM "jira_instance"').fetchone()[0]
        assert token not in raw and token.split(".", 1)[1] not in raw
        assert webhooks.instance_for(token).id == instance.id
        secret = token.split(".", 1)[1]
        for wrong in ("", token[:-1], token + "x", f"{instance.id}.", secret,
                      f"{instance.id + 1}.{secret}", "x" * 300, f"{instance.id}.{'A' * 43}"):
            assert webhooks.instance_for(wrong) is None, wrong
        values = webhooks.manual_values(instance, "https://bridge.example.com")
        assert values["url"] == f"https://bridge.example.com/jira/webhook/{token}"
        assert values["events"] == ["jira:issue_updated", "jira:issue_deleted"]
        rotated = webhooks.rotate(JiraInstance.get_by_id(instance.id))
        assert rotated != token and webhooks.instance_for(token) is None
        assert webhooks.instance_for(rotated).id == instance.id


@pytest.mark.parametrize("password", ["пароль-админа", "pass\u202eword", "mot-de-passé"])
def test_a_password_beyond_latin_1_is_sent_as_utf_8_not_a_crash(fake_jira, password):
    # requests encodes a str password as latin-1: "пароль" raised UnicodeEncodeError out of
    # the admin's webhook form (a 500). Sent as UTF-8 (RFC 7617 §2.1), Jira's answer decides.
    fake_jira.flask.answers[jira_webhooks.LEGACY_PATH] = (401, {}, {})
    with pytest.raises(jira_webhooks.WebhookAdminRefused):
        _register(fake_jira, password=password)
    (_, _, auth), = fake_jira.flask.calls
    assert (auth.username, auth.password) == ("admin", password)
