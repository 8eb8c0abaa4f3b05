"""The demo task page: a task as Asana shows it, with the app's widget, lookup and form.

The page's JavaScript (``static/task.js``) asks the simulator to sign each App Components
request (``/_sim/app-components/sign``) and then sends it from the browser straight to the
bridge, so CORS is exercised exactly as with Asana's web client.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from bridge_sandbox.asana.host import DEFAULT_PATHS
from bridge_sandbox.asana.state import SimError

bp = Blueprint("asana_demo", __name__)


def _sim():
    return current_app.sim


@bp.get("/")
def index():
    sim = _sim()
    return render_template("index.html", tasks=list(sim.tasks.values()))


@bp.get("/demo/task/<gid>")
def task_page(gid):
    sim = _sim()
    task = sim.tasks.get(gid)
    if task is None:
        abort(404)
    user = sim.user_by_email(request.args.get("as", "alice@example.com")) or sim.users[
        task["assignee"] or next(iter(sim.users))]
    try:
        app = sim.app()
    except SimError:  # no app registered yet: the page still shows the task
        app = None
    assignee = sim.users.get(task["assignee"]) if task["assignee"] else None
    project = sim.projects.get(task["projects"][0]) if task["projects"] else None
    custom_fields = []  # the project's custom fields with this task's values
    for setting in (sim.field_settings.get(project["gid"], []) if project else []):
        field = sim.custom_fields[setting["custom_field"]]
        value = sim.task_field_value(gid, field["gid"])
        option = next((o for o in field["enum_options"] or [] if o["gid"] == value), None)
        custom_fields.append((field["name"], option["name"] if option else value))
    return render_template(
        "task.html", task=task, user=user, app=app, assignee=assignee, project=project,
        users=list(sim.users.values()), custom_fields=custom_fields,
        attachments=[_attachment_view(a) for a in sim.attachments_of(gid)],
        config={"task": gid, "user": user["gid"], "workspace": task["workspace"],
                "project": project["gid"] if project else None,
                "bridge_origin": _origin(app.bridge_url) if app and app.bridge_url else None,
                "auth_url": _auth_url(app), "app_name": app.name if app else None,
                "rule_action_name": app.rule_action_name if app else None},
    )


@bp.get("/demo/task/<gid>/attachments")
def attachment_list(gid):
    """The task's attachments as the page lists them (Asana-hosted files with a fresh
    download link, files elsewhere with their link)."""
    sim = _sim()
    if gid not in sim.tasks:
        abort(404)
    return jsonify([_attachment_view(a) for a in sim.attachments_of(gid)])


def _attachment_view(a: dict) -> dict:
    sim = _sim()
    if a["host"] == "asana":
        base = sim.base_url or request.host_url.rstrip("/")
        link = f"{base}/_files/{a['gid']}/{quote(a['name'])}?{sim.download_query(a['gid'])}"
    else:
        link = a["url"]
    return {"gid": a["gid"], "name": a["name"], "host": a["host"], "link": link,
            "resource_subtype": a["resource_subtype"], "url": a["url"],
            "size_label": _size_label(a["size"]),
            "kind": (a["name"].rsplit(".", 1)[-1][:4] if "." in a["name"] else "file")
            if a["host"] == "asana" else ("link" if a["host"] == "external" else a["host"])}


@bp.get("/demo/task/<gid>/widgets")
def widget_list(gid):
    """The attachments that get a widget (matched by the app's URL pattern)."""
    sim = _sim()
    if gid not in sim.tasks:
        abort(404)
    return jsonify([{"gid": a["gid"], "name": a["name"], "url": a["url"]}
                    for a in sim.widget_attachments(gid)])


def _size_label(size: int | None) -> str:
    if size is None:
        return ""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.1f} KB"


def _origin(url: str) -> str:
    parts = url.split("/")
    return "/".join(parts[:3])


def _auth_url(app) -> str | None:
    if not app or not app.bridge_url:
        return None
    return app.bridge_url.rstrip("/") + {**DEFAULT_PATHS, **app.paths}["auth"]
