"""JSON shapes of App Components responses, built to Asana's limits (Flask-free).

Reference: asana-app-components.md §6.1 (``WidgetMetadataResponse``: template
``summary_with_details_v0``, 1 to 5 fields of type ``pill`` / ``text_with_icon`` /
``datetime_with_icon``, a footer object keyed by ``footer_type``) and §10.1/§10.13 (a
missing required property, an unknown enum value or an over-long text makes Asana show
"Something went wrong"). So every builder here clips texts to the documented lengths
and refuses values Asana would reject, instead of letting a long Jira summary or an odd
icon URL break the widget.
"""

from __future__ import annotations

import datetime as dt
import re

WIDGET_TEMPLATE = "summary_with_details_v0"
TITLE_MAX = 200
FIELD_TEXT_MAX = 40  # a field's `name` and `text`
MAX_FIELDS = 5

# §6.1 `pill.color` enum, in the spec's order.
PILL_COLORS = (
    "none", "red", "orange", "yellow-orange", "yellow", "yellow-green", "green", "blue-green",
    "aqua", "blue", "indigo", "purple", "magenta", "hot-pink", "pink", "cool-gray",
)

_ABSOLUTE_URL = re.compile(r"^https?://[^\s/]+", re.I)


def clip(text: str | None, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when something was cut."""
    value = " ".join(str(text or "").split())  # Asana shows one line: no newlines or tabs
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def icon(url: str | None) -> str | None:
    """An icon URL Asana can load (absolute http(s)), or ``None`` to leave it out."""
    return url if isinstance(url, str) and _ABSOLUTE_URL.match(url) else None


def iso_utc(value: str | dt.datetime | None) -> str | None:
    """An ISO 8601 UTC time with milliseconds and ``Z`` (the shape of Asana's examples).

    Accepts Jira's ``2019-11-08T11:54:11.127+0000`` (no colon in the offset, which
    ``fromisoformat`` before 3.11 and some JavaScript parsers refuse), ISO strings with
    ``Z`` or ``+hh:mm``, and naive datetimes taken as UTC. Anything else gives ``None``.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        text = re.sub(r"([+-]\d{2})(\d{2})\Z", r"\1:\2", text)
        text = text[:-1] + "+00:00" if text.endswith("Z") else text
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # year 1 at +01:00, year 9999 at -01:00: before or after time
            return None
    # Not strftime("%Y"): it gives "999", not "0999", for years before 1000 on glibc.
    return (f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}."
            f"{moment.microsecond // 1000:03d}Z")


def pill(name: str, text: str, color: str) -> dict:
    if color not in PILL_COLORS:
        raise ValueError(f"{color!r} is not one of Asana's pill colours")
    return {"type": "pill", "name": clip(name, FIELD_TEXT_MAX),
            "text": clip(text, FIELD_TEXT_MAX) or "–", "color": color}


def text_with_icon(name: str, text: str, icon_url: str | None = None) -> dict:
    field = {"type": "text_with_icon", "name": clip(name, FIELD_TEXT_MAX),
             "text": clip(text, FIELD_TEXT_MAX) or "–"}
    if icon(icon_url):
        field["icon_url"] = icon_url
    return field


def datetime_with_icon(name: str, when: str | dt.datetime | None,
                       icon_url: str | None = None) -> dict:
    field = {"type": "datetime_with_icon", "name": clip(name, FIELD_TEXT_MAX)}
    if iso_utc(when):
        field["datetime"] = iso_utc(when)
    if icon(icon_url):
        field["icon_url"] = icon_url
    return field


def footer_updated(at: str | dt.datetime) -> dict:
    stamp = iso_utc(at)
    if stamp is None:
        raise ValueError(f"{at!r} is not a date-time")
    return {"footer_type": "updated", "last_updated_at": stamp}


def footer_text(text: str, icon_url: str | None = None) -> dict:
    footer = {"footer_type": "custom_text", "text": " ".join(text.split())}
    if icon(icon_url):
        footer["icon_url"] = icon_url
    return footer


def widget(title: str, fields: list[dict], footer: dict, *, subtitle: str | None = None,
           subicon_url: str | None = None, num_comments: int | None = None) -> dict:
    """A ``WidgetMetadataResponse`` (§6.1)."""
    if not 1 <= len(fields) <= MAX_FIELDS:
        raise ValueError(f"a widget needs 1 to {MAX_FIELDS} fields, got {len(fields)}")
    metadata: dict = {"title": clip(title, TITLE_MAX) or "–", "fields": fields,
                      "footer": footer}
    if subtitle:
        metadata["subtitle"] = " ".join(subtitle.split())
    if icon(subicon_url):
        metadata["subicon_url"] = subicon_url
    if isinstance(num_comments, int) and num_comments >= 0:
        metadata["num_comments"] = num_comments
    return {"template": WIDGET_TEMPLATE, "metadata": metadata}
