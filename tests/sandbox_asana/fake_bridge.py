"""A test-only App Components server standing in for the (not yet built) bridge.

It checks what the simulator's host sends the way a careful app server would (reference §4):
signature over the raw query string or the ``data`` string, ``expires_at`` in the future,
CORS for the simulator's origin with unsigned preflights. It serves spec-valid bodies and
records every call so tests can look at the wire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from datetime import datetime
from urllib.parse import urlencode

import requests
from bridge_sandbox.asana import signing
from flask import Flask, Response, jsonify, redirect, request

SIGNED = ("/asana/widget", "/asana/form", "/asana/lookup", "/asana/typeahead", "/asana/rule")


def _parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def create_fake_bridge(client_secret: str, allowed_origin: str | None = None, clock=time.time,
                       client_id: str | None = None):
    """``allowed_origin`` is the simulator's origin: CORS, postMessage target and OAuth server."""
    app = Flask(__name__)
    app.config.update(CLIENT_SECRET=client_secret, CLIENT_ID=client_id,
                      ALLOWED_ORIGIN=allowed_origin)
    run_lock = threading.Lock()

    def reset():
        # REQUIRE_AUTH: a user absent from AUTHORIZED gets 401 {"error"} on every browser
        # call (the lead's contract for "no usable Jira credential"); the OAuth callback
        # adds the user. RULES: saved rule-action values by action id. RUNS: run results by
        # idempotency key; RUN_IN_FLIGHT / RUN_MAX_IN_FLIGHT count overlapping deliveries.
        app.config.update(CALLS=[], RUN_FAILURES=0, RUN_DELAY=0.0, RUN_KEYS=[],
                          BROKEN_WIDGET=False, ISSUES={}, NEXT_ISSUE=[1], PENDING={}, TOKENS=[],
                          REQUIRE_AUTH=False, AUTHORIZED=set(), RULES={}, RUNS={},
                          RUN_IN_FLIGHT=[0], RUN_MAX_IN_FLIGHT=[0], RUN_SLEEP=0.0)

    reset()
    app.reset = reset

    @app.before_request
    def check_signature():
        if request.method == "OPTIONS" or not request.path.startswith(SIGNED):
            return None
        secret = app.config["CLIENT_SECRET"]
        sig = request.headers.get(signing.HEADER)
        if request.method == "GET":
            message = request.query_string.decode("utf-8")
            payload = request.args.to_dict()
        else:
            raw = request.get_json(silent=True)
            if not isinstance(raw, dict) or not isinstance(raw.get("data"), str):
                return jsonify(error="body must be {\"data\": \"<json string>\"}"), 400
            message = raw["data"]
            payload = json.loads(message)
        call = {"path": request.path, "method": request.method, "message": message,
                "signature": sig, "payload": payload, "raw_body": request.get_data(as_text=True),
                "origin": request.headers.get("Origin")}
        app.config["CALLS"].append(call)
        if not signing.verify(secret, message, sig):
            return jsonify(error="signature mismatch"), 401
        if _parse_iso(payload.get("expires_at", "1970-01-01T00:00:00Z")) < clock():
            return jsonify(error="request expired"), 401
        request.environ["fake.payload"] = payload
        if (app.config["REQUIRE_AUTH"] and request.path != "/asana/rule/run"
                and str(payload.get("user")) not in app.config["AUTHORIZED"]):
            return jsonify(error="Connect your Jira account to continue."), 401
        return None

    @app.after_request
    def cors(resp):
        origin = app.config["ALLOWED_ORIGIN"]
        if origin:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Asana-Request-Signature"
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return resp

    def payload():
        return request.environ["fake.payload"]

    def base():
        return request.host_url.rstrip("/")

    def issue_url(key):
        return f"https://jira.example.com/browse/{key}"

    @app.route("/asana/widget", methods=["GET"])
    def widget():
        url = payload()["resource_url"]
        key = url.rsplit("/", 1)[-1]
        title = app.config["ISSUES"].get(key, "Login fails on Safari")
        fields = [
            {"type": "pill", "name": "Status", "text": "In Progress", "color": "blue"},
            {"type": "pill", "name": "Priority", "text": "High", "color": "red"},
            {"type": "text_with_icon", "name": "Assignee", "text": "Bob Builder",
             "icon_url": base() + "/icons/avatar.svg"},
            {"type": "datetime_with_icon", "name": "Due", "datetime": "2026-12-04T12:00:00.000Z",
             "icon_url": base() + "/icons/calendar.svg"},
        ]
        if app.config["BROKEN_WIDGET"]:
            fields[0]["color"] = "brown"
        return jsonify(template="summary_with_details_v0", metadata={
            "title": f"{key} {title}", "subtitle": "Jira Server · Bug", "fields": fields,
            "subicon_url": base() + "/icons/bug.svg",
            "footer": {"footer_type": "updated", "last_updated_at": "2026-11-26T09:30:00.000Z"},
            "num_comments": 2,
        })

    @app.route("/icons/<name>.svg")
    def icon(name):
        colour = {"avatar": "#7a6ff0", "calendar": "#37c5ab", "bug": "#e8384f"}.get(name, "#888")
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">'
               f'<rect width="16" height="16" rx="3" fill="{colour}"/></svg>')
        return Response(svg, mimetype="image/svg+xml")

    def form(values=None, errors=None):
        values = values or {}
        errors = errors or {}
        fields = [
            {"type": "static_text", "id": "intro", "name": "Create a Jira issue",
             "style": "header"},
            {"type": "dropdown", "id": "project", "name": "Project", "is_required": True,
             "is_watched": True, "width": "half",
             "options": [{"id": "EX", "label": "Example (EX)"}, {"id": "OPS", "label": "Ops"}]},
            {"type": "single_line_text", "id": "summary", "name": "Summary", "is_required": True,
             "placeholder": "What is wrong?"},
            {"type": "rich_text", "id": "description", "name": "Description"},
            {"type": "multi_line_text", "id": "steps", "name": "Steps to reproduce"},
            {"type": "radio_button", "id": "priority", "name": "Priority",
             "options": [{"id": "high", "label": "High", "sub_label": "fix now"},
                         {"id": "low", "label": "Low"}]},
            {"type": "checkbox", "id": "copy", "name": "Attachments",
             "options": [{"id": "yes", "label": "Copy task attachments"}]},
            {"type": "date", "id": "due", "name": "Due date"},
            {"type": "datetime", "id": "remind", "name": "Remind at"},
            {"type": "typeahead", "id": "assignee", "name": "Assignee",
             "typeahead_url": base() + "/asana/typeahead/assignee", "placeholder": "Search users"},
        ]
        if values.get("project") == "OPS":
            fields.insert(2, {"type": "single_line_text", "id": "component",
                              "name": "Component (OPS only)"})
        for f in fields:
            if f["id"] in values and f["type"] != "static_text" and values[f["id"]] is not None:
                f["value"] = values[f["id"]]
            if f["id"] in errors:
                f["error"] = errors[f["id"]]
        return {"template": "form_metadata_v0", "metadata": {
            "title": "Create a Jira issue", "fields": fields,
            "on_change_callback": base() + "/asana/form/change",
            "on_submit_callback": base() + "/asana/form/submit"}}

    @app.route("/asana/form", methods=["GET"])
    def form_metadata():
        return jsonify(form())

    @app.route("/asana/form/change", methods=["POST"])
    def form_change():
        return jsonify(form(payload().get("values")))

    @app.route("/asana/form/submit", methods=["POST"])
    def form_submit():
        values = payload().get("values") or {}
        if not (values.get("summary") or "").strip():
            return jsonify(form(values, {"summary": "Summary is required"})), 400
        n = app.config["NEXT_ISSUE"][0]
        app.config["NEXT_ISSUE"][0] += 1
        key = f"{values.get('project') or 'EX'}-{100 + n}"
        app.config["ISSUES"][key] = values["summary"]
        return jsonify(resource_name=f"{key} {values['summary']}", resource_url=issue_url(key))

    @app.route("/asana/lookup/typeahead", methods=["GET"])
    @app.route("/asana/typeahead/<field>", methods=["GET"])
    def typeahead(field=None):
        query = payload().get("query", "").lower()
        if field == "assignee":
            people = [("bob", "Bob Builder"), ("carol", "Carol Jones")]
            items = [{"title": n, "value": u, "subtitle": u} for u, n in people
                     if query in n.lower()]
            return jsonify(items=items)
        issues = [("EX-1", "Login fails on Safari"), ("EX-2", "Export is slow"),
                  ("EX-3", "Crash on logout")]
        items = [{"title": f"{k} {s}", "subtitle": "Example", "value": k}
                 for k, s in issues if query in (k + " " + s).lower()]
        return jsonify(header="Jira issues", items=items)

    @app.route("/asana/lookup/attach", methods=["POST"])
    def attach():
        query = payload().get("query", "").strip()
        key = query.rsplit("/", 1)[-1].upper()
        if not key.startswith("EX-"):
            return jsonify(error="No issue matched that input"), 400
        return jsonify(resource_name=f"{key} Login fails on Safari", resource_url=issue_url(key))

    def rule_form(values=None, errors=None):
        values = dict(values or {})
        fields = [
            {"type": "dropdown", "id": "project", "name": "Project", "is_required": True,
             "is_watched": True,
             "options": [{"id": "EX", "label": "Example (EX)"}, {"id": "OPS", "label": "Ops"}]},
        ]
        if values.get("project"):
            fields.append({"type": "dropdown", "id": "issuetype", "name": "Issue type",
                           "is_required": True,
                           "options": [{"id": "bug", "label": "Bug"},
                                       {"id": "task", "label": "Task"}]})
        fields += [
            {"type": "single_line_text", "id": "prefix", "name": "Summary prefix",
             "placeholder": "[Asana]"},
            {"type": "typeahead", "id": "assignee", "name": "Assignee",
             "typeahead_url": base() + "/asana/typeahead/assignee"},
            {"type": "checkbox", "id": "copy", "name": "Attachments",
             "options": [{"id": "yes", "label": "Copy task attachments"}]},
        ]
        for f in fields:
            if values.get(f["id"]) is not None:
                f["value"] = values[f["id"]]
            if f["id"] in (errors or {}):
                f["error"] = errors[f["id"]]
        return {"template": "form_metadata_v0", "metadata": {
            "title": "Create a Jira issue", "fields": fields,
            "on_change_callback": base() + "/asana/rule/change",
            "on_submit_callback": base() + "/asana/rule/submit"}}

    @app.route("/asana/rule", methods=["GET"])
    def rule_metadata():
        saved = app.config["RULES"].get(payload().get("action") or "", {})
        return jsonify(rule_form(saved.get("values")))

    @app.route("/asana/rule/change", methods=["POST"])
    def rule_change():
        return jsonify(rule_form(payload().get("values")))

    @app.route("/asana/rule/submit", methods=["POST"])
    def rule_submit():
        data = payload()
        values = data.get("values") or {}
        if not values.get("project") or not values.get("issuetype"):
            error = {"issuetype": "Choose a project and an issue type"}
            return jsonify(rule_form(values, error)), 400
        app.config["RULES"][str(data["action"])] = {"values": values,
                                                    "rule_name": data.get("rule_name"),
                                                    "user": data.get("user")}
        return jsonify({})

    @app.route("/asana/rule/run", methods=["POST"])
    def rule_run():
        data = payload()
        key = data["idempotency_key"]
        app.config["RUN_KEYS"].append(key)
        with run_lock:
            app.config["RUN_IN_FLIGHT"][0] += 1
            app.config["RUN_MAX_IN_FLIGHT"][0] = max(app.config["RUN_MAX_IN_FLIGHT"][0],
                                                     app.config["RUN_IN_FLIGHT"][0])
        try:
            if app.config["RUN_DELAY"]:
                delay, app.config["RUN_DELAY"] = app.config["RUN_DELAY"], 0.0
                time.sleep(delay)
            time.sleep(app.config["RUN_SLEEP"])
            if app.config["RUN_FAILURES"] > 0:
                app.config["RUN_FAILURES"] -= 1
                return jsonify(error="Jira is unavailable"), 503
            rules = app.config["RULES"]
            if rules and str(data["action"]) not in rules:
                return Response(status=410)
            with run_lock:  # a careful server: one issue per idempotency key
                if key not in app.config["RUNS"]:
                    n = app.config["NEXT_ISSUE"][0]
                    app.config["NEXT_ISSUE"][0] += 1
                    issue = f"EX-{900 + n}" if rules else "EX-9"
                    app.config["ISSUES"][issue] = "Created by rule"
                    app.config["RUNS"][key] = {
                        "action_result": "resources_created", "resources_created": [
                            {"resource_name": f"{issue} Created by rule",
                             "resource_url": issue_url(issue)}]}
                return jsonify(app.config["RUNS"][key])
        finally:
            with run_lock:
                app.config["RUN_IN_FLIGHT"][0] -= 1

    def final_page(message: str) -> Response:
        # Same origin as the Authentication URL, posting to the opener (reference §7.1); the
        # target origin is the simulator's, standing in for https://app.asana.com.
        target = json.dumps(app.config["ALLOWED_ORIGIN"] or "*")
        html = f"""<!doctype html><title>Fake bridge auth</title><p id="result">{message}</p>
<script>window.opener.postMessage({json.dumps(message)}, {target}); window.close();</script>"""
        return Response(html, mimetype="text/html")

    @app.route("/asana/auth")
    def auth():
        """Authentication URL: start Asana OAuth with state and PKCE, as the bridge will."""
        state = secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        app.config["PENDING"][state] = verifier
        params = {"client_id": app.config["CLIENT_ID"],
                  "redirect_uri": base() + "/oauth/asana/callback",
                  "response_type": "code", "state": state,
                  "code_challenge": challenge.decode().rstrip("="), "code_challenge_method": "S256"}
        return redirect(app.config["ALLOWED_ORIGIN"] + "/-/oauth_authorize?" + urlencode(params))

    @app.route("/oauth/asana/callback")
    def callback():
        verifier = app.config["PENDING"].pop(request.args.get("state", ""), None)
        if verifier is None:
            return Response("state mismatch", status=422)
        if request.args.get("error"):
            return final_page("error")
        resp = requests.post(app.config["ALLOWED_ORIGIN"] + "/-/oauth_token", data={
            "grant_type": "authorization_code", "client_id": app.config["CLIENT_ID"],
            "client_secret": app.config["CLIENT_SECRET"], "code": request.args["code"],
            "redirect_uri": base() + "/oauth/asana/callback", "code_verifier": verifier},
            timeout=10)
        if resp.status_code != 200:
            return final_page("error")
        app.config["TOKENS"].append(resp.json())
        app.config["AUTHORIZED"].add(str(resp.json()["data"]["id"]))
        return final_page("success")

    return app
