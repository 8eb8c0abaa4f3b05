"""The response validator: broken bodies are rejected with the path of the defect, correct
ones (including bodies assembled from the spec's own examples) pass."""

from __future__ import annotations

import copy

import pytest
from bridge_sandbox.asana.specs import load_spec
from bridge_sandbox.asana.validator import (
    FORM_FIELD_SCHEMAS,
    WIDGET_FIELD_SCHEMAS,
    WIDGET_FOOTER_SCHEMAS,
    ResponseInvalid,
    is_valid,
    validate,
)

WIDGET = {
    "template": "summary_with_details_v0",
    "metadata": {
        "title": "EX-1 Login fails",
        "subtitle": "Jira Server · Bug",
        "fields": [
            {"type": "pill", "name": "Status", "text": "In Progress", "color": "blue"},
            {"type": "text_with_icon", "name": "Assignee", "text": "Alice"},
            {"type": "datetime_with_icon", "name": "Due", "datetime": "2026-12-01T00:00:00.000Z"},
        ],
        "footer": {"footer_type": "updated", "last_updated_at": "2026-11-20T10:00:00.000Z"},
        "num_comments": 3,
    },
}

FORM = {
    "template": "form_metadata_v0",
    "metadata": {
        "title": "Create a Jira issue",
        "on_submit_callback": "https://bridge.example.com/asana/form/submit",
        "on_change_callback": "https://bridge.example.com/asana/form/change",
        "fields": [
            {"type": "static_text", "id": "intro", "name": "Create an issue", "style": "header"},
            {"type": "dropdown", "id": "project", "name": "Project", "is_watched": True,
             "options": [{"id": "EX", "label": "Example"}], "value": "EX"},
            {"type": "single_line_text", "id": "summary", "name": "Summary", "value": "x"},
            {"type": "multi_line_text", "id": "m", "name": "Notes"},
            {"type": "rich_text", "id": "description", "name": "Description"},
            {"type": "radio_button", "id": "prio", "name": "Priority",
             "options": [{"id": "hi", "label": "High", "sub_label": "urgent"}]},
            {"type": "checkbox", "id": "copy", "name": "Copy",
             "options": [{"id": "yes", "label": "Copy attachments"}], "value": ["yes"]},
            {"type": "date", "id": "due", "name": "Due", "value": "2026-12-01"},
            {"type": "datetime", "id": "at", "name": "At", "value": None},
            {"type": "typeahead", "id": "assignee", "name": "Assignee",
             "typeahead_url": "https://bridge.example.com/asana/typeahead/assignee"},
        ],
    },
}

TYPEAHEAD = {"header": "Issues", "items": [{"title": "EX-1 Login fails", "value": "EX-1"}]}
ATTACHED = {"resource_name": "EX-1", "resource_url": "https://jira.example.com/browse/EX-1"}
RAN = {"action_result": "resources_created", "resources_created": [ATTACHED]}


def _broken(base, mutate):
    body = copy.deepcopy(base)
    mutate(body)
    return body


def _set(path, value):
    def mutate(body):
        node = body
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _delete(path):
    def mutate(body):
        node = body
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


F = ["metadata", "fields"]

