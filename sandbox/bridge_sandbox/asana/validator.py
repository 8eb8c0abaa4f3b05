"""Check App Components responses against Asana's spec, the way Asana would reject them.

Asana renders a body it cannot use as "Something went wrong. Try again later."
(reference §10.1), so every response the bridge produces in tests goes through here.

Two layers:

1. JSON Schema from Asana's ``app_components_oas.yaml`` (OpenAPI 3.0, converted:
   ``nullable``, ``$ref`` into ``#/components/schemas``), as kept in ``schemas/`` (see
   :mod:`bridge_sandbox.asana.specs`). The spec's ``metadata.fields`` and
   ``metadata.footer`` carry no ``$ref`` (the allowed component schemas are named only in
   prose), so each item is checked against the schema picked by its ``type`` /
   ``footer_type`` (ARCHITECTURE §7).
2. The limits the spec states only in descriptions (reference §6, §10.13): 1-5 widget
   fields, 200-character title, 40-character field name and text, 30 form fields,
   50-character labels, 80-character option labels, 50/5/10 options for
   dropdown/radio/checkbox, 200/3000-character values, 50 typeahead items.

``validate(kind, body)`` raises :class:`ResponseInvalid` whose ``.path`` names the offending
place, e.g. ``metadata.fields[2].text``.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from bridge_sandbox.asana.specs import load_spec

# kind -> top-level schema name in the spec
KINDS = {
    "widget": "WidgetMetadataResponse",
    "form": "FormMetadataResponse",
    "typeahead": "TypeaheadListResponse",
    "attached": "AttachedResourceResponse",
    "ran_action": "RanActionResponse",
    "error": "BadRequestResponse",
}

# The spec's schema names are accepted as kinds too (all error bodies share one shape).
_BY_SCHEMA = {v: k for k, v in KINDS.items()} | {
    name: "error" for name in ("UnauthorizedResponse", "ForbiddenResponse", "NotFoundResponse",
                               "InternalServerErrorResponse")
}

WIDGET_FIELD_SCHEMAS = {
    "pill": "WidgetField-Pill",
    "text_with_icon": "WidgetField-TextWithIcon",
    "datetime_with_icon": "WidgetField-DatetimeWithIcon",
}
WIDGET_FOOTER_SCHEMAS = {
    "created": "WidgetFooter-Created",
    "updated": "WidgetFooter-Updated",
    "custom_text": "WidgetFooter-CustomText",
}
FORM_FIELD_SCHEMAS = {
    "single_line_text": "FormField-SingleLineText",
    "multi_line_text": "FormField-MultiLineText",
    "rich_text": "FormField-RichText",
    "dropdown": "FormField-Dropdown",
    "radio_button": "FormField-RadioButton",
    "checkbox": "FormField-Checkbox",
    "date": "FormField-Date",
    "datetime": "FormField-Datetime",
    "typeahead": "FormField-Typeahead",
    "static_text": "FormField-StaticText",
}

# Limits stated in the spec's prose (reference §6 and §10.13).
WIDGET_MIN_FIELDS, WIDGET_MAX_FIELDS = 1, 5
WIDGET_TITLE_MAX = 200
WIDGET_FIELD_TEXT_MAX = 40
FORM_MAX_FIELDS = 30
FORM_LABEL_MAX = 50
OPTION_LABEL_MAX = 80
MAX_OPTIONS = {"dropdown": 50, "radio_button": 5, "checkbox": 10}
VALUE_MAX = {"single_line_text": 200, "multi_line_text": 3000, "rich_text": 3000}
TYPEAHEAD_MAX_ITEMS = 50  # stated for rule typeaheads; reference §6.3 says keep to it everywhere

_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


class ResponseInvalid(ValueError):
    """A response Asana could not use. ``path`` locates the defect (``""`` = the root)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path or '<body>'}: {message}")


# --- OpenAPI 3.0 -> JSON Schema --------------------------------------------------------


