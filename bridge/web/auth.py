"""The Authentication URL popup and the OAuth callbacks.

Flow (asana-app-components.md §7.1, jira-server.md §1.8 and §2.2):

1. Asana opens ``GET /asana/auth`` in a popup. The bridge starts Asana OAuth (``state`` +
   PKCE S256) to learn who the user is.
2. ``/oauth/asana/callback``: exchange the code, read ``users/me``, find the Jira
   instance(s) of the user's workspaces, and start that Jira's authorization: the OAuth
   1.0a dance (request token with ``oauth_callback``) or OAuth 2.0 (code + PKCE, ``WRITE``).
3. ``/oauth/jira1/callback`` or ``/oauth/jira2/callback``: finish, check the token with
   ``/rest/api/2/myself``, store it sealed, and render the final page, which is on the
   bridge's origin (the Authentication URL's) and posts ``"success"`` or ``"error"`` to
   the opener with targetOrigin exactly Asana's origin.

Every ``state`` lives in the database (``services.pending``): single use, expiring, and
valid on any bridge node. A wrong or reused ``state`` answers 422.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Blueprint, g, redirect, render_template, request, session
from werkzeug.exceptions import HTTPException

from ..asana import oauth as asana_oauth
from ..asana.client import AsanaClient
from ..errors import BridgeError
from ..jira import oauth1 as jira_oauth1
from ..jira import oauth2 as jira_oauth2
from ..jira.client import BearerAuth, JiraClient, oauth1_auth
from ..jira.errors import JiraNeedsReconnect
from ..models import AsanaUser, AsanaWorkspace, JiraInstance, utcnow
from ..services import credentials, pending
from ..services.pending import StateMismatch
from .security import (
    asana_origin,
    browser_id,
    public_url,
    rate_limit,
    require_app_components,
    settings,
)

bp = Blueprint("auth", __name__)
log = logging.getLogger("bridge.auth")


def asana_redirect_uri() -> str:
    return public_url() + "/oauth/asana/callback"


def jira2_redirect_uri() -> str:
    return public_url() + "/oauth/jira2/callback"


def done(outcome: str, message: str, status: int = 200):
    """The popup's final page (posts ``outcome`` to the opener)."""
    return render_template("auth_done.html", outcome=outcome, message=message,
                           target_origin=asana_origin()), status


def message_page(heading: str, message: str, *, error: bool = False, advice: str = "",
                 link: str | None = None, link_text: str | None = None, status: int = 200):
    return render_template("message.html", heading=heading, message=message, error=error,
                           advice=advice, link=link, link_text=link_text), status


def _failure_page(message: str, status: int, advice: str = ""):
    if g.get("flow") == "admin":
        return message_page("That did not work", message, error=True, advice=advice,
                            status=status)
    return done("error", message, status)


@bp.errorhandler(BridgeError)
def _flow_error(exc: BridgeError):
    log.info("auth.failed error_code=%s flow=%s", exc.code, g.get("flow", "popup"))
    return _failure_page(exc.public_message, exc.status, getattr(exc, "advice", ""))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _failure_page(exc.description or exc.name, exc.code or 500)


@bp.errorhandler(Exception)
def _crash(exc: Exception):
    # Whatever went wrong, the popup must still answer Asana ("error"), or Asana waits.
    log.exception("auth.crashed path=%s", request.path)
    return _failure_page("Something went wrong on the bridge. Its administrator can find the "
                         "details in the bridge's log.", 500)


# -- Asana sign-in (shared with the admin pages) -----------------------------------------


def start_asana_signin(kind: str, return_path: str | None = None):
    require_app_components()
    cfg = settings()
    verifier, challenge = jira_oauth2.make_pkce()
    state, _ = pending.start(kind, browser=browser_id(), pkce_verifier=verifier,
                             return_url=return_path)
    return redirect(asana_oauth.authorize_url(cfg.asana_base_url, cfg.asana_client_id,
                                              asana_redirect_uri(), state, challenge))


@bp.get("/asana/auth")
@rate_limit(limit=30)
def popup():
    """Asana's Authentication URL (not signed: it is a plain browser GET, §5.5)."""
    return start_asana_signin("user_auth")


@bp.get("/oauth/asana/callback")
@rate_limit(limit=30)
def asana_callback():
    row = pending.consume(request.args.get("state"), ("user_auth", "admin_signin"),
                          browser=browser_id())
    g.flow = "admin" if row.kind == "admin_signin" else "popup"
    if request.args.get("error"):
        if row.kind == "admin_signin":
            return message_page("Not signed in", "You did not allow access to Asana.",
                                error=True)
        return done("error", "You did not allow access to Asana.")
    code = request.args.get("code")
    if not code:
        raise StateMismatch()
    cfg = settings()
    tokens = asana_oauth.exchange_code(cfg.asana_base_url, cfg.asana_client_id,
                                       cfg.asana_client_secret, code, asana_redirect_uri(),
                                       row.pkce_verifier, timeout=cfg.http_timeout)
    me = AsanaClient(cfg.asana_base_url, tokens.access_token, timeout=cfg.http_timeout).me()
    user = _save_asana_user(me, tokens)
    if row.kind == "admin_signin":
        from .admin import after_signin

        return after_signin(user, me, row.return_url)
    return _continue_to_jira(user, me)


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


