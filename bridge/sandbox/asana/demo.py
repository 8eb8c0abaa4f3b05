"""The demo task page: a task as Asana shows it, with the app's widget, lookup and form.

The page's JavaScript (``static/task.js``) asks the simulator to sign each App Components
request (``/_sim/app-components/sign``) and then sends it from the browser straight to the
bridge, so CORS is exercised exactly as with Asana's web client.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from bridge.sandbox.asana.host import DEFAULT_PATHS
from bridge.sandbox.asana.state import SimError

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
    return render_template(
        "task.html", task=task, user=user, app=app, assignee=assignee, project=project,
        attachments=[{**a, "size_label": _size_label(a["size"])} for a in sim.attachments_of(gid)],
        config={"task": gid, "user": user["gid"], "workspace": task["workspace"],
                "bridge_origin": _origin(app.bridge_url) if app and app.bridge_url else None,
                "auth_url": _auth_url(app), "app_name": app.name if app else None},
    )


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
