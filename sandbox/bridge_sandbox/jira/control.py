"""``/_sim/...``: HTTP control of the simulator for out-of-process tests and the demo.

Each endpoint maps onto a :class:`~bridge_sandbox.jira.state.SimState` method.  These
paths skip authentication, faults and rate limiting; the simulator only ever binds
loopback addresses.

Changing an issue as a Jira user would (status, priority, assignee), which fires the
registered ``jira:issue_updated`` webhooks (``rest/webhooks/1.0/webhook``) with a
changelog:

* a page for people and browser tests: ``GET {jira}/_sim/issues`` lists every issue with
  a Status, Priority and Assignee select and a "Save KEY" button per row (form
  ``#form-KEY``, ``POST {jira}/_sim/issues/KEY`` form-encoded; answers with the page);
* the same as JSON: ``POST {jira}/_sim/issues/KEY`` with
  ``{"status": "In Progress", "priority": "High", "assignee": "bob", "actor": "admin"}``
  (ids or names; ``"assignee": null`` unassigns) answers
  ``{"issue": {...}, "changelog": [...]}``; 404 for an unknown key, 400 for an unknown
  value (nothing changed);
* in-process: ``get_state(app).update_issue("EX-1", {"status": "Done"})``.

``GET /_sim/webhook-deliveries`` shows what was delivered; the dispatcher's ``wait()``
joins pending deliveries.  ``DELETE /_sim/captcha[/USER]`` clears a CAPTCHA lock.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, jsonify, render_template, request

from bridge_sandbox.jira import representations as rep
from bridge_sandbox.jira.keys import InvalidPublicKey
from bridge_sandbox.jira.webutil import error_json, state

bp = Blueprint("sim_control", __name__, url_prefix="/_sim")


def _body() -> dict:
    return request.get_json(silent=True) or {}


@bp.route("/reset", methods=["POST"])
def reset():
    state().reset()
    return jsonify({"reset": True})


@bp.route("/state", methods=["GET"])
def summary():
    st = state()
    return jsonify({"version": st.profile.version, "baseUrl": st.base_url,
                    "clock": st.clock(), "settings": st.settings,
                    "consumers": sorted(st.consumers), "oauth2Clients": sorted(st.oauth2_clients),
                    "applinks": list(st.applinks.values()),
                    "accessTokens": len(st.access_tokens), "oauth2Tokens": len(st.oauth2_tokens),
                    "faults": [asdict(f) for f in st.faults]})


@bp.route("/version", methods=["POST"])
def version():
    """``{"version": "10.3.0"}``: Jira upgraded (or downgraded) in place; 400 when the text
    starts with no version numbers (nothing changed)."""
    st = state()
    try:
        st.upgrade(str(_body().get("version", "")))
    except ValueError:
        return error_json(400, ["The version must start with numbers, like 10.3.0."])
    return jsonify({"version": st.profile.version})


@bp.route("/clock", methods=["POST"])
def clock():
    """``{"advance": seconds}`` moves the simulated clock; ``{"offset": s}`` sets it."""
    st = state()
    body = _body()
    if "offset" in body:
        with st.lock:
            st.clock_offset = float(body["offset"])
    if "advance" in body:
        st.advance(float(body["advance"]))
    return jsonify({"clock": st.clock(), "offset": st.clock_offset})


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults():
    st = state()
    if request.method == "DELETE":
        with st.lock:
            st.faults.clear()
    elif request.method == "POST":
        body = _body()
        try:
            st.add_fault(body.get("kind", "error"), count=body.get("count", 1),
                         status=body.get("status", 503), delay=body.get("delay", 0),
                         path_prefix=body.get("path_prefix", ""))
        except ValueError as exc:
            return error_json(400, [str(exc)])
    return jsonify([asdict(f) for f in st.faults])


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    st = state()
    if request.method == "POST":
        try:
            st.configure(**_body())
        except ValueError as exc:
            return error_json(400, [str(exc)])
    return jsonify(st.settings)


def _issues_page(changed=None, items=None, error=None, status=200):
    st = state()
    return render_template(
        "sim_issues.html", issues=sorted(st.issues.values(), key=lambda i: i["key"]),
        statuses=list(st.statuses.values()), priorities=list(st.priorities.values()),
        users=list(st.users.values()), actor="admin", changed=changed, error=error,
        remote_links={key: st.remote_links_of(key) for key in st.issues},
        changed_items=", ".join(f"{i['field']}: {i['fromString'] or '(none)'} → "
                                f"{i['toString'] or '(none)'}" for i in items or [])), status


@bp.route("/issues", methods=["GET"])
def issues_page():
    return _issues_page()


@bp.route("/issues/<key>", methods=["POST"])
def move_issue(key):
    """Change ``status``/``assignee``/``priority``/``summary``; fires webhooks.

    JSON in, JSON out; a form post (the ``/_sim/issues`` page) gets the page back.
    """
    st = state()
    from_form = request.mimetype in ("application/x-www-form-urlencoded",
                                     "multipart/form-data")
    if from_form:
        body = {k: v for k, v in request.form.items()
                if k in ("status", "priority", "assignee", "summary", "actor")}
        if body.get("assignee") == "":
            body["assignee"] = None
    else:
        body = _body()
    actor = body.pop("actor", "admin")
    try:
        issue, items = st.update_issue(key, body, user=actor)
    except KeyError:
        if from_form:
            return _issues_page(error=f"No issue {key}.", status=404)
        return error_json(404, ["Issue Does Not Exist"])
    except ValueError as exc:
        if from_form:
            return _issues_page(error=str(exc), status=400)
        return error_json(400, [str(exc)])
    if from_form:
        return _issues_page(changed=issue["key"], items=items)
    return jsonify({"issue": rep.issue(st, issue), "changelog": items})


@bp.route("/oauth1/consumers", methods=["POST"])
def add_consumer():
    st = state()
    body = _body()
    try:
        c = st.add_consumer(body["key"], body.get("name", body["key"]), body["public_key"],
                            callback=body.get("callback"), description=body.get("description"))
    except KeyError as exc:
        return error_json(400, [f"missing {exc}"])
    except InvalidPublicKey as exc:
        return error_json(400, [f"invalid public key: {exc}"])
    return jsonify({"key": c.key, "name": c.name, "applinkId": c.applink_id}), 201


@bp.route("/oauth2/clients", methods=["POST"])
def add_client():
    st = state()
    if not st.profile.has_oauth2_provider:
        return error_json(404, ["OAuth 2.0 provider needs Jira 8.22+"])
    body = _body()
    try:
        c = st.add_oauth2_client(body["name"], body["redirect_uri"], body.get("scope", "WRITE"))
    except KeyError as exc:
        return error_json(400, [f"missing {exc}"])
    except ValueError as exc:
        return error_json(400, [str(exc)])
    return jsonify({"clientId": c.client_id, "clientSecret": c.client_secret, "name": c.name,
                    "redirects": c.redirects, "scope": c.scope,
                    "applinkId": c.applink_id}), 201


@bp.route("/captcha", methods=["GET", "DELETE"])
@bp.route("/captcha/<user>", methods=["DELETE"])
def captcha(user=None):
    """Users who must pass a CAPTCHA; DELETE clears one user (or everyone)."""
    st = state()
    if request.method == "DELETE":
        st.clear_captcha(user)
    return jsonify({"captcha": sorted(st.captcha), "failedLogins": st.failed_logins})


@bp.route("/webhook-deliveries", methods=["GET"])
def deliveries():
    return jsonify(state().webhook_deliveries)
