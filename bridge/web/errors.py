"""One JSON error shape for every failure, and no secrets in any of them.

Unexpected exceptions are logged (through the redacting handler) with a request id, and
the client gets a sentence plus that id, never the exception text: an exception message
can carry an upstream body, a URL with a token, or a key.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import logs
from ..errors import BridgeError

log = logging.getLogger("bridge.web")


def error_body(code: str, message: str, status: int):
    body = {"error": {"code": code, "message": message}}
    if getattr(g, "request_id", None):
        body["error"]["request_id"] = g.request_id
    return jsonify(body), status


def _request_credentials() -> list[str]:
    """Values in this request that are credentials: they must not be logged verbatim."""
    found = []
    auth = request.headers.get("Authorization", "")
    if auth:
        found.append(auth.partition(" ")[2] or auth)
    found.extend(request.cookies.values())
    for key, value in request.args.items(multi=True):
        if key.lower() in logs.SECRET_KEYS:
            found.append(value)
    if request.mimetype == "application/x-www-form-urlencoded":
        for key, value in request.form.items(multi=True):
            if key.lower() in logs.SECRET_KEYS:
                found.append(value)
    return found


def init_app(app: Flask) -> None:
    @app.before_request
    def _request_id():
        g.request_id = secrets.token_hex(8)
        logs.reset_hidden()
        logs.hide(*_request_credentials())

    @app.after_request
    def _headers(response):
        if getattr(g, "request_id", None):
            response.headers["X-Request-Id"] = g.request_id
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
                "script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
            )
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.errorhandler(BridgeError)
    def _bridge_error(exc: BridgeError):
        log.info("request.failed error_code=%s status=%s path=%s", exc.code, exc.status,
                 request.path)
        return error_body(exc.code, exc.public_message, exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_body(code, exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("request.crashed path=%s", request.path)
        return error_body(
            "internal_error",
            "Something went wrong on the bridge. Its administrator can find the details in "
            "the bridge's log under the request id.",
            500,
        )
