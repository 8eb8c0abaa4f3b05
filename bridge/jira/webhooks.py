"""Registering the bridge's webhook in Jira with an administrator's password, used once.

Jira webhooks before DC 10 carry no signature (docs/jira-server.md §9), so the receiving URL
itself holds a per-instance secret; the caller builds it. The REST resource is the
webhooks plugin's ``/rest/webhooks/1.0/webhook`` (Jira 7-9: ``name``, ``url``,
``events``, ``filters``, ``excludeBody``); Jira 10 serves ``/rest/jira-webhook/1.0/webhooks``
(docs/jira-server.md §9, "Jira webhooks: registration resource"), so from 10.0 that one is
tried first and the older one on 404. ``excludeBody`` stays false: without the body
Jira would not say which issue changed.

From Jira DC 10 the body also carries ``secret``: Jira signs each delivery with it
(``X-Hub-Signature``, Atlassian "Managing webhooks"). The field name is the one Jira
Cloud's admin-webhook REST resource documents; neither jira-server.md nor the DC 10.x
OpenAPI specs describe the webhook resource (docs/jira-server.md §9).

The admin's credentials ride on these calls only, as HTTP Basic; they are never stored
and are hidden from the logs, like the secret.
"""

from __future__ import annotations

import requests

from .. import logs
from .client import error_for, fresh_session
from .errors import JiraError
from .signing import basic_auth

LEGACY_PATH = "/rest/webhooks/1.0/webhook"
JIRA10_PATH = "/rest/jira-webhook/1.0/webhooks"


class WebhookAdminRefused(JiraError):
    status = 403
    code = "jira_admin_refused"
    public_message = ("Jira refused those credentials for creating a webhook. Use a Jira "
                      "administrator's username and password.")


class WebhookConsentRefused(WebhookAdminRefused):
    public_message = ("Jira refused to create the webhook with your authorization: the "
                      "Jira account you allowed it with must be a Jira administrator.")


class WebhookCaptcha(WebhookAdminRefused):
    public_message = ("Jira asks this account to pass a CAPTCHA after failed logins. Sign "
                      "in to Jira once in a browser as that administrator, then try again.")


def register_webhook(base_url: str, username: str, password: str, *, name: str, url: str,
                     events: list[str], version: tuple[int, ...] | None = None,
                     timeout: float = 8.0, secret: str | None = None, auth=None,
                     jql: str = "") -> str:
    """Create the webhook; returns Jira's ``self`` URL (or id) for it.

    ``auth`` (a bearer token of an admin's one-time consent, or an admin's OAuth 1.0a
    signer) replaces ``username``/``password`` when given."""
    logs.hide(password, url, secret)
    session = fresh_session()
    session.auth = auth if auth is not None else basic_auth(username, password)
    body = {"name": name, "url": url, "events": list(events),
            "filters": {"issue-related-events-section": jql}, "excludeBody": False}
    if secret:
        body["secret"] = secret
    paths = [JIRA10_PATH, LEGACY_PATH] if (version or (0,))[0] >= 10 else [LEGACY_PATH]
    try:
        for path in paths:
            answer = session.post(base_url.rstrip("/") + path, json=body, timeout=timeout,
                                  allow_redirects=False)
            if answer.status_code == 404 and path != paths[-1]:
                continue
            break
    except requests.RequestException as exc:
        raise error_for(exc) from None
    finally:
        session.close()
    status = answer.status_code
    if status in (401, 403):
        if answer.headers.get("X-Authentication-Denied-Reason", "").startswith("CAPTCHA"):
            raise WebhookCaptcha(http_status=status)
        if auth is not None:
            raise WebhookConsentRefused(http_status=status)
        if status == 401 and (version or (0,))[0] >= 11:
            raise WebhookAdminRefused(
                "Jira refused the password. Jira 11 turns basic authentication off by "
                "default, and then no password works: register the webhook with your own "
                "authorization instead, or enter it in Jira by hand.", http_status=status)
        raise WebhookAdminRefused(http_status=status)
    if status not in (200, 201):
        raise JiraError(f"Jira did not create the webhook (HTTP {status}). Enter it by hand "
                        "with the values shown on this page.", http_status=status)
    try:
        created = answer.json()
    except (ValueError, RecursionError):
        created = {}
    return str(created.get("self") or created.get("id") or "") if isinstance(created, dict) \
        else ""
