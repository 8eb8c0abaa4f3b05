"""Jira webhooks: one secret URL per instance, and what a delivery is allowed to do.

Jira before DC 10 signs nothing it posts (docs/jira-server.md §9), so each instance gets its own
random token, sealed at rest in ``JiraInstance.webhook_secret`` and placed in the URL
Jira posts to: ``{public URL}/jira/webhook/<token>``. The token starts with the instance
id (to find the row without opening every instance's secret) and is then compared whole,
in constant time, with the sealed one. Rotating it is making a new one.

Jira Data Center 10 and later sign deliveries: the admin gives the webhook a secret and
each POST carries ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``
(Atlassian, "Managing webhooks", docs/jira-server.md §9 "Signed webhooks"). For
those versions the instance gets a second secret, the signing key (sealed at rest in
``webhook_signing_key``, never logged), sent with the registration or shown for manual
entry. The signature is checked in constant time over the raw bytes. Unsigned
deliveries are refused once Jira is known to hold the key: after the bridge registered
the webhook itself, or after the first correctly signed delivery (an admin who entered
the webhook by hand). A wrong signature is always refused. The URL token stays, for
versions before 10 and as the way to find the instance.

A delivery is trusted only to say *which* issue changed: the widget's snapshot is marked
stale on every node at once, then re-read from Jira with a linker's token
(``services.widget.on_issue_event``): one queued re-read per issue, however many
deliveries arrive while it is pending. Its content is never shown. Jira 10 delivers
from a thread pool with retries, so deliveries come late and out of order: one that is
not newer than the snapshot (``is_older_than``: the issue's ``updated``, else the
delivery's ``timestamp``, against the snapshot's ``updated``, both Jira's clock) changes
nothing.

What the bridge knows of its webhook in Jira is a ``JiraWebhook`` row: the registration
(``self`` URL, filter, authorization used; a later registration updates the webhook in
place) and the time of the last delivery, which lets the periodic re-read of synced
fields slow down while the webhook works (``delivering``). The filter follows newly
linked projects in ``services.webhook_filter``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from ..jira import oauth2 as jira_oauth2
from ..jira import versions
from ..jira import webhooks as jira_webhooks
from ..jira.signing import BearerAuth
from ..models import AsanaUser, IssueLink, JiraInstance, JiraWebhook, audit
from ..timeutil import utcnow

# Commenting fires jira:issue_updated too (issue_event_type_name "issue_commented").
EVENTS = ("jira:issue_updated", "jira:issue_deleted")
PATH = "/jira/webhook/"
SIGNATURE_HEADER = "X-Hub-Signature"
SIGNING_FROM = (10, 0)  # Jira DC 10.0 signs deliveries of a webhook that has a secret
_ID = re.compile(r"[1-9][0-9]{0,9}")
MAX_ID = 2**31 - 1  # PostgreSQL's integer, the type of every primary key


def supports_signing(instance: JiraInstance) -> bool:
    return versions.at_least(instance.version, SIGNING_FROM)


def signing_key_for(instance: JiraInstance) -> str | None:
    """The key Jira signs deliveries with, made on first use; ``None`` before 10.0."""
    if not supports_signing(instance):
        return None
    if not instance.webhook_signing_key:
        instance.webhook_signing_key = secrets.token_urlsafe(32)
        instance.webhook_signed = False
        instance.save(only=[JiraInstance.webhook_signing_key, JiraInstance.webhook_signed])
    return instance.webhook_signing_key


class BadSignature(Exception):
    """A delivery the bridge refuses; the message is a sentence for Jira's delivery log."""


