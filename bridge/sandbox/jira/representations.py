"""JSON shapes of Jira entities (reference jira-server.md §3.2, §3.3, §3.6, §3.7).

Every ``self``/icon URL is built from the configured base URL, as Jira does.
"""

from __future__ import annotations

from urllib.parse import quote

from bridge.sandbox.jira.state import jira_time

NAVIGABLE_FIELDS = ("summary", "description", "status", "priority", "assignee", "reporter",
                    "issuetype", "project", "created", "updated", "labels", "attachment")
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


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
            "avatarUrls": avatar_urls(base, "use", f"ownerId={quote(u['key'])}"),
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
    s = st.statuses[status_id]
    return {"self": f"{st.base_url}/rest/api/2/status/{s['id']}",
            "description": s["description"],
            "iconUrl": f"{st.base_url}/images/icons/statuses/{s['icon']}",
            "name": s["name"], "id": s["id"],
            "statusCategory": status_category(st, s["category"])}


def priority(st, priority_id: str) -> dict:
    p = st.priorities[priority_id]
    return {"self": f"{st.base_url}/rest/api/2/priority/{p['id']}",
            "iconUrl": f"{st.base_url}/images/icons/priorities/{p['icon']}",
            "name": p["name"], "id": p["id"]}


def issue_type(st, type_id: str) -> dict:
    t = st.issue_types[type_id]
    return {"self": f"{st.base_url}/rest/api/2/issuetype/{t['id']}", "id": t["id"],
            "description": t["description"],
            "iconUrl": f"{st.base_url}/secure/viewavatar?size=xsmall&avatarId={t['avatarId']}"
                       f"&avatarType=issuetype",
            "name": t["name"], "subtask": t["subtask"], "avatarId": t["avatarId"]}


def project(st, key: str, detailed: bool = False) -> dict:
    p = st.projects[key]
    base = st.base_url
    bean = {"expand": "description,lead,url,projectKeys",
            "self": f"{base}/rest/api/2/project/{p['id']}",
            "id": p["id"], "key": p["key"], "name": p["name"],
            "avatarUrls": avatar_urls(base, "project", f"pid={p['id']}"),
            "projectTypeKey": p["projectTypeKey"]}
    if detailed:
        bean.update({"description": p.get("description", ""), "lead": user(st, p["lead"]),
                     "issueTypes": [issue_type(st, t) for t in p["issueTypes"]],
                     "projectKeys": [p["key"]]})
    return bean


def attachment(st, att: dict) -> dict:
    base = st.base_url
    return {"self": f"{base}/rest/api/2/attachment/{att['id']}", "id": att["id"],
            "filename": att["filename"], "author": user(st, att["author"]),
            "created": att["created"], "size": att["size"], "mimeType": att["mimeType"],
            "content": f"{base}/secure/attachment/{att['id']}/{quote(att['filename'])}"}


def issue_fields(st, issue: dict) -> dict:
    return {
        "summary": issue["summary"],
        "description": issue.get("description") or None,
        "status": status(st, issue["status"]),
        "priority": priority(st, issue["priority"]),
        "assignee": user(st, issue.get("assignee")),
        "reporter": user(st, issue.get("reporter")),
        "issuetype": issue_type(st, issue["issuetype"]),
        "project": {k: v for k, v in project(st, issue["project"]).items() if k != "expand"},
        "created": issue["created"],
        "updated": issue["updated"],
        "labels": list(issue.get("labels") or []),
        "attachment": [attachment(st, a) for a in st.attachments.values()
                       if a["issue"] == issue["key"]],
    }


def select_fields(spec: str | list | None) -> list[str]:
    """Jira's ``fields`` parameter: ``*all`` / ``*navigable`` / names / ``-name``."""
    if spec is None or spec == "":
        items = ["*all"]
    elif isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = [str(s).strip() for s in spec]
    chosen: list[str] = []
    excluded = set()
    for item in items:
        if item in ("*all", "*navigable"):
            chosen.extend(f for f in NAVIGABLE_FIELDS if f not in chosen)
        elif item.startswith("-"):
            excluded.add(item[1:])
        elif item in NAVIGABLE_FIELDS and item not in chosen:
            chosen.append(item)
    return [f for f in chosen if f not in excluded]


def issue(st, issue: dict, fields: list[str] | None = None, expand: str = ISSUE_EXPAND) -> dict:
    all_fields = issue_fields(st, issue)
    wanted = fields if fields is not None else list(NAVIGABLE_FIELDS)
    return {"expand": expand, "id": issue["id"],
            "self": f"{st.base_url}/rest/api/2/issue/{issue['id']}", "key": issue["key"],
            "fields": {f: all_fields[f] for f in wanted}}


def now(st) -> str:
    return jira_time(st.clock())
