"""The settings page of Jira's state in Asana fields (``services.sync``): ``/fields``.

Where and who (issue 17 §6). The person is a project admin in Asana, not a bridge admin,
so the page signs in with Asana exactly as the Authentication URL popup does (the same
OAuth app, ``state`` and PKCE, ``callbacks`` finishes it) and then asks Asana whether the
person administers the project (``GET /memberships``). ``/fields`` lists the projects of
the person's workspaces that have a Jira connected; ``/fields/<project gid>`` is the form.
Every write to Asana afterwards uses the token of the person who saved the form.

Every form carries a CSRF token; the signed-in Asana user is kept in the session cookie
(signed, HttpOnly) under its own key, apart from an admin session.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for

from .. import queue
from ..asana.client import AsanaFieldsClient
from ..errors import BridgeError
from ..models import AsanaUser, FieldSync
from ..services import instances, sync, sync_refresh, user_auth
from ..services.context import Context
from .pages import answer_failures_with, message_page, start_asana_signin
from .security import (
    check_csrf,
    csrf_token,
    process_cache,
    rate_limit,
    safe_return_path,
    settings,
)

bp = Blueprint("field_sync", __name__)

SESSION_KEY = "fields_user"


@bp.app_context_processor
def _template_helpers():
    return {"csrf_token": csrf_token}


def failure_page(message: str, status: int = 200, advice: str = ""):
    return message_page("That did not work", message, error=True, advice=advice,
                        status=status)


answer_failures_with(bp, failure_page)


def asana_denied():
    return message_page("Not signed in", "You did not allow access to Asana.", error=True)


def jira_denied():  # no Jira step in this flow; the callbacks module asks every flow
    return asana_denied()


def asana_signed_in(signed_in: user_auth.SignedIn):
    """Called by the Asana OAuth callback for a ``fields_signin``."""
    user, me, return_path = signed_in.user, signed_in.me, signed_in.return_url
    session[SESSION_KEY] = user.gid
    session["fields_workspaces"] = [str(ws["gid"]) for ws in me.get("workspaces") or []]
    return redirect(safe_return_path(return_path, "/fields"))


def _user() -> AsanaUser | None:
    gid = session.get(SESSION_KEY)
    return AsanaUser.get_or_none(AsanaUser.gid == gid) if gid else None


def _client(user: AsanaUser) -> AsanaFieldsClient:
    return Context.of_user(settings(), process_cache(), user).asana(cls=AsanaFieldsClient)


@bp.get("/fields")
@rate_limit(limit=60)
def projects():
    user = _user()
    if user is None:
        return start_asana_signin(user_auth.ASANA_FOR_FIELDS, "/fields")
    client = _client(user)
    listed = []
    for workspace in session.get("fields_workspaces") or []:
        if not instances.for_workspace(workspace):
            continue
        for project in client.projects(workspace):
            row = FieldSync.get_or_none(FieldSync.project_gid == str(project["gid"]))
            listed.append({"gid": project["gid"], "name": project.get("name") or "",
                           "state": row.state if row else "off"})
    return render_template("fields_list.html", projects=listed)


@bp.get("/fields/<project_gid>")
@rate_limit(limit=60)
def project(project_gid: str, saved: str | None = None, error: str | None = None,
            status: int = 200):
    user = _user()
    if user is None:
        return start_asana_signin(user_auth.ASANA_FOR_FIELDS, f"/fields/{project_gid}")
    if saved is None and request.args.get("saved") == "1":
        saved = "1"  # after the redirect of a save (no text from the URL is shown)
    client = _client(user)
    sync.project_admin_check(client, project_gid, user.gid)
    info = client.project(project_gid)
    enum_fields = [f for f in client.project_fields(project_gid)
                   if f.get("resource_subtype") == "enum"]
    row = FieldSync.get_or_none(FieldSync.project_gid == project_gid)
    current = {what: (row.fields.get(what) or {}).get("gid", "") for what in sync.WHAT} \
        if row else {what: "new" for what in sync.WHAT}
    return render_template("fields_project.html", project=info, row=row,
                           fields=enum_fields, current=current, what=sync.WHAT,
                           labels=sync.LABELS, names=sync.DEFAULT_NAMES, saved=saved,
                           error=error), status


@bp.post("/fields/<project_gid>")
@rate_limit(limit=30)
def save(project_gid: str):
    check_csrf()
    user = _user()
    if user is None:
        return start_asana_signin(user_auth.ASANA_FOR_FIELDS, f"/fields/{project_gid}")
    ctx = Context.of_user(settings(), process_cache(), user)
    if request.form.get("action") == "off":
        sync.disable(ctx, project_gid)
        return project(project_gid, saved="Turned off: the bridge no longer writes these "
                                           "fields (their values stay as they are).")
    choices = {what: request.form.get(what, "") for what in sync.WHAT}
    try:
        row = sync.enable(ctx, project_gid, choices,
                          complete_on_done=request.form.get("complete_on_done") == "on")
    except sync.NotProjectAdmin:
        raise
    except BridgeError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return project(project_gid, error=exc.public_message, status=400)
    queue.enqueue(sync_refresh.BACKFILL_TASK, row.id)
    return redirect(url_for("field_sync.project", project_gid=project_gid, saved="1"))
