"""The cached widget's short path: ``GET /asana/widget`` answered before Flask's machinery.

A widget is viewed far more often than it changes, and Asana asks for it on every task
open (asana-app-components.md §10.9), so a cached view should cost little more than a bare
JSON endpoint (issue 8 §6). Measured, Flask's per-request set-up (request context,
session, URL routing, the bridge's hooks) costs several times what the cached answer
itself needs. This WSGI layer does exactly the checks a cached answer needs:

1. the Asana signature over the raw query string and an ``expires_at`` in the future
   (§4.1, §4.2: the same checks as the signed blueprint);
2. ``services.widget.cached_json``: in the app's memory (its ``ProcessCache``, the one
   its routes fill), fresh, for a task seen linked, and at the generation the shared
   database holds, so a change made on any node shows on every node: on SQLite one
   indexed read per view (the next view shows it); on PostgreSQL no SQL, the change
   notified within milliseconds of its commit (``services.widget``, "How fresh").

Anything else (no or bad signature, expired, not cached, stale, any error) goes on to the
Flask app, which answers it fully: errors, Jira reads, reconnect notices. A call verified
here is handed over with the request (``app_components.VERIFIED_CALL``): the signed
blueprint does not verify it again, and the view knows memory was tried. So this path
can only ever serve what the full path served a moment ago, with the same headers
(content type, request id, CORS for Asana's origin, nosniff, referrer policy).
"""

from __future__ import annotations

import logging
import secrets

from ..asana import signing
from ..db import database
from ..errors import BridgeError
from ..services import widget
from . import cors
from .app_components import VERIFIED_CALL
from .errors import SAFETY_HEADERS

PATH = "/asana/widget"
log = logging.getLogger("bridge.widget")


class CachedWidget:
    def __init__(self, wsgi_app, *, cache, client_secret: str, asana_origin: str,
                 max_age: float):
        self.wsgi_app = wsgi_app
        self.cache = cache  # the app's ProcessCache: what its full path remembered
        self.secret = client_secret
        self.origin = asana_origin
        self.max_age = max_age

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            body = self._cached(environ)
            if body is not None:
                headers = [("Content-Type", "application/json"),
                           ("Content-Length", str(len(body))),
                           ("X-Request-Id", secrets.token_hex(8)), *SAFETY_HEADERS]
                if environ.get("HTTP_ORIGIN") == self.origin:
                    headers += [*cors.headers_for(self.origin), ("Vary", "Origin")]
                start_response("200 OK", headers)
                return [body]
        return self.wsgi_app(environ, start_response)

    def _cached(self, environ) -> bytes | None:
        try:  # the signed blueprint's own checks (bridge.asana.signing)
            # PEP 3333 hands the query string over as latin-1 text: back to its bytes.
            raw = environ.get("QUERY_STRING", "").encode("latin-1")
            call = signing.verify_get(self.secret, raw,
                                      environ.get("HTTP_X_ASANA_REQUEST_SIGNATURE"))
        except (BridgeError, UnicodeEncodeError):
            return None  # the full path answers with the sentence
        environ[VERIFIED_CALL] = call  # for the full path, if it must answer
        if not (call.task and call.resource_url):
            return None
        try:
            body = widget.cached_json(self.cache, call.workspace, call.task,
                                      call.resource_url, self.max_age)
        except Exception:  # the full path will answer (and log) properly
            log.debug("widget.cache_check_failed", exc_info=True)
            body = None
        if body is None and not database.is_closed():
            database.close()  # the full path starts from a connection of the pool
        # After an answer from memory the thread keeps its connection, if the check took
        # one, for the next one: taking one from the pool can cost a round trip (peewee
        # checks it with SELECT 1). peewee runs in autocommit, so no transaction stays
        # open; the next full request's teardown returns it.
        return body


def install(app) -> None:
    """Put the short path in front of the app when App Components are configured."""
    settings = app.config["BRIDGE"]
    if not settings.app_components_enabled:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(settings.asana_base_url)
    app.wsgi_app = CachedWidget(app.wsgi_app, cache=app.extensions["bridge.cache"],
                                client_secret=settings.asana_client_secret,
                                asana_origin=f"{parts.scheme}://{parts.netloc}",
                                max_age=settings.widget_max_age)
