"""Admin pages: sign in with Asana, claim the bridge, connect Jira.

- ``/jira/connect?jira=<base url>`` is where the companion plugin's *Connect to Asana*
  button lands. OAuth 1.0a application link: the bridge makes the key pair and consumer
  key, shows the exact link values (or creates the link through Jira's applinks REST API
  with admin credentials used once), then proves it with a signed call.
- ``/setup``: OAuth 2.0 incoming link (Jira 8.22+): workspace, base URL, client id and
  secret, then the admin authorizes their own Jira account once as a live check.

Every page needs an admin session (ARCHITECTURE §8); every form carries a CSRF token.
Every page says what is set up already (``services.connections``) and leads to the next
step; a failure shows its sentence once, on the page that lets the admin fix it (the link
values, the OAuth 2.0 form refilled), never on a dead end (issue 16.11).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, request, session, url_for

from ..errors import BridgeError
from ..jira.errors import JiraError
from ..models import AsanaUser, JiraInstance
from ..services import (
    admins,
    connections,
    credentials,
    instances,
    jira_as_user,
    user_auth,
    webhook_filter,
    webhooks,
)
from .errors import describe_failure
from .pages import answer_failures_with, auth_context, message_page, start_asana_signin
from .security import (
    admin_required,
    check_csrf,
    csrf_token,
    current_admin,
    public_url,
    rate_limit,
    safe_return_path,
    settings,
    sign_in_admin,
    sign_out_admin,
)

bp = Blueprint("admin", __name__)


@bp.app_context_processor
def _template_helpers():
    return {"csrf_token": csrf_token, "current_admin": _admin_for_template}


@bp.app_template_filter("utc")
def _utc(moment: dt.datetime | None) -> str:
    """A stored (naive UTC) time as the admin pages show it: ``2026-12-06 20:15 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _admin_for_template():
    """The page header's "signed in as": never the reason an error page fails to show."""
    try:
        return current_admin()
    except Exception:
        return None


def failure_page(message: str, status: int = 200, advice: str = ""):
    return message_page("That did not work", message, error=True, advice=advice,
                        status=status, link=url_for("admin.connect"),
                        link_text="Back to your Jira connections")


answer_failures_with(bp, failure_page)


def flow_failed(ticket: user_auth.Ticket, exc: Exception):
    """A failure in one of the admin's OAuth flows (``web.callbacks``): a wrong client id
    or secret shows the OAuth 2.0 form again, filled in except the secret."""
    message, status, advice = describe_failure(exc)
    if ticket.kind == user_auth.SETUP_CHECK.kind:
        payload = ticket.row.payload or {}
        form = {"workspace": payload.get("workspace", ""), "jira": payload.get("base_url", ""),
                "client_id": payload.get("client_id", "")}
        return _setup_page(form, status, error=message, advice=advice)
    return failure_page(message, status, advice)


def asana_denied():
    return message_page("Not signed in", "You did not allow access to Asana.", error=True,
                        link=url_for("admin.signin"), link_text="Sign in again")


def jira_denied():
    return message_page("Not saved", "The Jira authorization was not allowed, so the "
                        "client id and secret could not be checked.", error=True,
                        link=url_for("admin.setup"), link_text="Back to the OAuth 2.0 set-up")


def _admin_workspaces() -> list[dict]:
    return (current_admin() or {}).get("workspaces", [])


def _check_workspace(gid: str) -> dict:
    for ws in _admin_workspaces():
        if ws["gid"] == gid:
            return ws
    raise BridgeError("Choose one of your Asana workspaces.", status=400,
                      code="bad_workspace")


def _connections(base_url: str | None = None) -> list[connections.Connection]:
    return connections.in_workspaces([ws["gid"] for ws in _admin_workspaces()], base_url)


def _instance_of_admin(instance_id: int) -> JiraInstance:
    instance = JiraInstance.get_or_none(JiraInstance.id == instance_id)
    gids = {ws["gid"] for ws in _admin_workspaces()}
    if instance is None or instance.workspace.gid not in gids:
        raise BridgeError("No such Jira instance in your workspaces.", status=404,
                          code="not_found")
    return instance


# -- signing in -------------------------------------------------------------------------


