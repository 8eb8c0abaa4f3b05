"""``/_sim/...``: HTTP control of the simulator for out-of-process tests and the demo.

Each endpoint maps onto a :class:`~bridge.sandbox.jira.state.SimState` method.  These
paths skip authentication, faults and rate limiting; the simulator only ever binds
loopback addresses.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, jsonify, request

from bridge.sandbox.jira import representations as rep
from bridge.sandbox.jira.keys import InvalidPublicKey
from bridge.sandbox.jira.webutil import error_json, state

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


@bp.route("/issues/<key>", methods=["POST"])
def move_issue(key):
    """Admin change of ``status``/``assignee``/``priority``/``summary``; fires webhooks."""
    st = state()
    body = _body()
    actor = body.pop("actor", "admin")
    try:
        issue, items = st.update_issue(key, body, user=actor)
    except KeyError:
        return error_json(404, ["Issue Does Not Exist"])
    except ValueError as exc:
        return error_json(400, [str(exc)])
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


@bp.route("/webhook-deliveries", methods=["GET"])
def deliveries():
    return jsonify(state().webhook_deliveries)
