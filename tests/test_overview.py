"""What the front page reports about the bridge's configuration (services/overview.py)."""

from __future__ import annotations

from bridge.models import AsanaWorkspace, JiraInstance
from bridge.services.overview import overview


def _keys(view):
    return [s.key for s in view.next_steps]


def test_a_fresh_bridge_says_to_create_the_asana_app_first(app):
    with app.app_context():
        view = overview(app.config["BRIDGE"])
    assert (view.asana_app, view.admin, view.instances, view.configured) == (False, False, 0,
                                                                             False)
    assert _keys(view)[0] == "asana_app"
    assert {"admin", "jira_oauth1", "jira_oauth2"} <= set(_keys(view))


def test_setup_token_hint_names_where_it_is_never_the_token(make_app, settings):
    from bridge.services.admins import ensure_setup_token

    app = make_app(PUBLIC_URL="https://bridge.example.com", ASANA_CLIENT_ID="123",
                   ASANA_CLIENT_SECRET="asana-secret-0123456789")
    with app.app_context():
        token = ensure_setup_token(app.config["BRIDGE"].instance_path, ())
        view = overview(app.config["BRIDGE"])
    assert view.asana_app and view.setup_token_pending and not view.admin
    body = str(view.as_json())
    assert "setup token" in body and token not in body
    assert "asana-secret-0123456789" not in body


def test_configured_bridge_points_users_at_the_app(make_app):
    app = make_app(PUBLIC_URL="https://bridge.example.com", ASANA_CLIENT_ID="123",
                   ASANA_CLIENT_SECRET="asana-secret-0123456789", ADMINS="a@example.com")
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1", name="W")
        JiraInstance.create(workspace=ws, base_url="https://jira.internal.example",
                            auth_mode="oauth2", client_id="cid", client_secret="cs")
        view = overview(app.config["BRIDGE"])
    assert view.configured and view.instances == 1
    assert view.instances_by_auth == {"oauth2": 1} and view.instances_verified == 0
    assert _keys(view) == ["users", "more_jira"]
    body = str(view.as_json())
    assert "jira.internal.example" not in body and "a@example.com" not in body
