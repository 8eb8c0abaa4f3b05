"""Flask app factory for the Jira simulator.

    app = create_jira_simulator(version="8.20.0", base_url=server.url)
    sim = get_state(app)            # SimState: reset(), add_consumer(), advance(), ...

``base_url`` is what Jira believes its own Base URL is; the OAuth 1.0a base string,
the OAuth realm and every ``self`` link use it.  ``None`` follows the request's host (a
correctly configured Jira).  A path in ``base_url`` (``http://127.0.0.1:8090/jira``)
becomes the servlet context path.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, request
from werkzeug.http import http_date

from bridge_sandbox.jira import (
    applinks,
    auth,
    control,
    faults,
    icons,
    oauth1,
    oauth2,
    rest,
    uploads,
    webhooks,
)
from bridge_sandbox.jira.state import SimState
from bridge_sandbox.jira.webutil import error_json


class _ContextPath:
    """Serve the app under ``prefix`` like a Tomcat context path; 404 elsewhere."""

    def __init__(self, app, prefix: str):
        self.app = app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):] or "/"
            return self.app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]


class _HeaderSizeLimit:
    """Tomcat's ``maxHttpHeaderSize``: Jira's stock ``server.xml`` sets 8192 bytes for the
    request line plus headers; a larger request is refused with 400 ("Request header is
    too large") by the container before Jira runs, which is why clients send long JQL by
    POST (docs/jira-server.md §9 "Over-long request lines")."""

    LIMIT = 8192
    PAGE = (b'<!doctype html><html lang="en"><head><title>HTTP Status 400 \xe2\x80\x93 Bad '
            b'Request</title></head><body><h1>HTTP Status 400 \xe2\x80\x93 Bad Request</h1>'
            b'</body></html>')

    def __init__(self, app):
        self.app = app

    @staticmethod
    def size(environ) -> int:
        uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
        if not uri:
            uri = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                uri += "?" + environ["QUERY_STRING"]
        total = len(environ.get("REQUEST_METHOD", "GET")) + len(uri) + len(
            environ.get("SERVER_PROTOCOL", "HTTP/1.1")) + 4
        for key, value in environ.items():
            if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                total += len(key.removeprefix("HTTP_")) + len(str(value)) + 4
        return total + 2

    def __call__(self, environ, start_response):
        if self.size(environ) > self.LIMIT:
            start_response("400 Bad Request", [("Content-Type", "text/html;charset=utf-8"),
                                               ("Content-Language", "en"),
                                               ("Connection", "close")])
            return [self.PAGE]
        return self.app(environ, start_response)


def get_state(app: Flask) -> SimState:
    """The simulator state of an app made by :func:`create_jira_simulator`."""
    return app.extensions["jira_sim"]


def create_jira_simulator(version: str = "8.20.0", base_url: str | None = None,
                          fixture: str | Path | dict | None = None, clock=None) -> Flask:
    """Build a simulator app.

    :param version: any Jira version string; features follow the version numbers.
    :param base_url: Jira's configured Base URL (see module docstring).
    :param fixture: path / file name in ``fixtures/`` / dict; default ``default.json``.
    :param clock: callable returning epoch seconds (default ``time.time``).
    """
    app = Flask(__name__, template_folder="templates")
    app.request_class = uploads.SimRequest
    app.config["JSONIFY_PRETTYPRINT_REGULAR"] = False
    app.json.sort_keys = False
    sim = SimState(version, base_url, fixture=fixture, clock=clock)
    dispatcher = webhooks.Dispatcher(sim)
    sim.listeners.append(dispatcher)
    sim.webhook_dispatcher = dispatcher
    app.extensions["jira_sim"] = sim

    for bp in (auth.bp, oauth1.bp, oauth2.bp, applinks.bp, webhooks.bp, control.bp,
               rest.files_bp, icons.bp):
        app.register_blueprint(bp)
    app.register_blueprint(rest.bp, url_prefix="/rest/api/2")
    app.register_blueprint(rest.bp, url_prefix="/rest/api/latest", name="rest_latest")

    request_ids = itertools.count(1)

    @app.before_request
    def _before():
        g.request_id = f"{int(sim.clock() // 60) % 1440}x{next(request_ids)}x1"
        if request.path.startswith("/_sim"):
            g.user, g.auth, g.scope = None, "control", None
            return None
        return faults.apply_faults() or auth.identify() or faults.rate_limit()

    @app.after_request
    def _after(resp):
        if request.path.startswith("/_sim"):
            return resp
        with sim.lock:
            sim.request_log.append({"method": request.method, "path": request.path,
                                    "status": resp.status_code, "user": g.get("user"),
                                    "auth": g.get("auth")})
            del sim.request_log[:-500]
        # Jira's clock, as a real server's Date header shows it (doctor reads clock skew).
        resp.headers["Date"] = http_date(sim.clock())
        resp.headers["X-AREQUESTID"] = g.get("request_id", "0x0x0")
        resp.headers["X-AUSERNAME"] = g.get("user") or "anonymous"
        if g.get("login_reason"):
            resp.headers.setdefault("X-Seraph-LoginReason", g.login_reason)
        if resp.status_code == 401 and "WWW-Authenticate" not in resp.headers:
            # the OAuth filter adds a bare challenge to any 401 (reference §1.5)
            resp.headers["WWW-Authenticate"] = f'OAuth realm="{sim.base_url}"'
        return faults.add_rate_headers(resp)

    @app.errorhandler(404)
    def _not_found(err):
        if request.path.startswith("/rest/"):
            # Jersey's answer for a path no resource serves (wording UNCONFIRMED)
            resp = jsonify({"message": f"null for uri: {request.url}", "status-code": 404})
            resp.status_code = 404
            return resp
        return err

    @app.errorhandler(405)
    def _not_allowed(err):
        return error_json(405, []) if request.path.startswith("/rest/") else err

    @app.context_processor
    def _template_globals():
        return {"root": request.script_root, "server_title": sim.server_title,
                "jira_version": sim.profile.version}

    prefix = urlsplit(base_url).path.rstrip("/") if base_url else ""
    if prefix:
        app.wsgi_app = _ContextPath(app.wsgi_app, prefix)
    app.wsgi_app = _HeaderSizeLimit(app.wsgi_app)
    return app
