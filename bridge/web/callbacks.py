"""The three OAuth callbacks, each dispatching on the kind of the pending flow it finishes.

- ``/oauth/asana/callback``: Asana OAuth, started by the user popup (``user_auth``) or by an
  admin signing in (``admin_signin``). The code exchange and ``users/me`` are the same for
  both; what follows is ``popup.asana_signed_in`` or ``admin.asana_signed_in``.
- ``/oauth/jira1/callback``: the OAuth 1.0a dance of the popup (``jira1``).
- ``/oauth/jira2/callback``: OAuth 2.0, for a user in the popup (``jira2_user``), for an
  admin's live check of a client id and secret on ``/setup`` (``setup_check``), or for an
  admin's one-time ADMIN consent that registers the webhook (``webhook_consent``).

Every ``state`` lives in the database (``services.pending``): single use, expiring, bound
to the browser that started the flow, and valid on any bridge node. A wrong or reused
``state`` answers 422, on the popup's final page (whoever opened it, an Asana popup waits
for its "error"). Once the flow's kind is known, a failure answers with the page of that
flow's module (``FLOWS``).

This module sits on top of ``bridge.web``: it imports ``popup`` and ``admin``; neither
imports it, nor each other.
"""

from __future__ import annotations

from types import ModuleType

from flask import Blueprint, request

from ..asana import oauth as asana_oauth
from ..asana.client import AsanaClient
from ..errors import BridgeError
from ..jira import oauth2 as jira_oauth2
from ..jira.client import JiraClient
from ..jira.signing import BearerAuth
from ..models import AsanaUser, AsanaWorkspace, PendingAuth, utcnow
from ..services import jira_as_user, pending
from ..services.pending import StateMismatch
from . import admin, field_sync, popup
from .errors import describe_failure
from .pages import answer_failures_with, asana_redirect_uri
from .security import browser_id, rate_limit, settings

bp = Blueprint("callbacks", __name__)

FLOWS: dict[str, ModuleType] = {kind: module for module in (popup, admin, field_sync)
                                for kind in module.KINDS}

# Before the flow is known (a bad state), answer as the popup does.
answer_failures_with(bp, popup.failure_page)


def _finish(kinds: tuple[str, ...], step):
    """Consume the flow's state and run ``step(row, flow)``; failures answer with the
    flow's own page."""
    row = pending.consume(request.args.get("state"), kinds, browser=browser_id())
    flow = FLOWS[row.kind]
    try:
        return step(row, flow)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the flow's page
        if flow is admin:  # the admin's form again, refilled (issue 16.11)
            return admin.flow_failed(row, exc)
        return flow.failure_page(*describe_failure(exc))


@bp.get("/oauth/asana/callback")
@rate_limit(limit=30)
def asana_callback():
    return _finish(("user_auth", "admin_signin", "fields_signin"), _asana_signed_in)


def _asana_signed_in(row: PendingAuth, flow: ModuleType):
    if request.args.get("error"):
        return flow.asana_denied()
    code = request.args.get("code")
    if not code:
        raise StateMismatch()
    cfg = settings()
    tokens = asana_oauth.exchange_code(cfg.asana_base_url, cfg.asana_client_id,
                                       cfg.asana_client_secret, code, asana_redirect_uri(),
                                       row.pkce_verifier, timeout=cfg.http_timeout)
    try:
        me = AsanaClient(cfg.asana_base_url, tokens.access_token,
                         timeout=cfg.http_timeout).me()
    except BridgeError:
        # The grant will not be stored: do not leave it alive at Asana either.
        if tokens.refresh_token:
            asana_oauth.revoke(cfg.asana_base_url, cfg.asana_client_id,
                               cfg.asana_client_secret, tokens.refresh_token,
                               timeout=cfg.http_timeout)
        raise
    user = _save_asana_user(me, tokens)
    if flow is admin:
        return admin.asana_signed_in(user, me, row.return_url)
    if flow is field_sync:
        return field_sync.asana_signed_in(user, me, row.return_url)
    return popup.asana_signed_in(user, me)


def _save_asana_user(me: dict, tokens) -> AsanaUser:
    user = AsanaUser.get_or_none(AsanaUser.gid == str(me["gid"]))
    if user is None:
        user = AsanaUser(gid=str(me["gid"]))
    user.email = (me.get("email") or "").lower()
    user.name = me.get("name") or ""
    user.access_token = tokens.access_token
    user.refresh_token = tokens.refresh_token
    user.token_expires_at = tokens.expires_at
    user.updated_at = utcnow()
    user.save()
    for ws in me.get("workspaces") or []:
        AsanaWorkspace.get_or_create(gid=str(ws["gid"]), defaults={"name": ws.get("name", "")})
    return user


@bp.get("/oauth/jira1/callback")
@rate_limit(limit=30)
def jira1_callback():
    return _finish(("jira1",), _jira1_authorized)


def _jira1_authorized(row: PendingAuth, flow: ModuleType):
    if not row.request_token or request.args.get("oauth_token") != row.request_token:
        raise StateMismatch()
    verifier = request.args.get("oauth_verifier", "")
    if not verifier or verifier == "denied":  # §1.2: Deny redirects with verifier=denied
        return flow.jira_denied()
    return popup.jira1_authorized(row, verifier)


@bp.get("/oauth/jira2/callback")
@rate_limit(limit=30)
def jira2_callback():
    return _finish(("jira2_user", "setup_check", "webhook_consent"), _jira2_authorized)


def _jira2_authorized(row: PendingAuth, flow: ModuleType):
    if request.args.get("error"):
        if row.kind == "webhook_consent":
            return admin.webhook_consent_denied(request.args.get("error", ""))
        return flow.jira_denied()
    code = request.args.get("code")
    if not code:
        raise StateMismatch()
    cfg = settings()
    if row.kind == "setup_check":
        base_url, client_id = row.payload["base_url"], row.payload["client_id"]
        client_secret = row.secret
    else:
        base_url = row.instance.base_url
        client_id, client_secret = row.instance.client_id, row.instance.client_secret
    tokens = jira_oauth2.exchange_code(base_url, client_id, client_secret, code,
                                       jira_as_user.jira2_redirect_uri(), row.pkce_verifier,
                                       timeout=cfg.http_timeout)
    try:
        me = JiraClient(base_url, BearerAuth(tokens.access_token),
                        timeout=cfg.http_timeout).myself()
    except BridgeError:
        # The new token will not be stored: revoke it rather than leave it valid in
        # Jira (jira-server.md §2.7). OAuth 1.0a has no such call (only the user's
        # profile page), so the popup's access token cannot be revoked the same way.
        jira_oauth2.revoke(base_url, client_id, client_secret, tokens.access_token,
                           timeout=cfg.http_timeout)
        raise
    if row.kind == "webhook_consent":  # used once to register, then revoked
        return admin.webhook_consented(row, tokens, me)
    if flow is admin:
        return admin.finish_setup(row, tokens, me)
    return popup.jira2_authorized(row, tokens, me)
