"""JSON shapes of Jira entities (reference jira-server.md §3.2, §3.3, §3.6, §3.7).

Every ``self``/icon URL is built from the configured base URL, as Jira does.  An issue
without ``fields=`` carries every field a real 8.x–10.x issue has, nulls included, in a
real payload's order (docs/jira-server.md §9 "A full issue"); custom fields follow
the system fields.  ``*navigable`` (search's default) leaves out ``comment``, ``worklog``
and ``timetracking``.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import quote

from bridge_sandbox.jira.state import jira_time, parse_jira_time

ISSUE_EXPAND = ("renderedFields", "names", "schema", "operations", "editmeta", "changelog",
                "versionedRepresentations")
SEARCH_ISSUE_EXPAND = ("operations", "versionedRepresentations", "editmeta", "changelog",
                       "renderedFields")
#: expands the simulator computes on issue GET (and per issue on search: changelog,
#: renderedFields); the others are listed in ``expand`` but not modelled.
SUPPORTED_EXPANDS = ("renderedFields", "names", "schema", "editmeta", "changelog")


def _sys(type_, items=None):
    schema = {"type": type_}
    if items:
        schema["items"] = items
    return schema


# (id, name, schema, navigable) in the order of a real Jira Server issue payload
SYSTEM_FIELDS = [
    ("issuetype", "Issue Type", _sys("issuetype"), True),
    ("timespent", "Time Spent", _sys("number"), True),
    ("project", "Project", _sys("project"), True),
    ("fixVersions", "Fix Version/s", _sys("array", "version"), True),
    ("aggregatetimespent", "Σ Time Spent", _sys("number"), True),
    ("resolution", "Resolution", _sys("resolution"), True),
    ("resolutiondate", "Resolved", _sys("datetime"), True),
    ("workratio", "Work Ratio", _sys("number"), True),
    ("lastViewed", "Last Viewed", _sys("datetime"), True),
    ("watches", "Watchers", _sys("watches"), True),
    ("created", "Created", _sys("datetime"), True),
    ("priority", "Priority", _sys("priority"), True),
    ("labels", "Labels", _sys("array", "string"), True),
    ("timeestimate", "Remaining Estimate", _sys("number"), True),
    ("aggregatetimeoriginalestimate", "Σ Original Estimate", _sys("number"), True),
    ("versions", "Affects Version/s", _sys("array", "version"), True),
    ("issuelinks", "Linked Issues", _sys("array", "issuelinks"), True),
    ("assignee", "Assignee", _sys("user"), True),
    ("updated", "Updated", _sys("datetime"), True),
    ("status", "Status", _sys("status"), True),
    ("components", "Component/s", _sys("array", "component"), True),
    ("timeoriginalestimate", "Original Estimate", _sys("number"), True),
    ("description", "Description", _sys("string"), True),
    ("timetracking", "Time tracking", _sys("timetracking"), False),
    ("archiveddate", "Archived", _sys("datetime"), True),
    ("attachment", "Attachment", _sys("array", "attachment"), True),
    ("aggregatetimeestimate", "Σ Remaining Estimate", _sys("number"), True),
    ("summary", "Summary", _sys("string"), True),
    ("creator", "Creator", _sys("user"), True),
    ("subtasks", "Sub-Tasks", _sys("array", "issuelinks"), True),
    ("reporter", "Reporter", _sys("user"), True),
    ("aggregateprogress", "Σ Progress", _sys("progress"), True),
    ("environment", "Environment", _sys("string"), True),
    ("duedate", "Due Date", _sys("date"), True),
    ("progress", "Progress", _sys("progress"), True),
    ("comment", "Comment", _sys("comments-page"), False),
    ("votes", "Votes", _sys("votes"), True),
    ("worklog", "Log Work", _sys("array", "worklog"), False),
    ("archivedby", "Archiver", _sys("user"), True),
]
_ARCHIVING = ("archiveddate", "archivedby")  # Data Center issue archiving (8.1+)

# jira-server.md §9 "Custom field types": JSON schema type per custom field kind
CUSTOM_SCHEMA = {
    "select": ("option", None), "multiselect": ("array", "option"),
    "cascadingselect": ("option-with-child", None), "userpicker": ("user", None),
    "datepicker": ("date", None), "float": ("number", None), "textfield": ("string", None),
    "labels": ("array", "string"),
}


def field_catalogue(st) -> list[tuple[str, str, dict, bool]]:
    """``(id, name, schema, navigable)`` of every field of this version, system then custom."""
    out = []
    for fid, name, schema, nav in SYSTEM_FIELDS:
        if fid in _ARCHIVING and st.profile.numbers < (8, 1, 0):
            continue
        out.append((fid, name, dict(schema, system=fid), nav))
    for cf in st.custom_fields.values():
        out.append((cf["id"], cf["name"], custom_schema(cf), True))
    return out


def custom_schema(cf: dict) -> dict:
    type_, items = CUSTOM_SCHEMA[cf["kind"]]
    schema = {"type": type_}
    if items:
        schema["items"] = items
    schema["custom"] = cf["custom"]
    schema["customId"] = int(cf["id"].rsplit("_", 1)[1])
    return schema


def avatar_urls(base: str, kind: str, ident: str) -> dict:
    return {size: f"{base}/secure/{kind}avatar?size={name}&{ident}"
            for size, name in (("48x48", "large"), ("24x24", "small"),
                               ("16x16", "xsmall"), ("32x32", "medium"))}


def user(st, name: str | None, full: bool = False) -> dict | None:
    if name is None:
        return None
    u = st.users[name]
    base = st.base_url
    bean = {"self": f"{base}/rest/api/2/user?username={quote(name)}", "name": name,
            "key": u["key"], "emailAddress": u["emailAddress"],
            "avatarUrls": avatar_urls(base, "user", f"ownerId={quote(u['key'])}"),
            "displayName": u["displayName"], "active": u.get("active", True),
            "timeZone": u["timeZone"]}
    if full:
        bean["locale"] = "en_US"
        groups = sorted(u["groups"])
        bean["groups"] = {"size": len(groups), "items": [
            {"name": g, "self": f"{base}/rest/api/2/group?groupname={quote(g)}"}
            for g in groups]}
        bean["applicationRoles"] = {"size": 1, "items": []}
        bean["expand"] = "groups,applicationRoles"
    return bean


def status_category(st, cat_id: int) -> dict:
    c = st.status_categories[cat_id]
    return {"self": f"{st.base_url}/rest/api/2/statuscategory/{c['id']}", "id": c["id"],
            "key": c["key"], "colorName": c["colorName"], "name": c["name"]}


def status(st, status_id: str) -> dict:
    """StatusJsonBean as Server sends it: no ``statusColor`` (WADL getStatus example)."""
    s = st.statuses[status_id]
    return {"self": f"{st.base_url}/rest/api/2/status/{s['id']}",
            "description": s["description"],
            "iconUrl": f"{st.base_url}/images/icons/statuses/{s['icon']}",
            "name": s["name"], "id": s["id"],
            "statusCategory": status_category(st, s["category"])}


def priority(st, priority_id: str, full: bool = False) -> dict:
    """In an issue: ``self, iconUrl, name, id``; from ``/priority`` (``full``) also
    ``statusColor`` and ``description`` (WADL getPriority; real issue payloads)."""
    p = st.priorities[priority_id]
    bean = {"self": f"{st.base_url}/rest/api/2/priority/{p['id']}"}
    if full:
        bean.update(statusColor=p["statusColor"], description=p["description"])
    bean.update({"iconUrl": f"{st.base_url}/images/icons/priorities/{p['icon']}",
                 "name": p["name"], "id": p["id"]})
    return bean


def issue_type(st, type_id: str) -> dict:
    t = st.issue_types[type_id]
    return {"self": f"{st.base_url}/rest/api/2/issuetype/{t['id']}", "id": t["id"],
            "description": t["description"],
            "iconUrl": f"{st.base_url}/secure/viewavatar?size=xsmall&avatarId={t['avatarId']}"
                       f"&avatarType=issuetype",
            "name": t["name"], "subtask": t["subtask"], "avatarId": t["avatarId"]}


def resolution(st, res_id: str | None) -> dict | None:
    if res_id is None:
        return None
    r = st.resolutions[res_id]
    return {"self": f"{st.base_url}/rest/api/2/resolution/{r['id']}", "id": r["id"],
            "description": r["description"], "name": r["name"]}


def component(st, project_key: str, comp_id: str) -> dict:
    c = next(c for c in st.projects[project_key].get("components", []) if c["id"] == comp_id)
    bean = {"self": f"{st.base_url}/rest/api/2/component/{c['id']}", "id": c["id"],
            "name": c["name"]}
    if c.get("description"):
        bean["description"] = c["description"]
    return bean


def version(st, project_key: str, version_id: str, detailed: bool = False) -> dict:
    v = next(v for v in st.projects[project_key].get("versions", []) if v["id"] == version_id)
    bean = {"self": f"{st.base_url}/rest/api/2/version/{v['id']}", "id": v["id"],
            "description": v.get("description", ""), "name": v["name"],
            "archived": v.get("archived", False), "released": v.get("released", False)}
    if v.get("releaseDate"):
        bean["releaseDate"] = v["releaseDate"]
    if detailed:
        bean["projectId"] = int(st.projects[project_key]["id"])
    return bean


def project(st, key: str, detailed: bool = False, expand=()) -> dict:
    """``projectKeys`` only with ``expand=projectKeys``; ``description``/``lead`` come with
    the single-project GET or when expanded (WADL getProject / getAllProjects)."""
    p = st.projects[key]
    base = st.base_url
    expand = set(expand)
    bean = {"expand": "description,lead,url,projectKeys",
            "self": f"{base}/rest/api/2/project/{p['id']}", "id": p["id"], "key": p["key"]}
    if detailed or "description" in expand:
        bean["description"] = p.get("description", "")
    if detailed or "lead" in expand:
        bean["lead"] = user(st, p["lead"])
    if detailed:
        bean.update({
            "components": [dict(component(st, key, c["id"]), isAssigneeTypeValid=False)
                           for c in p.get("components", [])],
            "issueTypes": [issue_type(st, t) for t in p["issueTypes"]],
            "assigneeType": p.get("assigneeType", "UNASSIGNED"),
            "versions": [version(st, key, v["id"], detailed=True)
                         for v in p.get("versions", [])],
            "roles": {"Administrators": f"{base}/rest/api/2/project/{p['id']}/role/10002",
                      "Users": f"{base}/rest/api/2/project/{p['id']}/role/10001"}})
    bean["name"] = p["name"]
    bean["avatarUrls"] = avatar_urls(base, "project", f"pid={p['id']}")
    if "projectKeys" in expand:
        bean["projectKeys"] = [p["key"]]
    bean["projectTypeKey"] = p["projectTypeKey"]
    if st.profile.numbers >= (8, 1, 0):
        bean["archived"] = False
    return bean


def attachment(st, att: dict) -> dict:
    base = st.base_url
    return {"self": f"{base}/rest/api/2/attachment/{att['id']}", "id": att["id"],
            "filename": att["filename"], "author": user(st, att["author"]),
            "created": att["created"], "size": att["size"], "mimeType": att["mimeType"],
            "content": f"{base}/secure/attachment/{att['id']}/{quote(att['filename'])}"}


def comment(st, issue: dict, c: dict, rendered: bool = False) -> dict:
    return {"self": f"{st.base_url}/rest/api/2/issue/{issue['id']}/comment/{c['id']}",
            "id": c["id"], "author": user(st, c["author"]),
            "body": wiki_html(c["body"]) if rendered else c["body"],
            "updateAuthor": user(st, c.get("updateAuthor", c["author"])),
            "created": display_time(c["created"]) if rendered else c["created"],
            "updated": display_time(c["updated"]) if rendered else c["updated"]}


def comments_page(st, issue: dict, rendered: bool = False) -> dict:
    """``fields.comment``: every comment, ``maxResults`` = how many are returned."""
    items = [comment(st, issue, c, rendered) for c in issue.get("comments", [])]
    return {"comments": items, "maxResults": len(items), "total": len(items), "startAt": 0}


def _linked(st, other: dict) -> dict:
    return {"id": other["id"], "key": other["key"],
            "self": f"{st.base_url}/rest/api/2/issue/{other['id']}",
            "fields": {"summary": other["summary"], "status": status(st, other["status"]),
                       "priority": priority(st, other["priority"]),
                       "issuetype": issue_type(st, other["issuetype"])}}


def issue_links(st, issue: dict, viewer: str | None) -> list[dict]:
    """Links in both directions; a link to an issue the viewer can't browse is hidden."""
    out = []
    for src in st.issues.values():
        for link in src.get("links", []):
            if src["key"] == issue["key"]:
                other, side = st.issues.get(link["outward"]), "outwardIssue"
            elif link["outward"] == issue["key"]:
                other, side = src, "inwardIssue"
            else:
                continue
            if other is None or not st.can_browse(viewer, other["key"]):
                continue
            t = st.link_types[link["type"]]
            out.append({"id": link["id"],
                        "self": f"{st.base_url}/rest/api/2/issueLink/{link['id']}",
                        "type": {"id": t["id"], "name": t["name"], "inward": t["inward"],
                                 "outward": t["outward"],
                                 "self": f"{st.base_url}/rest/api/2/issueLinkType/{t['id']}"},
                        side: _linked(st, other)})
    return out


