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

Updating a registered webhook (its JQL filter, when issues of a new project are linked)
is a PUT of the whole registration to the webhook's ``self`` URL, as the webhooks plugin
answers it (``update_webhook``). The references and specs in this repository do not
describe that method; it is UNCONFIRMED against a live Jira (docs/jira-server.md §9).
A ``self`` URL off the instance's base URL is refused: the admin's authorization goes to
that Jira only. Where the bridge does not know the ``self`` URL, ``find_webhook`` looks for
the webhook posting to the bridge's URL in the admin's list of webhooks.

The admin's credentials ride on these calls only, as HTTP Basic; they are never stored
and are hidden from the logs, like the secret.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from .. import logs
from . import versions
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


class WebhookGone(JiraError):
    status = 404
    code = "jira_webhook_gone"
    public_message = ("The webhook the bridge registered is no longer in Jira (deleted "
                      "there). Register it again.")


class WebhookNotUpdatable(JiraError):
    status = 502
    code = "jira_webhook_not_updatable"
    public_message = ("Jira does not update webhooks in place (it refused the PUT). Update "
                      "the filter below: the bridge then registers a new webhook; delete "
                      "the older one in Jira.")


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
    body = _body(name, url, events, jql, secret)
    paths = [JIRA10_PATH, LEGACY_PATH] if versions.at_least(version, (10,)) else [LEGACY_PATH]
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
    _refusal(answer, auth, version)
    status = answer.status_code
    if status not in (200, 201):
        raise JiraError(f"Jira did not create the webhook (HTTP {status}). Enter it by hand "
                        "with the values shown on this page.", http_status=status)
    try:
        created = answer.json()
    except (ValueError, RecursionError):
        created = {}
    if not isinstance(created, dict):
        return ""
    if created.get("self"):
        return str(created["self"])
    # only an id: the webhook's own URL under the resource that created it
    return f"{base_url.rstrip('/')}{path}/{created['id']}" if created.get("id") else ""


def find_webhook(base_url: str, username: str, password: str, *, url: str,
                 version: tuple[int, ...] | None = None, timeout: float = 8.0,
                 auth=None) -> str | None:
    """The ``self`` URL of the registered webhook that posts to ``url`` (an admin's list
    of webhooks, ``GET`` on the resource: Atlassian "Webhooks"), or ``None``: the bridge
    then updates that one instead of adding a second (one registered before the bridge
    kept its address, or entered by hand)."""
    logs.hide(password, url)
    session = fresh_session()
    session.auth = auth if auth is not None else basic_auth(username, password)
    paths = [JIRA10_PATH, LEGACY_PATH] if versions.at_least(version, (10,)) else [LEGACY_PATH]
    try:
        for path in paths:
            answer = session.get(base_url.rstrip("/") + path, timeout=timeout,
                                 allow_redirects=False)
            if answer.status_code == 404 and path != paths[-1]:
                continue
            _refusal(answer, auth, version)
            if answer.status_code != 200:
                return None
            try:
                listed = answer.json()
            except (ValueError, RecursionError):
                return None
            for hook in listed if isinstance(listed, list) else []:
                if isinstance(hook, dict) and hook.get("url") == url:
                    if hook.get("self"):
                        return str(hook["self"])
                    if hook.get("id") is not None:
                        return f"{base_url.rstrip('/')}{path}/{hook['id']}"
            return None
    except requests.RequestException as exc:
        raise error_for(exc) from None
    finally:
        session.close()
    return None


def update_webhook(base_url: str, self_url: str, username: str, password: str, *,
                   name: str, url: str, events: list[str],
                   version: tuple[int, ...] | None = None, timeout: float = 8.0,
                   secret: str | None = None, auth=None, jql: str = "") -> None:
    """Replace the registration at ``self_url`` with this one (the same body as
    ``register_webhook``: a PUT sends the whole registration). ``WebhookGone`` when
    Jira no longer has it, ``WebhookNotUpdatable`` when it refuses the method."""
    if not _under(self_url, base_url):
        raise JiraError("Jira gave the webhook an address outside its base URL; the bridge "
                        "does not send an administrator's authorization there. Register "
                        "the webhook again.", http_status=None)
    logs.hide(password, url, secret)
    session = fresh_session()
    session.auth = auth if auth is not None else basic_auth(username, password)
    try:
        answer = session.put(self_url, json=_body(name, url, events, jql, secret),
                             timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise error_for(exc) from None
    finally:
        session.close()
    _refusal(answer, auth, version)
    if answer.status_code == 404:
        raise WebhookGone(http_status=404)
    if answer.status_code == 405:  # the PUT is UNCONFIRMED (module docstring)
        raise WebhookNotUpdatable(http_status=405)
    if answer.status_code not in (200, 201, 204):
        raise JiraError(f"Jira did not update the webhook (HTTP {answer.status_code}). "
                        "Register it again, or change its JQL filter in Jira by hand.",
                        http_status=answer.status_code)


def _body(name: str, url: str, events: list[str], jql: str, secret: str | None) -> dict:
    body = {"name": name, "url": url, "events": list(events),
            "filters": {"issue-related-events-section": jql}, "excludeBody": False}
    if secret:
        body["secret"] = secret
    return body


def _under(self_url: str, base_url: str) -> bool:
    """``self_url`` is an address of the Jira at ``base_url`` (scheme, host, port and
    context path alike)."""
    target, base = urlsplit(self_url), urlsplit(base_url.rstrip("/") + "/")
    return (target.scheme, target.netloc.lower()) == (base.scheme, base.netloc.lower()) \
        and target.path.startswith(base.path) and not target.query and not target.fragment


def _refusal(answer, auth, version) -> None:
    """401/403 as the sentence for the kind of authorization that was refused."""
    status = answer.status_code
    if status not in (401, 403):
        return
    if answer.headers.get("X-Authentication-Denied-Reason", "").startswith("CAPTCHA"):
        raise WebhookCaptcha(http_status=status)
    if auth is not None:
        raise WebhookConsentRefused(http_status=status)
    if status == 401 and versions.at_least(version, (11,)):
        raise WebhookAdminRefused(
            "Jira refused the password. Jira 11 turns basic authentication off by "
            "default, and then no password works: register the webhook with your own "
            "authorization instead, or enter it in Jira by hand.", http_status=status)
    raise WebhookAdminRefused(http_status=status)