def check_signature(instance: JiraInstance, raw_body: bytes, header: str | None) -> None:
    """Accept or refuse a delivery by its ``X-Hub-Signature`` (see the module docstring).

    Raises ``BadSignature``; on the first good signature marks the instance as signed, so
    from then on an unsigned delivery is refused."""
    key = instance.webhook_signing_key
    if not key:
        return  # Jira before 10, or no key made yet: the URL token alone authenticates
    if not header:
        if instance.webhook_signed:
            raise BadSignature("This webhook must be signed (X-Hub-Signature): Jira was "
                               "given a secret for it.")
        return
    scheme, _, digest = header.strip().partition("=")
    expected = hmac.new(key.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    if scheme.lower() != "sha256" or not hmac.compare_digest(
            digest.strip().lower().encode("ascii", "replace"), expected.encode("ascii")):
        raise BadSignature("The webhook's signature does not match its body and the "
                           "secret the bridge gave Jira.")
    if not instance.webhook_signed:
        (JiraInstance.update(webhook_signed=True)
         .where(JiraInstance.id == instance.id).execute())
        instance.webhook_signed = True
        audit("jira.webhook_signed", target=instance.base_url, instance=instance.id)


def _jira_time(value) -> dt.datetime | None:
    """Jira's ``2019-11-08T11:54:11.127+0000`` (or an ISO time) as an aware datetime."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    text = value.strip()
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00 (Python 3.11 wants the colon)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def event_time(payload: dict) -> dt.datetime | None:
    """When the change a delivery reports happened, on Jira's clock: the issue's
    ``updated``, else the delivery's ``timestamp`` (ms). ``None`` for a deletion (always
    acted on) or when neither can be read."""
    if str(payload.get("webhookEvent", "")).endswith("_deleted"):
        return None
    issue = payload.get("issue")
    fields = issue.get("fields") if isinstance(issue, dict) else None
    if isinstance(fields, dict) and (updated := _jira_time(fields.get("updated"))):
        return updated
    stamp = payload.get("timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**14:
        return dt.datetime.fromtimestamp(stamp / 1000, dt.UTC)
    return None


def is_older_than(when: dt.datetime | None, snapshot: object) -> bool:
    """True when a change at ``when`` is already in ``snapshot`` (its ``updated`` is the
    same or later): such a late delivery changes nothing."""
    if when is None or not isinstance(snapshot, dict) or snapshot.get("missing"):
        return False
    held = _jira_time(snapshot.get("updated"))
    return held is not None and when <= held


def token_for(instance: JiraInstance) -> str:
    """The instance's webhook token, made on first use."""
    if not instance.webhook_secret:
        instance.webhook_secret = f"{instance.id}.{secrets.token_urlsafe(32)}"
        instance.save(only=[JiraInstance.webhook_secret])
    return instance.webhook_secret


def rotate(instance: JiraInstance, actor: str = "") -> str:
    """A new URL token and a new signing key: the webhook must be entered again."""
    JiraWebhook.delete().where(JiraWebhook.instance == instance.id).execute()
    instance.webhook_secret = None
    instance.webhook_signing_key = None
    instance.webhook_signed = False
    instance.save(only=[JiraInstance.webhook_signing_key, JiraInstance.webhook_signed])
    token = token_for(instance)
    audit("jira.webhook_token_rotated", actor=actor, target=instance.base_url,
          instance=instance.id)
    return token


def url_for(instance: JiraInstance, public_url: str) -> str:
    return f"{public_url.rstrip('/')}{PATH}{token_for(instance)}"


def instance_for(token: str) -> JiraInstance | None:
    """The instance whose webhook token this is, or ``None`` (constant-time compare)."""
    head, dot, _ = (token or "").partition(".")
    # ASCII digits of a database id only: ``str.isdigit`` also takes "²" (int() refuses
    # it) and 30 digits overflow the id column; either answered 500 before any check.
    if not dot or not _ID.fullmatch(head) or int(head) > MAX_ID or len(token) > 200:
        return None
    instance = JiraInstance.get_or_none(JiraInstance.id == int(head))
    expected = (instance.webhook_secret or "") if instance is not None else ""
    if not hmac.compare_digest(token.encode(), expected.encode()) or not expected:
        return None
    return instance


_PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}")


def linked_projects(instance: JiraInstance) -> list[str]:
    """Keys of the Jira projects whose issues are linked to Asana tasks, sorted."""
    keys = (IssueLink.select(IssueLink.issue_key).where(IssueLink.instance == instance)
            .distinct().tuples())
    found = {key.rpartition("-")[0].upper() for (key,) in keys}
    return sorted(p for p in found if _PROJECT_KEY.fullmatch(p))


def jql_for(instance: JiraInstance) -> str:
    """The webhook's JQL filter: only the projects with linked issues (every project
    when nothing is linked yet). Jira then posts only changes the widget can show, which
    spares its webhook pool (asynchronous from 10.0, with guardrails) the rest of the
    instance. When an issue of a project the registered filter leaves out is linked, the
    filter follows (``services.webhook_filter``)."""
    projects = linked_projects(instance)
    return f"project in ({', '.join(chr(34) + p + chr(34) for p in projects)})" \
        if projects else ""