def custom_value(st, cf: dict, value):
    """A custom field's value as Jira serialises it for its type."""
    if value is None or value == []:
        return None
    base = st.base_url

    def option(opt_id, options):
        o = next(o for o in options if o["id"] == opt_id)
        return {"self": f"{base}/rest/api/2/customFieldOption/{o['id']}", "value": o["value"],
                "id": o["id"], "disabled": o.get("disabled", False)}

    kind = cf["kind"]
    if kind == "select":
        return option(value, cf["options"])
    if kind == "multiselect":
        return [option(v, cf["options"]) for v in value]
    if kind == "cascadingselect":
        parent_id, child_id = value
        bean = option(parent_id, cf["options"])
        if child_id:
            parent = next(o for o in cf["options"] if o["id"] == parent_id)
            bean["child"] = option(child_id, parent.get("children", []))
        return bean
    if kind == "userpicker":
        return user(st, value)
    if kind in ("labels",):
        return list(value)
    return value  # date string, number, text


def issue_fields(st, issue: dict, viewer: str | None = None) -> dict:
    key = issue["key"]
    pkey = issue["project"]
    base = st.base_url
    watchers = issue.get("watchers", [])
    voters = issue.get("voters", [])
    values = {
        "issuetype": issue_type(st, issue["issuetype"]),
        "timespent": None,
        "project": {k: v for k, v in project(st, pkey).items()
                    if k not in ("expand", "archived")},
        "fixVersions": [version(st, pkey, v) for v in issue.get("fixVersions", [])],
        "aggregatetimespent": None,
        "resolution": resolution(st, issue.get("resolution")),
        "resolutiondate": issue.get("resolutiondate"),
        "workratio": -1,
        "lastViewed": st.last_viewed.get((viewer, key)),
        "watches": {"self": f"{base}/rest/api/2/issue/{key}/watchers",
                    "watchCount": len(watchers), "isWatching": viewer in watchers},
        "created": issue["created"],
        "priority": priority(st, issue["priority"]),
        "labels": list(issue.get("labels") or []),
        "timeestimate": None,
        "aggregatetimeoriginalestimate": None,
        "versions": [version(st, pkey, v) for v in issue.get("versions", [])],
        "issuelinks": issue_links(st, issue, viewer),
        "assignee": user(st, issue.get("assignee")),
        "updated": issue["updated"],
        "status": status(st, issue["status"]),
        "components": [component(st, pkey, c) for c in issue.get("components", [])],
        "timeoriginalestimate": None,
        "description": issue.get("description") or None,
        "timetracking": {},
        "archiveddate": None,
        "attachment": [attachment(st, a) for a in st.attachments.values()
                       if a["issue"] == key],
        "aggregatetimeestimate": None,
        "summary": issue["summary"],
        "creator": user(st, issue.get("creator", issue.get("reporter"))),
        "subtasks": [_linked(st, i) for i in st.issues.values() if i.get("parent") == key],
        "reporter": user(st, issue.get("reporter")),
        "aggregateprogress": {"progress": 0, "total": 0},
        "environment": issue.get("environment"),
        "duedate": issue.get("duedate"),
        "progress": {"progress": 0, "total": 0},
        "comment": comments_page(st, issue),
        "votes": {"self": f"{base}/rest/api/2/issue/{key}/votes", "votes": len(voters),
                  "hasVoted": viewer in voters},
        "worklog": {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []},
        "archivedby": None,
    }
    custom = issue.get("custom", {})
    for cf in st.custom_fields.values():
        values[cf["id"]] = custom_value(st, cf, custom.get(cf["id"]))
    return values


