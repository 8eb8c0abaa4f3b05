"""The lookup: ``GET /asana/lookup/typeahead`` and ``POST /asana/lookup/attach`` (§5.3).

Signed routes (``SignedBlueprint``); the decisions are in ``services.lookup``.
"""

from __future__ import annotations

from ..services import lookup
from .app_components import AsanaCall, SignedBlueprint
from .security import settings

bp = SignedBlueprint("lookup", __name__)


@bp.get("/lookup/typeahead")
def typeahead(call: AsanaCall):
    return lookup.typeahead(call)


@bp.post("/lookup/attach")
def attach(call: AsanaCall):
    return lookup.attach(call, settings())
