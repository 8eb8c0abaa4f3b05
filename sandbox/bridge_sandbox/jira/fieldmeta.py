"""Create screens: field metadata (createmeta, editmeta) and Jira's checks on create.

Each project lists, per issue type, the system fields its create screen adds to the base
set (``createScreens`` in the fixture) and each custom field says on which
``PROJECT:TYPEID`` screens it sits and whether it is required there.  Metadata shapes
follow ``FieldMetaBean`` (reference jira-server.md §3.7; 10.3 OpenAPI): ``schema`` with
``system`` or ``custom``/``customId``, ``allowedValues``, ``autoCompleteUrl``,
``operations``.  Errors on create are keyed by field id with Jira's wording (§3.8;
docs/jira-server.md §9 "Create errors").
"""

from __future__ import annotations

from datetime import datetime

from bridge_sandbox.jira import representations as rep

BASE_FIELDS = ("summary", "issuetype", "project", "description", "priority", "assignee",
               "labels")
SYSTEM_EXTRAS = ("components", "versions", "fixVersions", "duedate", "environment")
_SYSTEM_NAMES = {fid: name for fid, name, _, _ in rep.SYSTEM_FIELDS}


def _meta(field_id, name, required, schema, operations=("set",), **extra) -> dict:
    has_default = extra.pop("hasDefaultValue", False)
    return {"required": required, "schema": schema, "name": name, "fieldId": field_id,
            **({"autoCompleteUrl": extra.pop("autoCompleteUrl")}
               if "autoCompleteUrl" in extra else {}),
            "hasDefaultValue": has_default, "operations": list(operations), **extra}


def _option_bean(st, o: dict, with_children: bool = False) -> dict:
    bean = {"self": f"{st.base_url}/rest/api/2/customFieldOption/{o['id']}",
            "value": o["value"], "id": o["id"], "disabled": o.get("disabled", False)}
    if with_children and o.get("children"):
        bean["children"] = [_option_bean(st, c) for c in o["children"]
                            if not c.get("disabled")]
    return bean


def screen_custom_fields(st, project: dict, type_id: str) -> list[tuple[dict, bool]]:
    where = f"{project['key']}:{type_id}"
    return [(cf, cf["screens"][where] == "required") for cf in st.custom_fields.values()
            if where in cf.get("screens", {})]


def screen_system_extras(project: dict, type_id: str) -> dict[str, bool]:
    extras = project.get("createScreens", {}).get(type_id, {})
    return {fid: flag == "required" for fid, flag in extras.items()}


def custom_meta(st, project: dict, cf: dict, required: bool) -> dict:
    base = st.base_url
    schema = rep.custom_schema(cf)
    kind = cf["kind"]
    extra: dict = {}
    ops: tuple = ("set",)
    if kind in ("select", "multiselect", "cascadingselect"):
        extra["allowedValues"] = [_option_bean(st, o, kind == "cascadingselect")
                                  for o in cf["options"] if not o.get("disabled")]
    if kind in ("multiselect", "labels"):
        ops = ("add", "set", "remove")
    if kind == "userpicker":
        extra["autoCompleteUrl"] = (f"{base}/rest/api/1.0/users/picker?fieldName={cf['id']}"
                                    f"&fieldConfigId={schema['customId'] + 100}"
                                    f"&projectId={project['id']}&showAvatar=true&query=")
    if kind == "labels":
        extra["autoCompleteUrl"] = (f"{base}/rest/api/1.0/labels/suggest?customFieldId="
                                    f"{schema['customId']}&query=")
    return _meta(cf["id"], cf["name"], required, schema, ops, **extra)


def create_fields(st, project: dict, type_id: str) -> list[dict]:
    """FieldMetaBeans of the create screen of ``type_id`` in ``project``."""
    base = st.base_url
    pkey = project["key"]

    def system(fid):
        return dict(next(s for f, _, s, _ in rep.SYSTEM_FIELDS if f == fid), system=fid)

    out = [
        _meta("summary", "Summary", True, system("summary")),
        _meta("issuetype", "Issue Type", True, system("issuetype"), operations=(),
              allowedValues=[rep.issue_type(st, type_id)]),
        _meta("project", "Project", True, system("project"),
              allowedValues=[{k: v for k, v in rep.project(st, pkey).items()
                              if k not in ("expand", "archived")}]),
        _meta("description", "Description", False, system("description")),
        _meta("priority", "Priority", False, system("priority"),
              allowedValues=[rep.priority(st, p) for p in st.priorities],
              hasDefaultValue=True, defaultValue=rep.priority(st, "3")),
        _meta("assignee", "Assignee", False, system("assignee"),
              autoCompleteUrl=f"{base}/rest/api/latest/user/assignable/search?"
                              f"issueKey=null&username="),
        _meta("labels", "Labels", False, system("labels"),
              operations=("add", "set", "remove"),
              autoCompleteUrl=f"{base}/rest/api/1.0/labels/suggest?query="),
    ]
    for fid, required in screen_system_extras(project, type_id).items():
        name = _SYSTEM_NAMES[fid]
        if fid == "components":
            out.append(_meta(fid, name, required, system(fid), ("add", "set", "remove"),
                             allowedValues=[rep.component(st, pkey, c["id"])
                                            for c in project.get("components", [])]))
        elif fid in ("versions", "fixVersions"):
            out.append(_meta(fid, name, required, system(fid), ("set", "add", "remove"),
                             allowedValues=[rep.version(st, pkey, v["id"], detailed=True)
                                            for v in project.get("versions", [])
                                            if not v.get("archived")]))
        else:
            out.append(_meta(fid, name, required, system(fid)))
    for cf, required in screen_custom_fields(st, project, type_id):
        out.append(custom_meta(st, project, cf, required))
    return out