def select_fields(st, spec: str | list | None, default: str = "*all") -> list[str]:
    """Jira's ``fields`` parameter: ``*all`` / ``*navigable`` / ids / ``-id``."""
    if spec is None or spec == "" or spec == []:
        items = [default]
    elif isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = [str(s).strip() for s in spec]
    catalogue = field_catalogue(st)
    known = [fid for fid, _, _, _ in catalogue]
    chosen: list[str] = []
    excluded = set()
    for item in items:
        if item in ("*all", "*navigable"):
            chosen.extend(fid for fid, _, _, nav in catalogue
                          if (nav or item == "*all") and fid not in chosen)
        elif item.startswith("-"):
            excluded.add(item[1:])
        elif item in known and item not in chosen:
            chosen.append(item)
    order = {fid: n for n, fid in enumerate(known)}
    return sorted((f for f in chosen if f not in excluded), key=order.get)


def parse_expand(spec) -> set[str]:
    if not spec:
        return set()
    if isinstance(spec, str):
        spec = spec.split(",")
    return {str(s).strip() for s in spec if str(s).strip()}


def issue(st, issue: dict, fields: list[str] | None = None, expand=(),
          viewer: str | None = None, editmeta=None, listed=ISSUE_EXPAND) -> dict:
    """IssueBean; ``expand`` adds ``renderedFields``, ``names``, ``schema``, ``editmeta``
    (``editmeta(st, issue, viewer)`` builds it) and ``changelog`` at the top level."""
    expand = set(expand) & set(SUPPORTED_EXPANDS)
    all_fields = issue_fields(st, issue, viewer)
    wanted = fields if fields is not None else select_fields(st, None)
    bean = {"expand": ",".join(e for e in listed if e not in expand),
            "id": issue["id"], "self": f"{st.base_url}/rest/api/2/issue/{issue['id']}",
            "key": issue["key"], "fields": {f: all_fields[f] for f in wanted}}
    if "renderedFields" in expand:
        bean["renderedFields"] = rendered_fields(st, issue, all_fields, wanted)
    if "names" in expand:
        bean["names"] = {fid: name for fid, name, _, _ in field_catalogue(st) if fid in wanted}
    if "schema" in expand:
        bean["schema"] = {fid: schema for fid, _, schema, _ in field_catalogue(st)
                          if fid in wanted}
    if "editmeta" in expand and editmeta is not None:
        bean["editmeta"] = editmeta(st, issue, viewer)
    if "changelog" in expand:
        bean["changelog"] = changelog(st, issue)
    return bean


