"""Jira create-metadata fields (``FieldMetaBean``, jira-server.md §3.7) as form fields, and
form values back as the ``fields`` of ``POST /rest/api/2/issue`` (§3.8).

A field's kind comes from its ``schema``: ``type`` (``string``, ``number``, ``option``,
``array``, ``priority``, ``user``, ``date``...), ``items`` for arrays, and ``system`` or
``custom`` (the plugin key of a custom field type). Supported kinds: text, number, single
and multi select, priority, components, versions, labels, user, date, date-time. Anything
else (cascading selects, time tracking, issue links...) is named on the form so the user
knows to fill it in Jira.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from ..asana import forms

CUSTOM = "com.atlassian.jira.plugin.system.customfieldtypes:"
HANDLED_APART = {"project", "issuetype", "summary", "description", "reporter", "attachment",
                 "issuelinks", "parent"}
PREFIX = "jira."  # form field id of a Jira field: "jira.customfield_10010"


class FieldValueError(ValueError):
    """A form value Jira would refuse; the message is for the user, keyed by field."""


@dataclass
class JiraField:
    id: str
    name: str
    required: bool
    kind: str | None  # None: not supported on the form
    has_default: bool = False
    allowed: list[dict] = field(default_factory=list)  # [{"id","label"}]
    custom: str = ""

    @property
    def form_id(self) -> str:
        return PREFIX + self.id

    @property
    def needs_typeahead(self) -> bool:
        """Users always; selects whose options do not fit a dropdown (50) or checkbox (10)."""
        if self.kind in ("user", "users"):
            return True
        if self.kind in ("select", "version", "priority"):
            return len(self.allowed) > forms.DROPDOWN_MAX
        return False


def _label(value: dict) -> str:
    return str(value.get("name") or value.get("value") or value.get("id"))


# Jira's ``schema.type`` of a single-valued field → the form's kind for it.
_SCALAR_KINDS = {"number": "number", "option": "select", "priority": "priority",
                 "version": "version", "user": "user", "date": "date", "datetime": "datetime"}


def classify(meta: dict) -> JiraField:
    schema = meta.get("schema") or {}
    ftype = schema.get("type")
    items = schema.get("items")
    system = schema.get("system") or ""
    custom = (schema.get("custom") or "").replace(CUSTOM, "")
    kind: str | None = None
    if ftype == "string":
        kind = "textarea" if system in ("description", "environment") or custom == "textarea" \
            else "text"
    elif ftype in _SCALAR_KINDS:
        kind = _SCALAR_KINDS[ftype]
    elif ftype == "array":
        kind = {"option": "multiselect", "component": "components", "version": "versions",
                "user": "users"}.get(items)
        if items == "string" and (system == "labels" or custom == "labels"):
            kind = "labels"
    allowed = [{"id": str(v.get("id")), "label": _label(v)}
               for v in (meta.get("allowedValues") or []) if isinstance(v, dict) and v.get("id")]
    if kind in ("multiselect", "components", "versions") and len(allowed) > forms.CHECKBOX_MAX:
        kind = None  # a checkbox holds 10 options; Asana has no multi-pick typeahead
    return JiraField(id=str(meta.get("fieldId") or meta.get("key") or ""),
                     name=str(meta.get("name") or meta.get("fieldId")),
                     required=bool(meta.get("required")), kind=kind,
                     has_default=bool(meta.get("hasDefaultValue")), allowed=allowed,
                     custom=custom)


def form_fields(metas: list[dict], *, include_optional: bool = False) -> tuple[
        list[JiraField], list[JiraField]]:
    """(fields to show, required fields of unsupported kinds). Required fields without a
    default are shown; with ``include_optional`` (rule forms) the others too."""
    shown, unsupported = [], []
    for meta in metas:
        f = classify(meta)
        if not f.id or f.id in HANDLED_APART:
            continue
        must = f.required and not f.has_default
        if f.kind is None:
            if must:
                unsupported.append(f)
            continue
        if must or include_optional:
            shown.append(f)
    shown.sort(key=lambda f: (not (f.required and not f.has_default), f.name.lower()))
    return shown, unsupported


def to_form(f: JiraField, value, *, typeahead_url: str, required: bool | None = None,
            error: str | None = None) -> dict:
    """The form field for ``f`` with the current ``value`` (as Asana sent it back)."""
    req = (f.required and not f.has_default) if required is None else required
    kw = {"required": req, "error": error}
    label = f.name
    if f.needs_typeahead:
        return forms.typeahead(f.form_id, label, typeahead_url,
                               value if isinstance(value, dict) else None,
                               placeholder="Type to search", **kw)
    options = [forms.option(o["id"], o["label"]) for o in f.allowed]
    if f.kind in ("select", "priority", "version"):
        return forms.dropdown(f.form_id, label, options, value, **kw)
    if f.kind in ("multiselect", "components", "versions"):
        return forms.checkbox(f.form_id, label, options, value, **kw)
    if f.kind == "date":
        return forms.date(f.form_id, label, value, **kw)
    if f.kind == "datetime":
        return forms.datetime(f.form_id, label, value, **kw)
    if f.kind == "textarea":
        return forms.multi_line(f.form_id, label, value, **kw)
    placeholder = {"number": "A number", "labels": "Labels, separated by spaces"}.get(f.kind)
    return forms.single_line(f.form_id, label, value, placeholder=placeholder, **kw)


def is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def to_jira(f: JiraField, value):
    """A submitted form value as Jira's ``fields`` value (§3.8); ``FieldValueError`` with a
    sentence when Jira would not accept it."""
    if isinstance(value, dict):  # a typeahead item
        value = value.get("value")
    kind = f.kind
    if kind in ("text", "textarea"):
        return str(value)
    if kind == "number":
        try:
            number = float(str(value).strip().replace(",", "."))
        except ValueError:
            raise FieldValueError("Enter a number.") from None
        if not math.isfinite(number):  # "inf", "NaN", "1e400": float() reads them, JSON not
            raise FieldValueError("Enter a number.")
        return int(number) if number.is_integer() else number
    if kind in ("select", "priority", "version"):
        return {"id": str(value)}
    if kind in ("multiselect", "components", "versions"):
        values = value if isinstance(value, list) else [value]
        return [{"id": str(v)} for v in values]
    if kind == "labels":
        labels = [x for x in re.split(r"[\s,]+", str(value)) if x]
        return labels
    if kind == "user":
        return {"name": str(value)}
    if kind == "users":
        return [{"name": str(value)}]
    if kind == "date":
        text = str(value).strip()
        if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
            raise FieldValueError("Enter a date.")
        return text[:10]
    if kind == "datetime":
        text = str(value).strip().replace("Z", "+00:00")
        try:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is not None:  # year 1 at +01:00 is before the calendar in UTC
                moment = moment.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            raise FieldValueError("Enter a date and time.") from None
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    raise FieldValueError("This kind of field cannot be set from Asana.")