def edit_meta(st, issue: dict, viewer: str | None) -> dict:
    """``editmeta``: the fields the viewer may edit (none without Edit Issues)."""
    project = st.projects[issue["project"]]
    if not st.has_permission(viewer, project["key"], "EDIT_ISSUES"):
        return {"fields": {}}
    metas = [m for m in create_fields(st, project, issue["issuetype"])
             if m["fieldId"] != "project"]
    return {"fields": {m["fieldId"]: {k: v for k, v in m.items()
                                       if k not in ("hasDefaultValue", "defaultValue")}
                       for m in metas}}


# -- checks on create (reference §3.8) -------------------------------------------------------

def _is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _valid_date(text) -> bool:
    try:
        datetime.strptime(str(text), "%Y-%m-%d")
        return True
    except ValueError:
        return False


def _option(options: list[dict], ref) -> tuple[str | None, str | None]:
    """Resolve ``{"id": …}`` or ``{"value": …}``; returns (option id, error)."""
    if not isinstance(ref, dict):
        return None, "Could not find valid 'id' or 'value' in the Parent Option object."
    if "id" in ref:
        o = next((o for o in options if o["id"] == str(ref["id"])
                  and not o.get("disabled")), None)
        return (o["id"], None) if o else (None, f"Option id '{ref['id']}' is not valid")
    if "value" in ref:
        o = next((o for o in options if o["value"] == ref["value"]
                  and not o.get("disabled")), None)
        return (o["id"], None) if o else (None, f"Option value '{ref['value']}' is not valid")
    return None, "Could not find valid 'id' or 'value' in the Parent Option object."


def _custom_value(st, cf: dict, value) -> tuple[object, str | None]:
    kind = cf["kind"]
    if kind == "select":
        return _option(cf["options"], value)
    if kind == "multiselect":
        if not isinstance(value, list):
            return None, "data was not an array"
        ids = []
        for ref in value:
            opt, err = _option(cf["options"], ref)
            if err:
                return None, err
            ids.append(opt)
        return ids, None
    if kind == "cascadingselect":
        parent, err = _option(cf["options"], value)
        if err:
            return None, err
        child = None
        if isinstance(value.get("child"), dict):
            children = next(o for o in cf["options"] if o["id"] == parent).get("children", [])
            child, err = _option(children, value["child"])
            if err:
                return None, err
        return [parent, child], None
    if kind == "userpicker":
        name = value.get("name") if isinstance(value, dict) else None
        if name not in st.users:
            return None, f"User '{name}' was not found in the system."
        return name, None
    if kind == "datepicker":
        if not _valid_date(value):
            return None, f"Error parsing date string: {value}"
        return value, None
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, "Operation value must be a number"
        return value, None
    if kind == "textfield":
        if not isinstance(value, str):
            return None, "Operation value must be a string"
        if len(value) > 255:
            return None, ("The entered text is too long. It exceeds the allowed limit of "
                          "255 characters.")
        return value, None
    if kind == "labels":
        if not isinstance(value, list) or any(not isinstance(x, str) or " " in x
                                              for x in value):
            return None, "The label must not contain spaces."
        return list(value), None
    return None, "unsupported"


def _refs(items, table: list[dict], what: str) -> tuple[list[str], str | None]:
    if not isinstance(items, list):
        return [], "data was not an array"
    ids = []
    for ref in items:
        ref = ref if isinstance(ref, dict) else {}
        if "id" in ref:
            found = next((t for t in table if t["id"] == str(ref["id"])), None)
            if found is None:
                return [], f"{what} with id '{ref['id']}' does not exist."
        elif "name" in ref:
            found = next((t for t in table if t["name"] == ref["name"]), None)
            if found is None:
                return [], f"{what} name '{ref['name']}' is not valid"
        else:
            return [], f"Could not find valid 'id' or 'name' in {what.lower()} object."
        ids.append(found["id"])
    return ids, None


def check_screen_fields(st, project: dict, type_id: str, fields: dict
                        ) -> tuple[dict, dict[str, str]]:
    """Validate the screen's extra system fields and custom fields of a create request.

    Returns (values to store, errors keyed by field id).
    """
    values: dict = {"custom": {}}
    errors: dict[str, str] = {}
    for fid, required in screen_system_extras(project, type_id).items():
        value = fields.get(fid)
        if _is_empty(value):
            if required:
                errors[fid] = f"{_SYSTEM_NAMES[fid]} is required."
            continue
        if fid == "components":
            ids, err = _refs(value, project.get("components", []), "Component")
        elif fid in ("versions", "fixVersions"):
            ids, err = _refs(value, project.get("versions", []), "Version")
        elif fid == "duedate":
            ids, err = (value, None) if _valid_date(value) else (
                None, f"Error parsing date string: {value}")
        else:
            ids, err = (value, None) if isinstance(value, str) else (
                None, "Operation value must be a string")
        if err:
            errors[fid] = err
        else:
            values[fid] = ids
    for cf, required in screen_custom_fields(st, project, type_id):
        value = fields.get(cf["id"])
        if _is_empty(value):
            if required:
                errors[cf["id"]] = f"{cf['name']} is required."
            continue
        stored, err = _custom_value(st, cf, value)
        if err:
            errors[cf["id"]] = err
        else:
            values["custom"][cf["id"]] = stored
    return values, errors


def on_screen(st, project: dict, type_id: str) -> set[str]:
    return (set(BASE_FIELDS) | set(screen_system_extras(project, type_id))
            | {cf["id"] for cf, _ in screen_custom_fields(st, project, type_id)})
