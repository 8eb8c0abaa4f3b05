"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness).

- ``/healthz``: the process answers HTTP. Answered in front of Flask (like the cached
  widget, ``widget_cache``), touching nothing, so an orchestrator probing it often costs
  about what a bare endpoint does (issue 18 §8), and a slow or read-only database never
  gets a healthy process restarted.
- ``/readyz``: requests would succeed here: the database at the expected schema and
  accepting a committed write, and the registered checks (the queue's consumer); the
  decisions are in ``services.readiness``. Load balancers route by this one (README). It
  answers 503, not 500, when a check fails, so the node is taken out of rotation instead
  of alerting on a crash, and names the problem without revealing the database URL.
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, Flask, current_app, jsonify

from ..services import readiness
from .errors import SAFETY_HEADERS

bp = Blueprint("health", __name__)
log = logging.getLogger("bridge.health")

LIVENESS_PATH = "/healthz"
_ALIVE = b'{"status":"ok"}\n'


def add_check(app: Flask, name: str, check: readiness.Check) -> None:
    """Register another readiness check (e.g. ``queue``: is a consumer alive?)."""
    app.extensions.setdefault("bridge.health_checks", {})[name] = check


@bp.get("/readyz")
def readyz():
    settings = current_app.config["BRIDGE"]
    heartbeat = current_app.extensions.get("bridge.heartbeat")
    if heartbeat is None:  # one per app: its writes are coalesced (services.readiness)
        heartbeat = current_app.extensions.setdefault("bridge.heartbeat",
                                                      readiness.Heartbeat())
    status, body = readiness.check(settings.database_url,
                                   current_app.extensions.get("bridge.health_checks", {}),
                                   heartbeat)
    if status != 200:
        log.warning("readiness.failed database=%s checks=%s", body.get("database"),
                    ",".join(sorted(body.get("failed", {}))) or "-")
    return jsonify(body), status


class Liveness:
    """WSGI layer answering ``GET``/``HEAD /healthz`` before Flask's machinery."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if (environ.get("PATH_INFO") == LIVENESS_PATH
                and environ.get("REQUEST_METHOD") in ("GET", "HEAD")):
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(_ALIVE))),
                                      ("Cache-Control", "no-store"),
                                      ("X-Request-Id", secrets.token_hex(8)),
                                      *SAFETY_HEADERS])
            return [] if environ["REQUEST_METHOD"] == "HEAD" else [_ALIVE]
        return self.wsgi_app(environ, start_response)


def install(app: Flask) -> None:
    app.wsgi_app = Liveness(app.wsgi_app)
