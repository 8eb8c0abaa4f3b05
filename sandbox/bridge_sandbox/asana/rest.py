"""The subset of Asana's REST API the bridge uses (reference §8), under ``/api/1.0``.

* Bearer auth (OAuth access token or personal access token); ``{"data": ...}`` envelopes;
  errors as ``{"errors": [{"message", "help"}]}``.
* Per-token rate limit (default 1500/min); past it, 429 with ``Retry-After`` in seconds, and
  rejected requests still count.
* ``opt_fields`` selects fields (dotted sub-fields for nested objects); ``html_notes`` is
  opt-in on tasks.
* Lists paginate with ``limit`` (1-100) and opaque ``offset`` tokens; ``next_page`` is
  present only when ``limit`` was given, ``null`` on the last page.
* ``GET /attachments/{gid}`` gives a ``download_url`` valid for two minutes; the file itself
  is served (streamed) without the bearer header, like a pre-signed storage URL, with one
  byte range on request (206, ``Content-Range``; 416 past the end), as storage services do.
* ``POST /attachments`` (multipart) uploads a file or attaches an external URL;
  ``connect_to_app`` needs an OAuth token, an app with a widget URL, and the task in a
  project where the app is installed.
* ``POST /tasks/{gid}/stories`` adds a comment (201).
* ``GET /tasks/{gid}`` without ``opt_fields`` answers every ``TaskResponse`` property the
  spec does not mark Opt In, nulls and empty lists included; nested records are compact.
* ``GET /attachments/{gid}``: ``download_url`` only for Asana-hosted files (null for files
  on Drive, Dropbox, Box, ... whose link is ``view_url``), ``size`` only for Asana-hosted,
  ``connected_to_app`` only for ``external`` and ``gdrive``.
* ``DELETE /attachments/{gid}`` (scope ``attachments:delete``) removes one; afterwards it
  answers 404 and lists leave it out.
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context

from bridge_sandbox.asana import seed
from bridge_sandbox.asana.clock import iso_z
from bridge_sandbox.asana.state import SimError

bp = Blueprint("asana_rest", __name__, url_prefix="/api/1.0")
files = Blueprint("asana_files", __name__)

HELP = ("For more information on API status codes and how to handle them, read the docs on "
        "errors: https://developers.asana.com/docs/errors")
MAX_UPLOAD = 100 * 1024 * 1024  # "File uploads are limited to 100 MB"


def _sim():
    return current_app.sim


def error_response(status: int, message: str, headers: dict | None = None) -> Response:
    resp = jsonify(errors=[{"message": message, "help": HELP}])
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


@bp.errorhandler(SimError)
def _sim_error(exc: SimError):
    return error_response(exc.status, exc.message, exc.headers)


@bp.errorhandler(404)
def _not_found(exc):
    return error_response(404, "No matching route for request")


@bp.errorhandler(405)
def _bad_method(exc):
    return error_response(404, "No matching route for request")


@bp.before_request
def _authenticate():
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    caller = _sim().authenticate(bearer)
    _sim().count_request(caller["token"])
    g.caller = caller
    _check_scope(caller["scope"])


# Granular scopes (reference §7.2). `default` (or no scope) grants everything.
SCOPE_BY_ENDPOINT = {
    "asana_rest.get_user": "users:read", "asana_rest.list_workspaces": "workspaces:read",
    "asana_rest.get_workspace": "workspaces:read", "asana_rest.get_task": "tasks:read",
    "asana_rest.list_attachments": "attachments:read",
    "asana_rest.get_attachment": "attachments:read",
    "asana_rest.create_attachment": "attachments:write",
    "asana_rest.delete_attachment": "attachments:delete",
    "asana_rest.create_story": "stories:write",
    "asana_rest.update_task": "tasks:write",
    "asana_rest.create_custom_field": "custom_fields:write",
    "asana_rest.get_custom_field": "custom_fields:read",
    "asana_rest.list_workspace_custom_fields": "custom_fields:read",
    "asana_rest.create_enum_option": "custom_fields:write",
    "asana_rest.list_custom_field_settings": "custom_fields:read",
    "asana_rest.add_custom_field_setting": "projects:write",
    "asana_rest.list_memberships": "projects:read",
    "asana_rest.list_projects": "projects:read", "asana_rest.get_project": "projects:read",
}


def _check_scope(scope: str) -> None:
    granted = set((scope or "default").split())
    needed = SCOPE_BY_ENDPOINT.get(request.endpoint or "")
    if "default" in granted or needed is None or needed in granted:
        return
    # The message wording is the simulator's own; the status follows Asana's 403 Forbidden.
    raise SimError(403, f"Your token does not have the scope {needed} this request needs.")


def base_url() -> str:
    return _sim().base_url or request.host_url.rstrip("/")


# --- representation -------------------------------------------------------------------


def _opt_fields() -> list[str] | None:
    raw = request.args.get("opt_fields")
    if raw is None:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def _compact_of(value):
    """The compact form Asana nests by default: ``gid``, ``resource_type``, ``name`` (and
    ``resource_subtype`` for tasks); records without a ``gid`` (memberships) are walked."""
    if isinstance(value, dict):
        if "gid" in value:
            return {k: value[k] for k in COMPACT_KEYS if k in value}
        return {k: _compact_of(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact_of(v) for v in value]
    return value


COMPACT_KEYS = ("gid", "resource_type", "name", "resource_subtype")
# Nested records Asana answers whole, not compact: a task's custom field values, a field's
# enum options (with ``enabled`` and ``color``), a setting's field.
KEPT_WHOLE = {"custom_fields", "enum_options", "enum_value", "custom_field"}


def _project(record: dict, fields: list[str]) -> dict:
    """Keep ``gid`` and ``resource_type`` plus the requested (possibly dotted) fields."""
    out = {k: record[k] for k in ("gid", "resource_type") if k in record}
    nested: dict[str, list[str]] = {}
    for f in fields:
        head, _, rest = f.partition(".")
        if head not in record:
            continue
        if rest:
            nested.setdefault(head, []).append(rest)
        else:
            nested.setdefault(head, [])
    for head, subs in nested.items():
        value = record[head]
        if not subs:
            out[head] = value if head in KEPT_WHOLE else _compact_of(value)
        elif isinstance(value, dict):
            out[head] = _project_nested(value, subs)
        elif isinstance(value, list):
            out[head] = [_project_nested(v, subs) if isinstance(v, dict) else v for v in value]
        else:
            out[head] = value
    return out


def _project_nested(value: dict, subs: list[str]) -> dict:
    if "gid" in value:
        return _project(value, subs)
    # memberships: {"project": {...}, "section": {...}} selected as memberships.project.name
    picked = {}
    for sub in subs:
        head, _, rest = sub.partition(".")
        if head in value:
            inner = value[head]
            picked[head] = _project(inner, [rest]) if rest and isinstance(inner, dict) \
                else _compact_of(inner)
    return picked


def _shape(full: dict, default: list[str]) -> dict:
    fields = _opt_fields()
    return _project(full, fields if fields is not None else default)


def _compact(kind: str, gid: str) -> dict | None:
    sim = _sim()
    table = {"user": sim.users, "workspace": sim.workspaces, "project": sim.projects,
             "task": sim.tasks, "section": sim.sections}[kind]
    rec = table.get(gid)
    if rec is None:
        return None
    return {"gid": gid, "resource_type": kind, "name": rec["name"]}


def _user_ref(gid: str | None) -> dict | None:
    """A user as nested in other records: compact, plus ``email`` for ``opt_fields=x.email``."""
    if not gid or gid not in _sim().users:
        return None
    return {**_compact("user", gid), "email": _sim().users[gid]["email"]}


def _user_full(gid: str) -> dict:
    user = _sim().users[gid]
    return {"gid": gid, "resource_type": "user", "name": user["name"], "email": user["email"],
            "photo": None, "workspaces": [_workspace_full(w) for w in user["workspaces"]]}


def _workspace_full(gid: str) -> dict:
    w = _sim().workspaces[gid]
    return {"gid": gid, "resource_type": "workspace", "name": w["name"],
            "is_organization": w["is_organization"], "email_domains": w["email_domains"]}


# TaskResponse properties the spec marks "Opt In" (or *Conditional* on something the
# simulator never sets): sent only when named in opt_fields. Every other property of the
# spec's TaskResponse is in the default answer, nulls and empty lists included (reference
# §8; issue 8 §5).
TASK_OPT_IN = {"html_notes", "created_by", "dependencies", "dependents",
               "is_rendered_as_separator", "num_subtasks", "external", "assigned_by"}


def _task_full(gid: str) -> dict:
    sim = _sim()
    t = sim.tasks[gid]
    followers = []
    for user in (t.get("created_by"), t["assignee"]):
        if user and user not in followers:
            followers.append(user)
    section = t.get("section")
    full = {
        "gid": gid, "resource_type": "task", "name": t["name"],
        "resource_subtype": t.get("resource_subtype", "default_task"),
        "actual_time_minutes": None,
        "assignee": _user_ref(t["assignee"]),
        "assignee_status": "inbox" if t["assignee"] else "upcoming",
        "assigned_by": None,
        "completed": t["completed"],
        "completed_at": t.get("completed_at"),
        "completed_by": _user_ref(t.get("completed_by")),
        "created_at": t["created_at"],
        "created_by": _user_ref(t.get("created_by")),
        "custom_fields": _task_custom_fields(gid, t),
        "custom_type": None,
        "custom_type_status_option": None,
        "dependencies": [],
        "dependents": [],
        "due_at": None,
        "due_on": t["due_on"],
        "followers": [_user_ref(u) for u in followers],
        "hearted": False,
        "hearts": [],
        "html_notes": t["html_notes"],
        "is_rendered_as_separator": False,
        "liked": False,
        "likes": [],
        "memberships": [{"project": _compact("project", p),
                         "section": _compact("section", section) if section else None}
                        for p in t["projects"]],
        "modified_at": t["modified_at"],
        "notes": t["notes"],
        "num_hearts": 0,
        "num_likes": 0,
        "num_subtasks": 0,
        "parent": None,
        "permalink_url": f"{base_url()}/0/{t['projects'][0] if t['projects'] else 0}/{gid}",
        "projects": [_compact("project", p) for p in t["projects"]],
        "start_at": None,
        "start_on": None,
        "tags": [],
        "workspace": _compact("workspace", t["workspace"]),
    }
    if t["assignee"] and t["assignee"] == g.caller["user"]:
        # "returned in the response only if the request was sent by the user who is the
        # assignee of the task" (REST OAS); the simulator has no "My tasks" sections.
        full["assignee_section"] = None
    if full["resource_subtype"] == "approval":
        full["approval_status"] = t.get("approval_status", "pending")
    return full


def _custom_field_full(field_gid: str, *, with_description: bool = False) -> dict:
    """``CustomFieldResponse`` (REST OAS) of an ``enum`` or ``text`` field: every property
    the spec does not mark Opt In or number-only, nulls included."""
    sim = _sim()
    f = sim.custom_fields[field_gid]
    enum = f["resource_subtype"] == "enum"
    full = {"gid": field_gid, "resource_type": "custom_field", "name": f["name"],
            "resource_subtype": f["resource_subtype"], "type": f["resource_subtype"],
            "representation_type": f["resource_subtype"], "enabled": True,
            "id_prefix": None, "input_restrictions": [], "is_formula_field": False,
            "is_value_read_only": False, "format": "none", "currency_code": None,
            "custom_label": None, "custom_label_position": None,
            "is_global_to_workspace": True, "has_notifications_enabled": True,
            "asana_created_field": None, "created_by": _user_ref(f["created_by"]),
            "privacy_setting": "public_with_guests", "default_access_level": "editor"}
    if enum:
        full["enum_options"] = [dict(o) for o in f["enum_options"]]
    if with_description:
        full["description"] = f["description"]
    return full


def _task_custom_fields(gid: str, t: dict) -> list[dict]:
    """The fields of the task's projects with the task's values (``enum_value`` /
    ``text_value`` and ``display_value``, null when unset)."""
    sim = _sim()
    out, seen = [], set()
    for project in t["projects"]:
        for setting in sim.field_settings.get(project, []):
            field_gid = setting["custom_field"]
            if field_gid in seen:
                continue
            seen.add(field_gid)
            full = _custom_field_full(field_gid)
            value = sim.task_field_value(gid, field_gid)
            if full["resource_subtype"] == "enum":
                option = next((o for o in full["enum_options"] if o["gid"] == value), None)
                full["enum_value"] = dict(option) if option else None
                full["display_value"] = option["name"] if option else None
            else:
                full["text_value"] = value
                full["display_value"] = value
            out.append(full)
    return out


def task_default_fields(full: dict) -> list[str]:
    return [k for k in full if k not in TASK_OPT_IN]


ATTACHMENT_COMPACT = ["name", "resource_subtype"]
ATTACHMENT_FULL = ["name", "resource_subtype", "created_at", "download_url", "permanent_url",
                   "host", "parent", "size", "view_url", "connected_to_app"]


def _attachment_full(a: dict) -> dict:
    """AttachmentResponse (reference §8): ``download_url`` only for Asana-hosted files
    (a fresh two-minute URL at every read), ``size`` only for those, ``connected_to_app``
    only for ``external`` and ``gdrive``; files on other services carry their link as
    ``view_url`` and a null ``download_url``."""
    sim = _sim()
    base = base_url()
    task = sim.tasks.get(a["parent"])
    full = {
        "gid": a["gid"], "resource_type": "attachment", "name": a["name"],
        "resource_subtype": a["resource_subtype"], "created_at": a["created_at"],
        "host": a["host"],
        "parent": {"gid": a["parent"], "resource_type": "task",
                   "name": task["name"] if task else None, "resource_subtype": "default_task"},
        "permanent_url": f"{base}/app/asana/-/get_asset?asset_id={a['gid']}",
    }
    if a["host"] == "asana":
        query = sim.download_query(a["gid"])
        full["download_url"] = f"{base}/_files/{a['gid']}/{quote(a['name'], safe='')}?{query}"
        full["view_url"] = full["download_url"]
        full["size"] = a["size"]
    else:
        full["download_url"] = None
        full["view_url"] = a["url"]
    if a["resource_subtype"] in ("external", "gdrive"):
        client_id = g.caller["client_id"]
        full["connected_to_app"] = bool(client_id and a["connected_app"] == client_id)
    return full


def _page(items: list[dict], scope: str, path: str, extra_query: str = "") -> Response:
    """Slice ``items`` per ``limit``/``offset`` and add ``next_page`` (reference §8)."""
    limit_raw = request.args.get("limit")
    offset_raw = request.args.get("offset")
    start = _sim().read_offset(scope, offset_raw) if offset_raw else 0
    if limit_raw is None:
        return jsonify(data=items[start:start + 1000])
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 100:
        raise SimError(400, "limit: Must be between 1 and 100.")
    limit = int(limit_raw)
    page = items[start:start + limit]
    next_page = None
    if start + limit < len(items):
        token = _sim().offset_token(scope, start + limit)
        rel = f"{path}?{extra_query}{'&' if extra_query else ''}limit={limit}&offset={token}"
        next_page = {"offset": token, "path": rel, "uri": f"{base_url()}/api/1.0{rel}"}
    return jsonify(data=page, next_page=next_page)


# --- endpoints ------------------------------------------------------------------------


@bp.get("/users/<user_ref>")
def get_user(user_ref):
    sim = _sim()
    if user_ref == "me":
        gid = g.caller["user"]
    elif "@" in user_ref:
        user = sim.user_by_email(user_ref)
        gid = user["gid"] if user else None
    else:
        gid = user_ref if user_ref in sim.users else None
    if gid is None:
        raise SimError(404, f"user: Not a recognized ID: {user_ref}")
    full = _user_full(gid)
    # `workspaces` lists only workspaces that also contain the authenticated user (§8).
    mine = set(sim.users[g.caller["user"]]["workspaces"])
    full["workspaces"] = [w for w in full["workspaces"] if w["gid"] in mine]
    return jsonify(data=_shape(full, ["name", "email", "photo", "workspaces"]))


@bp.get("/workspaces")
def list_workspaces():
    sim = _sim()
    mine = sim.users[g.caller["user"]]["workspaces"]
    items = [_shape(_workspace_full(w), ["name"]) for w in mine]
    return _page(items, f"workspaces:{g.caller['user']}", "/workspaces")


@bp.get("/workspaces/<gid>")
def get_workspace(gid):
    if gid not in _sim().workspaces:
        raise SimError(404, f"workspace: Not a recognized ID: {gid}")
    return jsonify(data=_shape(_workspace_full(gid), ["name", "is_organization", "email_domains"]))


def _visible_task(gid: str) -> dict:
    sim = _sim()
    task = sim.tasks.get(gid)
    if task is None:
        raise SimError(404, f"task: Not a recognized ID: {gid}")
    if task["workspace"] not in sim.users[g.caller["user"]]["workspaces"]:
        raise SimError(403, "You do not have access to the requested resource")
    return task


@bp.get("/tasks/<gid>")
def get_task(gid):
    _visible_task(gid)
    full = _task_full(gid)
    return jsonify(data=_shape(full, task_default_fields(full)))


@bp.get("/attachments")
def list_attachments():
    parent = request.args.get("parent")
    if not parent:
        raise SimError(400, "parent: Missing input")
    _visible_task(parent)
    items = [_shape(_attachment_full(a), ATTACHMENT_COMPACT) for a in _sim().attachments_of(parent)]
    return _page(items, f"attachments:{parent}", "/attachments", f"parent={parent}")


@bp.get("/attachments/<gid>")
def get_attachment(gid):
    a = _sim().attachments.get(gid)
    if a is None:
        raise SimError(404, f"attachment: Not a recognized ID: {gid}")
    _visible_task(a["parent"])
    return jsonify(data=_shape(_attachment_full(a), ATTACHMENT_FULL))


@bp.delete("/attachments/<gid>")
def delete_attachment(gid):
    """``DELETE /attachments/{gid}``: "Returns an empty data record" (REST OAS)."""
    a = _sim().attachments.get(gid)
    if a is None:
        raise SimError(404, f"attachment: Not a recognized ID: {gid}")
    _visible_task(a["parent"])
    _sim().remove_attachment(gid)
    return jsonify(data={})


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


@bp.post("/attachments")
def create_attachment():
    if request.mimetype != "multipart/form-data":
        raise SimError(400, "Request must be multipart/form-data")
    if request.content_length and request.content_length > MAX_UPLOAD + 64 * 1024:
        raise SimError(413, "File is too large; the limit is 100 MB")
    sim = _sim()
    form = request.form
    parent = form.get("parent")
    if not parent:
        raise SimError(400, "parent: Missing input")
    task = _visible_task(parent)
    subtype = form.get("resource_subtype") or "asana"
    if subtype == "external":
        for key in ("name", "url"):
            if not form.get(key):
                raise SimError(400, f"{key}: Missing input")
        connected = None
        if _truthy(form.get("connect_to_app")):
            client_id = g.caller["client_id"]
            if client_id is None:
                raise SimError(400, "connect_to_app: can only be set if an OAuth token is used")
            app = sim.apps.get(client_id)
            if app is None or not app.widget_metadata_url:
                raise SimError(400, "connect_to_app: the app has no widget_metadata_url configured")
            if not set(task["projects"]) & app.installed_projects:
                raise SimError(400, "connect_to_app: the app is not installed on a project of "
                                    "this task")
            connected = client_id
        record = sim.add_external_attachment(parent=parent, name=form["name"], url=form["url"],
                                             connected_app=connected)
    elif subtype == "asana":
        upload = request.files.get("file")
        if upload is None:
            raise SimError(400, "file: Missing input")
        content = upload.read(MAX_UPLOAD + 1)
        if len(content) > MAX_UPLOAD:
            raise SimError(413, "File is too large; the limit is 100 MB")
        record = sim.add_upload(parent=parent, name=upload.filename or "upload", content=content,
                                content_type=upload.mimetype or "application/octet-stream")
    else:
        raise SimError(400, "resource_subtype: must be one of asana, external")
    return jsonify(data=_shape(_attachment_full(record), ATTACHMENT_FULL))


@bp.post("/tasks/<gid>/stories")
def create_story(gid):
    """Comment on a task (reference §8, optional): JSON ``{"data": {"text" | "html_text"}}``."""
    _visible_task(gid)
    body = request.get_json(silent=True) if request.is_json else {"data": request.form.to_dict()}
    data = (body or {}).get("data")
    if not isinstance(data, dict) or not (data.get("text") or data.get("html_text")):
        raise SimError(400, "text: Missing input")
    sim = _sim()
    story = {"gid": sim.new_gid(), "resource_type": "story", "created_at": iso_z(sim.now()),
             "created_by": _compact("user", g.caller["user"]), "resource_subtype": "comment_added",
             "type": "comment", "text": data.get("text") or _strip_tags(data["html_text"]),
             "html_text": data.get("html_text") or f"<body>{escape(data['text'])}</body>",
             "target": _compact("task", gid)}
    with sim.lock:
        sim.stories.setdefault(gid, []).append(story)
    resp = jsonify(data=_shape(story, list(story)))
    resp.status_code = 201
    return resp


# --- task updates and custom fields (REST OAS: tasks, custom fields, custom field
# settings, memberships) ---------------------------------------------------------------------


def _data() -> dict:
    body = request.get_json(silent=True) if request.is_json else None
    data = (body or {}).get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise SimError(400, "data: Missing input")
    return data


TASK_WRITABLE = {"custom_fields", "completed", "name"}


@bp.put("/tasks/<gid>")
def update_task(gid):
    """``PUT /tasks/{gid}``: "Only the fields provided in the data block will be updated";
    ``custom_fields`` maps a field gid to an enum option gid (or text, or null)."""
    task = _visible_task(gid)
    data = _data()
    unknown = set(data) - TASK_WRITABLE
    if unknown:
        raise SimError(400, f"{sorted(unknown)[0]}: Cannot write this property "
                            "(the simulator's subset)")
    sim = _sim()
    fields = data.get("custom_fields")
    if fields is not None and not isinstance(fields, dict):
        raise SimError(400, "custom_fields: Must be an object")
    if "completed" in data and not isinstance(data["completed"], bool):
        raise SimError(400, "completed: Must be a boolean")
    if "name" in data and (not isinstance(data["name"], str) or not data["name"]):
        raise SimError(400, "name: Must be a non-empty string")
    with sim.lock:
        if fields:
            sim.set_task_fields(gid, fields)
        now = iso_z(sim.now())
        if "completed" in data and data["completed"] != task["completed"]:
            task["completed"] = data["completed"]
            task["completed_at"] = now if data["completed"] else None
            task["completed_by"] = g.caller["user"] if data["completed"] else None
        if "name" in data:
            task["name"] = data["name"]
        task["modified_at"] = now
        sim.task_updates.append({"task": gid, "data": data, "at": sim.now(),
                                 "token": g.caller["token"]})
    full = _task_full(gid)
    return jsonify(data=_shape(full, task_default_fields(full)))


def _field_workspace_check(field_gid: str) -> dict:
    sim = _sim()
    field = sim.custom_fields.get(field_gid)
    if field is None or field["workspace"] not in sim.users[g.caller["user"]]["workspaces"]:
        raise SimError(404, f"custom_field: Not a recognized ID: {field_gid}")
    return field


@bp.post("/custom_fields")
def create_custom_field():
    data = _data()
    workspace = data.get("workspace")
    if workspace and workspace not in _sim().users[g.caller["user"]]["workspaces"]:
        raise SimError(403, "You do not have access to the requested resource")
    field = _sim().create_custom_field(workspace=workspace or "", creator=g.caller["user"],
                                       data=data)
    full = _custom_field_full(field["gid"], with_description=True)
    resp = jsonify(data=_shape(full, [k for k in full if k != "description"]))
    resp.status_code = 201
    return resp


@bp.get("/custom_fields/<gid>")
def get_custom_field(gid):
    _field_workspace_check(gid)
    full = _custom_field_full(gid, with_description=True)
    return jsonify(data=_shape(full, [k for k in full if k != "description"]))


@bp.get("/workspaces/<gid>/custom_fields")
def list_workspace_custom_fields(gid):
    sim = _sim()
    if gid not in sim.users[g.caller["user"]]["workspaces"]:
        raise SimError(404, f"workspace: Not a recognized ID: {gid}")
    items = [_shape(_custom_field_full(f["gid"]), ["name", "resource_subtype", "type",
                                                    "enum_options", "is_formula_field",
                                                    "is_value_read_only"])
             for f in sim.custom_fields.values() if f["workspace"] == gid]
    return _page(items, f"custom_fields:{gid}", f"/workspaces/{gid}/custom_fields")


@bp.post("/custom_fields/<gid>/enum_options")
def create_enum_option(gid):
    _field_workspace_check(gid)
    option = _sim().add_enum_option(gid, _data())
    resp = jsonify(data=dict(option))
    resp.status_code = 201
    return resp


def _project_of_caller(gid: str) -> dict:
    sim = _sim()
    project = sim.projects.get(gid)
    if project is None or project["workspace"] not in sim.users[g.caller["user"]]["workspaces"]:
        raise SimError(404, f"project: Not a recognized ID: {gid}")
    return project


@bp.get("/projects")
def list_projects():
    """``GET /projects?workspace=``: the workspace's projects, compact by default."""
    sim = _sim()
    workspace = request.args.get("workspace")
    if not workspace:
        raise SimError(400, "workspace: Missing input")
    if workspace not in sim.users[g.caller["user"]]["workspaces"]:
        raise SimError(404, f"workspace: Not a recognized ID: {workspace}")
    items = [_shape({"gid": gid, "resource_type": "project", "name": p["name"],
                     "workspace": _compact("workspace", p["workspace"])}, ["name"])
             for gid, p in sim.projects.items() if p["workspace"] == workspace]
    return _page(items, f"projects:{workspace}", "/projects", f"workspace={workspace}")


