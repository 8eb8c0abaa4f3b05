"""REST API v2 subset the bridge calls (reference jira-server.md §3).

Registered twice: under ``/rest/api/2`` and the ``/rest/api/latest`` alias.  Errors use
Jira's ``ErrorCollection`` body; an issue the caller may not browse is a 404 exactly like a
missing one (§3.3, §3.11).
"""

from __future__ import annotations

import html
import mimetypes
import re

from flask import Blueprint, Response, abort, g, jsonify, request, send_file

from bridge_sandbox.jira import fieldmeta, jql
from bridge_sandbox.jira import representations as rep
from bridge_sandbox.jira.auth import has_scope
from bridge_sandbox.jira.webutil import error_json, not_authenticated, state

bp = Blueprint("rest", __name__)
files_bp = Blueprint("attachment_files", __name__)

ISSUE_MISSING = "Issue Does Not Exist"  # wording UNCONFIRMED (reference §3.3)
MAX_RESULTS_CAP = 1000  # jira.search.views.default.max


def _int_arg(name: str, default: int) -> int:
    try:
        return max(0, int(request.args.get(name, default)))
    except ValueError:
        return default


def _visible_issue(id_or_key: str) -> dict | None:
    st = state()
    issue = st.find_issue(id_or_key)
    if issue is None or not st.can_browse(g.user, issue["key"]):
        return None
    return issue


# -- §3.1 / §3.2 ---------------------------------------------------------------------------

@bp.route("/serverInfo", methods=["GET"])
def server_info():
    st = state()
    p = st.profile
    body = {
        "baseUrl": st.base_url, "version": p.version, "versionNumbers": list(p.numbers),
        "deploymentType": "Server",  # also on Data Center (reference §0 item 6)
        "buildNumber": p.build_number, "buildDate": p.build_date,
        "databaseBuildNumber": p.build_number, "serverTime": rep.now(st),
        "scmInfo": "3f1c0e6a9d2b7c4e5f60718293a4b5c6d7e8f901", "serverTitle": st.server_title,
    }
    if p.numbers < (8, 5, 0):
        # the 7.6.1/8.4.3 WADL schemas forbid it; real 8.5.3 and 10.3 payloads have it
        # (reference §3.1) — the 8.5 cut-off is an inference
        del body["databaseBuildNumber"]
    return jsonify(body)


@bp.route("/myself", methods=["GET"])
def myself():
    if g.user is None:
        return not_authenticated()
    return jsonify(rep.user(state(), g.user, full=True))


@bp.route("/user", methods=["GET"])
def user():
    """``GET /user?username=`` (or ``key=``) — the target of every user ``self`` link."""
    st = state()
    if g.user is None:
        return not_authenticated()
    name = request.args.get("username")
    key = request.args.get("key")
    found = st.users.get(name) if name else next(
        (u for u in st.users.values() if key and u["key"] == key), None)
    if found is None:
        ident = name or key or ""
        return error_json(404, [f"The user named '{ident}' does not exist"])
    return jsonify(rep.user(st, found["name"], full=True))


@bp.route("/user/search", methods=["GET"])
def user_search():
    """``GET /user/search?username=`` — prefix match on name, display name or e-mail."""
    st = state()
    if g.user is None:
        return not_authenticated()
    needle = request.args.get("username", "").lower()
    if not needle:
        return error_json(400, ["The username query parameter was not provided"])
    hits = [u for u in st.users.values() if u.get("active", True) and (
        u["name"].lower().startswith(needle) or u["emailAddress"].lower().startswith(needle)
        or any(w.lower().startswith(needle) for w in u["displayName"].split()))]
    start_at = _int_arg("startAt", 0)
    max_results = min(_int_arg("maxResults", 50) or 50, 1000)
    return jsonify([dict(rep.user(st, u["name"]), locale="en_US")
                    for u in hits[start_at:start_at + max_results]])


def _user_hits(st, needle: str) -> list[dict]:
    needle = needle.lower()
    return [u for u in st.users.values() if u.get("active", True) and needle and (
        u["name"].lower().startswith(needle) or u["emailAddress"].lower().startswith(needle)
        or any(w.lower().startswith(needle) for w in u["displayName"].split()))]


def _strong(text: str, needle: str) -> str:
    """The picker's ``html``: matched word starts in ``<strong>`` (HTML-escaped)."""
    out = []
    for word in re.split(r"(\W+)", text):
        if needle and word.lower().startswith(needle.lower()):
            out.append(f"<strong>{html.escape(word[:len(needle)])}</strong>"
                       f"{html.escape(word[len(needle):])}")
        else:
            out.append(html.escape(word))
    return "".join(out)