BROKEN = [
    ("widget", WIDGET, _set(F + [1, "type"], "progress_bar"), "metadata.fields[1].type"),
    ("widget", WIDGET, _set(F + [0, "text"], "x" * 41), "metadata.fields[0].text"),
    ("widget", WIDGET, _set(F + [0, "name"], "n" * 41), "metadata.fields[0].name"),
    ("widget", WIDGET, _set(F, [WIDGET["metadata"]["fields"][0]] * 6), "metadata.fields"),
    ("widget", WIDGET, _set(F, []), "metadata.fields"),
    ("widget", WIDGET, _delete(["metadata", "title"]), "metadata.title"),
    ("widget", WIDGET, _set(["metadata", "title"], "t" * 201), "metadata.title"),
    ("widget", WIDGET, _set(F + [0, "color"], "brown"), "metadata.fields[0].color"),
    ("widget", WIDGET, _delete(F + [0, "color"]), "metadata.fields[0].color"),
    ("widget", WIDGET, _set(["metadata", "footer", "footer_type"], "modified"),
     "metadata.footer.footer_type"),
    ("widget", WIDGET, _delete(["metadata", "footer", "last_updated_at"]),
     "metadata.footer.last_updated_at"),
    ("widget", WIDGET, _set(["metadata", "footer"], "Updated today"), "metadata.footer"),
    ("widget", WIDGET, _delete(["metadata", "footer"]), "metadata.footer"),
    ("widget", WIDGET, _set(F + [2, "datetime"], "yesterday"), "metadata.fields[2].datetime"),
    ("widget", WIDGET, _set(["template"], "summary_v1"), "template"),
    ("widget", WIDGET, _set(["metadata", "num_comments"], "3"), "metadata.num_comments"),
    ("form", FORM, _delete(F + [2, "id"]), "metadata.fields[2].id"),
    ("form", FORM, _set(F + [1, "options"], [{"id": str(i), "label": "o"} for i in range(51)]),
     "metadata.fields[1].options"),
    ("form", FORM, _set(F + [5, "options"], [{"id": str(i), "label": "o"} for i in range(6)]),
     "metadata.fields[5].options"),
    ("form", FORM, _set(F + [6, "options"], [{"id": str(i), "label": "o"} for i in range(11)]),
     "metadata.fields[6].options"),
    ("form", FORM, _set(F + [1, "options"], []), "metadata.fields[1].options"),
    ("form", FORM, _set(F + [1, "options", 0, "label"], "l" * 81),
     "metadata.fields[1].options[0].label"),
    ("form", FORM, _set(F + [2, "value"], "v" * 201), "metadata.fields[2].value"),
    ("form", FORM, _set(F + [4, "value"], "v" * 3001), "metadata.fields[4].value"),
    ("form", FORM, _set(F + [2, "name"], "n" * 51), "metadata.fields[2].name"),
    ("form", FORM, _set(F + [3, "type"], "textarea"), "metadata.fields[3].type"),
    ("form", FORM, _delete(F + [0, "name"]), "metadata.fields[0].name"),
    ("form", FORM, _delete(F + [9, "typeahead_url"]), "metadata.fields[9].typeahead_url"),
    ("form", FORM, _set(F + [9, "value"], "EX-1"), "metadata.fields[9].value"),
    ("form", FORM, _set(F + [6, "value"], "yes"), "metadata.fields[6].value"),
    ("form", FORM, _set(F + [1, "value"], "NOPE"), "metadata.fields[1].value"),
    ("form", FORM, _set(F + [2, "width"], "wide"), "metadata.fields[2].width"),
    ("form", FORM, _set(F + [3, "id"], "summary"), "metadata.fields[3].id"),
    ("form", FORM, _set(F, [{"type": "static_text", "id": str(i), "name": "s"} for i in range(31)]),
     "metadata.fields"),
    ("form", FORM, _delete(["metadata", "on_change_callback"]), "metadata.fields[1].is_watched"),
    ("form", FORM, _set(["template"], "summary_with_details_v0"), "template"),
    ("typeahead", TYPEAHEAD, _set(["items", 0], {"name": "EX-1", "key": "EX-1"}), "items[0].title"),
    ("typeahead", TYPEAHEAD, _set(["items", 0, "value"], 1), "items[0].value"),
    ("typeahead", TYPEAHEAD, _set(["items"], [{"title": "t", "value": "v"}] * 51), "items"),
    ("typeahead", TYPEAHEAD, _delete(["items"]), "items"),
    ("attached", ATTACHED, _delete(["resource_url"]), "resource_url"),
    ("attached", ATTACHED, _set(["resource_url"], "EX-1"), "resource_url"),
    ("ran_action", RAN, _set(["action_result"], "created"), "action_result"),
    ("ran_action", RAN, _delete(["resources_created"]), "resources_created"),
    ("ran_action", RAN, _set(["resources_created", 0], {"resource_name": "x"}),
     "resources_created[0].resource_url"),
    ("error", {"error": "x"}, _set(["error"], {"message": "x"}), "error"),
]


@pytest.mark.parametrize(
    "kind,base,mutate,path", BROKEN, ids=[f"{b[0]}:{b[3]}:{i}" for i, b in enumerate(BROKEN)]
)
def test_broken_body_rejected_with_path(kind, base, mutate, path):
    validate(kind, base)  # the unbroken body is fine ...
    with pytest.raises(ResponseInvalid) as info:
        validate(kind, _broken(base, mutate))  # ... and the defect is caught
    assert info.value.path == path, str(info.value)


