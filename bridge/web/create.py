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
runs); this module maps outcomes to Asana's shapes: a form with field errors is a 400
form, other errors ``{"error": ...}`` with the request id in ``X-Request-Id``, and a user
without a usable Jira credential gets 401 (Asana opens the Authentication URL).
"""

from __future__ import annotations

import logging

from flask import current_app, jsonify

from ..asana.errors import AsanaNeedsReconnect
from ..errors import BridgeError
from ..jira.errors import JiraNeedsReconnect
from ..services import create_issue, jira_as_user, rules
from ..services.create_issue import Caller, FormRejected, Urls
from .app_components import AsanaCall, SignedBlueprint

bp = SignedBlueprint("asana_create", __name__)
log = logging.getLogger("bridge.web.create")


def asana_error(message: str, status: int):
    response = jsonify(error=message)
    response.status_code = status
    return response


def _caller(call: AsanaCall, *, task: bool = True) -> Caller:
    return Caller(workspace=call.workspace, user=call.user,
                  task=call.task if task else None, settings=current_app.config["BRIDGE"])


def _urls(kind: str) -> Urls:
    base = jira_as_user.public_url()
    return Urls(on_change=f"{base}/asana/{kind}/change", on_submit=f"{base}/asana/{kind}/submit",
                typeahead=f"{base}/asana/typeahead/{{field}}")


def _answer(fn):
    """Run a handler; map what the services raise to Asana's answers."""
    try:
        return fn()
    except FormRejected as exc:
        response = jsonify(exc.form)
        response.status_code = 400
        return response
    except (JiraNeedsReconnect, AsanaNeedsReconnect) as exc:
        return asana_error(exc.public_message, 401)
    except rules.ActionGone as exc:
        return asana_error(exc.public_message, 410)
    except BridgeError as exc:
        status = exc.status if exc.status in (400, 403, 404) else 500
        if exc.status >= 500:
            log.warning("asana.create_failed code=%s", exc.code)
        return asana_error(exc.public_message, status)


def _need(call: AsanaCall, *names: str) -> None:
    missing = [n for n in names if not getattr(call, n)]
    if missing:
        raise BridgeError(f"The request has no {', '.join(missing)}.", status=400,
                          code="bad_request")


# -- the modal form ----------------------------------------------------------------------------

@bp.get("/form")
def form(call: AsanaCall):
    def handle():
        _need(call, "task")
        return jsonify(create_issue.build_form(_caller(call), _urls("form")))

    return _answer(handle)


@bp.post("/form/change")
def form_change(call: AsanaCall):
    return _answer(lambda: jsonify(create_issue.build_form(_caller(call), _urls("form"),
                                                           dict(call.values))))


@bp.post("/form/submit")
def form_submit(call: AsanaCall):
    def handle():
        _need(call, "task")
        return jsonify(create_issue.submit(_caller(call), _urls("form"), dict(call.values),
                                           attachment_gid=call.attachment))

    return _answer(handle)


@bp.get("/typeahead/<field>")
def typeahead(call: AsanaCall, field: str):
    return _answer(lambda: jsonify(create_issue.typeahead(_caller(call), field, call.text)))


# -- rule actions -------------------------------------------------------------------------------

@bp.get("/rule")
def rule_form(call: AsanaCall):
    return _answer(lambda: jsonify(rules.build_form(_caller(call, task=False), _urls("rule"),
                                                    action_gid=call.action)))


@bp.post("/rule/change")
def rule_change(call: AsanaCall):
    return _answer(lambda: jsonify(rules.build_form(_caller(call, task=False), _urls("rule"),
                                                    dict(call.values))))


@bp.post("/rule/submit")
def rule_submit(call: AsanaCall):
    def handle():
        _need(call, "action")
        rules.save(_caller(call, task=False), _urls("rule"), dict(call.values),
                   action_gid=call.action, asana_project=call.project,
                   rule_name=call.params.get("rule_name"))
        return jsonify({})

    return _answer(handle)


@bp.post("/rule/run")
def rule_run(call: AsanaCall):
    def handle():
        _need(call, "action", "target_object", "idempotency_key")
        return jsonify(rules.run(action_gid=call.action, idempotency_key=call.idempotency_key,
                                 target_task=call.target_object,
                                 settings=current_app.config["BRIDGE"]))

    return _answer(handle)