@bp.route("/user/picker", methods=["GET"])
def user_picker():
    """``GET /user/picker?query=`` (WADL findUsersForPicker): ``users`` with ``html``
    highlighting, ``total`` and a ``header`` sentence; needs Browse Users."""
    st = state()
    if g.user is None:
        return not_authenticated()
    if not st.has_global_permission(g.user, "USER_PICKER"):
        return error_json(403, ["You do not have the permission to browse users."])
    query = request.args.get("query", "").strip()
    excluded = set(request.args.getlist("exclude"))
    hits = [u for u in _user_hits(st, query) if u["name"] not in excluded]
    max_results = min(_int_arg("maxResults", 50) or 50, 1000)
    shown = hits[:max_results]
    base = st.base_url
    users = [{"name": u["name"], "key": u["key"],
              "html": f"{_strong(u['displayName'], query)} - "
                      f"{_strong(u['emailAddress'], query)} ({_strong(u['name'], query)})",
              "displayName": u["displayName"],
              "avatarUrl": f"{base}/secure/useravatar?size=small&ownerId={u['key']}"}
             for u in shown]
    return jsonify({"users": users, "total": len(hits),
                    "header": f"Showing {len(shown)} of {len(hits)} matching users"})


# -- §3.3 issue ------------------------------------------------------------------------------

@bp.route("/issue/<id_or_key>", methods=["GET"])
def get_issue(id_or_key):
    st = state()
    if g.user is None:
        return not_authenticated()
    issue = _visible_issue(id_or_key)
    if issue is None:
        return error_json(404, [ISSUE_MISSING])
    with st.lock:
        hist = st.history.setdefault(g.user, [])
        if issue["key"] in hist:
            hist.remove(issue["key"])
        hist.insert(0, issue["key"])
    body = rep.issue(st, issue, rep.select_fields(st, request.args.get("fields")),
                     expand=rep.parse_expand(request.args.get("expand")), viewer=g.user,
                     editmeta=fieldmeta.edit_meta)
    with st.lock:
        st.last_viewed[(g.user, issue["key"])] = rep.now(st)
    return jsonify(body)


# -- §3.4 search -----------------------------------------------------------------------------

@bp.route("/search", methods=["GET", "POST"])
def search():
    st = state()
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_json(400, ["Unrecognized request body."])
        text = body.get("jql") or ""
        start_at = int(body.get("startAt") or 0)
        max_results = int(body.get("maxResults", 50))
        fields = body.get("fields")
        expand = rep.parse_expand(body.get("expand"))
        validate = body.get("validateQuery", True) not in (False, "false", "none", "warn")
    else:
        text = request.args.get("jql", "")
        start_at = _int_arg("startAt", 0)
        max_results = _int_arg("maxResults", 50)
        fields = request.args.get("fields")
        expand = rep.parse_expand(request.args.get("expand"))
        validate = request.args.get("validateQuery", "true").lower() not in (
            "false", "none", "warn")
    max_results = min(max_results, MAX_RESULTS_CAP)
    evaluator = jql.Evaluator(st, g.user)
    warnings = []
    try:
        query = jql.parse(text)
        try:
            evaluator.validate(query.where)
        except jql.JqlError as err:
            if validate or str(err).startswith("Field "):
                raise
            warnings.append(str(err))
        visible = [i for i in st.issues.values() if st.can_browse(g.user, i["key"])]
        matched = [i for i in visible if evaluator.matches(query.where, i)]
    except jql.JqlError as err:
        return error_json(400, [str(err)])
    ordered = jql.sort_issues(matched, query.order_by, st)
    page = ordered[start_at:start_at + max_results]
    wanted = rep.select_fields(st, fields, default="*navigable")
    per_issue = expand & {"changelog", "renderedFields"}
    body = {"expand": "names,schema", "startAt": start_at, "maxResults": max_results,
            "total": len(ordered),
            "issues": [rep.issue(st, i, wanted, expand=per_issue, viewer=g.user,
                                 listed=rep.SEARCH_ISSUE_EXPAND) for i in page]}
    if warnings:
        body["warningMessages"] = warnings
    catalogue = [c for c in rep.field_catalogue(st) if c[0] in wanted]
    if "names" in expand:
        body["names"] = {fid: name for fid, name, _, _ in catalogue}
    if "schema" in expand:
        body["schema"] = {fid: schema for fid, _, schema, _ in catalogue}
    return jsonify(body)


