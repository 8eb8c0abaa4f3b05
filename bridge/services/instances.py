"""Connecting a Jira instance: probing it, choosing the auth path, application links.

Reference: jira-server.md §1.1 (application link fields and key format), §2.1 (incoming
OAuth 2.0 links, 8.22+), §3.1 (``serverInfo``: gate on ``versionNumbers``, never on
``deploymentType``), §5.5 (creating the link and consumer through the applinks REST API
with admin credentials), ARCHITECTURE §2 (several instances per workspace).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from peewee import IntegrityError

from ..db import database
from ..jira import applinks, oauth1, versions
from ..jira.client import JiraClient
from ..jira.errors import JiraAnswerTooLarge, JiraError, JiraMisconfigured, JiraUnavailable
from ..jira.keys import generate_key_pair
from ..jira.oauth2 import FIRST_VERSION as OAUTH2_FIRST_VERSION
from ..jira.urls import JiraCloudURL, check_resolved, normalize_base_url
from ..models import (
    AsanaWorkspace,
    IssueLink,
    JiraCredential,
    JiraInstance,
    LinkSlot,
    audit,
    utcnow,
)
from .jira_as_user import JIRA1_CALLBACK_PATH

CONSUMER_NAME = "Asana"


class NotJira(JiraError):
    status = 400
    code = "not_jira"
    public_message = "That address answers, but it is not a Jira Server or Data Center."


class OAuth2NotSupported(JiraError):
    status = 400
    code = "oauth2_not_supported"


@dataclass(frozen=True)
class JiraProbe:
    base_url: str
    version: str
    version_numbers: tuple[int, ...]
    server_title: str
    reported_base_url: str

    @property
    def supports_oauth2(self) -> bool:
        return versions.at_least(self.version_numbers, OAUTH2_FIRST_VERSION)

    @property
    def recommended_auth(self) -> str:
        return "oauth2" if self.supports_oauth2 else "oauth1"


def probe(raw_url: str, *, timeout: float = 8.0) -> JiraProbe:
    """Normalise the URL and ask Jira who it is (anonymous ``serverInfo``)."""
    base_url = normalize_base_url(raw_url)
    check_resolved(base_url)
    client = JiraClient(base_url, timeout=timeout)
    try:
        info = client.server_info()
    except (JiraUnavailable, JiraMisconfigured, JiraAnswerTooLarge):
        raise
    except JiraError:  # an error status, not JSON, nested absurdly
        raise NotJira() from None
    numbers = info.get("versionNumbers") if isinstance(info, dict) else None
    try:  # Jira sends [8, 20, 0]; a string "8" is read, "x" or 8.5 is not Jira
        version_numbers = versions.from_numbers(numbers)
    except (TypeError, ValueError):
        raise NotJira() from None
    if str(info.get("deploymentType", "")).lower() == "cloud":
        raise JiraCloudURL("That is a Jira Cloud site. This bridge connects Jira Server and "
                           "Data Center; for Jira Cloud use Asana's own Jira Cloud "
                           "integration.")
    # Cut to the columns they go to (JiraInstance.version, .name): a hostile Jira's
    # 10 kB title must not fail the insert on PostgreSQL.
    return JiraProbe(base_url=base_url, version=str(info.get("version", ""))[:32],
                     version_numbers=version_numbers,
                     server_title=str(info.get("serverTitle", ""))[:255],
                     reported_base_url=str(info.get("baseUrl", ""))[:512])


def create_oauth1_instance(workspace_gid: str, found: JiraProbe, *, name: str = "",
                           workspace_name: str = "", actor: str = "") -> JiraInstance:
    """A new instance with a fresh 2048-bit key pair and consumer key (§1.1)."""
    workspace, _ = AsanaWorkspace.get_or_create(gid=workspace_gid,
                                                defaults={"name": workspace_name})
    existing = JiraInstance.get_or_none(workspace=workspace, base_url=found.base_url)
    if existing is not None:
        return existing
    pair = generate_key_pair()
    try:
        with database.atomic():  # a concurrent click may create the same instance
            instance = JiraInstance.create(
                workspace=workspace, base_url=found.base_url, auth_mode="oauth1",
                name=name or found.server_title or found.base_url,
                consumer_key=f"asana-bridge-{secrets.token_hex(6)}",
                private_key=pair.private_pem, public_key=pair.public_pem,
                version=found.version, version_checked_at=utcnow(),
            )
    except IntegrityError:
        return JiraInstance.get(workspace=workspace, base_url=found.base_url)
    audit("jira.instance_added", actor=actor, target=found.base_url, auth_mode="oauth1")
    return instance


def require_oauth2(found: JiraProbe) -> None:
    if not found.supports_oauth2:
        raise OAuth2NotSupported(
            f"Jira {found.version} has no OAuth 2.0 provider (it arrived in 8.22). Connect it "
            "with an application link (OAuth 1.0a) instead: Jira's Connect to Asana button, "
            "or the bridge's /jira/connect page.")


def save_oauth2_instance(workspace_gid: str, found: JiraProbe, client_id: str,
                         client_secret: str, *, workspace_name: str = "",
                         actor: str = "") -> JiraInstance:
    """Create the OAuth 2.0 instance, or move an OAuth 1.0a one to OAuth 2.0 in place.

    Moving keeps the instance row, so issue links stay; the users' OAuth 1.0a tokens are
    marked needs-reconnect, and each user authorizes once more (ARCHITECTURE §2).
    """
    require_oauth2(found)
    workspace, _ = AsanaWorkspace.get_or_create(gid=workspace_gid,
                                                defaults={"name": workspace_name})
    instance = JiraInstance.get_or_none(workspace=workspace, base_url=found.base_url)
    if instance is None:
        instance = JiraInstance.create(
            workspace=workspace, base_url=found.base_url, auth_mode="oauth2",
            name=found.server_title or found.base_url, client_id=client_id,
            client_secret=client_secret, version=found.version, version_checked_at=utcnow(),
            verified_at=utcnow())
        audit("jira.instance_added", actor=actor, target=found.base_url, auth_mode="oauth2")
        return instance
    moved = instance.auth_mode != "oauth2"
    instance.auth_mode = "oauth2"
    instance.client_id = client_id
    instance.client_secret = client_secret
    instance.version = found.version
    instance.version_checked_at = instance.verified_at = utcnow()
    instance.save()
    if moved:
        (JiraCredential.update(state="needs_reconnect")
         .where((JiraCredential.instance == instance) & (JiraCredential.auth_mode != "oauth2"))
         .execute())
    audit("jira.instance_oauth2", actor=actor, target=found.base_url, moved=moved)
    return instance


def applink_values(instance: JiraInstance, public_url: str) -> dict[str, str]:
    """What the admin enters in Jira's Application Link ▸ Incoming Authentication (§1.1)."""
    return {
        "application_url": public_url,
        "consumer_key": instance.consumer_key,
        "consumer_name": CONSUMER_NAME,
        "public_key": instance.public_key,
        "callback_url": public_url + JIRA1_CALLBACK_PATH,
    }


