"""The signed App Components surface: every ``/asana/*`` route Asana calls.

Contract (ARCHITECTURE §4, asana-app-components.md §4-§6, the lead's protocol):

- Every route here is verified before its view runs: the ``X-Asana-Request-Signature``
  over the raw query string (GET) or the body's ``data`` string (POST), and
  ``expires_at`` in the future (``bridge.asana.signing``). A missing, forged, altered or
  expired signature, or a body that is not Asana's shape, answers **400**
  ``{"error": "<sentence>"}`` and the view never runs, so nothing changes.
- A user with no usable Jira credential for the instance (none yet, or needs reconnect)
  gets **401** ``{"error": "<sentence>"}``: Asana opens the Authentication URL (the
  reference marks this UNCONFIRMED; the README documents the choice).
- Errors take Asana's shape ``{"error": "..."}``; the request id is in the ``X-Request-Id``
  header (``web.errors`` switches the shape by path, so 404/405/413 match too).
- The Authentication URL (``/asana/auth``, blueprint ``popup``) is not signed, and CORS
  preflights are answered before any of this (``web.cors``).

How to add a route
------------------

Make a ``SignedBlueprint`` in your module and register it in ``create_app``; each view
gets the verified ``AsanaCall`` as its first argument and returns a dict (200 JSON) or
``(dict, status)``::

    from .app_components import AsanaCall, SignedBlueprint

    bp = SignedBlueprint("forms", __name__)          # routes live under /asana

    @bp.get("/form")
    def form_metadata(call: AsanaCall):
        return forms_service.metadata(call)          # services/ do the work, Flask-free


Raise a ``BridgeError`` (e.g. ``JiraNotFound``) for a failure: its status and
``public_message`` become the answer. A form's 400 with per-field errors is returned as
``(form, 400)`` by the view itself.
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, abort, g, request

from ..asana import signing
from ..asana.signing import AsanaCall
from .security import settings

__all__ = ["AsanaCall", "SignedBlueprint", "current_call"]

log = logging.getLogger("bridge.app_components")
PREFIX = "/asana"


# The environ key under which a WSGI layer in front of Flask hands over the call it has
# already verified for this very request (``widget_cache``), so it is not verified twice.
# A client cannot set it: only the server and WSGI layers write the environ's non-HTTP_
# keys.
VERIFIED_CALL = "bridge.verified_asana_call"


def _verify():
    """``before_request`` of every signed blueprint: no view runs on an unverified call."""
    if request.method == "OPTIONS":  # preflights carry no signature (§4.3)
        return None
    handed = request.environ.get(VERIFIED_CALL)
    if isinstance(handed, AsanaCall):
        g.asana_call = handed
        return None
    cfg = settings()
    if not cfg.app_components_enabled:
        abort(503, "App Components are not configured on this bridge: set "
                   "BRIDGE_ASANA_CLIENT_ID and BRIDGE_ASANA_CLIENT_SECRET.")
    signature = request.headers.get(signing.HEADER)
    if request.method in ("GET", "HEAD"):  # Flask answers HEAD with the GET view
        call = signing.verify_get(cfg.asana_client_secret, request.query_string, signature)
    elif request.method == "POST":
        call = signing.verify_post(cfg.asana_client_secret, request.get_data(cache=True),
                                   signature)
    else:
        abort(405)
    g.asana_call = call
    log.debug("asana.call path=%s user=%s workspace=%s", request.path, call.user,
              call.workspace)
    return None


def current_call() -> AsanaCall:
    """The verified call of this request (inside a signed blueprint's view)."""
    return g.asana_call


class SignedBlueprint(Blueprint):
    """A blueprint under ``/asana`` whose every route is verified and gets the call.

    ``route`` (and so ``get`` / ``post``) passes the verified ``AsanaCall`` to the view as
    its first argument; URL variables follow as keyword arguments.
    """

    def __init__(self, name: str, import_name: str, **kwargs):
        kwargs.setdefault("url_prefix", PREFIX)
        super().__init__(name, import_name, **kwargs)
        self.before_request(_verify)

    def route(self, rule: str, **options):
        def decorator(view):
            @functools.wraps(view)
            def with_call(**kwargs):
                return view(current_call(), **kwargs)

            endpoint = options.pop("endpoint", None) or view.__name__
            self.add_url_rule(rule, endpoint, with_call, **options)
            return view

        return decorator

