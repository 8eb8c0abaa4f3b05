"""Each Asana user's Jira authorization: storing it, using it, refreshing it, losing it.

- OAuth 1.0a access tokens live 5 years (jira-server.md §1.4) and are used as they are.
- OAuth 2.0 access tokens live an hour; we refresh ``REFRESH_AHEAD`` before expiry.
  Refresh tokens **rotate** (§2.4): if two workers refreshed with the same refresh token,
  one would get ``invalid_grant`` and the user would look disconnected (pitfall §6.11).
  So a refresh takes a row lock (``SELECT … FOR UPDATE`` on PostgreSQL, the database write
  lock on SQLite), re-reads the row, and refreshes only if nobody did meanwhile; the new
  pair is stored in the same transaction.
- A token Jira no longer accepts (``token_rejected``, ``token_expired``,
  ``consumer_key_unknown``, ``invalid_grant``, 401 on ``/myself``, anonymous fallback)
  marks the credential ``needs_reconnect``; callers then ask Asana to re-run the
  Authentication URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import peewee as pw

from ..db import database
from ..jira import oauth2
from ..jira.client import BearerAuth, JiraClient, oauth1_auth
from ..jira.errors import JiraNeedsReconnect
from ..models import AsanaUser, JiraCredential, JiraInstance, audit, utcnow

REFRESH_AHEAD = dt.timedelta(minutes=2)
ACTIVE = "active"
NEEDS_RECONNECT = "needs_reconnect"
T = TypeVar("T")


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
    with database.atomic():
        cred = JiraCredential.get_or_none(asana_user=user, instance=instance)
        if cred is None:
            cred = JiraCredential(asana_user=user, instance=instance)
        for key, value in fields.items():
            setattr(cred, key, value)
        cred.state = ACTIVE
        cred.updated_at = utcnow()
        cred.save()
    audit("jira.user_authorized", actor=user.gid, target=instance.base_url,
          auth_mode=fields["auth_mode"])
    return cred


def get_active(user: AsanaUser, instance: JiraInstance) -> JiraCredential:
    cred = JiraCredential.get_or_none(asana_user=user, instance=instance)
    if cred is None or cred.state != ACTIVE or cred.auth_mode != instance.auth_mode:
        raise JiraNeedsReconnect(problem="not_connected")
    return cred


def client_for(cred: JiraCredential, *, redirect_uri: str, timeout: float = 8.0,
               now: Callable[[], dt.datetime] = utcnow) -> JiraClient:
    """A Jira client carrying this credential, refreshed first if it is about to expire."""
    instance = cred.instance
    if cred.auth_mode == "oauth1":
        auth = oauth1_auth(instance.consumer_key, instance.private_key, token=cred.token)
    else:
        if cred.expires_at is None or cred.expires_at - REFRESH_AHEAD <= now():
            cred = refresh(cred, redirect_uri=redirect_uri, timeout=timeout, now=now)
        auth = BearerAuth(cred.access_token)
    return JiraClient(instance.base_url, auth, timeout=timeout,
                      version=instance.version_tuple)


def refresh(cred: JiraCredential, *, redirect_uri: str, timeout: float = 8.0,
            now: Callable[[], dt.datetime] = utcnow) -> JiraCredential:
    """Refresh an OAuth 2.0 pair, at most once across all workers and nodes."""
    with _locked(cred.id) as fresh:
        if fresh is None or fresh.state != ACTIVE:
            raise JiraNeedsReconnect(problem="not_connected")
        if fresh.expires_at is not None and fresh.expires_at - REFRESH_AHEAD > now():
            return fresh  # another worker refreshed while we waited for the lock
        instance = fresh.instance
        try:
            tokens = oauth2.refresh(instance.base_url, instance.client_id,
                                    instance.client_secret, fresh.refresh_token,
                                    redirect_uri, timeout=timeout)
        except JiraNeedsReconnect as exc:
            fresh.state = NEEDS_RECONNECT
            fresh.updated_at = utcnow()
            fresh.save()
            audit("jira.token_lost", actor=fresh.asana_user_id, target=instance.base_url,
                  outcome=exc.problem)
            raise
        fresh.access_token = tokens.access_token
        fresh.refresh_token = tokens.refresh_token
        fresh.expires_at = tokens.expires_at
        fresh.updated_at = utcnow()
        fresh.save()
        return fresh


class _locked:
    """A transaction holding the credential row's lock; yields the re-read row."""

    def __init__(self, cred_id: int):
        self.cred_id = cred_id

    def __enter__(self):
        db = database.obj
        if isinstance(db, pw.SqliteDatabase):
            self._txn = db.atomic(lock_type="IMMEDIATE")
        else:
            self._txn = db.atomic()
        self._txn.__enter__()
        query = JiraCredential.select().where(JiraCredential.id == self.cred_id)
        if not isinstance(db, pw.SqliteDatabase):
            query = query.for_update()
        return query.first()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, JiraNeedsReconnect):
            # Keep the needs-reconnect mark: commit, then let the error through.
            self._txn.__exit__(None, None, None)
            return False
        return self._txn.__exit__(exc_type, exc, tb)


def mark_needs_reconnect(cred: JiraCredential, problem: str) -> None:
    (JiraCredential.update(state=NEEDS_RECONNECT, updated_at=utcnow())
     .where(JiraCredential.id == cred.id).execute())
    audit("jira.token_lost", actor=str(cred.asana_user_id), target=cred.instance.base_url,
          outcome=problem)


def call(cred: JiraCredential, fn: Callable[[JiraClient], T], *, redirect_uri: str,
         timeout: float = 8.0) -> T:
    """Run ``fn`` with a client for ``cred``; a lost token marks the credential."""
    try:
        return fn(client_for(cred, redirect_uri=redirect_uri, timeout=timeout))
    except JiraNeedsReconnect as exc:
        if exc.problem != "not_connected":
            mark_needs_reconnect(cred, exc.problem)
        raise
