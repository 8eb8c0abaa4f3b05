"""``GET /asana/widget``: the widget of a Jira issue attached to an Asana task (§5.1).

A signed route (``app_components.SignedBlueprint``: signature and expiry checked before
the view runs, errors in Asana's shape). The decisions live in ``services.widget``; the
view hands it the verified call and answers the JSON it gets. A cached answer usually
never gets here: ``widget_cache`` serves it in front of Flask, after the same checks.
"""

from __future__ import annotations

from flask import Response, request

from ..asana.errors import AsanaRequestMalformed
from ..services import widget
from .app_components import VERIFIED_CALL, Context, SignedBlueprint

bp = SignedBlueprint("widget", __name__)


@bp.get("/widget")
def show(ctx: Context):
    call = ctx.call
    missing = [name for name in ("task", "resource_url") if not getattr(call, name)]
    if missing:
        raise AsanaRequestMalformed(f"The request has no {' or '.join(missing)}.")
    # A call handed over by ``widget_cache`` was looked up in memory there already.
    body = widget.widget_json(ctx, call.resource_url,
                              memory_checked=VERIFIED_CALL in request.environ,
                              attachment=call.attachment)
    return Response(body, mimetype="application/json")
