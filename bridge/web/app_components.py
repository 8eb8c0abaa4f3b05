"""The signed App Components surface: every ``/asana/*`` route Asana calls.

No view runs on an unverified call: a ``SignedBlueprint`` checks Asana's signature and
``expires_at`` first (``bridge.asana.signing``; 400 and nothing changed otherwise), then
builds the request's one ``Context`` (settings, acting user, workspace, task, the verified
call) and hands it to the view, which passes it to the services. The contract (statuses,
the 401 that opens the Authentication URL, error shapes) and how to add a route:
docs/app-components-routes.md.
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, abort, g, request

from ..asana import signing
from ..asana.signing import AsanaCall
from ..services.context import Context
from .security import process_cache, settings

__all__ = ["AsanaCall", "Context", "MISS_FAILED", "MISS_HIDDEN", "SignedBlueprint",
           "VERIFIED_CALL", "current_context"]

log = logging.getLogger("bridge.app_components")
PREFIX = "/asana"


# The environ key under which a WSGI layer in front of Flask hands over the call it has
# already verified for this very request (``widget_cache``), so it is not verified twice.
# A client cannot set it: only the server and WSGI layers write the environ's non-HTTP_
# keys.
VERIFIED_CALL = "bridge.verified_asana_call"
# And the exception the same layer's own try of the request failed with (the widget read
# before Flask, ``widget_cache``): the view raises it, so the app's error handlers answer
# it and nothing is done twice.
MISS_FAILED = "bridge.widget_miss_failed"
# With the secrets that try hid from the logs (``logs.hide``: the tokens it read Jira
# with), which the view hides again: the app's first hook starts the request afresh.
MISS_HIDDEN = "bridge.widget_miss_hidden"


def _verify():
    """``before_request`` of every signed blueprint: no view runs on an unverified call."""
    if request.method == "OPTIONS":  # preflights carry no signature (§4.3)
        return None
    cfg = settings()
    handed = request.environ.get(VERIFIED_CALL)
    if isinstance(handed, AsanaCall):
        g.bridge_context = Context.of_call(cfg, process_cache(), handed)
        return None
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
    g.bridge_context = Context.of_call(cfg, process_cache(), call)
    log.debug("asana.call path=%s user=%s workspace=%s", request.path, call.user,
              call.workspace)
    return None


def current_context() -> Context:
    """This request's context (inside a signed blueprint's view)."""
    return g.bridge_context


class SignedBlueprint(Blueprint):
    """A blueprint under ``/asana`` whose every route is verified and gets the context.

    ``route`` (and so ``get`` / ``post``) passes the request's ``Context`` to the view as
    its first argument (``ctx.call`` is the verified ``AsanaCall``); URL variables follow
    as keyword arguments.
    """

    def __init__(self, name: str, import_name: str, **kwargs):
        kwargs.setdefault("url_prefix", PREFIX)
        super().__init__(name, import_name, **kwargs)
        self.before_request(_verify)

    def route(self, rule: str, **options):
        def decorator(view):
            @functools.wraps(view)
            def with_context(**kwargs):
                return view(current_context(), **kwargs)

            endpoint = options.pop("endpoint", None) or view.__name__
            self.add_url_rule(rule, endpoint, with_context, **options)
            return view

        return decorator

