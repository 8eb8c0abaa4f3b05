"""The lookup: ``GET /asana/lookup/typeahead`` and ``POST /asana/lookup/attach`` (§5.3).

Signed routes (``SignedBlueprint``); the decisions are in ``services.lookup``.
"""

from __future__ import annotations

from ..services import lookup
from .app_components import Context, SignedBlueprint

bp = SignedBlueprint("lookup", __name__)


@bp.get("/lookup/typeahead")
def typeahead(ctx: Context):
    return lookup.typeahead(ctx, ctx.call.text)


@bp.post("/lookup/attach")
def attach(ctx: Context):
    return lookup.attach(ctx, ctx.call.text, attachment=ctx.call.attachment)