# -- §3.5 picker -----------------------------------------------------------------------------

def _highlight(text: str, terms: list[str]) -> str:
    escaped = html.escape(text, quote=False)
    for term in sorted(set(terms), key=len, reverse=True):
        if not term:
            continue
        escaped = re.sub(r"(?i)(?<![\w>])(" + re.escape(html.escape(term, quote=False)) + ")",
                         r"<b>\1</b>", escaped)
    return escaped


def _picker_item(st, issue: dict, terms: list[str], query: str) -> dict:
    key = issue["key"]
    key_html = f"<b>{key}</b>" if query and key.upper().startswith(query.upper()) else key
    t = st.issue_types[issue["issuetype"]]
    return {"key": key, "keyHtml": key_html,
            "img": f"/secure/viewavatar?size=xsmall&avatarId={t['avatarId']}&avatarType=issuetype",
            "summary": _highlight(issue["summary"], terms), "summaryText": issue["summary"]}


@bp.route("/issue/picker", methods=["GET"])
def issue_picker():
    st = state()
    query = request.args.get("query", "").strip()
    terms = [t for t in re.split(r"\s+", query) if t]
    current = request.args.get("currentIssueKey", "").upper()
    visible = [i for i in st.issues.values()
               if st.can_browse(g.user, i["key"]) and i["key"] != current]

    def hit(issue):
        if not query:
            return True
        if issue["key"].upper().startswith(query.upper()):
            return True
        words = re.findall(r"\w+", issue["summary"].lower())
        return all(any(w.startswith(t.lower()) for w in words) for t in terms)

    history_keys = st.history.get(g.user or "", [])
    history = [st.issues[k] for k in history_keys if k in st.issues
               and st.issues[k] in visible and hit(st.issues[k])]
    current_hits = [i for i in jql.sort_issues(visible, [("updated", True)], st)
                    if hit(i) and i not in history]

    def section(sid, label, issues):
        shown = issues[:50]
        return {"label": label, "sub": f"Showing {len(shown)} of {len(issues)} matching issues",
                "id": sid, "issues": [_picker_item(st, i, terms, query) for i in shown]}

    return jsonify({"sections": [section("hs", "History Search", history),
                                 section("cs", "Current Search", current_hits)]})


# -- §3.6 projects ---------------------------------------------------------------------------

@bp.route("/project", methods=["GET"])
def projects():
    """Not paginated; ``expand`` may add ``description``, ``lead``, ``projectKeys``."""
    st = state()
    expand = rep.parse_expand(request.args.get("expand"))
    return jsonify([rep.project(st, p["key"], expand=expand)
                    for p in st.visible_projects(g.user)])


@bp.route("/project/<id_or_key>", methods=["GET"])
def project(id_or_key):
    st = state()
    p = st.find_project(id_or_key)
    if p is None or not st.can_browse(g.user, p["key"]):
        return error_json(404, [f"No project could be found with key '{id_or_key}'."])
    return jsonify(rep.project(st, p["key"], detailed=True,
                               expand=rep.parse_expand(request.args.get("expand"))))


@bp.route("/field", methods=["GET"])
def fields():
    """``GET /field`` — clients such as pycontribs/jira load it before searching."""
    st = state()
    out = [{"id": "issuekey", "name": "Key", "custom": False, "orderable": False,
            "navigable": True, "searchable": False, "clauseNames": ["id", "issue", "issuekey",
                                                                    "key"]}]
    for fid, name, schema, navigable in rep.field_catalogue(st):
        custom = "custom" in schema
        clauses = [f"cf[{schema['customId']}]", name] if custom else [fid]
        out.append({"id": fid, "name": name, "custom": custom, "orderable": True,
                    "navigable": navigable, "searchable": True, "clauseNames": clauses,
                    "schema": schema})
    return jsonify(out)


# -- lookups that issue payloads link to (their ``self`` URLs) --------------------------------

def _by_id(table: dict, ident: str, by_name: bool = True):
    if ident in table:
        return ident
    if by_name:
        return next((k for k, v in table.items() if v["name"].lower() == ident.lower()), None)
    return None


@bp.route("/priority", methods=["GET"])
def priorities():
    st = state()
    return jsonify([rep.priority(st, pid, full=True) for pid in st.priorities])


@bp.route("/priority/<ident>", methods=["GET"])
def priority(ident):
    st = state()
    pid = _by_id(st.priorities, ident, by_name=False)
    if pid is None:
        return error_json(404, [f"Cannot find priority with id '{ident}'."])
    return jsonify(rep.priority(st, pid, full=True))


