"""``GET /``: the front page. What this is, whether it is configured, what to do next.

A newcomer who opens the bridge's address in a browser gets a small page; an API client
(anything that does not ask for HTML, ``curl`` and ``requests`` included) gets the same
facts as JSON. The facts come from ``services.overview``, which reveals counts and yes/no
only: no secret, no email, no Jira address.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from ..services.overview import overview
from .security import settings

bp = Blueprint("front", __name__)


def wants_html() -> bool:
    """True when the client names ``text/html`` and likes it at least as much as JSON
    (browsers always name it; a bare ``*/*`` gets JSON)."""
    accept = request.accept_mimetypes
    named = {value for value, _ in accept}
    if "text/html" not in named and "application/xhtml+xml" not in named:
        return False
    return accept.quality("text/html") >= accept.quality("application/json")


@bp.get("/")
def index():
    view = overview(settings())
    if wants_html():
        response = render_template("front.html", view=view)
    else:
        response = jsonify(view.as_json())
    return response, 200, {"Vary": "Accept", "Cache-Control": "no-store"}
