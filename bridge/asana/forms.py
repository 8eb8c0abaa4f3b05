"""JSON shapes of App Components forms (``FormMetadataResponse``), within Asana's limits.

Reference: asana-app-components.md §6.2: template ``form_metadata_v0``; ``metadata`` needs
``title`` and ``fields`` (at most 30; we stay at 20 or fewer); a field's ``name`` is at most
50 characters; ``single_line_text`` values ≤ 200, ``multi_line_text`` ≤ 3000; dropdowns at
most 50 options, checkboxes 10; option labels ≤ 80; a ``typeahead`` needs ``typeahead_url``;
without ``on_submit_callback`` the submit button is disabled. §10: an over-long text or an
unknown property value makes Asana show "Something went wrong", so builders clip.
"""

from __future__ import annotations

TEMPLATE = "form_metadata_v0"
MAX_FIELDS = 20
NAME_MAX = 50
LABEL_MAX = 80
SINGLE_LINE_MAX = 200
MULTI_LINE_MAX = 3000
DROPDOWN_MAX = 50
CHECKBOX_MAX = 10


def clip(text, limit: int) -> str:
    value = str(text or "")
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def name(text) -> str:
    return clip(" ".join(str(text or "").split()), NAME_MAX)


def option(option_id, label) -> dict:
    return {"id": str(option_id), "label": clip(" ".join(str(label).split()), LABEL_MAX) or "–"}


def _field(kind: str, field_id: str, label: str | None, *, required=False, watched=False,
           error=None, **extra) -> dict:
    field = {"type": kind, "id": field_id}
    if label is not None:
        field["name"] = name(label)
    if required:
        field["is_required"] = True
    if watched:
        field["is_watched"] = True
    if error:
        field["error"] = str(error)
    field.update({k: v for k, v in extra.items() if v is not None})
    return field


def single_line(field_id, label, value=None, *, placeholder=None, **kw) -> dict:
    return _field("single_line_text", field_id, label, placeholder=placeholder,
                  value=None if value is None else clip(value, SINGLE_LINE_MAX), **kw)


def multi_line(field_id, label, value=None, *, placeholder=None, **kw) -> dict:
    return _field("multi_line_text", field_id, label, placeholder=placeholder,
                  value=None if value is None else clip(value, MULTI_LINE_MAX), **kw)


def dropdown(field_id, label, options: list[dict], value=None, **kw) -> dict:
    options = options[:DROPDOWN_MAX]
    ids = {o["id"] for o in options}
    return _field("dropdown", field_id, label, options=options,
                  value=str(value) if value is not None and str(value) in ids else None, **kw)


def checkbox(field_id, label, options: list[dict], value=None, **kw) -> dict:
    options = options[:CHECKBOX_MAX]
    ids = {o["id"] for o in options}
    chosen = [str(v) for v in (value or []) if str(v) in ids]
    return _field("checkbox", field_id, label, options=options, value=chosen or None, **kw)


def date(field_id, label, value=None, **kw) -> dict:
    return _field("date", field_id, label, value=value, **kw)


def datetime(field_id, label, value=None, **kw) -> dict:
    return _field("datetime", field_id, label, value=value, **kw)


def typeahead(field_id, label, url: str, value=None, **kw) -> dict:
    return _field("typeahead", field_id, label, typeahead_url=url, value=value, **kw)


def static_text(field_id, text, *, style: str | None = None) -> dict:
    return {"type": "static_text", "id": field_id, "name": name(text),
            **({"style": style} if style else {})}


def form(title: str, fields: list[dict], *, on_change: str | None = None,
         on_submit: str | None = None) -> dict:
    metadata = {"title": clip(title, 100), "fields": fields[:MAX_FIELDS]}
    if on_change:
        metadata["on_change_callback"] = on_change
    if on_submit:
        metadata["on_submit_callback"] = on_submit
    return {"template": TEMPLATE, "metadata": metadata}


def typeahead_item(title, value, subtitle=None) -> dict:
    item = {"title": clip(title, 200) or str(value), "value": str(value)}
    if subtitle:
        item["subtitle"] = clip(subtitle, 200)
    return item


def chosen(value) -> str | None:
    """The option id a single-choice field (dropdown, radio, typeahead) was submitted with
    (§6.2): the string itself, or a typeahead item's ``value``. A list or anything else
    is no choice (Asana's schema has none, and a list is no dictionary key)."""
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) and value else None