@bp.get("/admin/signin")
@rate_limit(limit=30)
def signin():
    return start_asana_signin(user_auth.ASANA_FOR_ADMIN,
                              safe_return_path(request.args.get("next"), "/jira/connect"))


@bp.post("/admin/signout")
def signout():
    check_csrf()
    sign_out_admin()  # ends the session on the server: a copied cookie is dead too
    return message_page("Signed out", "You are signed out of the bridge.",
                        link=url_for("admin.signin"), link_text="Sign in again")


def asana_signed_in(signed_in: user_auth.SignedIn):
    """Called by the Asana OAuth callback for an admin sign-in."""
    cfg = settings()
    user, me, return_path = signed_in.user, signed_in.me, signed_in.return_url
    who = {"email": user.email, "gid": user.gid, "name": user.name,
           "workspaces": [{"gid": str(ws["gid"]), "name": ws.get("name", "")}
                          for ws in me.get("workspaces") or []]}
    session.clear()
    session.permanent = True
    target = safe_return_path(return_path, "/jira/connect")
    if admins.is_admin(user.email, cfg.admins):
        sign_in_admin(who)
        return redirect(target)
    if not admins.admins_exist(cfg.admins):
        session["claim"] = who
        return redirect(url_for("admin.claim", next=target))
    raise admins.NotAnAdmin()


@bp.route("/admin/claim", methods=["GET", "POST"])
@rate_limit(limit=10)
def claim():
    who = session.get("claim")
    if who is None:
        return redirect(url_for("admin.signin"))
    if request.method == "POST":
        check_csrf()
        try:
            admins.claim_with_setup_token(who["email"], request.form.get("setup_token", ""),
                                          settings().instance_path)
        except admins.BadSetupToken as exc:
            return render_template("claim.html", email=who["email"],
                                   error=exc.public_message), 403
        session.pop("claim")
        sign_in_admin(who)
        return redirect(safe_return_path(request.args.get("next"), "/jira/connect"))
    return render_template("claim.html", email=who["email"])


# -- OAuth 1.0a application link ------------------------------------------------------------


@bp.get("/jira/connect")
@admin_required
def connect():
    """The plugin's Connect to Asana lands here with ``?jira=``. A GET never calls out:
    the admin confirms the URL with a CSRF-protected POST first, so another site cannot
    make the bridge probe addresses through an admin's browser. What is connected already
    is listed first (the plugin's button also brings back admins of a connected Jira)."""
    return render_template("connect.html", probe=None, jira=request.args.get("jira", ""),
                           connections=_connections())


@bp.post("/jira/connect/check")
@admin_required
@rate_limit(limit=20)
def connect_check():
    check_csrf()
    raw = request.form.get("jira", "").strip()
    try:
        found = instances.probe(raw, timeout=settings().http_timeout)
    except BridgeError as exc:
        return render_template("connect.html", probe=None, jira=raw, connections=_connections(),
                               error=exc.public_message), exc.status
    existing = _connections(found.base_url)
    taken = {c.workspace_gid for c in existing}
    return render_template("connect.html", probe=found, connections=existing,
                           workspaces=[ws for ws in _admin_workspaces()
                                       if ws["gid"] not in taken])


@bp.post("/jira/connect")
@admin_required
@rate_limit(limit=20)
def connect_create():
    check_csrf()
    ws = _check_workspace(request.form.get("workspace", ""))
    found = instances.probe(request.form.get("jira", ""), timeout=settings().http_timeout)
    instance = instances.create_oauth1_instance(ws["gid"], found, workspace_name=ws["name"],
                                                actor=current_admin()["email"])
    return redirect(url_for("admin.applink", instance_id=instance.id))


@bp.get("/jira/instances/<int:instance_id>/applink")
@admin_required
def applink(instance_id: int):
    return _applink_page(_instance_of_admin(instance_id))


def _applink_page(instance: JiraInstance, status: int = 200, **extra):
    if instance.auth_mode != "oauth1":
        raise BridgeError("This Jira is connected with an incoming link (OAuth 2.0); it has "
                          "no application link values.", status=400, code="not_oauth1")
    return render_template("applink.html", instance=instance,
                           connection=connections.of_instance(instance),
                           values=instances.applink_values(instance, public_url()),
                           **extra), status