@bp.get("/projects/<gid>")
def get_project(gid):
    project = _project_of_caller(gid)
    full = {"gid": gid, "resource_type": "project", "name": project["name"],
            "workspace": _compact("workspace", project["workspace"]),
            "custom_field_settings": [{"gid": s["gid"], "resource_type": "custom_field_setting"}
                                      for s in _sim().field_settings.get(gid, [])]}
    return jsonify(data=_shape(full, ["name", "workspace", "custom_field_settings"]))


def _setting_full(setting: dict) -> dict:
    project = _compact("project", setting["project"])
    return {"gid": setting["gid"], "resource_type": "custom_field_setting",
            "project": project, "parent": project, "is_important": setting["is_important"],
            "custom_field": _custom_field_full(setting["custom_field"])}


@bp.get("/projects/<gid>/custom_field_settings")
def list_custom_field_settings(gid):
    _project_of_caller(gid)
    items = [_shape(_setting_full(s), ["project", "is_important", "parent", "custom_field"])
             for s in _sim().field_settings.get(gid, [])]
    return _page(items, f"field_settings:{gid}", f"/projects/{gid}/custom_field_settings")


@bp.post("/projects/<gid>/addCustomFieldSetting")
def add_custom_field_setting(gid):
    """Adding a field to a project takes a project admin or editor (viewers and
    commenters get 403, wording the simulator's own)."""
    project = _project_of_caller(gid)
    level = (project.get("members") or {}).get(g.caller["user"])
    if level not in ("admin", "editor"):
        raise SimError(403, "You do not have permission to change this project's fields.")
    data = _data()
    field_gid = data.get("custom_field")
    if not isinstance(field_gid, str) or not field_gid:
        raise SimError(400, "custom_field: Missing input")
    _field_workspace_check(field_gid)
    setting = _sim().add_field_setting(gid, field_gid, bool(data.get("is_important", True)))
    return jsonify(data=_shape(_setting_full(setting), ["project", "is_important", "parent",
                                                         "custom_field"]))