@bp.route("/status", methods=["GET"])
def statuses():
    st = state()
    return jsonify([rep.status(st, sid) for sid in st.statuses])


@bp.route("/status/<id_or_name>", methods=["GET"])
def status(id_or_name):
    """By id or name, like Jira (``/status/{idOrName}``)."""
    st = state()
    sid = _by_id(st.statuses, id_or_name)
    if sid is None:
        return error_json(404, [f"The status with id '{id_or_name}' does not exist"])
    return jsonify(rep.status(st, sid))


@bp.route("/statuscategory", methods=["GET"])
def status_categories():
    st = state()
    return jsonify([rep.status_category(st, cid) for cid in sorted(st.status_categories)])


@bp.route("/statuscategory/<id_or_key>", methods=["GET"])
def status_category(id_or_key):
    """By id or key (``/statuscategory/{idOrKey}``)."""
    st = state()
    cid = next((c for c, v in st.status_categories.items()
                if str(c) == id_or_key or v["key"] == id_or_key), None)
    if cid is None:
        return error_json(404, [f"The status category with id '{id_or_key}' does not exist"])
    return jsonify(rep.status_category(st, cid))


def _visible_issue_types(st) -> list[str]:
    """Issue types used by the projects the caller can see (all of them for an admin)."""
    if st.is_admin(g.user):
        return list(st.issue_types)
    used = {t for p in st.visible_projects(g.user) for t in p["issueTypes"]}
    return [t for t in st.issue_types if t in used]


@bp.route("/issuetype", methods=["GET"])
def issue_types():
    st = state()
    return jsonify([rep.issue_type(st, t) for t in _visible_issue_types(st)])


@bp.route("/issuetype/<type_id>", methods=["GET"])
def issue_type(type_id):
    st = state()
    if type_id not in _visible_issue_types(st):
        return error_json(404, [f"Issue type with id '{type_id}' does not exist."])
    return jsonify(rep.issue_type(st, type_id))


@bp.route("/resolution", methods=["GET"])
def resolutions():
    st = state()
    return jsonify([rep.resolution(st, r) for r in st.resolutions])


@bp.route("/resolution/<res_id>", methods=["GET"])
def resolution(res_id):
    st = state()
    if res_id not in st.resolutions:
        return error_json(404, [f"The resolution with id '{res_id}' does not exist"])
    return jsonify(rep.resolution(st, res_id))


# -- §3.7 create metadata --------------------------------------------------------------------

def field_meta(st, project: dict, type_id: str) -> list[dict]:
    return fieldmeta.create_fields(st, project, type_id)


def _creatable_projects(st) -> list[dict]:
    return [p for p in st.projects.values()
            if st.can_browse(g.user, p["key"]) and st.has_permission(g.user, p["key"],
                                                                      "CREATE_ISSUES")]


@bp.route("/issue/createmeta", methods=["GET"])
def createmeta_all_projects():
    """Old all-projects form; removed in 9.0 (reference §3.7)."""
    st = state()
    if not st.profile.has_old_createmeta:
        # removed: the path now reads as GET /issue/{issueIdOrKey} with key "createmeta"
        return get_issue("createmeta")
    keys = set(",".join(request.args.getlist("projectKeys")).split(",")) - {""}
    ids = set(",".join(request.args.getlist("projectIds")).split(",")) - {""}
    type_ids = set(",".join(request.args.getlist("issuetypeIds")).split(",")) - {""}
    type_names = set(",".join(request.args.getlist("issuetypeNames")).split(",")) - {""}
    with_fields = "projects.issuetypes.fields" in request.args.get("expand", "")
    result = []
    for p in _creatable_projects(st):
        if (keys or ids) and p["key"] not in keys and p["id"] not in ids:
            continue
        types = []
        for tid in p["issueTypes"]:
            t = st.issue_types[tid]
            if type_ids and tid not in type_ids:
                continue
            if type_names and t["name"] not in type_names:
                continue
            bean = rep.issue_type(st, tid)
            if with_fields:
                bean["fields"] = {f["fieldId"]: f for f in field_meta(st, p, tid)}
            else:
                bean["expand"] = "fields"
            types.append(bean)
        proj = rep.project(st, p["key"])
        for absent in ("projectTypeKey", "expand", "archived"):
            proj.pop(absent, None)
        proj["issuetypes"] = types
        result.append(proj)
    return jsonify({"expand": "projects", "projects": result})