def test_defect_count_is_at_least_ten():
    assert len({(k, p) for k, _, _, p in BROKEN}) >= 10


@pytest.mark.parametrize(
    "kind,body", [("widget", WIDGET), ("form", FORM), ("typeahead", TYPEAHEAD),
                  ("attached", ATTACHED), ("ran_action", RAN),
                  ("ran_action", {"action_result": "ok"}),
                  ("error", {"error": "Not found."})]
)
def test_correct_bodies_pass(kind, body):
    validate(kind, body)
    assert is_valid(kind, body)


def test_every_pill_colour_and_footer_passes():
    colours = ["none", "red", "orange", "yellow-orange", "yellow", "yellow-green", "green",
               "blue-green", "aqua", "blue", "indigo", "purple", "magenta", "hot-pink", "pink",
               "cool-gray"]
    for colour in colours:
        validate("widget", _broken(WIDGET, _set(F + [0, "color"], colour)))
    for footer in ({"footer_type": "created", "created_at": "2026-01-01T00:00:00Z"},
                   {"footer_type": "custom_text", "text": "Synced by the bridge"}):
        validate("widget", _broken(WIDGET, _set(["metadata", "footer"], footer)))


def test_strict_mode_rejects_undeclared_properties():
    body = _broken(WIDGET, _set(F + [0, "colour"], "blue"))
    validate("widget", body)
    with pytest.raises(ResponseInvalid) as info:
        validate("widget", body, strict=True)
    assert info.value.path == "metadata.fields[0].colour"


# --- bodies assembled from the spec's own `example` values -----------------------------


def _example(schema, schemas):
    if "$ref" in schema:
        return _example(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if "allOf" in schema:
        merged = {}
        for part in schema["allOf"]:
            merged.update(_example(part, schemas) or {})
        return merged
    if "example" in schema:
        return schema["example"]
    if schema.get("type") == "array":
        return [_example(schema.get("items", {}), schemas)]
    if schema.get("type") == "object" or "properties" in schema:
        return {k: _example(v, schemas) for k, v in schema.get("properties", {}).items()}
    return None


def _spec_examples():
    schemas = load_spec()["components"]["schemas"]
    widget_fields = [_example(schemas[s], schemas) for s in WIDGET_FIELD_SCHEMAS.values()]
    footers = [_example(schemas[s], schemas) for s in WIDGET_FOOTER_SCHEMAS.values()]
    form_fields = [_example(schemas[s], schemas) for s in FORM_FIELD_SCHEMAS.values()]
    return schemas, widget_fields, footers, form_fields


def test_spec_examples_are_accepted():
    schemas, widget_fields, footers, form_fields = _spec_examples()
    for footer in footers:
        body = {"template": "summary_with_details_v0",
                "metadata": {"title": "Status", "fields": widget_fields, "footer": footer}}
        validate("widget", body)
    for field in form_fields:
        field["id"] = field["type"] + "_1"  # the examples share ids across types
        # dropdown / radio examples pick option ids the option examples do not declare
        if "options" in field and field.get("value") is not None:
            ids = [o["id"] for o in field["options"]]
            field["value"] = ids if field["type"] == "checkbox" else ids[0]
    form = {"template": "form_metadata_v0",
            "metadata": {"title": "Create New Issue", "fields": form_fields,
                         "on_submit_callback": "https://www.example.com/on_submit",
                         "on_change_callback": "https://www.example.com/on_change"}}
    validate("form", form)
    validate("typeahead", _example(schemas["TypeaheadListResponse"], schemas))
    validate("attached", _example(schemas["AttachedResourceResponse"], schemas))
    error_example = schemas["RanActionResponse"]["properties"]["error"]["example"]
    validate("ran_action", {"action_result": "ok", "error": error_example})
    for name in ("BadRequestResponse", "UnauthorizedResponse", "NotFoundResponse"):
        validate("error", _example(schemas[name], schemas))


def test_schema_names_work_as_kinds():
    validate("WidgetMetadataResponse", WIDGET)
    validate("NotFoundResponse", {"error": "Not found."})
    with pytest.raises(ResponseInvalid):
        validate("TypeaheadListResponse", {"items": [{"title": "x"}]})
    with pytest.raises(ValueError):
        validate("widgets", WIDGET)