def registered(instance: JiraInstance) -> JiraWebhook | None:
    """What the bridge knows of the webhook it registered (``None``: none, or its URL
    token was rotated since)."""
    row = JiraWebhook.get_or_none(JiraWebhook.instance == instance.id)
    return row if row is not None and row.registered_at is not None else None


def covered_by(jql: str | None) -> set[str] | None:
    """The projects a filter of ``jql_for`` names; ``None`` for every project."""
    if not jql:
        return None
    return set(re.findall(r'"([A-Z][A-Z0-9_]*)"', jql))


def uncovered_projects(instance: JiraInstance) -> list[str]:
    """Projects with linked issues that the filter Jira holds leaves out."""
    row = registered(instance)
    covered = covered_by(row.jql) if row is not None else None
    if covered is None:
        return []  # none registered, or registered for every project
    return [p for p in linked_projects(instance) if p not in covered]


DELIVERY_NOTED_EVERY = dt.timedelta(minutes=1)


def note_delivery(instance: JiraInstance, now: dt.datetime | None = None) -> None:
    """Record that Jira delivered to the instance's URL (the row changes at most once a
    minute, however many deliveries): ``delivering`` reads it."""
    now = now or utcnow()
    (JiraWebhook.insert(instance=instance.id, delivered_at=now)
     .on_conflict(conflict_target=[JiraWebhook.instance],
                  update={JiraWebhook.delivered_at: now},
                  where=(JiraWebhook.delivered_at.is_null()
                         | (JiraWebhook.delivered_at < now - DELIVERY_NOTED_EVERY)))
     .execute())


DELIVERED_WITHIN = dt.timedelta(hours=24)


def delivering(instance: JiraInstance, now: dt.datetime | None = None) -> bool:
    """Whether the instance's webhook can be trusted to report changes: it is registered
    (by the bridge, or entered by hand and proven by a signed delivery), Jira delivered to
    its current URL within ``DELIVERED_WITHIN``, and its filter names every project with
    linked issues. The periodic re-read of synced fields then runs hourly only, as a
    safety net (``services.sync_refresh``)."""
    now = now or utcnow()
    row = JiraWebhook.get_or_none(JiraWebhook.instance == instance.id)
    if row is None or row.delivered_at is None or row.delivered_at < now - DELIVERED_WITHIN:
        return False
    if row.registered_at is None and not instance.webhook_signed:
        return False  # deliveries of a hand-made webhook whose filter the bridge cannot see
    return not uncovered_projects(instance)


def remember(instance: JiraInstance, *, self_url: str | None, jql: str, via: str,
             admin: AsanaUser | None = None) -> None:
    """Record a registration (or an update): Jira now holds ``jql``. A link made in a
    project it leaves out while this ran marks the filter behind again (the sweep of
    ``services.webhook_filter`` then brings it up to date)."""
    now = utcnow()
    values = {JiraWebhook.self_url: self_url or None, JiraWebhook.jql: jql,
              JiraWebhook.via: via, JiraWebhook.registered_by: admin.id if admin else None,
              JiraWebhook.registered_at: now, JiraWebhook.behind_since: None,
              JiraWebhook.updating_until: None, JiraWebhook.problem: None}
    (JiraWebhook.insert({JiraWebhook.instance: instance.id, **values})
     .on_conflict(conflict_target=[JiraWebhook.instance], update=values).execute())
    if uncovered_projects(instance):
        (JiraWebhook.update(behind_since=now)
         .where((JiraWebhook.instance == instance.id) & JiraWebhook.behind_since.is_null())
         .execute())


def manual_values(instance: JiraInstance, public_url: str) -> dict:
    """What an admin enters in Jira's *System ▸ WebHooks ▸ Create a WebHook* (``secret``
    only for Jira 10 and later, which sign with it)."""
    return {"name": f"Asana bridge ({instance.name or instance.base_url})",
            "url": url_for(instance, public_url), "events": list(EVENTS),
            "jql": jql_for(instance), "exclude_body": False,
            "secret": signing_key_for(instance)}