def _convert(node):
    """Turn an OpenAPI 3.0 schema node into JSON Schema (draft 2020-12)."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    parts = node.get("allOf")
    if isinstance(parts, list) and any(_only_nullable(p) for p in parts):
        # The REST spec writes a nullable reference as ``allOf: [{$ref}, {nullable: true}]``
        # (e.g. ``TaskResponse.assignee``); read literally, null would fail the reference.
        rest = {k: v for k, v in node.items() if k != "allOf"}
        kept = [p for p in parts if not _only_nullable(p)]
        return _convert({**rest, "nullable": True, "allOf": kept} if kept else
                        {**rest, "nullable": True})
    out = {
        k: _convert(v)
        for k, v in node.items()
        if k not in ("nullable", "example", "readOnly", "x-insert-after") and not k.startswith("x-")
    }
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _only_nullable(part) -> bool:
    return isinstance(part, dict) and part.get("nullable") is True and "$ref" not in part \
        and "properties" not in part and "allOf" not in part


AC_SPEC = "app_components_oas.yaml"
REST_SPEC = "asana_oas.yaml"


@functools.lru_cache(maxsize=2)
def _schemas(spec: str = AC_SPEC) -> dict:
    return _convert(copy.deepcopy(load_spec(spec)["components"]["schemas"]))


@functools.lru_cache(maxsize=128)
def _validator(schema_name: str, spec: str = AC_SPEC) -> Draft202012Validator:
    schemas = _schemas(spec)
    if schema_name not in schemas:
        raise KeyError(f"no schema {schema_name!r} in {spec}")
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": {"schemas": schemas}}
    return Draft202012Validator(root)


def schema_properties(schema_name: str) -> set[str]:
    """Property names a component schema declares (used by ``strict`` checks)."""
    return set(_schemas()[schema_name].get("properties", {}))


# --- paths -------------------------------------------------------------------------------


def _join(base: str, part) -> str:
    if isinstance(part, int):
        return f"{base}[{part}]"
    return f"{base}.{part}" if base else str(part)


def _check_schema(schema_name: str, instance, base: str = "", spec: str = AC_SPEC) -> None:
    error = best_match(_validator(schema_name, spec).iter_errors(instance))
    if error is None:
        return
    path = base
    for p in error.absolute_path:
        path = _join(path, p)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            path = _join(path, missing[0])
            raise ResponseInvalid(path, "is required")
    raise ResponseInvalid(path, error.message)


# --- helpers -----------------------------------------------------------------------------


def _max_len(obj: dict, key: str, limit: int, base: str) -> None:
    value = obj.get(key)
    if isinstance(value, str) and len(value) > limit:
        raise ResponseInvalid(_join(base, key), f"is {len(value)} characters; the limit is {limit}")


def _iso_datetime(obj: dict, key: str, base: str, *, date_ok: bool = False) -> None:
    value = obj.get(key)
    if value is None or not isinstance(value, str):
        return
    if _ISO_DATETIME.match(value) or (date_ok and _ISO_DATE.match(value)):
        return
    raise ResponseInvalid(_join(base, key), f"{value!r} is not an ISO 8601 date-time")


def _url(obj: dict, key: str, base: str) -> None:
    value = obj.get(key)
    if isinstance(value, str) and not _URL.match(value):
        raise ResponseInvalid(_join(base, key), f"{value!r} is not an absolute http(s) URL")


def _strict_keys(obj: dict, schema_name: str, base: str, extra: Iterable[str] = ()) -> None:
    allowed = schema_properties(schema_name) | set(extra)
    for key in obj:
        if key not in allowed:
            raise ResponseInvalid(_join(base, key), f"is not a property of {schema_name}")


# --- per kind ----------------------------------------------------------------------------


def _widget(body: dict, strict: bool) -> None:
    meta = body["metadata"]
    _max_len(meta, "title", WIDGET_TITLE_MAX, "metadata")
    fields = meta["fields"]
    if not WIDGET_MIN_FIELDS <= len(fields) <= WIDGET_MAX_FIELDS:
        raise ResponseInvalid(
            "metadata.fields",
            f"has {len(fields)} fields; a widget needs {WIDGET_MIN_FIELDS} to {WIDGET_MAX_FIELDS}",
        )
    for i, field in enumerate(fields):
        base = f"metadata.fields[{i}]"
        _check_typed(field, base, "type", WIDGET_FIELD_SCHEMAS, "widget field type", strict)
        _max_len(field, "name", WIDGET_FIELD_TEXT_MAX, base)
        _max_len(field, "text", WIDGET_FIELD_TEXT_MAX, base)
        _iso_datetime(field, "datetime", base)
        _url(field, "icon_url", base)
    footer = meta["footer"]
    _check_typed(footer, "metadata.footer", "footer_type", WIDGET_FOOTER_SCHEMAS, "footer type",
                 strict)
    _iso_datetime(footer, "created_at", "metadata.footer")
    _iso_datetime(footer, "last_updated_at", "metadata.footer")
    _url(footer, "icon_url", "metadata.footer")
    _url(meta, "subicon_url", "metadata")
    if isinstance(meta.get("num_comments"), int) and meta["num_comments"] < 0:
        raise ResponseInvalid("metadata.num_comments", "must not be negative")


def _check_typed(item, base: str, type_key: str, schemas: dict, what: str,
                 strict: bool) -> str:
    """Validate ``item`` against the component schema its ``type_key`` names: the spec
    lists these schemas only in prose, so the choice has to be made here."""
    if not isinstance(item, dict):
        raise ResponseInvalid(base, "is not an object")
    kind = item.get(type_key)
    if kind not in schemas:
        raise ResponseInvalid(_join(base, type_key),
                              f"{kind!r} is not a {what} ({', '.join(schemas)})")
    _check_schema(schemas[kind], item, base)
    if strict:
        _strict_keys(item, schemas[kind], base)
    return kind


def _form(body: dict, strict: bool) -> None:
    meta = body["metadata"]
    fields = meta["fields"]
    if len(fields) > FORM_MAX_FIELDS:
        raise ResponseInvalid(
            "metadata.fields", f"has {len(fields)} fields; the limit is {FORM_MAX_FIELDS}"
        )
    _url(meta, "on_submit_callback", "metadata")
    _url(meta, "on_change_callback", "metadata")
    seen_ids: dict[str, int] = {}
    for i, field in enumerate(fields):
        base = f"metadata.fields[{i}]"
        ftype = _check_typed(field, base, "type", FORM_FIELD_SCHEMAS, "form field type", strict)
        fid = field["id"]
        if fid in seen_ids:
            raise ResponseInvalid(
                _join(base, "id"), f"{fid!r} repeats fields[{seen_ids[fid]}].id; ids must be unique"
            )
        seen_ids[fid] = i
        _max_len(field, "name", FORM_LABEL_MAX, base)
        if ftype in VALUE_MAX:
            _max_len(field, "value", VALUE_MAX[ftype], base)
        if ftype in MAX_OPTIONS:
            _options(field, ftype, base)
        if ftype == "date":
            _iso_datetime(field, "value", base, date_ok=True)
        if ftype == "datetime":
            _iso_datetime(field, "value", base)
        if ftype == "typeahead":
            _url(field, "typeahead_url", base)
        if field.get("is_watched") and not meta.get("on_change_callback"):
            raise ResponseInvalid(
                _join(base, "is_watched"), "a watched field needs metadata.on_change_callback"
            )


def _options(field: dict, ftype: str, base: str) -> None:
    options = field["options"]
    limit = MAX_OPTIONS[ftype]
    if not 1 <= len(options) <= limit:
        raise ResponseInvalid(
            _join(base, "options"), f"has {len(options)} options; {ftype} takes 1 to {limit}"
        )
    ids = []
    for j, option in enumerate(options):
        obase = f"{base}.options[{j}]"
        _max_len(option, "label", OPTION_LABEL_MAX, obase)
        _url(option, "icon_url", obase)
        if option["id"] in ids:
            raise ResponseInvalid(_join(obase, "id"), f"{option['id']!r} is not unique")
        ids.append(option["id"])
    value = field.get("value")
    if value is None:
        return
    chosen = value if ftype == "checkbox" else [value]
    for item in chosen:
        if item not in ids:
            raise ResponseInvalid(_join(base, "value"), f"{item!r} is not one of the option ids")


def _typeahead(body: dict, strict: bool) -> None:
    items = body["items"]
    if len(items) > TYPEAHEAD_MAX_ITEMS:
        raise ResponseInvalid(
            "items", f"has {len(items)} items; the limit is {TYPEAHEAD_MAX_ITEMS}"
        )
    for i, item in enumerate(items):
        _url(item, "icon_url", f"items[{i}]")
        if strict:
            _strict_keys(item, "TypeaheadItem", f"items[{i}]")


def _attached(body: dict, strict: bool) -> None:
    _url(body, "resource_url", "")


def _ran_action(body: dict, strict: bool) -> None:
    if body["action_result"] == "resources_created":
        created = body.get("resources_created")
        if not created:
            raise ResponseInvalid(
                "resources_created",
                "is required (non-empty) when action_result is resources_created",
            )
        for i, res in enumerate(created):
            _url(res, "resource_url", f"resources_created[{i}]")


def _error(body: dict, strict: bool) -> None:
    # The spec lists `error` without `required`; an error body without it shows the user
    # nothing, so the simulator insists on it (a choice, noted in the report).
    if not isinstance(body.get("error"), str) or not body["error"]:
        raise ResponseInvalid("error", "is required (the message shown to the user)")


_EXTRA = {
    "widget": _widget,
    "form": _form,
    "typeahead": _typeahead,
    "attached": _attached,
    "ran_action": _ran_action,
    "error": _error,
}


def validate(kind: str, body, *, strict: bool = False) -> None:
    """Raise :class:`ResponseInvalid` unless ``body`` is a valid ``kind`` response.

    ``kind`` is one of :data:`KINDS` (``widget``, ``form``, ``typeahead``, ``attached``,
    ``ran_action``, ``error``). ``strict`` also rejects properties the component schemas
    do not declare; Asana appears to tolerate them (reference §6.2, UNCONFIRMED), so it
    is off by default.
    """
    kind = _BY_SCHEMA.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {sorted(KINDS)}")
    if not isinstance(body, dict):
        raise ResponseInvalid("", "the body must be a JSON object")
    _check_schema(KINDS[kind], body)
    _EXTRA[kind](body, strict)


def is_valid(kind: str, body, *, strict: bool = False) -> bool:
    try:
        validate(kind, body, strict=strict)
    except ResponseInvalid:
        return False
    return True


def validate_rest(schema_name: str, instance) -> None:
    """Check a REST payload against a schema of ``asana_oas.yaml`` (e.g. ``TaskResponse``)."""
    _check_schema(schema_name, instance, spec=REST_SPEC)
