"""Jira webhooks: one secret URL per instance, and what a delivery is allowed to do.

Jira Server signs nothing it posts (style-anchors.md §1.5), so each instance gets its own
random token, sealed at rest in ``JiraInstance.webhook_secret`` and placed in the URL
Jira posts to: ``{public URL}/jira/webhook/<token>``. The token starts with the instance
id (to find the row without opening every instance's secret) and is then compared whole,
in constant time, with the sealed one. Rotating it is making a new one.

A delivery is trusted only to say *which* issue changed: the widget's snapshot is marked
stale on every node at once, then re-read from Jira with a linker's token
(``services.widget.on_issue_event``): one queued re-read per issue, however many
deliveries arrive while it is pending. Its content is never shown.
"""

from __future__ import annotations

import hmac
import secrets

from ..jira import webhooks as jira_webhooks
from ..models import JiraInstance, audit

# Commenting fires jira:issue_updated too (issue_event_type_name "issue_commented").
EVENTS = ("jira:issue_updated", "jira:issue_deleted")
PATH = "/jira/webhook/"


def token_for(instance: JiraInstance) -> str:
    """The instance's webhook token, made on first use."""
    if not instance.webhook_secret:
        instance.webhook_secret = f"{instance.id}.{secrets.token_urlsafe(32)}"
        instance.save(only=[JiraInstance.webhook_secret])
    return instance.webhook_secret


def rotate(instance: JiraInstance, actor: str = "") -> str:
    instance.webhook_secret = None
    token = token_for(instance)
    audit("jira.webhook_token_rotated", actor=actor, target=instance.base_url)
    return token


def url_for(instance: JiraInstance, public_url: str) -> str:
    return f"{public_url.rstrip('/')}{PATH}{token_for(instance)}"


def instance_for(token: str) -> JiraInstance | None:
    """The instance whose webhook token this is, or ``None`` (constant-time compare)."""
    head, dot, _ = (token or "").partition(".")
    if not dot or not head.isdigit() or len(token) > 200:
        return None
    instance = JiraInstance.get_or_none(JiraInstance.id == int(head))
    expected = (instance.webhook_secret or "") if instance is not None else ""
    if not hmac.compare_digest(token.encode(), expected.encode()) or not expected:
        return None
    return instance


def manual_values(instance: JiraInstance, public_url: str) -> dict:
    """What an admin enters in Jira's *System ▸ WebHooks ▸ Create a WebHook*."""
    return {"name": f"Asana bridge ({instance.name or instance.base_url})",
            "url": url_for(instance, public_url), "events": list(EVENTS),
            "jql": "", "exclude_body": False}


def register(instance: JiraInstance, public_url: str, username: str, password: str, *,
             timeout: float = 8.0, actor: str = "") -> str:
    """Create the webhook in Jira with an administrator's password, used once."""
    values = manual_values(instance, public_url)
    created = jira_webhooks.register_webhook(
        instance.base_url, username, password, name=values["name"], url=values["url"],
        events=values["events"], version=instance.version_tuple, timeout=timeout)
    audit("jira.webhook_registered", actor=actor, target=instance.base_url,
          jira_admin=username)
    return created