def register_applink(instance: JiraInstance, public_url: str, username: str, password: str,
                     *, timeout: float = 8.0, actor: str = "") -> str:
    """Create the link and its incoming OAuth consumer with the applinks REST API (§5.5).

    The admin's credentials are used for these two calls only; they are never stored or
    logged. Returns the application link id.
    """
    values = applink_values(instance, public_url)
    link_id = applinks.create_applink(instance.base_url, applinks.LinkValues(**values),
                                      username, password, timeout=timeout)
    audit("jira.applink_registered", actor=actor, target=instance.base_url, link_id=link_id,
          jira_admin=username)
    return link_id


def prove_oauth1_link(instance: JiraInstance, public_url: str, *,
                      timeout: float = 8.0) -> None:
    """A signed request-token call: succeeds only if Jira knows our consumer key and our
    public key verifies our signature over the URL Jira sees (§1.2-1.3)."""
    try:
        oauth1.fetch_request_token(instance.base_url, instance.consumer_key,
                                   instance.private_key, public_url + JIRA1_CALLBACK_PATH,
                                   timeout=timeout)
    except JiraMisconfigured as exc:
        if exc.problem == "consumer_key_unknown":
            raise JiraMisconfigured(  # shown on the page with the values (web.admin)
                "Jira does not know this consumer key yet: create the application link in "
                "Jira with the values on this page (Incoming Authentication), then check "
                "again.", problem="consumer_key_unknown", advice="") from None
        raise
    instance.verified_at = utcnow()
    instance.save()
    audit("jira.applink_verified", target=instance.base_url)


def for_workspace(workspace_gid: str) -> list[JiraInstance]:
    """The Jira instances connected to an Asana workspace, oldest first (ARCHITECTURE §2:
    several side by side)."""
    return list(JiraInstance.select(JiraInstance, AsanaWorkspace).join(AsanaWorkspace)
                .where(AsanaWorkspace.gid == str(workspace_gid)).order_by(JiraInstance.id))


def remove(instance: JiraInstance, *, actor: str = "") -> None:
    """Remove the instance with everything that belongs to it, in one transaction.

    The slots its links held on their tasks (``services.links``) are deleted first: a
    recursive delete would only empty their nullable ``link``, leaving each slot taken
    until its claim grows older than ``links.CLAIM_TTL``."""
    with database.atomic():
        its_links = IssueLink.select(IssueLink.id).where(IssueLink.instance == instance.id)
        LinkSlot.delete().where(LinkSlot.link.in_(its_links)).execute()
        instance.delete_instance(recursive=True)
        audit("jira.instance_removed", actor=actor, target=instance.base_url)