def _page(values: list) -> Response:
    start_at = _int_arg("startAt", 0)
    max_results = _int_arg("maxResults", 50) or 50
    chunk = values[start_at:start_at + max_results]
    return jsonify({"maxResults": max_results, "startAt": start_at, "total": len(values),
                    "isLast": start_at + len(chunk) >= len(values), "values": chunk})


def _createmeta_project(id_or_key: str):
    st = state()
    if not st.profile.has_paginated_createmeta:
        abort(404)
    p = st.find_project(id_or_key)
    if p is None or not st.can_browse(g.user, p["key"]):
        # 400 when the project is missing or invisible (reference §3.7); wording UNCONFIRMED
        return None, error_json(400, [f"Project with key or id '{id_or_key}' was not found."])
    return p, None


@bp.route("/issue/createmeta/<id_or_key>/issuetypes", methods=["GET"])
def createmeta_issuetypes(id_or_key):
    st = state()
    p, err = _createmeta_project(id_or_key)
    if err is not None:
        return err
    types = []
    if st.has_permission(g.user, p["key"], "CREATE_ISSUES"):
        types = [rep.issue_type(st, tid) for tid in p["issueTypes"]]
    return _page(types)


@bp.route("/issue/createmeta/<id_or_key>/issuetypes/<type_id>", methods=["GET"])
def createmeta_fields(id_or_key, type_id):
    st = state()
    p, err = _createmeta_project(id_or_key)
    if err is not None:
        return err
    if type_id not in p["issueTypes"] or not st.has_permission(g.user, p["key"],
                                                               "CREATE_ISSUES"):
        return error_json(400, [f"Issue type with id '{type_id}' was not found."])
    return _page(field_meta(st, p, type_id))


# -- §3.8 create ------------------------------------------------------------------------------

def _ref(value, table: dict) -> str | None:
    """Resolve ``{"id": ...}`` / ``{"name": ...}`` against an id→entity table."""
    if not isinstance(value, dict):
        return None
    if "id" in value and str(value["id"]) in table:
        return str(value["id"])
    if "name" in value:
        for k, v in table.items():
            if v["name"] == value["name"]:
                return k
    return None


@bp.route("/issue", methods=["POST"])
def create_issue():
    st = state()
    if g.user is None:
        return not_authenticated()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("fields", {}), dict):
        return error_json(400, ["Unrecognized request body."])
    fields = body.get("fields") or {}
    errors: dict[str, str] = {}
    project = None
    pref = fields.get("project")
    if not pref:
        errors["project"] = "project is required"
    else:
        project = None
        if isinstance(pref, dict) and pref.get("id"):
            project = next((p for p in st.projects.values() if p["id"] == str(pref["id"])),
                           None)
        elif isinstance(pref, dict) and pref.get("key"):
            project = st.projects.get(str(pref["key"]).upper())
        if project is None or not st.can_browse(g.user, project["key"]):
            errors["project"] = "valid project is required"
            project = None
    if project is not None and not st.has_permission(g.user, project["key"], "CREATE_ISSUES"):
        # status/wording UNCONFIRMED; Jira maps this validation failure to 403
        return error_json(403, ["You do not have permission to create issues in this project."])
    # An issue type that resolves to nothing (unknown id or name) counts as absent: a
    # recorded Jira answer to {"name": "BLARG"} is "issue type is required"; a real type
    # outside the project's scheme is "valid issue type is required" (jira-server.md §9
    # "Create errors").
    type_id = _ref(fields["issuetype"], st.issue_types) if fields.get("issuetype") else None
    if type_id is None:
        errors["issuetype"] = "issue type is required"
    elif project is not None and type_id not in project["issueTypes"]:
        errors["issuetype"] = "valid issue type is required"
        type_id = None
    elif st.issue_types[type_id]["subtask"]:
        errors["parent"] = "Could not find issue by id or key."
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors["summary"] = "You must specify a summary of the issue."
    elif len(summary) > 255:
        errors["summary"] = "Summary must be less than 255 characters."
    priority_id = None
    if fields.get("priority") is not None:
        priority_id = _ref(fields["priority"], st.priorities)
        if priority_id is None:
            errors["priority"] = "Could not find valid 'id' or 'name' in priority object."
    assignee = None
    if fields.get("assignee") is not None:
        a = fields["assignee"]
        assignee = a.get("name") if isinstance(a, dict) else None
        if assignee not in st.users:
            errors["assignee"] = f"User '{assignee}' does not exist."
    labels = fields.get("labels") or []
    if not isinstance(labels, list) or any(not isinstance(x, str) or " " in x for x in labels):
        errors["labels"] = "The label must not contain spaces."
    description = fields.get("description")
    if description is not None and not isinstance(description, str):
        errors["description"] = "Operation value must be a string"
    extra: dict = {}
    screen = set(fieldmeta.BASE_FIELDS)
    if project is not None and type_id is not None:
        extra, screen_errors = fieldmeta.check_screen_fields(st, project, type_id, fields)
        errors.update(screen_errors)
        screen = fieldmeta.on_screen(st, project, type_id)
    for name in fields:
        if name not in screen:
            errors[name] = (f"Field '{name}' cannot be set. It is not on the appropriate "
                            f"screen, or unknown.")
    if errors:
        return error_json(400, [], errors)
    issue = st.create_issue({"project": project["key"], "issuetype": type_id,
                             "summary": summary, "description": description,
                             "priority": priority_id, "assignee": assignee, "labels": labels,
                             **extra}, reporter=g.user)
    resp = jsonify({"id": issue["id"], "key": issue["key"],
                    "self": f"{st.base_url}/rest/api/2/issue/{issue['id']}"})
    resp.status_code = 201
    return resp


