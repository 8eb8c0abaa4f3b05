"""``GET /``: a small page for browsers, the same facts as JSON for API clients, no secret."""

from __future__ import annotations

import pytest

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SECRET = "asana-secret-front-0123456789"


@pytest.fixture
def configured(make_app):
    return make_app(PUBLIC_URL="https://bridge.example.com", ASANA_CLIENT_ID="1209",
                    ASANA_CLIENT_SECRET=SECRET)


def test_browsers_get_a_page_that_says_what_to_do_first(client):
    page = client.get("/", headers={"Accept": BROWSER})
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "Asana ⇄ Jira bridge" in text and "Jira Server / Data Center" in text
    assert "Asana app: not configured yet" in text
    assert "BRIDGE_ASANA_CLIENT_ID" in text
    assert 'href="/jira/connect"' in text and 'href="/setup"' in text
    assert "https://developers.asana.com/docs/app-components" in text
    assert "Accept" in page.headers["Vary"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json",
                                    "text/html;q=0.5, application/json"])
def test_api_clients_get_json(client, accept):
    headers = {"Accept": accept} if accept else {}
    response = client.get("/", headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["configured"] is False and body["asana_app"] is False
    assert [s["key"] for s in body["next_steps"]][:1] == ["asana_app"]
    assert {"version", "what", "admin", "instances", "docs"} <= set(body)


def test_setup_token_hint_without_the_token_or_any_secret(configured):
    from bridge.services.admins import ensure_setup_token

    settings = configured.config["BRIDGE"]
    with configured.app_context():
        token = ensure_setup_token(settings.instance_path, settings.admins)
    client = configured.test_client()
    page = client.get("/", headers={"Accept": BROWSER}).get_data(as_text=True)
    data = client.get("/").get_data(as_text=True)
    for text in (page, data):
        assert token not in text and SECRET not in text and "1209" not in text
    assert "setup token is waiting" in page and "asana-jira-bridge admins setup-token" in page
    assert "Asana app: configured" in page
    assert client.get("/").get_json()["setup_token_pending"] is True


def test_configured_bridge_shows_counts_not_addresses(make_app):
    from bridge.models import AsanaWorkspace, JiraInstance

    app = make_app(PUBLIC_URL="https://bridge.example.com", ASANA_CLIENT_ID="1209",
                   ASANA_CLIENT_SECRET=SECRET, ADMINS="boss@example.com")
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1", name="W")
        JiraInstance.create(workspace=ws, base_url="https://jira.corp.example",
                            auth_mode="oauth1", consumer_key="ck")
    client = app.test_client()
    page = client.get("/", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "1 connected, 1 by application link (OAuth 1.0a)" in page
    assert "jira.corp.example" not in page and "boss@example.com" not in page
    assert client.get("/").get_json()["configured"] is True


def test_only_get(client):
    assert client.post("/").status_code == 405