@bp.post("/jira/instances/<int:instance_id>/applink")
@admin_required
@rate_limit(limit=10)
def register_applink(instance_id: int):
    check_csrf()
    instance = _instance_of_admin(instance_id)
    try:
        instances.register_applink(instance, public_url(), request.form.get("username", ""),
                                   request.form.get("password", ""),
                                   timeout=settings().http_timeout,
                                   actor=current_admin()["email"])
    except JiraError as exc:
        return _applink_page(instance, exc.status, error=exc.public_message)
    return redirect(url_for("admin.confirm", instance_id=instance.id))


@bp.get("/jira/instances/<int:instance_id>/confirm")
@admin_required
def confirm(instance_id: int):
    instance = _instance_of_admin(instance_id)
    try:
        instances.prove_oauth1_link(instance, public_url(), timeout=settings().http_timeout)
    except BridgeError as exc:  # not linked yet (or wrongly): the values, with the reason
        message, status, advice = describe_failure(exc)
        return _applink_page(instance, status, check_error=message, check_advice=advice)
    return message_page(
        "Jira is connected",
        f"The application link to {instance.base_url} works: Jira accepted a request "
        "signed by the bridge. Asana users can now authorize their Jira accounts from the "
        "app's Authentication URL.",
        link=url_for("admin.webhook", instance_id=instance.id),
        link_text="Next: the Jira webhook that keeps widgets fresh")


# -- the Jira webhook (fresh widgets, services.webhooks) ------------------------------------


def _webhook_page(instance: JiraInstance, status: int = 200, **extra):
    return render_template("webhook.html", instance=instance,
                           values=webhooks.manual_values(instance, public_url()),
                           connection=connections.of_instance(instance),
                           consent=consent_possible(instance),
                           own_token=_own_oauth1_credential(instance),
                           uncovered=webhooks.uncovered_projects(instance),
                           known=webhooks.registered(instance),
                           following=_filter_following(instance),
                           max_age=round(settings().widget_max_age), **extra), status


def _filter_following(instance: JiraInstance) -> str | None:
    """``None`` when the bridge updates the filter by itself (a kept authorization),
    else the sentence saying why an admin must (``services.webhook_filter``)."""
    known = webhooks.registered(instance)
    if known is None:
        return None
    if known.problem:
        return known.problem
    try:
        webhook_filter.kept_authorization(known, instance)
    except webhook_filter.NoKeptAuthorization as exc:
        return exc.public_message
    return None



@bp.get("/jira/instances/<int:instance_id>/webhook")
@admin_required
def webhook(instance_id: int):
    return _webhook_page(_instance_of_admin(instance_id))


@bp.post("/jira/instances/<int:instance_id>/webhook")
@admin_required
@rate_limit(limit=10)
def register_webhook(instance_id: int):
    check_csrf()
    instance = _instance_of_admin(instance_id)
    try:
        updated = webhooks.register(instance, public_url(), request.form.get("username", ""),
                          request.form.get("password", ""), timeout=settings().http_timeout,
                          actor=current_admin()["email"])
    except JiraError as exc:
        return _webhook_page(instance, exc.status, error=exc.public_message)
    return _webhook_page(instance, registered=True, updated=updated)


def consent_possible(instance: JiraInstance) -> bool:
    """An admin can authorize the webhook's registration with their own Jira account
    (an ADMIN-scope OAuth 2.0 consent) where the instance uses an incoming link."""
    return instance.auth_mode == "oauth2" and bool(instance.client_id)


def _own_oauth1_credential(instance: JiraInstance):
    """The signed-in admin's own OAuth 1.0a authorization on ``instance``, if any."""
    if instance.auth_mode != "oauth1":
        return None
    user = AsanaUser.get_or_none(AsanaUser.gid == current_admin()["gid"])
    try:
        return credentials.get_active(user, instance) if user is not None else None
    except JiraError:
        return None