def register(instance: JiraInstance, public_url: str, username: str, password: str, *,
             timeout: float = 8.0, actor: str = "", auth=None, via: str = "",
             admin: AsanaUser | None = None) -> bool:
    """Create the webhook in Jira with an administrator's password, used once, or with
    ``auth``: the admin's own authorization (``register_with_consent``,
    ``register_with_oauth1``), in which case ``username`` only names that Jira account
    in the audit trail. Where Jira has one posting to this URL already (registered by the
    bridge, or entered by hand) it is updated in place instead, so Jira holds one webhook
    with the current filter, not two. Returns whether it was such an update."""
    values = manual_values(instance, public_url)
    created, updated = _send(instance, values, username, password, timeout=timeout,
                             auth=auth, create=True)
    if values["secret"]:  # Jira has the key now: unsigned deliveries are refused
        instance.webhook_signed = True
        instance.save(only=[JiraInstance.webhook_signed])
    remember(instance, self_url=created, jql=values["jql"],
             via=via or ("password" if auth is None else "consent"), admin=admin)
    audit("jira.webhook_registered", actor=actor, target=instance.base_url,
          instance=instance.id, jira_admin=username,  # services.connections reads it
          via="password" if auth is None else "consent", jql=values["jql"])
    return updated


def update_filter(instance: JiraInstance, public_url: str, jira_admin: str, auth, *,
                  timeout: float = 8.0) -> str:
    """Bring the registered webhook's filter up to date in Jira with ``auth``, the
    authorization kept from its registration (``services.webhook_filter``); never
    creates one. Returns the filter Jira now holds. ``WebhookGone`` when it was deleted
    in Jira."""
    known = registered(instance)
    values = manual_values(instance, public_url)
    created, _ = _send(instance, values, jira_admin, "", timeout=timeout, auth=auth,
                       create=False)
    remember(instance, self_url=created, jql=values["jql"], via=known.via if known else "",
             admin=known.registered_by if known else None)
    audit("jira.webhook_filter_updated", target=instance.base_url, instance=instance.id,
          jira_admin=jira_admin, via=known.via if known else "", jql=values["jql"])
    return values["jql"]


def _send(instance: JiraInstance, values: dict, username: str, password: str, *,
          timeout: float, auth, create: bool) -> tuple[str, bool]:
    """PUT ``values`` to the webhook Jira has for this URL (its known ``self``, else the
    one Jira lists with this URL); with ``create``, POST a new one where there is none
    or Jira will not update it. Returns the webhook's ``self`` and whether it existed."""
    how = dict(name=values["name"], url=values["url"], events=values["events"],
               version=versions.parse(instance.version), timeout=timeout, secret=values["secret"],
               auth=auth, jql=values["jql"])
    known = registered(instance)
    self_url = known.self_url if known is not None else None
    if not self_url:
        self_url = jira_webhooks.find_webhook(
            instance.base_url, username, password, url=values["url"],
            version=versions.parse(instance.version), timeout=timeout, auth=auth)
    if self_url:
        try:
            jira_webhooks.update_webhook(instance.base_url, self_url, username, password,
                                         **how)
            return self_url, True
        except (jira_webhooks.WebhookGone, jira_webhooks.WebhookNotUpdatable):
            if not create:
                raise  # deleted in Jira, or no update in place: an admin decides
    elif not create:
        raise jira_webhooks.WebhookGone()
    return jira_webhooks.register_webhook(instance.base_url, username, password, **how), False


def register_with_consent(instance: JiraInstance, public_url: str, access_token: str,
                          jira_admin: str, *, timeout: float = 8.0, actor: str = "") -> bool:
    """Create the webhook with the access token of an admin's one-time ADMIN consent
    (jira-server.md §2.1), then revoke that token whatever happened (§2.7): it is used for
    this one registration (the look-up, then the update or creation) and never stored."""
    try:
        return register(instance, public_url, jira_admin, "", timeout=timeout, actor=actor,
                        auth=BearerAuth(access_token), via="consent")
    finally:
        jira_oauth2.revoke(instance.base_url, instance.client_id, instance.client_secret,
                           access_token, timeout=timeout)


def register_with_oauth1(instance: JiraInstance, public_url: str, cred, *,
                         timeout: float = 8.0, actor: str = "") -> bool:
    """Create the webhook with an admin's own OAuth 1.0a access token (the application-link
    path, where Jira has no scoped consent): their Jira account must be an administrator."""
    from ..jira.signing import oauth1_auth

    auth = oauth1_auth(instance.consumer_key, instance.private_key, token=cred.token)
    return register(instance, public_url, cred.jira_username, "", timeout=timeout,
                    actor=actor, auth=auth, via="oauth1",
                    admin=AsanaUser.get_by_id(cred.asana_user_id))
