"""The one place where failures become answers, for every route family, with no secret
in any of them.

- JSON routes, two shapes: App Components routes (``/asana/*`` but the Authentication
  URL) answer Asana's ``{"error": "<sentence>"}`` (asana-app-components.md §6.6); every
  other JSON route answers ``{"error": {"code", "message", "request_id"}}``. Both carry
  the request id in the ``X-Request-Id`` header. ``answer`` maps a ``BridgeError``: its
  own status (401 for a user who must connect Jira, 410 for a deleted rule action, 429
  and 503 with ``Retry-After`` when the cause said how long to wait), its sentence, or
  its ``answer_body`` (a form with per-field errors, on a 400).
- HTML pages (the popup, admin pages, OAuth callbacks): ``describe_failure`` gives the
  sentence, status and advice each blueprint's failure page shows (``pages``).

Unexpected exceptions are logged (through the redacting handler) with a request id, and
the client gets a sentence plus that id, never the exception text: an exception message
can carry an upstream body, a URL with a token, or a key.
"""

from __future__ import annotations

import logging
import math
import secrets

from flask import Flask, g, has_request_context, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import logs
from ..asana.errors import AsanaRequestRejected
from ..errors import MAX_RETRY_AFTER, BridgeError
from ..safe_json import MalformedJSON
from ..services import limits
from .security import RateLimited

log = logging.getLogger("bridge.web")


# App Components routes (asana-app-components.md §6.6): errors in Asana's shape. The
# Authentication URL is a page of the popup, not an App Components call.
APP_COMPONENTS_PREFIX = "/asana/"
NOT_APP_COMPONENTS = ("/asana/auth",)


# On every answer (also the cached widget's, ``widget_cache``).
SAFETY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"))


def is_app_components(path: str) -> bool:
    return path.startswith(APP_COMPONENTS_PREFIX) and not path.startswith(NOT_APP_COMPONENTS)


def error_body(code: str, message: str, status: int):
    """The error answer: ``{"error": "<sentence>"}`` on App Components routes (Asana shows
    the sentence; the request id is in the ``X-Request-Id`` header), else the bridge's
    ``{"error": {"code", "message", "request_id"}}``."""
    if has_request_context() and is_app_components(request.path):
        return jsonify({"error": message}), status
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


# Requests refused before anything is done (unreadable body, bad or missing signature,
# expired): one warning line each, without a traceback, up to ``REFUSED_LIMIT`` per client
# address per ``REFUSED_WINDOW`` seconds (counted in the database, across workers and
# nodes); beyond that the answer is 429 with Retry-After and the log stays quiet.
REFUSALS = (AsanaRequestRejected, MalformedJSON)
REFUSED_LIMIT = 30
REFUSED_WINDOW = 60


class TooManyRefused(RateLimited):
    code = "too_many_refused"
    public_message = ("Too many requests from your address could not be read. Wait a minute "
                      "and try again.")


def _count_refusal(exc: BridgeError) -> BridgeError:
    # The route's rule, not the path: a webhook path carries the instance's secret token.
    where = request.url_rule.rule if request.url_rule is not None else request.path
    try:
        within = limits.hit(f"refused:{request.remote_addr}", REFUSED_LIMIT, REFUSED_WINDOW)
    except Exception as failure:  # the database is down: answer the refusal anyway
        log.warning("request.refused error_code=%s route=%s uncounted=%s", exc.code, where,
                    type(failure).__name__)
        return exc
    if within:
        log.warning("request.refused error_code=%s route=%s", exc.code, where)
        return exc
    log.debug("request.refused_limited error_code=%s route=%s", exc.code, where)
    return TooManyRefused(retry_after=REFUSED_WINDOW)


def answer(exc: BridgeError):
    """``(response, status)`` for ``exc`` on a JSON route (see the module docstring)."""
    if exc.answer_body is not None:
        response, status = jsonify(exc.answer_body), exc.status
    else:
        response, status = error_body(exc.code, exc.public_message, exc.status)
    wait = exc.retry_after
    if wait is not None and not math.isnan(wait) and wait >= 0:
        response.headers["Retry-After"] = str(math.ceil(min(wait, MAX_RETRY_AFTER)))
    return response, status


CRASHED = ("Something went wrong on the bridge. Its administrator can find the details in the "
           "bridge's log.")


def describe_failure(exc: Exception) -> tuple[str, int, str]:
    """(sentence, HTTP status, advice) of a failure page for any exception; unexpected ones
    are logged with their traceback, never shown."""
    if isinstance(exc, BridgeError):
        log.info("page.failed error_code=%s status=%s path=%s", exc.code, exc.status,
                 request.path)
        return exc.public_message, exc.status, getattr(exc, "advice", "") or ""
    if isinstance(exc, HTTPException):
        return exc.description or exc.name, exc.code or 500, ""
    log.exception("page.crashed path=%s", request.path)
    return CRASHED, 500, ""


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
        for name, value in SAFETY_HEADERS:
            response.headers.setdefault(name, value)
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
        if isinstance(exc, REFUSALS):
            exc = _count_refusal(exc)
        elif exc.status >= 500:
            log.warning("request.failed error_code=%s status=%s path=%s", exc.code,
                        exc.status, request.path)
        else:
            log.info("request.failed error_code=%s status=%s path=%s", exc.code, exc.status,
                     request.path)
        return answer(exc)

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
