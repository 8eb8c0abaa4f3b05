"""CORS for the App Components endpoints (asana-app-components.md §4.3).

Asana's widget, lookup, form and typeahead calls come from the user's browser on
Asana's origin, so ``/asana/*`` (except the Authentication URL, a top-level page) answers
CORS for exactly that origin (``https://app.asana.com``, or the simulator's in the
sandbox). Preflights are answered here, before any signature check: browsers never sign
an OPTIONS request (§10.3).
"""

from __future__ import annotations

from flask import Flask, current_app, request

from .errors import is_app_components
from .security import asana_origin

ALLOWED_HEADERS = "Content-Type, X-Asana-Request-Signature"


def headers_for(origin: str) -> list[tuple[str, str]]:
    """The CORS headers of an answer to Asana's origin (also sent by ``widget_cache``)."""
    return [("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", "600")]


def _applies() -> bool:
    return is_app_components(request.path)


def init_app(app: Flask) -> None:
    @app.before_request
    def _preflight():
        if request.method == "OPTIONS" and _applies():
            response = current_app.make_default_options_response()
            response.status_code = 204
            return response

    @app.after_request
    def _cors(response):
        if _applies() and request.headers.get("Origin") == asana_origin():
            for name, value in headers_for(asana_origin()):
                response.headers[name] = value
            response.headers.add("Vary", "Origin")
        return response