# -- §3.9 attachments -----------------------------------------------------------------------

@bp.route("/issue/<id_or_key>/attachments", methods=["POST"])
def add_attachment(id_or_key):
    st = state()
    if request.headers.get("X-Atlassian-Token", "").lower() not in ("no-check", "nocheck"):
        return Response("XSRF check failed", status=403, mimetype="text/plain")
    if g.user is None:
        return not_authenticated()
    issue = _visible_issue(id_or_key)
    if issue is None:
        return error_json(404, [ISSUE_MISSING])
    if not st.settings["attachments_enabled"]:
        return error_json(403, ["Attachments are disabled."])
    if not st.has_permission(g.user, issue["project"], "CREATE_ATTACHMENTS"):
        return error_json(403, ["You do not have permission to create attachments for this "
                                "issue."])
    uploads = request.files.getlist("file")
    if not uploads:
        return error_json(400, ["No file part 'file' in the request."])
    limit = int(st.settings["upload_limit"])
    for up in uploads:
        if getattr(up.stream, "size", 0) > limit:
            # Jira answers 404 for an oversize file (reference §3.9); wording UNCONFIRMED
            _discard(uploads)
            return error_json(404, [f"The file '{up.filename}' is too large: the attachment "
                                    f"size limit is {limit} bytes."])
    hold = g.get("hold")
    if hold is not None:
        hold.hold()  # the file is here whole; Jira is still writing it
    created = []
    with st.lock:
        for up in uploads:
            att_id = str(st.next_attachment_id)
            st.next_attachment_id += 1
            mime = up.mimetype if up.mimetype and up.mimetype != "application/octet-stream" \
                else (mimetypes.guess_type(up.filename or "")[0] or "application/octet-stream")
            stream = up.stream
            att = {"id": att_id, "issue": issue["key"], "filename": up.filename or "file",
                   "author": g.user, "created": rep.now(st), "size": stream.size,
                   "sha256": stream.sha256.hexdigest(), "mimeType": mime,
                   "path": stream.keep()}
            st.attachments[att_id] = att
            created.append(rep.attachment(st, att))
    return jsonify(created)


def _discard(uploads) -> None:
    for up in uploads:
        discard = getattr(up.stream, "discard", None)
        if discard:
            discard()


@bp.route("/attachment/meta", methods=["GET"])
def attachment_meta():
    st = state()
    return jsonify({"enabled": bool(st.settings["attachments_enabled"]),
                    "uploadLimit": int(st.settings["upload_limit"])})


@bp.route("/attachment/<att_id>", methods=["GET"])
def attachment(att_id):
    st = state()
    att = st.attachments.get(att_id)
    if att is None or not st.can_browse(g.user, att["issue"]):
        return error_json(404, [f"The attachment with id '{att_id}' does not exist"])
    return jsonify(rep.attachment(st, att))


@files_bp.route("/secure/attachment/<att_id>/<path:filename>", methods=["GET"])
def attachment_content(att_id, filename):
    st = state()
    att = st.attachments.get(att_id)
    if att is None or not st.can_browse(g.user, att["issue"]):
        abort(404)
    return send_file(att["path"], mimetype=att["mimeType"], conditional=False)


# -- remote issue links (WADL 7.6.1 ``issue/{issueIdOrKey}/remotelink``; DC 10.3 OpenAPI
# getRemoteIssueLinks / createOrUpdateRemoteIssueLink / deleteRemoteIssueLinkByGlobalId) --