def changelog(st, issue: dict) -> dict:
    histories = [{"id": h["id"], "author": user(st, h["author"]), "created": h["created"],
                  "items": [dict(it) for it in h["items"]]}
                 for h in issue.get("history", [])]
    return {"startAt": 0, "maxResults": len(histories), "total": len(histories),
            "histories": histories}


def display_time(text: str | None) -> str | None:
    """Jira's default display format for date-times (``dd/MMM/yy h:mm a``)."""
    if not text:
        return None
    dt = datetime.fromtimestamp(parse_jira_time(text), tz=UTC)
    return dt.strftime("%d/%b/%y ") + dt.strftime("%I:%M %p").lstrip("0")


def display_date(text: str | None) -> str | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d").strftime("%d/%b/%y")


def wiki_html(text: str | None) -> str | None:
    """A small wiki-markup renderer: paragraphs, ``*bold*``, ``_italic_`` (enough to show
    that rendered text is HTML, not what the user typed)."""
    if not text:
        return None if text is None else ""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    out = []
    for para in paragraphs:
        esc = html.escape(para, quote=False)
        esc = re.sub(r"(?<!\w)\*(\S[^*]*?)\*(?!\w)", r"<b>\1</b>", esc)
        esc = re.sub(r"(?<!\w)_(\S[^_]*?)_(?!\w)", r"<em>\1</em>", esc)
        out.append("<p>" + esc.replace("\n", "<br/>\n") + "</p>")
    return "".join(out)


def rendered_fields(st, issue: dict, values: dict, wanted: list[str]) -> dict:
    """``renderedFields``: HTML for text, display strings for dates, null for the rest."""
    out = {}
    for fid in wanted:
        v = values[fid]
        if fid in ("description", "environment"):
            out[fid] = wiki_html(v)
        elif fid in ("created", "updated", "resolutiondate", "lastViewed", "archiveddate"):
            out[fid] = display_time(v)
        elif fid == "duedate":
            out[fid] = display_date(v)
        elif fid == "comment":
            out[fid] = comments_page(st, issue, rendered=True)
        elif fid == "attachment":
            out[fid] = [dict(a, created=display_time(a["created"])) for a in v]
        elif fid == "worklog":
            out[fid] = v
        elif fid == "timetracking":
            out[fid] = {}
        else:
            out[fid] = None
    return out


def now(st) -> str:
    return jira_time(st.clock())
