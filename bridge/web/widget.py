"""``GET /asana/widget``: the widget of a Jira issue attached to an Asana task (§5.1).

The decisions live in ``services.widget``; this view reads the signed query, maps the
outcome to Asana's shapes (``WidgetMetadataResponse``, or ``{"error": ...}`` with the
request id in ``X-Request-Id``) and nothing else. A cached answer usually never gets
here: ``widget_cache`` serves it in front of Flask.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from flask import Blueprint, Response, current_app, g, jsonify, request

from ..errors import BridgeError
from ..services import widget
from . import widget_cache
from .webhooks import widget_options

bp = Blueprint("asana_widget", __name__)

REQUIRED = ("workspace", "task", "user", "resource_url")


def asana_error(message: str, status: int):
    response = jsonify(error=message)
    response.status_code = status
    return response


def _signed() -> str | None:
    """Until the signed /asana/* blueprint lands: the same checks (§4.1, §4.2)."""
    settings = current_app.config["BRIDGE"]
    if not settings.app_components_enabled:
        return "App Components are not configured on this bridge."
    sent = request.headers.get("X-Asana-Request-Signature", "")
    expected = hmac.new(settings.asana_client_secret.encode(), request.query_string,
                        hashlib.sha256).hexdigest()
    if not sent or not hmac.compare_digest(sent.lower(), expected):
        return "The request's signature is not valid."
    raw = request.args.get("expires_at", "")
    try:
        when = dt.datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith("Z") else raw)
    except ValueError:
        return "The request has no valid expires_at."
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when <= dt.datetime.now(dt.UTC):
        return "The request has expired."
    return None


@bp.get("/asana/widget")
def show():
    problem = _signed()
    if problem:
        return asana_error(problem, 400)
    missing = [name for name in REQUIRED if not request.args.get(name)]
    if missing:
        return asana_error(f"The request lacks {', '.join(missing)}.", 400)
    req = widget.WidgetRequest(workspace=request.args["workspace"], task=request.args["task"],
                               user=request.args["user"],
                               resource_url=request.args["resource_url"])
    try:
        body = widget.widget_json(req, widget_options(), memory_checked=bool(
            request.environ.get(widget_cache.CHECKED)))
    except BridgeError as exc:
        g.setdefault("request_id", "")
        return asana_error(exc.public_message, exc.status)
    return Response(body, mimetype="application/json")
