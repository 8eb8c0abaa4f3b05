"""Jira as this Asana user on this instance: the rules behind ``Context.jira_for``.

    client = ctx.jira_for(instance)   # a JiraClient acting as the calling user
    issue = client.issue("ABC-12")

Everything a handler must not have to think about happens here, once:

- the credential lookup: the user's active credential for the instance, in the instance's
  current auth mode (after a move from OAuth 1.0a to 2.0 old tokens do not count);
- an OAuth 2.0 refresh ahead of expiry, serialised across workers and nodes
  (``credentials.refresh``), with the configured callback URL as ``redirect_uri``;
- the configured timeout on every call;
- marking the credential ``needs_reconnect`` when Jira says the token is gone, on any call
  made through the returned client.

When the user must authorize (first time, or again) the error is a ``JiraNeedsReconnect``:
``JiraNotConnected`` before any call, ``JiraNeedsReconnect`` itself when Jira refuses the
token during one. The App Components surface answers both with 401, which makes Asana
open the Authentication URL (see the README).

Settings (the public URL for OAuth callbacks, the timeout) are passed in by the caller's
``Context``, never kept here: services run the same in a request, a CLI command or a
background job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ..errors import BridgeError
from ..jira import versions
from ..jira.client import JiraClient
from ..jira.errors import JiraNeedsReconnect, JiraNotConnected
from ..jira.signing import BearerAuth, oauth1_auth
from ..models import AsanaUser, JiraCredential, JiraInstance, utcnow
from . import credentials

__all__ = ["JiraNotConnected", "JiraNeedsReconnect", "jira_for", "client_for",
           "credential_for", "public_url", "jira1_callback_url", "jira2_redirect_uri"]

JIRA1_CALLBACK_PATH = "/oauth/jira1/callback"
JIRA2_CALLBACK_PATH = "/oauth/jira2/callback"


def public_url(settings) -> str:
    """``BRIDGE_PUBLIC_URL`` without its trailing slash; a 503 sentence if unset."""
    if not settings.public_url:
        raise BridgeError("BRIDGE_PUBLIC_URL is not set on this bridge.", status=503,
                          code="no_public_url")
    return settings.public_url.rstrip("/")


def jira1_callback_url(settings) -> str:
    """Where Jira sends the browser back after an OAuth 1.0a authorization (§1.2)."""
    return public_url(settings) + JIRA1_CALLBACK_PATH


def jira2_redirect_uri(settings) -> str:
    """The OAuth 2.0 ``redirect_uri``: on authorize, on the code exchange and on every
    refresh (jira-server.md §2.4), always the same string."""
    return public_url(settings) + JIRA2_CALLBACK_PATH


def credential_for(user: AsanaUser | str, instance: JiraInstance) -> JiraCredential:
    """The user's usable credential on ``instance``, or ``JiraNotConnected``."""
    if isinstance(user, str):
        found = AsanaUser.get_or_none(AsanaUser.gid == user)
        if found is None:
            raise JiraNotConnected()
        user = found
    return credentials.get_active(user, instance)


def jira_for(user: AsanaUser | str, instance: JiraInstance, settings, *,
             timeout: float | None = None,
             now: Callable[[], dt.datetime] = utcnow) -> JiraClient:
    """A Jira client acting as ``user`` (an ``AsanaUser`` or an Asana user gid).

    ``timeout`` overrides the configured one for background work only (a large upload);
    request handlers leave it alone (Asana waits 10 s at most).
    """
    return client_for(credential_for(user, instance), settings, timeout=timeout, now=now)


def client_for(cred: JiraCredential, settings, *, timeout: float | None = None,
               now: Callable[[], dt.datetime] = utcnow) -> JiraClient:
    """A client carrying ``cred`` (refreshed first if it is about to expire)."""
    instance = cred.instance
    if cred.auth_mode == "oauth1":
        auth = oauth1_auth(instance.consumer_key, instance.private_key, token=cred.token)
    else:
        if cred.expires_at is None or cred.expires_at - credentials.REFRESH_AHEAD <= now():
            cred = credentials.refresh(cred, redirect_uri=jira2_redirect_uri(settings),
                                       timeout=settings.http_timeout, now=now)
        auth = BearerAuth(cred.access_token)

    def lost(exc: JiraNeedsReconnect) -> None:
        credentials.mark_needs_reconnect(cred, exc.problem)

    return JiraClient(instance.base_url, auth, timeout=timeout or settings.http_timeout,
                      version=versions.parse(instance.version), on_reconnect=lost)
