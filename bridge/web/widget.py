"""``GET /asana/widget``: the widget of a Jira issue attached to an Asana task (§5.1).

A signed route (``app_components.SignedBlueprint``: signature and expiry checked before
the view runs, errors in Asana's shape). The decisions live in ``services.widget``; the
view hands it the verified call and answers the JSON it gets. Most views never get here:
``widget_cache`` serves them in front of Flask (from memory, or read now), after the same
checks, and hands on only what it cannot answer: a call it could not verify or use, or
the failure its read met, which the view raises for the app's error handlers.
"""

from __future__ import annotations

from flask import Response, request

from .. import logs
from ..asana.errors import AsanaRequestMalformed
from ..services import widget
from .app_components import (
    MISS_FAILED,
    MISS_HIDDEN,
    VERIFIED_CALL,
    Context,
    SignedBlueprint,
)

bp = SignedBlueprint("widget", __name__)


@bp.get("/widget")
def show(ctx: Context):
    call = ctx.call
    missing = [name for name in ("task", "resource_url") if not getattr(call, name)]
    if missing:
        raise AsanaRequestMalformed(f"The request has no {' or '.join(missing)}.")
    failed = request.environ.get(MISS_FAILED)
    if isinstance(failed, Exception):  # ``widget_cache`` read it already, and failed
        logs.hide(*request.environ.get(MISS_HIDDEN, ()))  # the tokens it read Jira with
        raise failed
    # A call handed over by ``widget_cache`` was looked up in memory there already.
    body = widget.widget_json(ctx, call.resource_url,
                              memory_checked=VERIFIED_CALL in request.environ,
                              attachment=call.attachment)
    return Response(body, mimetype="application/json")