@bp.post("/jira/instances/<int:instance_id>/webhook/mine")
@admin_required
@rate_limit(limit=10)
def webhook_with_my_token(instance_id: int):
    """Application-link path: register with the admin's own OAuth 1.0a token."""
    check_csrf()
    instance = _instance_of_admin(instance_id)
    cred = _own_oauth1_credential(instance)
    if cred is None:
        return _webhook_page(instance, 400, error="Authorize your own Jira account through "
                             "the bridge first (the app's Authentication URL in Asana).")
    try:
        updated = webhooks.register_with_oauth1(instance, public_url(), cred,
                                      timeout=settings().http_timeout,
                                      actor=current_admin()["email"])
    except JiraError as exc:
        return _webhook_page(instance, exc.status, error=exc.public_message)
    return _webhook_page(instance, registered=True, updated=updated)


@bp.post("/jira/instances/<int:instance_id>/webhook/consent")
@admin_required
@rate_limit(limit=10)
def webhook_consent(instance_id: int):
    """Send the admin through Jira's authorization (code + PKCE, scope ADMIN) once; the
    callback registers the webhook with that token and revokes it (``webhook_consented``).
    No password is typed anywhere."""
    check_csrf()
    instance = _instance_of_admin(instance_id)
    if not consent_possible(instance):
        return _webhook_page(instance, 400, error="This Jira is connected by an application "
                             "link (OAuth 1.0a), which has no consent with an admin scope.")
    admin_user = AsanaUser.get(AsanaUser.gid == current_admin()["gid"])
    return redirect(user_auth.WEBHOOK_CONSENT.start(auth_context(), admin_user, instance))


def webhook_consented(done: user_auth.WebhookConsented):
    """Called by the OAuth 2.0 callback once the admin's one-time ADMIN token was used."""
    if done.error is not None:
        return _webhook_page(done.instance, done.error.status,
                             error=done.error.public_message)
    return _webhook_page(done.instance, registered=True, updated=done.updated)


def webhook_consent_denied(error: str):
    """Jira sent the admin back with ``error`` instead of a code (§2.2)."""
    if error == "invalid_scope":
        message = ("Jira refused the Admin scope: the incoming link's Permission is not "
                   "Admin. In Jira, edit the link (Administration ▸ Applications ▸ "
                   "Application links), set Permission to Admin, and try again, or enter "
                   "the webhook by hand.")
    else:
        message = "You did not allow the authorization in Jira, so no webhook was created."
    return message_page("No webhook created", message, error=True)


# -- OAuth 2.0 incoming link -----------------------------------------------------------------


@bp.route("/setup", methods=["GET", "POST"])
@admin_required
@rate_limit(limit=20)
def setup():
    form = dict(request.form) if request.method == "POST" else {
        "jira": request.args.get("jira", "")}
    if request.method == "GET":
        return _setup_page(form)
    check_csrf()
    try:
        ws = _check_workspace(form.get("workspace", ""))
        found = instances.probe(form.get("jira", ""), timeout=settings().http_timeout)
        instances.require_oauth2(found)
        client_id = form.get("client_id", "").strip()
        client_secret = form.get("client_secret", "").strip()
        if not client_id or not client_secret:
            raise BridgeError("Enter both the client id and the client secret.", status=400,
                              code="missing_credentials")
    except BridgeError as exc:
        return _setup_page(form, exc.status, error=exc.public_message)
    admin_user = AsanaUser.get(AsanaUser.gid == current_admin()["gid"])
    return redirect(user_auth.SETUP_CHECK.start(auth_context(), admin_user, ws, found,
                                                client_id, client_secret))


def _setup_page(form: dict, status: int = 200, **extra):
    form = {k: v for k, v in form.items() if k != "client_secret"}  # never echoed back
    return render_template("setup.html", workspaces=_admin_workspaces(), form=form,
                           redirect_url=jira_as_user.jira2_redirect_uri(settings()),
                           connections=_connections(), **extra), status


def setup_done(done: user_auth.SetupDone):
    """Called by the OAuth 2.0 callback once the admin's own authorization worked: the
    client id and secret are proven, and the instance is saved."""
    instance, workspace, me = done.instance, done.workspace, done.me
    return message_page(
        "Jira is connected",
        f"{instance.base_url} (Jira {instance.version}) is connected to the Asana workspace "
        f"{workspace.name or workspace.gid} with OAuth 2.0, and your Jira account "
        f"{me.get('name', '')} is authorized. Asana users can now authorize theirs from the "
        "app's Authentication URL.",
        link=url_for("admin.webhook", instance_id=instance.id),
        link_text="Next: the Jira webhook that keeps widgets fresh")
