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

The decisions are in ``services.create_issue`` and ``services.rules``; this module reads
the signed request and maps outcomes to Asana's shapes: errors are ``{"error": ...}`` with
the request id in ``X-Request-Id``; a user without a usable Jira credential gets 401
(Asana opens the Authentication URL, see the README).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging

from flask import Blueprint, current_app, jsonify, request

from ..asana.errors import AsanaNeedsReconnect
from ..errors import BridgeError
from ..jira.errors import JiraNeedsReconnect
from ..services import create_issue, rules
from ..services.create_issue import Caller, FormRejected, Urls

bp = Blueprint("asana_create", __name__)
log = logging.getLogger("bridge.web.create")


# -- the signed request (until the shared signed blueprint: same checks, §4.1, §4.2) -------

class _Refused(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _expired(raw) -> bool:
    text = str(raw or "")
    try:
        if text.isdigit():  # the legacy epoch-milliseconds form (§3.3)
            when = dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
        else:
            when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z")
                                             else text)
    except (ValueError, OverflowError):
        raise _Refused("The request has no valid expires_at.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when <= dt.datetime.now(dt.UTC)


def _check(message: bytes) -> None:
    settings = current_app.config["BRIDGE"]
    if not settings.app_components_enabled:
        raise _Refused("App Components are not configured on this bridge.")
    sent = request.headers.get("X-Asana-Request-Signature", "")
    expected = hmac.new(settings.asana_client_secret.encode(), message,
                        hashlib.sha256).hexdigest()
    if not sent or not hmac.compare_digest(sent.lower(), expected):
        raise _Refused("The request's signature is not valid.")


def signed_query() -> dict:
    _check(request.query_string)
    if _expired(request.args.get("expires_at")):
        raise _Refused("The request has expired.")
    return {k: v for k, v in request.args.items()}


def signed_data() -> dict:
    body = request.get_json(silent=True)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, str):
        raise _Refused("The request body must be {\"data\": \"<JSON>\"}.")
    _check(data.encode("utf-8"))
    try:
        parsed = json.loads(data)
    except ValueError:
        raise _Refused("The request's data is not JSON.") from None
    if not isinstance(parsed, dict):
        raise _Refused("The request's data is not an object.")
    if _expired(parsed.get("expires_at")):
        raise _Refused("The request has expired.")
    if "values" in parsed and not isinstance(parsed["values"], dict):
        raise _Refused("values must be an object.")
    return parsed


# -- shapes --------------------------------------------------------------------------------

def asana_error(message: str, status: int):
    response = jsonify(error=message)
    response.status_code = status
    return response


def _gid(value) -> str:
    return str(value) if value is not None else ""  # GIDs may arrive as numbers (§3.2)


def _caller(params: dict, *, task=True) -> Caller:
    missing = [n for n in ("workspace", "user") if not params.get(n)]
    if missing:
        raise _Refused(f"The request lacks {', '.join(missing)}.")
    return Caller(workspace=_gid(params["workspace"]), user=_gid(params["user"]),
                  task=_gid(params.get("task")) or None if task else None,
                  settings=current_app.config["BRIDGE"])


def _urls(kind: str) -> Urls:
    base = current_app.config["BRIDGE"].public_url or request.host_url.rstrip("/")
    return Urls(on_change=f"{base}/asana/{kind}/change", on_submit=f"{base}/asana/{kind}/submit",
                typeahead=f"{base}/asana/typeahead/{{field}}")


def _answer(fn):
    """Run a handler; map what the services raise to Asana's answers."""
    try:
        return fn()
    except _Refused as exc:
        return asana_error(exc.message, exc.status)
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


# -- the modal form ----------------------------------------------------------------------------

@bp.get("/asana/form")
def form():
    def handle():
        caller = _caller(signed_query())
        if not caller.task:
            raise _Refused("The request lacks task.")
        return jsonify(create_issue.build_form(caller, _urls("form")))

    return _answer(handle)


@bp.post("/asana/form/change")
def form_change():
    def handle():
        data = signed_data()
        caller = _caller(data)
        return jsonify(create_issue.build_form(caller, _urls("form"), data.get("values") or {}))

    return _answer(handle)


@bp.post("/asana/form/submit")
def form_submit():
    def handle():
        data = signed_data()
        caller = _caller(data)
        if not caller.task:
            raise _Refused("The request lacks task.")
        answer = create_issue.submit(caller, _urls("form"), data.get("values") or {},
                                     attachment_gid=_gid(data.get("attachment")) or None)
        return jsonify(answer)

    return _answer(handle)


@bp.get("/asana/typeahead/<field>")
def typeahead(field: str):
    def handle():
        params = signed_query()
        caller = _caller(params)
        query = params.get("query", params.get("value", params.get("fragment", "")))
        return jsonify(create_issue.typeahead(caller, field, query))

    return _answer(handle)


# -- rule actions -------------------------------------------------------------------------------

@bp.get("/asana/rule")
def rule_form():
    def handle():
        params = signed_query()
        caller = _caller(params, task=False)
        return jsonify(rules.build_form(caller, _urls("rule"),
                                        action_gid=_gid(params.get("action")) or None))

    return _answer(handle)


@bp.post("/asana/rule/change")
def rule_change():
    def handle():
        data = signed_data()
        caller = _caller(data, task=False)
        return jsonify(rules.build_form(caller, _urls("rule"), data.get("values") or {}))

    return _answer(handle)


@bp.post("/asana/rule/submit")
def rule_submit():
    def handle():
        data = signed_data()
        caller = _caller(data, task=False)
        rules.save(caller, _urls("rule"), data.get("values") or {},
                   action_gid=_gid(data.get("action")), asana_project=_gid(data.get("project")),
                   rule_name=data.get("rule_name"))
        return jsonify({})

    return _answer(handle)


@bp.post("/asana/rule/run")
def rule_run():
    def handle():
        data = signed_data()
        for name in ("action", "target_object", "idempotency_key"):
            if not data.get(name):
                raise _Refused(f"The request lacks {name}.")
        return jsonify(rules.run(action_gid=_gid(data["action"]),
                                 idempotency_key=str(data["idempotency_key"]),
                                 target_task=_gid(data["target_object"]),
                                 settings=current_app.config["BRIDGE"]))

    return _answer(handle)
