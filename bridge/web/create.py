"""Create-issue form and rule-action endpoints of App Components (asana-app-components.md
§5.2, §5.4, §6.2, §6.4, §6.5).

| Route | Asana operation | Answer |
|---|---|---|
| ``GET /asana/form`` | form metadata | ``FormMetadataResponse`` |
| ``POST /asana/form/change`` | on change | the whole form again |
| ``POST /asana/form/submit`` | on submit | ``AttachedResourceResponse``; 400: form, errors |
| ``GET /asana/typeahead/<field>`` | form field typeahead | ``TypeaheadListResponse`` |
| ``GET /asana/rule`` | rule action metadata | ``FormMetadataResponse`` |
| ``POST /asana/rule/change`` | on action change | the whole form again |
| ``POST /asana/rule/submit`` | on action submit | 200; 400 form |
| ``POST /asana/rule/run`` | run action (from Asana's servers) | ``RanActionResponse``; 410 |

The decisions are in ``services.create_issue`` and ``services.rules``. The routes sit on a
``SignedBlueprint`` (``web.app_components``: signature and expiry verified before any view
runs); a form with field errors is a 400 form, and every other error goes through the
app's one mapping (``web.errors``): ``{"error": ...}`` with its status and the request id
in ``X-Request-Id``; a user without a usable Jira credential gets 401 (Asana opens the
Authentication URL). A signed message is also refused when its shape belongs to another
callback (``_shape``).
"""

from __future__ import annotations

import logging

from flask import jsonify

from ..asana.signing import AsanaCall
from ..errors import BridgeError
from ..services import create_issue, rules
from ..services.create_issue import FormRejected, Urls
from .app_components import Context, SignedBlueprint

bp = SignedBlueprint("asana_create", __name__)
log = logging.getLogger("bridge.web.create")


def _urls(ctx: Context, kind: str) -> Urls:
    base = ctx.public_url()
    return Urls(on_change=f"{base}/asana/{kind}/change", on_submit=f"{base}/asana/{kind}/submit",
                typeahead=f"{base}/asana/typeahead/{{field}}")


def _answer(fn):
    """Run a handler. A form with field errors is Asana's 400 form; every other error is
    left to the app's one mapping (``web.errors``), which keeps its status (401 to
    authenticate, 410 for a deleted action, 429 and 503 with ``Retry-After`` so Asana
    retries later) and answers Asana's ``{"error": ...}`` shape."""
    try:
        return fn()
    except FormRejected as exc:
        response = jsonify(exc.form)
        response.status_code = 400
        return response


def _need(call: AsanaCall, *names: str) -> None:
    missing = [n for n in names if not getattr(call, n)]
    if missing:
        raise BridgeError(f"The request has no {', '.join(missing)}.", status=400,
                          code="bad_request")


# What tells Asana's callbacks apart (asana-app-components.md §5.2, §5.4): an on-change
# names the ``changed_field``, a submit never does; a rule run carries ``target_object``
# and ``idempotency_key``, a form or rule-form callback never does. Asana's signature
# covers the body, not the path, so a signed message posted to another callback's path
# must be refused by its shape.
_NOT_IN = {
    "form_change": ("action", "rule_name", "target_object", "idempotency_key"),
    "form_submit": ("changed_field", "action", "rule_name", "target_object",
                    "idempotency_key"),
    "rule_change": ("rule_name", "target_object", "idempotency_key"),
    "rule_submit": ("changed_field", "target_object", "idempotency_key"),
    "rule_run": ("changed_field", "values", "rule_name"),
}
_CALLBACK = {"form_change": "form change", "form_submit": "form submit",
             "rule_change": "rule form change", "rule_submit": "rule form submit",
             "rule_run": "rule run"}


def _shape(call: AsanaCall, kind: str) -> None:
    """Refuse a signed message made for another callback (a replayed on-change posted as
    a submit would create an issue from half-typed values)."""
    stray = [name for name in _NOT_IN[kind] if call.params.get(name) is not None]
    if kind.endswith("_change") and not call.changed_field:
        stray.insert(0, "no changed_field")
    if stray:
        log.warning("asana.wrong_callback kind=%s found=%s", kind, ",".join(stray))
        raise BridgeError(f"This request is not a {_CALLBACK[kind]} of Asana "
                          f"({', '.join(stray)}); nothing was changed.", status=400,
                          code="wrong_callback")


# -- the modal form ----------------------------------------------------------------------------

@bp.get("/form")
def form(ctx: Context):
    call = ctx.call

    def handle():
        _need(call, "task")
        return jsonify(create_issue.build_form(ctx, _urls(ctx, "form")))

    return _answer(handle)


@bp.post("/form/change")
def form_change(ctx: Context):
    call = ctx.call

    def handle():
        _shape(call, "form_change")
        return jsonify(create_issue.build_form(ctx, _urls(ctx, "form"),
                                               dict(call.values)))

    return _answer(handle)


@bp.post("/form/submit")
def form_submit(ctx: Context):
    call = ctx.call

    def handle():
        _shape(call, "form_submit")
        _need(call, "task")
        return jsonify(create_issue.submit(ctx, _urls(ctx, "form"), dict(call.values),
                                           attachment_gid=call.attachment))

    return _answer(handle)


@bp.get("/typeahead/<field>")
def typeahead(ctx: Context, field: str):
    call = ctx.call
    return _answer(lambda: jsonify(create_issue.typeahead(ctx, field, call.text)))


# -- rule actions -------------------------------------------------------------------------------

@bp.get("/rule")
def rule_form(ctx: Context):
    call = ctx.call
    return _answer(lambda: jsonify(rules.build_form(ctx, _urls(ctx, "rule"),
                                                    action_gid=call.action)))


@bp.post("/rule/change")
def rule_change(ctx: Context):
    call = ctx.call

    def handle():
        _shape(call, "rule_change")
        return jsonify(rules.build_form(ctx, _urls(ctx, "rule"),
                                        dict(call.values)))

    return _answer(handle)


@bp.post("/rule/submit")
def rule_submit(ctx: Context):
    call = ctx.call

    def handle():
        _shape(call, "rule_submit")
        _need(call, "action")
        rules.save(ctx, _urls(ctx, "rule"), dict(call.values),
                   action_gid=call.action, asana_project=call.project,
                   rule_name=call.params.get("rule_name"))
        return jsonify({})

    return _answer(handle)


@bp.post("/rule/run")
def rule_run(ctx: Context):
    call = ctx.call

    def handle():
        _shape(call, "rule_run")
        _need(call, "action", "target_object", "idempotency_key")
        return jsonify(rules.run(ctx, action_gid=call.action,
                                 idempotency_key=call.idempotency_key,
                                 target_task=call.target_object))

    return _answer(handle)
