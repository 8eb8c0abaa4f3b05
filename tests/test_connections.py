"""What the admin pages report as set up (services/connections.py, issue 16.11)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from bridge.models import AsanaWorkspace, AuditEvent, JiraInstance, audit
from bridge.services import connections, webhooks

BASE = "https://jira.example.com"


def _instance(gid: str, name: str, **fields) -> JiraInstance:
    ws = AsanaWorkspace.create(gid=gid, name=name)
    return JiraInstance.create(workspace=ws, base_url=BASE, auth_mode="oauth1", **fields)


def test_a_registration_belongs_to_its_instance_and_dies_with_a_rotation(app):
    with app.app_context():
        one = _instance("1", "One", verified_at=dt.datetime(2026, 12, 6, 9, 30))
        two = _instance("2", "Two")
        assert connections.webhook_registration(one) is None
        audit("jira.webhook_registered", actor="alice@example.com", target=BASE,
              instance=one.id, jira_admin="admin")
        found = connections.webhook_registration(one)
        assert (found.by, found.jira_admin) == ("alice@example.com", "admin")
        assert found.events == webhooks.EVENTS
        # The same Jira in another workspace has its own webhook URL: not registered.
        assert connections.webhook_registration(two) is None
        [c1, c2] = connections.in_workspaces(["1", "2"], BASE)
        assert (c1.workspace_name, c1.auth_kind, c1.checked_at) == (
            "One", "application link (OAuth 1.0a)", dt.datetime(2026, 12, 6, 9, 30))
        assert c1.webhook is not None and c2.webhook is None and c2.checked_at is None
        assert connections.in_workspaces(["2"]) == [c2]
        assert connections.in_workspaces([]) == []
        webhooks.rotate(one, actor="alice@example.com")  # Jira now posts to a dead URL
        assert connections.webhook_registration(one) is None


def test_a_registration_recorded_before_instance_ids_still_counts(app):
    with app.app_context():
        one = _instance("1", "One")
        AuditEvent.create(action="jira.webhook_registered", actor="a@example.com",
                          target=BASE, detail={"jira_admin": "admin"})
        assert connections.webhook_registration(one).jira_admin == "admin"
        AuditEvent.create(action="jira.webhook_registered", target=BASE, outcome="failed",
                          detail={"instance": one.id})
        assert connections.of_instance(one).webhook.by == "a@example.com"


def test_a_webhook_entered_by_hand_is_known_from_its_first_signed_delivery(app):
    """Jira DC 10+ signs deliveries (services.webhooks.check_signature): the first signed
    one proves Jira has the webhook, though the bridge did not register it."""
    with app.app_context():
        one = _instance("1", "One", version="10.3.0")
        key = webhooks.signing_key_for(one)
        body = b'{"webhookEvent": "jira:issue_updated"}'
        signature = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        webhooks.check_signature(one, body, signature)
        found = connections.webhook_registration(one)
        assert found is not None and found.by_hand and found.by == ""
        webhooks.rotate(one)
        assert connections.webhook_registration(one) is None
        audit("jira.webhook_registered", actor="alice@example.com", target=BASE,
              instance=one.id, jira_admin="admin")
        webhooks.check_signature(one, body, "sha256=" + hmac.new(
            webhooks.signing_key_for(one).encode(), body, hashlib.sha256).hexdigest())
        assert not connections.webhook_registration(one).by_hand  # the bridge's own
