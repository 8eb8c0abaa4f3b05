"""Each Asana user's Jira authorization: storing it, using it, refreshing it, losing it.

- OAuth 1.0a access tokens live 5 years (jira-server.md §1.4) and are used as they are.
- OAuth 2.0 access tokens live an hour; we refresh ``REFRESH_AHEAD`` before expiry.
  Refresh tokens **rotate** (§2.4): if two workers refreshed with the same refresh token,
  one would get ``invalid_grant`` and the user would look disconnected (pitfall §6.11).
  So a refresh first takes a short lease on the credential row (a conditional UPDATE that
  only one worker on any node can win), re-reads the row, and refreshes only if nobody did
  meanwhile; the others wait for the lease and then use the new pair. No database
  transaction stays open during the call to Jira, so a slow Jira never blocks other
  writers (SQLite has one database-wide write lock).
- A token Jira no longer accepts (``token_rejected``, ``token_expired``,
  ``consumer_key_unknown``, ``invalid_grant``, 401 on ``/myself``, anonymous fallback)
  marks the credential ``needs_reconnect``; callers then ask Asana to re-run the
  Authentication URL.

Handlers do not use this module directly: ``services.jira_as_user`` is the entry point
that looks a credential up, refreshes it and marks it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable

import peewee as pw

from ..db import database
from ..jira import oauth2
from ..jira.errors import JiraNeedsReconnect, JiraNotConnected, JiraUnavailable
from ..models import AsanaUser, JiraCredential, JiraInstance, audit, utcnow

REFRESH_AHEAD = dt.timedelta(minutes=2)
ACTIVE = "active"
NEEDS_RECONNECT = "needs_reconnect"


def save_oauth1(user: AsanaUser, instance: JiraInstance, token: str, token_secret: str,
                jira_username: str = "") -> JiraCredential:
    return _upsert(user, instance, auth_mode="oauth1", token=token, token_secret=token_secret,
                   access_token=None, refresh_token=None, expires_at=None,
                   jira_username=jira_username)


def save_oauth2(user: AsanaUser, instance: JiraInstance, tokens: oauth2.TokenSet,
                jira_username: str = "") -> JiraCredential:
    return _upsert(user, instance, auth_mode="oauth2", token=None, token_secret=None,
                   access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                   expires_at=tokens.expires_at, jira_username=jira_username)


def _upsert(user, instance, **fields) -> JiraCredential:
    fields.update(state=ACTIVE, updated_at=utcnow(), refresh_lease_until=None,
                  grant_id=secrets.token_hex(8))  # a new authorization: a new identity
    with database.atomic():
        cred = JiraCredential.get_or_none(asana_user=user, instance=instance)
        if cred is None:
            try:
                with database.atomic():  # a savepoint: a concurrent insert may win
                    cred = JiraCredential.create(asana_user=user, instance=instance, **fields)
            except pw.IntegrityError:
                cred = JiraCredential.get(asana_user=user, instance=instance)
        for key, value in fields.items():
            setattr(cred, key, value)
        cred.save()
    audit("jira.user_authorized", actor=user.gid, target=instance.base_url,
          auth_mode=fields["auth_mode"])
    return cred


def get_active(user: AsanaUser, instance: JiraInstance) -> JiraCredential:
    cred = JiraCredential.get_or_none(asana_user=user, instance=instance)
    if cred is None or cred.state != ACTIVE or cred.auth_mode != instance.auth_mode:
        raise JiraNotConnected()
    return cred


def refresh(cred: JiraCredential, *, redirect_uri: str, timeout: float = 8.0,
            now: Callable[[], dt.datetime] = utcnow) -> JiraCredential:
    """Refresh an OAuth 2.0 pair, at most once across all workers and nodes."""
    lease_for = dt.timedelta(seconds=timeout + 5)
    give_up = time.monotonic() + timeout + 5
    while True:
        fresh = JiraCredential.get_or_none(JiraCredential.id == cred.id)
        if fresh is None or fresh.state != ACTIVE:
            raise JiraNotConnected()
        if _still_fresh(fresh, now):
            return fresh
        taken = (JiraCredential.update(refresh_lease_until=utcnow() + lease_for)
                 .where((JiraCredential.id == cred.id)
                        & (JiraCredential.refresh_lease_until.is_null()
                           | (JiraCredential.refresh_lease_until < utcnow())))
                 .execute())
        if taken == 1:
            break
        if time.monotonic() > give_up:
            raise JiraUnavailable("Jira is slow to renew your authorization. Try again.")
        time.sleep(0.05)  # another worker is refreshing: wait for its result
    try:
        fresh = JiraCredential.get_by_id(cred.id)
        if _still_fresh(fresh, now):  # refreshed between our read and our lease
            return fresh
        instance = fresh.instance
        try:
            tokens = oauth2.refresh(instance.base_url, instance.client_id,
                                    instance.client_secret, fresh.refresh_token,
                                    redirect_uri, timeout=timeout)
        except JiraNeedsReconnect as exc:
            mark_needs_reconnect(fresh, exc.problem)
            raise
        fresh.access_token = tokens.access_token
        fresh.refresh_token = tokens.refresh_token
        fresh.expires_at = tokens.expires_at
        fresh.refresh_lease_until = None
        fresh.updated_at = utcnow()
        fresh.save()
        return fresh
    finally:
        (JiraCredential.update(refresh_lease_until=None)
         .where(JiraCredential.id == cred.id).execute())


def _still_fresh(cred: JiraCredential, now: Callable[[], dt.datetime]) -> bool:
    return cred.expires_at is not None and cred.expires_at - REFRESH_AHEAD > now()


def mark_needs_reconnect(cred: JiraCredential, problem: str) -> None:
    """Mark once: only the request that flips the state records the audit event."""
    changed = (JiraCredential.update(state=NEEDS_RECONNECT, updated_at=utcnow())
               .where((JiraCredential.id == cred.id) & (JiraCredential.state == ACTIVE))
               .execute())
    if changed:
        audit("jira.token_lost", actor=str(cred.asana_user_id),
              target=cred.instance.base_url, outcome=problem)
