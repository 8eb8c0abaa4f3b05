"""The Authentication URL popup: who the Asana user is, then their Jira authorization.

Flow (asana-app-components.md §7.1, jira-server.md §1.8 and §2.2):

1. Asana opens ``GET /asana/auth`` in a popup. The bridge starts Asana OAuth (``state`` +
   PKCE S256) to learn who the user is.
2. ``callbacks`` finishes Asana OAuth and calls ``asana_signed_in``: find the Jira
   instance(s) of the user's workspaces and start that Jira's authorization, the OAuth
   1.0a dance (request token with ``oauth_callback``) or OAuth 2.0 (code + PKCE,
   ``WRITE``). With several instances the user picks one (``/asana/auth/jira/<id>``).
3. ``callbacks`` finishes the Jira authorization (the token is checked with
   ``/rest/api/2/myself`` and stored sealed) and answers with ``connected``: the final
   page, on the bridge's origin (the Authentication URL's), posts ``"success"`` or
   ``"error"`` to the opener with targetOrigin exactly Asana's origin.

The calls to Asana and Jira and what is stored are ``services.user_auth``'s; this module
turns requests into its calls and its answers into pages.

Every failure in this blueprint, and in the callbacks of these flows, answers with the
popup's final page and ``"error"``: Asana waits on the popup otherwise.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, session

from ..models import AsanaUser, JiraInstance
from ..services import user_auth
from ..services.user_auth import StateMismatch
from .pages import answer_failures_with, auth_context, popup_done, start_asana_signin
from .security import rate_limit

bp = Blueprint("popup", __name__)


def failure_page(message: str, status: int = 200, advice: str = ""):
    return popup_done("error", message, status)


answer_failures_with(bp, failure_page)


@bp.get("/asana/auth")
@rate_limit(limit=30)
def popup():
    """Asana's Authentication URL (not signed: it is a plain browser GET, §5.5)."""
    return start_asana_signin(user_auth.ASANA_FOR_POPUP)


def asana_denied():
    return popup_done("error", "You did not allow access to Asana.")


def jira_denied():
    return popup_done("error", "You did not allow access to Jira.")


def asana_signed_in(signed_in: user_auth.SignedIn):
    """Asana told us who the user is: on to their Jira (or the choice of Jiras)."""
    instances = user_auth.instances_of(signed_in.me)
    if not instances:
        return popup_done("error", "No Jira is connected to your Asana workspace yet. Ask "
                                   "your Jira administrator to connect it.")
    session["auth_user"] = signed_in.user.gid
    session["auth_instances"] = [i.id for i in instances]
    if len(instances) == 1:
        return _start_jira(signed_in.user, instances[0])
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
    return redirect(user_auth.jira_flow_for(instance).start(auth_context(), user, instance))


def connected(me: dict):
    """The Jira authorization is stored: the popup's final page says so."""
    return popup_done("success", f"Your Jira account {me.get('displayName') or me.get('name')}"
                                 " is connected to Asana.")
