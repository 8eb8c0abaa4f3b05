"""Verifying App Components requests: Asana's signature, its expiry, and what it carries.

Reference: asana-app-components.md §3 (request format), §4.1 (message integrity), §4.2
(timeliness), §5.6 (typeahead text parameter), §10.3-§10.5 (pitfalls).

- ``X-Asana-Request-Signature`` is the lowercase hex HMAC-SHA256, keyed by the app's
  client secret, of a "message": for GET the raw query string exactly as sent (never
  rebuilt from parsed arguments: order and escapes matter), for POST the string in the
  JSON body's ``data`` field exactly as sent (never re-serialised). Compared in constant
  time.
- ``expires_at`` (ISO 8601 UTC, in the query for GET and inside ``data`` for POST) in the
  past means a replayed request: refused. Legacy epoch milliseconds are accepted (§3.3).
  An ISO value must carry its zone (``Z`` or an offset), and may lie at most
  ``MAX_AHEAD`` ahead: Asana's window is short but undocumented (§4.2, §11: UNCONFIRMED;
  the simulator's host uses 60 s), so the bound is ``MAX_LIFETIME`` plus ``CLOCK_SKEW``
  between Asana's clock and ours.
- GIDs may arrive as numbers inside ``data`` (§3.2, UNCONFIRMED); they are normalised to
  strings.

The signature is checked before anything in the message is trusted or even parsed as JSON.
Flask-free: ``verify_get`` / ``verify_post`` take the raw bytes and return an ``AsanaCall``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from .. import safe_json
from .errors import AsanaRequestExpired, AsanaRequestMalformed, AsanaSignatureInvalid

HEADER = "X-Asana-Request-Signature"
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_GID = re.compile(r"\A[0-9]{1,64}\Z")
# Typeahead text: ``query`` (OAS), then the older ``value`` and ``fragment`` (§5.6).
TEXT_PARAMETERS = ("query", "value", "fragment")
MAX_LIFETIME = dt.timedelta(minutes=5)
CLOCK_SKEW = dt.timedelta(minutes=2)
MAX_AHEAD = MAX_LIFETIME + CLOCK_SKEW
# Form values (§6.2): a form has at most 30 fields, a checkbox 10 options, a text 3000
# characters; the bounds leave room and keep what services handle small.
MAX_FIELDS = 100
MAX_KEY = 255
MAX_OPTIONS = 50
MAX_VALUE_TEXT = 20_000


def sign(client_secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 of the UTF-8 message (§4.1)."""
    return hmac.new(client_secret.encode("utf-8"), message.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def check_signature(client_secret: str, message: str, signature: str | None) -> None:
    """Raise ``AsanaSignatureInvalid`` unless ``signature`` signs ``message``."""
    if not signature:
        raise AsanaSignatureInvalid("The request carries no Asana signature "
                                    "(X-Asana-Request-Signature).")
    given = signature.strip().lower()
    if not _HEX64.match(given):
        raise AsanaSignatureInvalid()
    if not hmac.compare_digest(sign(client_secret, message), given):
        raise AsanaSignatureInvalid()


def parse_expires_at(value) -> dt.datetime:
    """``expires_at`` as an aware UTC datetime: ISO 8601 (``Z`` or offset), or legacy
    epoch milliseconds (§3.3)."""
    if isinstance(value, bool) or value is None or value == "":
        raise AsanaRequestMalformed("The request has no expires_at.")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise AsanaRequestMalformed("The request's expires_at is not a time.") from None
    if not isinstance(value, str):
        raise AsanaRequestMalformed("The request's expires_at is not a time.")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise AsanaRequestMalformed("The request's expires_at is not a time.") from None
    if moment.tzinfo is None:  # a bare date, or a time without its zone: which moment?
        raise AsanaRequestMalformed("The request's expires_at has no time zone.")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # year 1 at +01:00 is before the calendar in UTC
        raise AsanaRequestMalformed("The request's expires_at is not a time.") from None


def check_fresh(expires_at: dt.datetime, now: dt.datetime) -> None:
    """In the future, and not further than ``MAX_AHEAD``: a signed message that lived for
    years would be a replayable credential (a year-9999 ``expires_at`` never expires)."""
    if expires_at <= now:
        raise AsanaRequestExpired()
    if expires_at > now + MAX_AHEAD:
        raise AsanaRequestMalformed(
            "The request's expires_at is too far in the future: Asana's requests expire "
            f"within minutes (at most {int(MAX_AHEAD.total_seconds() // 60)} are accepted).")


@dataclass(frozen=True)
class AsanaCall:
    """A verified App Components request: who, where, and what it carries.

    ``params`` is everything the signed message held (query parameters for GET, the
    decoded ``data`` object for POST); the attributes are the fields every handler reads,
    GIDs as strings. ``text`` is the typeahead text (``query``, else ``value``, else
    ``fragment``, §5.6).
    """

    method: str
    user: str
    workspace: str
    expires_at: dt.datetime
    task: str | None = None
    attachment: str | None = None
    project: str | None = None
    resource_url: str | None = None
    text: str = ""
    values: Mapping = field(default_factory=dict)
    changed_field: str | None = None
    action: str | None = None
    action_type: str | None = None
    target_object: str | None = None
    idempotency_key: str | None = None
    locale: str | None = None
    params: Mapping = field(default_factory=dict)


def _gid(params: Mapping, name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise AsanaRequestMalformed(f"The request has no {name}.")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AsanaRequestMalformed(f"The request's {name} is not an Asana id.")
    text = str(value)
    if not _GID.match(text):
        raise AsanaRequestMalformed(f"The request's {name} is not an Asana id.")
    return text


def _text(params: Mapping, name: str, limit: int = 4096) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AsanaRequestMalformed(f"The request's {name} is not text.")
    if len(value) > limit:
        raise AsanaRequestMalformed(f"The request's {name} is too long.")
    return value


def _values(values) -> dict:
    """The form ``values`` in the shapes of Asana's schema (§6.2), or a refusal: services
    get text, ``None``, lists of option ids, and flat typeahead items, nothing deeper."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise AsanaRequestMalformed("The request's values are not an object.")
    if len(values) > MAX_FIELDS:
        raise AsanaRequestMalformed("The request's values hold too many fields.")
    for key, value in values.items():
        if len(key) > MAX_KEY or not _is_form_value(value):
            raise AsanaRequestMalformed(
                "The request's values hold a field that is not text, a list of option ids "
                "or a chosen typeahead item.")
    return values


def _is_text(value) -> bool:
    return isinstance(value, str) and len(value) <= MAX_VALUE_TEXT


def _is_form_value(value) -> bool:
    if value is None or _is_text(value):
        return True
    if isinstance(value, list):  # a checkbox: option ids
        return len(value) <= MAX_OPTIONS and all(_is_text(v) for v in value)
    if isinstance(value, dict):  # a typeahead item: title, value, subtitle, icon_url
        return len(value) <= MAX_OPTIONS and all(
            len(k) <= MAX_KEY and (v is None or _is_text(v)) for k, v in value.items())
    return False


def _call(method: str, params: Mapping, now: dt.datetime) -> AsanaCall:
    expires_at = parse_expires_at(params.get("expires_at"))
    check_fresh(expires_at, now)
    values = _values(params.get("values"))
    text = ""
    for name in TEXT_PARAMETERS:
        found = _text(params, name)
        if found is not None:
            text = found
            break
    return AsanaCall(
        method=method, user=_gid(params, "user", required=True),
        workspace=_gid(params, "workspace", required=True), expires_at=expires_at,
        task=_gid(params, "task"), attachment=_gid(params, "attachment"),
        project=_gid(params, "project"), resource_url=_text(params, "resource_url"),
        text=text, values=values, changed_field=_text(params, "changed_field"),
        action=_gid(params, "action"), action_type=_gid(params, "action_type"),
        target_object=_gid(params, "target_object"),
        idempotency_key=_text(params, "idempotency_key", 255), locale=_text(params, "locale"),
        params=params,
    )


def _json(raw: bytes | str, what: str):
    try:
        return safe_json.loads(raw, what=what)
    except safe_json.MalformedJSON as exc:
        raise AsanaRequestMalformed(exc.public_message) from None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def verify_get(client_secret: str, raw_query: bytes | str, signature: str | None, *,
               now: Callable[[], dt.datetime] = _utcnow) -> AsanaCall:
    """A GET: the message is the raw query string, without the ``?`` (§4.1)."""
    try:
        message = raw_query.decode("utf-8") if isinstance(raw_query, bytes) else raw_query
    except UnicodeDecodeError:
        raise AsanaRequestMalformed("The request's query string is not UTF-8.") from None
    check_signature(client_secret, message, signature)
    params: dict[str, str] = {}
    for key, value in parse_qsl(message, keep_blank_values=True):
        params.setdefault(key, value)  # the first of repeated parameters counts
    return _call("GET", params, now())


def verify_post(client_secret: str, raw_body: bytes | str, signature: str | None, *,
                now: Callable[[], dt.datetime] = _utcnow) -> AsanaCall:
    """A POST: the body is ``{"data": "<JSON string>"}`` and the message is that string
    exactly as sent (§3.2, §10.3)."""
    body = _json(raw_body or b"", "The request body")
    message = body.get("data") if isinstance(body, dict) else None
    if not isinstance(message, str):
        raise AsanaRequestMalformed('The request body has no "data" string.')
    check_signature(client_secret, message, signature)
    params = _json(message, 'The request\'s "data"')
    if not isinstance(params, dict):
        raise AsanaRequestMalformed('The request\'s "data" is not an object.')
    return _call("POST", params, now())