def _instances_for(me: dict) -> list[JiraInstance]:
    gids = [str(ws["gid"]) for ws in me.get("workspaces") or []]
    if not gids:
        return []
    return list(JiraInstance.select(JiraInstance, AsanaWorkspace).join(AsanaWorkspace)
                .where(AsanaWorkspace.gid.in_(gids)).order_by(JiraInstance.id))


def _continue_to_jira(user: AsanaUser, me: dict):
    instances = _instances_for(me)
    if not instances:
        return done("error", "No Jira is connected to your Asana workspace yet. Ask your "
                             "Jira administrator to connect it.")
    session["auth_user"] = user.gid
    session["auth_instances"] = [i.id for i in instances]
    if len(instances) == 1:
        return _start_jira(user, instances[0])
    return render_template("choose_jira.html", instances=instances)


@bp.get("/asana/auth/jira/<int:instance_id>")
@rate_limit(limit=30)
def jira_start(instance_id: int):
    """Pick one of several Jira instances (only those offered to this session's user)."""
    user = AsanaUser.get_or_none(AsanaUser.gid == session.get("auth_user", ""))
    if user is None or instance_id not in session.get("auth_instances", []):
        raise StateMismatch()
    instance = JiraInstance.get_or_none(JiraInstance.id == instance_id)
    if instance is None:
        raise StateMismatch()
    return _start_jira(user, instance)


def _start_jira(user: AsanaUser, instance: JiraInstance):
    cfg = settings()
    if instance.auth_mode == "oauth1":
        # §1.2: POST request-token with our callback (carrying our state), then send the
        # browser to Jira's authorize page.
        state, row = pending.start("jira1", browser=browser_id(), asana_user=user,
                                   instance=instance)
        callback = f"{public_url()}/oauth/jira1/callback?{urlencode({'state': state})}"
        token, secret = jira_oauth1.fetch_request_token(
            instance.base_url, instance.consumer_key, instance.private_key, callback,
            timeout=cfg.http_timeout)
        row.request_token = token
        row.secret = secret
        row.save()
        return redirect(jira_oauth1.authorize_url(instance.base_url, token))
    verifier, challenge = jira_oauth2.make_pkce()
    state, _ = pending.start("jira2_user", browser=browser_id(), asana_user=user,
                             instance=instance, pkce_verifier=verifier)
    return redirect(jira_oauth2.authorize_url(instance.base_url, instance.client_id,
                                              jira2_redirect_uri(), state, challenge))


@bp.get("/oauth/jira1/callback")
@rate_limit(limit=30)
def jira1_callback():
    row = pending.consume(request.args.get("state"), "jira1", browser=browser_id())
    if not row.request_token or request.args.get("oauth_token") != row.request_token:
        raise StateMismatch()
    verifier = request.args.get("oauth_verifier", "")
    if not verifier or verifier == "denied":  # §1.2: Deny redirects with verifier=denied
        return done("error", "You did not allow access to Jira.")
    instance, user = row.instance, row.asana_user
    cfg = settings()
    try:
        values = jira_oauth1.fetch_access_token(instance.base_url, instance.consumer_key,
                                                instance.private_key, row.request_token,
                                                verifier, timeout=cfg.http_timeout)
    except JiraNeedsReconnect:
        # token_expired / token_rejected here mean the request token died (10 minutes,
        # §1.4) or was already used: the user starts over.
        return done("error", "The Jira authorization took too long or was already used. "
                             "Start again.", 400)
    token = values.get("oauth_token", "")
    client = JiraClient(instance.base_url,
                        oauth1_auth(instance.consumer_key, instance.private_key, token=token),
                        timeout=cfg.http_timeout)
    me = client.myself()
    credentials.save_oauth1(user, instance, token, values.get("oauth_token_secret", ""),
                            jira_username=me.get("name", ""))
    return done("success", f"Your Jira account {me.get('displayName') or me.get('name')} "
                           "is connected to Asana.")


@bp.get("/oauth/jira2/callback")
@rate_limit(limit=30)
def jira2_callback():
    row = pending.consume(request.args.get("state"), ("jira2_user", "setup_check"),
                          browser=browser_id())
    g.flow = "admin" if row.kind == "setup_check" else "popup"
    if request.args.get("error"):
        if row.kind == "setup_check":
            return message_page("Not saved", "The Jira authorization was not allowed, so the "
                                "client id and secret could not be checked.", error=True)
        return done("error", "You did not allow access to Jira.")
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
                                       jira2_redirect_uri(), row.pkce_verifier,
                                       timeout=cfg.http_timeout)
    me = JiraClient(base_url, BearerAuth(tokens.access_token),
                    timeout=cfg.http_timeout).myself()
    if row.kind == "setup_check":
        from .admin import finish_setup

        return finish_setup(row, tokens, me)
    credentials.save_oauth2(row.asana_user, row.instance, tokens,
                            jira_username=me.get("name", ""))
    return done("success", f"Your Jira account {me.get('displayName') or me.get('name')} "
                           "is connected to Asana.")
