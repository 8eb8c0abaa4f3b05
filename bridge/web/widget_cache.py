"""The widget's short path: ``GET /asana/widget`` answered before Flask's machinery.

A widget is viewed far more often than it changes, and Asana asks for it on every task
open (asana-app-components.md §10.9), so a cached view should cost little more than a bare
JSON endpoint (issue 8 §6), and a view that reads Jira little more than Jira's answer
(issue 18 §8). Measured, Flask's per-request set-up (request context, session, URL
routing, the bridge's hooks) costs several times what the cached answer itself needs, and
a fifth of what a miss adds to Jira's answer. This WSGI layer does what a widget needs:

1. the Asana signature over the raw query string and an ``expires_at`` in the future
   (§4.1, §4.2: the same checks as the signed blueprint);
2. ``services.widget.cached_json``: in the app's memory (its ``ProcessCache``, the one
   its routes fill), fresh, for a task seen linked, and at the generation the shared
   database holds, so a change made on any node shows on every node: on SQLite one
   indexed read per view (the next view shows it); on PostgreSQL no SQL, the change
   notified within milliseconds of its commit (``services.widget``, "How fresh");
3. otherwise ``services.widget.widget_json`` itself, with the request's ``Context`` built
   as the signed blueprint builds it: the one service call the widget view makes.

A call that is not verified, lacks its task or resource URL, or whose widget fails (any
exception: a ``BridgeError`` with its sentence, or a crash) goes on to the Flask app,
with what was done here handed over in the environ: the verified call
(``app_components.VERIFIED_CALL``, so the signed blueprint does not verify it again and
the view knows memory was tried) and the failure (``MISS_FAILED``, which the view
raises), so the app's one error mapping answers it and Jira is not asked twice. Answers
from here carry the full path's headers (content type, request id, CORS for Asana's
origin, nosniff, referrer policy).
"""

from __future__ import annotations

import logging
import secrets

from .. import logs
from ..asana import signing
from ..db import database
from ..errors import BridgeError
from ..services import widget
from ..services.context import Context
from . import cors
from .app_components import MISS_FAILED, MISS_HIDDEN, VERIFIED_CALL
from .errors import SAFETY_HEADERS

PATH = "/asana/widget"
log = logging.getLogger("bridge.widget")


class CachedWidget:
    def __init__(self, wsgi_app, *, cache, settings, client_secret: str, asana_origin: str,
                 max_age: float):
        self.wsgi_app = wsgi_app
        self.cache = cache  # the app's ProcessCache: what its full path remembered
        self.settings = settings
        self.secret = client_secret
        self.origin = asana_origin
        self.max_age = max_age

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            call = self._verified(environ)
            body = None
            if call is not None:
                body = self._cached(call)
                if body is None:
                    body = self._miss(environ, call)
            if body is not None:
                headers = [("Content-Type", "application/json"),
                           ("Content-Length", str(len(body))),
                           ("X-Request-Id", secrets.token_hex(8)), *SAFETY_HEADERS]
                if environ.get("HTTP_ORIGIN") == self.origin:
                    headers += [*cors.headers_for(self.origin), ("Vary", "Origin")]
                start_response("200 OK", headers)
                return [body]
        return self.wsgi_app(environ, start_response)

    def _verified(self, environ) -> signing.AsanaCall | None:
        """The verified call, handed over in the environ; ``None`` when the full path
        must answer (with the sentence) before anything is done."""
        try:  # the signed blueprint's own checks (bridge.asana.signing)
            # PEP 3333 hands the query string over as latin-1 text: back to its bytes.
            raw = environ.get("QUERY_STRING", "").encode("latin-1")
            call = signing.verify_get(self.secret, raw,
                                      environ.get("HTTP_X_ASANA_REQUEST_SIGNATURE"))
        except (BridgeError, UnicodeEncodeError):
            return None
        environ[VERIFIED_CALL] = call  # for the full path, if it must answer
        return call if call.task and call.resource_url else None

    def _cached(self, call: signing.AsanaCall) -> bytes | None:
        # After an answer from memory the thread keeps its connection, if the check took
        # one, for the next view: taking one from the pool can cost a round trip (peewee
        # checks it with SELECT 1). peewee runs in autocommit, so no transaction stays
        # open; the next miss goes on with it and returns it.
        try:
            return widget.cached_json(self.cache, call.workspace, call.task,
                                      call.resource_url, self.max_age)
        except Exception:  # the miss below, or the full path, will answer (and log)
            log.debug("widget.cache_check_failed", exc_info=True)
            return None

    def _miss(self, environ, call: signing.AsanaCall) -> bytes | None:
        """The widget read now (the view's one service call); ``None`` with the failure
        handed to the full path, which answers it."""
        logs.reset_hidden()  # as the full path's first hook: this request's secrets only
        ctx = Context.of_call(self.settings, self.cache, call)
        try:
            return widget.widget_json(ctx, call.resource_url, memory_checked=True,
                                      attachment=call.attachment)
        except Exception as exc:  # answered by the app's error handlers, not here
            environ[MISS_FAILED] = exc
            environ[MISS_HIDDEN] = logs.hidden()
            return None
        finally:
            if not database.is_closed():
                database.close()  # back to the pool, as the full path's teardown does


def install(app) -> None:
    """Put the short path in front of the app when App Components are configured."""
    settings = app.config["BRIDGE"]
    if not settings.app_components_enabled:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(settings.asana_base_url)
    app.wsgi_app = CachedWidget(app.wsgi_app, cache=app.extensions["bridge.cache"],
                                settings=settings, client_secret=settings.asana_client_secret,
                                asana_origin=f"{parts.scheme}://{parts.netloc}",
                                max_age=settings.widget_max_age)