LINKING_OFF = "Issue linking is currently disabled."  # wording UNCONFIRMED
NO_LINK_PERMISSION = "You do not have permission to link issues in this project."  # UNCONFIRMED


def remote_link_bean(st, link: dict) -> dict:
    """The WADL's "Remote Issue Link" (its example, every property present)."""
    obj = link.get("object") or {}
    body_obj: dict = {"url": obj.get("url"), "title": obj.get("title"),
                      "summary": obj.get("summary"), "icon": obj.get("icon") or {}}
    if obj.get("status") is not None:
        body_obj["status"] = obj["status"]
    return {"id": link["id"],
            "self": f"{st.base_url}/rest/api/2/issue/{link['_issue']}/remotelink/{link['id']}",
            "globalId": link.get("globalId"), "application": link.get("application") or {},
            "relationship": link.get("relationship"), "object": body_obj}


def _linkable_issue(id_or_key: str, write: bool):
    """The issue, or the error response: 401, 404 (missing or hidden), 403 (linking off,
    or no Link Issues permission for a change)."""
    st = state()
    if g.user is None:
        return None, not_authenticated()
    issue = _visible_issue(id_or_key)
    if issue is None:
        return None, error_json(404, [ISSUE_MISSING])
    if not st.settings["issue_linking_enabled"]:
        return None, error_json(403, [LINKING_OFF])
    if write and not st.has_permission(g.user, issue["project"], "LINK_ISSUES"):
        return None, error_json(403, [NO_LINK_PERMISSION])
    return issue, None


def _check_icon(icon, where: str, errors: dict) -> None:
    if icon is None:
        return
    if not isinstance(icon, dict) or any(
            k not in ("url16x16", "title", "link") or not isinstance(v, str | None)
            for k, v in icon.items()):
        errors[where] = f"Unrecognized '{where}' value."  # wording UNCONFIRMED


def _remote_link_errors(body) -> dict:
    """What Jira refuses in a create-or-update request (the schema is closed:
    ``additionalProperties: false``); ``'title' is required.`` is the WADL's example."""
    if not isinstance(body, dict):
        return {"": "Unrecognized request body."}
    errors: dict = {}
    unknown = set(body) - {"globalId", "application", "relationship", "object"}
    for name in sorted(unknown):
        errors[name] = f"Unrecognized field '{name}'."  # wording UNCONFIRMED
    obj = body.get("object")
    if not isinstance(obj, dict):
        obj = {}
    for name in ("globalId", "relationship"):
        if body.get(name) is not None and not isinstance(body[name], str):
            errors[name] = f"'{name}' must be a string."  # wording UNCONFIRMED
    app = body.get("application")
    if app is not None and (not isinstance(app, dict) or set(app) - {"type", "name"}):
        errors["application"] = "Unrecognized 'application' value."  # wording UNCONFIRMED
    if set(obj) - {"url", "title", "summary", "icon", "status"}:
        errors["object"] = "Unrecognized 'object' value."  # wording UNCONFIRMED
    if not isinstance(obj.get("url"), str) or not obj["url"].strip():
        errors["url"] = "'url' is required."  # wording follows the WADL's title example
    if not isinstance(obj.get("title"), str) or not obj["title"].strip():
        errors["title"] = "'title' is required."
    _check_icon(obj.get("icon"), "icon", errors)
    status = obj.get("status")
    if status is not None:
        if not isinstance(status, dict) or set(status) - {"resolved", "icon"}:
            errors["status"] = "Unrecognized 'status' value."  # wording UNCONFIRMED
        else:
            _check_icon(status.get("icon"), "status", errors)
    return errors


@bp.route("/issue/<id_or_key>/remotelink", methods=["GET"])
def remote_links(id_or_key):
    st = state()
    issue, refused = _linkable_issue(id_or_key, write=False)
    if refused is not None:
        return refused
    links = st.remote_links_of(issue["key"])
    global_id = request.args.get("globalId")
    if global_id is not None:  # one link (an object), or 404
        found = next((link for link in links if link.get("globalId") == global_id), None)
        if found is None:
            return error_json(404, ["No remote link was found with the given globalId."])
        return jsonify(remote_link_bean(st, found))
    return jsonify([remote_link_bean(st, link) for link in links])