@bp.get("/memberships")
def list_memberships():
    """``GET /memberships?parent=<project>[&member=<user>]``: project memberships with
    ``access_level`` (REST OAS ProjectMembershipCompact)."""
    parent = request.args.get("parent")
    if not parent:
        raise SimError(400, "parent: Missing input")
    project = _project_of_caller(parent)
    member = request.args.get("member")
    items = []
    for user_gid, level in (project.get("members") or {}).items():
        if member and member != user_gid:
            continue
        full = {"gid": f"{parent}{user_gid[-6:]}", "resource_type": "membership",
                "resource_subtype": "project_membership",
                "parent": _compact("project", parent), "member": _compact("user", user_gid),
                "access_level": level}
        items.append(_shape(full, ["resource_subtype", "member", "access_level"]))
    return _page(items, f"memberships:{parent}:{member or ''}", "/memberships",
                 f"parent={parent}")


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
def unknown(rest):
    return error_response(404, "No matching route for request")


# --- the "storage" behind download_url (no Asana auth; pre-signed, expiring) ----------


def _storage_error(status: int, code: str, message: str) -> Response:
    """What a pre-signed storage URL answers (S3's XML error shape)."""
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>")
    return Response(body, status=status, mimetype="application/xml")


@files.get("/_files/<gid>/<path:name>")
def download(gid, name):
    sim = _sim()
    if not sim.check_download(gid, request.args.get("expires", ""), request.args.get("sig", "")):
        return _storage_error(403, "AccessDenied", "Request has expired")
    a = sim.attachments.get(gid)
    if a is None:  # removed from its task after the URL was handed out
        return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
    size = a["size"]
    fallback = re.sub(r'[^A-Za-z0-9._ -]', "_", a["name"]) or "file"
    headers = {"Content-Disposition": f"attachment; filename=\"{fallback}\"; "
                                      f"filename*=UTF-8''{quote(a['name'])}",
               "Accept-Ranges": "bytes", "ETag": f'"{gid}-{size}"'}
    start, stop, status = 0, size, 200
    wanted = _byte_range(request.headers.get("Range"), size)
    if wanted == "unsatisfiable":
        return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    if wanted is not None:
        start, stop = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(stop - start)
    if gid in sim.uploads:
        return Response(sim.uploads[gid][start:stop], status=status, mimetype=a["content_type"],
                        headers=headers)
    body = stream_with_context(seed.iter_content(gid, size, start=start, stop=stop))
    return Response(body, status=status, mimetype=a["content_type"], headers=headers,
                    direct_passthrough=True)


def _byte_range(header: str | None, size: int):
    """One ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range, as storage services serve it:
    ``(start, stop)``; ``None`` to send the whole file (no header, or one this storage
    ignores, such as several ranges); ``"unsatisfiable"`` for a 416."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last n bytes
        n = int(last)
        return (max(0, size - n), size) if n else "unsatisfiable"
    start = int(first)
    stop = min(size, int(last) + 1) if last else size
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, stop
