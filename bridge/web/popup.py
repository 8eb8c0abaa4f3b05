"""The Authentication URL popup: who the Asana user is, then their Jira authorization.

Flow (asana-app-components.md §7.1, jira-server.md §1.8 and §2.2):

1. Asana opens ``GET /asana/auth`` in a popup. The bridge starts Asana OAuth (``state`` +
   PKCE S256) to learn who the user is.
2. ``callbacks`` finishes Asana OAuth and calls ``asana_signed_in``: find the Jira
   instance(s) of the user's workspaces and start that Jira's authorization, the OAuth
   1.0a dance (request token with ``oauth_callback``) or OAuth 2.0 (code + PKCE,
   ``WRITE``). With several instances the user picks one (``/asana/auth/jira/<id>``).
3. ``callbacks`` finishes the Jira authorization and calls ``jira1_authorized`` or
   ``jira2_authorized``: the token is checked with ``/rest/api/2/myself`` and stored
   sealed, and the final page, on the bridge's origin (the Authentication URL's), posts
   ``"success"`` or ``"error"`` to the opener with targetOrigin exactly Asana's origin.

Every failure in this blueprint, and in the callbacks of these flows, answers with the
popup's final page and ``"error"``: Asana waits on the popup otherwise.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, session

from ..jira import oauth1 as jira_oauth1
from ..jira import oauth2 as jira_oauth2
from ..jira.client import JiraClient
from ..jira.errors import JiraNeedsReconnect
from ..jira.signing import oauth1_auth
from ..models import AsanaUser, AsanaWorkspace, JiraInstance
from ..services import credentials, jira_as_user, pending
from ..services.pending import StateMismatch
from .pages import answer_failures_with, popup_done, start_asana_signin
from .security import browser_id, rate_limit, settings

bp = Blueprint("popup", __name__)

KINDS = ("user_auth", "jira1", "jira2_user")  # the pending flows this module finishes


def failure_page(message: str, status: int = 200, advice: str = ""):
    return popup_done("error", message, status)


answer_failures_with(bp, failure_page)


@bp.get("/asana/auth")
@rate_limit(limit=30)
def popup():
    """Asana's Authentication URL (not signed: it is a plain browser GET, §5.5)."""
    return start_asana_signin("user_auth")


def asana_denied():
    return popup_done("error", "You did not allow access to Asana.")


def jira_denied():
    return popup_done("error", "You did not allow access to Jira.")


def _instances_for(me: dict) -> list[JiraInstance]:
    gids = [str(ws["gid"]) for ws in me.get("workspaces") or []]
    if not gids:
        return []
    return list(JiraInstance.select(JiraInstance, AsanaWorkspace).join(AsanaWorkspace)
                .where(AsanaWorkspace.gid.in_(gids)).order_by(JiraInstance.id))


def asana_signed_in(user: AsanaUser, me: dict):
    """Asana told us who the user is: on to their Jira (or the choice of Jiras)."""
    instances = _instances_for(me)
    if not instances:
        return popup_done("error", "No Jira is connected to your Asana workspace yet. Ask "
                                   "your Jira administrator to connect it.")
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
        callback = f"{jira_as_user.jira1_callback_url()}?{urlencode({'state': state})}"
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
                                              jira_as_user.jira2_redirect_uri(), state,
                                              challenge))


def jira1_authorized(row, verifier: str):
    """Jira sent the browser back with ``oauth_verifier``: trade it for the access token."""
    instance, user = row.instance, row.asana_user
    cfg = settings()
    try:
        values = jira_oauth1.fetch_access_token(instance.base_url, instance.consumer_key,
                                                instance.private_key, row.request_token,
                                                verifier, timeout=cfg.http_timeout)
    except JiraNeedsReconnect:
        # token_expired / token_rejected here mean the request token died (10 minutes,
        # §1.4) or was already used: the user starts over.
        return popup_done("error", "The Jira authorization took too long or was already "
                                   "used. Start again.", 400)
    token = values.get("oauth_token", "")
    client = JiraClient(instance.base_url,
                        oauth1_auth(instance.consumer_key, instance.private_key, token=token),
                        timeout=cfg.http_timeout)
    me = client.myself()
    credentials.save_oauth1(user, instance, token, values.get("oauth_token_secret", ""),
                            jira_username=me.get("name", ""))
    return _connected(me)


def jira2_authorized(row, tokens, me: dict):
    """The OAuth 2.0 code was exchanged and ``/myself`` answered with the new token."""
    credentials.save_oauth2(row.asana_user, row.instance, tokens,
                            jira_username=me.get("name", ""))
    return _connected(me)


def _connected(me: dict):
    return popup_done("success", f"Your Jira account {me.get('displayName') or me.get('name')}"
                                 " is connected to Asana.")
