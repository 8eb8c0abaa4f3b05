"""What an admin has connected already: each Jira of their workspaces, how, and its webhook.

The admin pages say what is set up before offering the next step (issue 16.11), so an
admin who comes back through Jira's *Connect to Asana* button sees "connected" rather than
an offer to make new link values. The webhook's registration is read from the audit log
(``jira.webhook_registered``, written by ``services.webhooks.register``): when, by which
bridge admin, as which Jira user, for which events; a later token rotation means the
registered URL is dead. A webhook entered in Jira by hand is known once Jira DC 10+ has
delivered a signed event to it (``jira.webhook_signed``); before 10, only Jira lists it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..models import AsanaWorkspace, AuditEvent, JiraInstance
from . import jira_upgrades, webhooks

AUTH_KINDS = {"oauth1": "application link (OAuth 1.0a)", "oauth2": "incoming link (OAuth 2.0)"}


@dataclass(frozen=True)
class WebhookRegistration:
    at: dt.datetime
    by: str  # the bridge admin (Asana email)
    jira_admin: str  # the Jira user whose password created it
    events: tuple[str, ...] = field(default=webhooks.EVENTS)
    by_hand: bool = False  # entered in Jira by an admin; ``at`` is its first signed delivery


@dataclass(frozen=True)
class Connection:
    instance: JiraInstance
    workspace_gid: str
    workspace_name: str
    webhook: WebhookRegistration | None
    notices: tuple[jira_upgrades.Notice, ...] = ()  # what a Jira upgrade asks of the admin

    @property
    def auth_kind(self) -> str:
        return AUTH_KINDS.get(self.instance.auth_mode, self.instance.auth_mode)

    @property
    def checked_at(self) -> dt.datetime | None:
        """When a signed (OAuth 1.0a) or authorized (OAuth 2.0) call last worked."""
        return self.instance.verified_at


def _of(instance: JiraInstance, workspace: AsanaWorkspace) -> Connection:
    registration = webhook_registration(instance)
    return Connection(instance=instance, workspace_gid=workspace.gid,
                      workspace_name=workspace.name or workspace.gid, webhook=registration,
                      notices=tuple(jira_upgrades.notices(instance, registration)))


def of_instance(instance: JiraInstance) -> Connection:
    return _of(instance, AsanaWorkspace.get_by_id(instance.workspace_id))


def in_workspaces(gids, base_url: str | None = None) -> list[Connection]:
    """The connections of these workspaces (optionally of one Jira), oldest first."""
    gids = [str(g) for g in gids]
    if not gids:
        return []
    query = (JiraInstance.select(JiraInstance, AsanaWorkspace).join(AsanaWorkspace)
             .where(AsanaWorkspace.gid.in_(gids)).order_by(JiraInstance.id))
    if base_url is not None:
        query = query.where(JiraInstance.base_url == base_url)
    return [_of(instance, instance.workspace) for instance in query]


def webhook_registration(instance: JiraInstance) -> WebhookRegistration | None:
    """The bridge's latest registration of this instance's webhook, unless its URL token
    was rotated since (then Jira posts to a dead URL)."""
    events = (AuditEvent.select()
              .where(AuditEvent.action.in_(["jira.webhook_registered", "jira.webhook_signed",
                                            "jira.webhook_token_rotated"]),
                     AuditEvent.target == instance.base_url,
                     AuditEvent.outcome == "ok")
              .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(50))
    signed = None  # the earliest signed delivery since the last registration or rotation
    for event in events:
        detail = event.detail if isinstance(event.detail, dict) else {}
        if detail.get("instance", instance.id) != instance.id:
            continue  # the same Jira connected to another workspace
        if event.action == "jira.webhook_signed":
            signed = event
            continue
        if event.action == "jira.webhook_registered":
            return WebhookRegistration(at=event.at, by=event.actor,
                                       jira_admin=str(detail.get("jira_admin", "")))
        break  # rotated: whatever was registered before posts to a dead URL
    if signed is not None:
        return WebhookRegistration(at=signed.at, by="", jira_admin="", by_hand=True)
    return None