@bp.route("/issue/<id_or_key>/remotelink", methods=["POST"])
def save_remote_link(id_or_key):
    """Create, or update the link with the same ``globalId``. 201 for a new link, 200 for
    an update, body ``{"id", "self"}`` (the WADL lists 200 only; the 201 on create is what
    Jira's resource answers, UNCONFIRMED here)."""
    st = state()
    issue, refused = _linkable_issue(id_or_key, write=True)
    if refused is not None:
        return refused
    body = request.get_json(silent=True)
    errors = _remote_link_errors(body)
    if errors.pop("", None):
        return error_json(400, ["Unrecognized request body."])
    if errors:
        return error_json(400, [], errors)
    link, created = st.save_remote_link(issue["key"], body)
    resp = jsonify({"id": link["id"], "self": remote_link_bean(st, link)["self"]})
    resp.status_code = 201 if created else 200
    return resp


@bp.route("/issue/<id_or_key>/remotelink", methods=["DELETE"])
def delete_remote_link(id_or_key):
    st = state()
    issue, refused = _linkable_issue(id_or_key, write=True)
    if refused is not None:
        return refused
    global_id = request.args.get("globalId")
    if not global_id:
        return error_json(400, ["The globalId parameter is required."])  # UNCONFIRMED
    if not st.delete_remote_link(issue["key"], global_id=global_id):
        return error_json(404, ["No remote link was found with the given globalId."])
    return Response(status=204)


@bp.route("/issue/<id_or_key>/remotelink/<link_id>", methods=["GET", "DELETE"])
def remote_link(id_or_key, link_id):
    st = state()
    issue, refused = _linkable_issue(id_or_key, write=request.method == "DELETE")
    if refused is not None:
        return refused
    if not link_id.isdigit():
        return error_json(400, ["The link id is not a valid number."])  # UNCONFIRMED
    found = st.remote_links.get(int(link_id))
    if found is None:
        return error_json(404, ["No remote link with the given id exists."])  # UNCONFIRMED
    if found["_issue"] != issue["key"]:
        return error_json(400, ["The remote link does not belong to the issue."])  # UNCONFIRMED
    if request.method == "DELETE":
        st.delete_remote_link(issue["key"], link_id=found["id"])
        return Response(status=204)
    return jsonify(remote_link_bean(st, found))


# -- §3.10 mypermissions ---------------------------------------------------------------------

@bp.route("/mypermissions", methods=["GET"])
def mypermissions():
    """Server/DC: ``projectKey|projectId|issueKey|issueId``; ``permissions=`` is ignored."""
    st = state()
    if g.user is None:
        return not_authenticated()
    args = request.args
    project_keys = None
    if args.get("projectId") and not args["projectId"].isdigit():
        return error_json(400, [f"The project id '{args['projectId']}' is not valid."])
    if args.get("issueId") and not args["issueId"].isdigit():
        return error_json(400, [f"The issue id '{args['issueId']}' is not valid."])
    if args.get("projectKey") or args.get("projectId"):
        ident = args.get("projectKey") or args.get("projectId")
        p = st.find_project(ident)
        if p is None or not st.can_browse(g.user, p["key"]):
            return error_json(404, [f"No project could be found with id or key '{ident}'."])
        project_keys = [p["key"]]
    elif args.get("issueKey") or args.get("issueId"):
        ident = args.get("issueKey") or args.get("issueId")
        issue = _visible_issue(ident)
        if issue is None:
            return error_json(404, [ISSUE_MISSING])
        project_keys = [issue["project"]]
    keys = project_keys if project_keys is not None else list(st.projects)
    result = {}
    for key, perm in st.permissions.items():
        if perm["type"] == "GLOBAL":
            have = st.has_global_permission(g.user, key)
        else:
            # without context: held in any project (reference §3.10)
            have = any(st.has_permission(g.user, k, key) for k in keys)
        have = have and has_scope(_SCOPE_FOR.get(key, "WRITE"))
        result[key] = {"id": perm["id"], "key": key, "name": perm["name"], "type": perm["type"],
                       "description": perm["description"], "havePermission": have}
    return jsonify({"permissions": result})


# OAuth 2.0 scope needed for each permission to count (reference §2.6): READ covers
# browsing, voters and watchers, the read-only workflow and dev tools.
_SCOPE_FOR = {"BROWSE_PROJECTS": "READ", "VIEW_VOTERS_AND_WATCHERS": "READ",
              "VIEW_READONLY_WORKFLOW": "READ", "VIEW_DEV_TOOLS": "READ",
              "ADMINISTER": "ADMIN", "ADMINISTER_PROJECTS": "ADMIN",
              "SYSTEM_ADMIN": "SYSTEM_ADMIN"}
