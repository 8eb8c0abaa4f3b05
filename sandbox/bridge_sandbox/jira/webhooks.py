"""Webhook registration (``/rest/webhooks/1.0/webhook``) and delivery.

Not covered by the reference file; modelled on Jira Server's webhooks REST resource:
admin-only registration with ``name``, ``url``, ``events``, optional ``filters`` and
``excludeBody``; events ``jira:issue_created`` / ``jira:issue_updated`` are POSTed as
JSON (``timestamp``, ``webhookEvent``, ``issue_event_type_name``, ``user``, ``issue``,
``changelog``).  Deliveries run in a background thread and only to loopback URLs, so a
test or demo can never make the simulator call out to the internet.

Data Center 10 (profile ``signs_webhooks``) takes a ``secret`` at registration and signs
each delivery with it: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``
(Atlassian, "Managing webhooks", Jira DC; the REST field name ``secret`` is the one
Jira Cloud's admin-webhook resource documents, UNCONFIRMED for DC, see
docs/jira-server.md §9). The secret is never returned by GET. Older profiles ignore
the field, as a Jira that does not know it would.

``PUT /rest/webhooks/1.0/webhook/{id}`` (the webhook's ``self``) replaces the
registration with the body, validated as a POST's: a field left out takes its default
(``filters`` none, ``excludeBody`` false, no ``secret``), as a PUT of the whole resource
does. Jira's own update resource is UNCONFIRMED by the references (docs/jira-server.md
§9); this follows the webhooks plugin's resource as the REST clients of Jira Server call
it (jira.js ``server.updateWebhook``: the same body as the POST).

Late and out-of-order delivery (Jira 10 delivers from a thread pool, with retries) is a
fault option: ``state.configure(webhook_hold=True)`` keeps deliveries back until
``Dispatcher.release(order="reverse")`` sends them, newest first.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
from urllib.parse import urlsplit

import requests
from flask import Blueprint, g, jsonify, request

from bridge_sandbox.jira import jql
from bridge_sandbox.jira import representations as rep
from bridge_sandbox.jira.auth import has_scope
from bridge_sandbox.jira.webutil import error_json, not_authenticated, state

bp = Blueprint("webhooks", __name__)

# Jira also offers jira:issue_deleted (a subscriber may register it; this simulator has no
# issue deletion, so it never fires).
EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")


def is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _bean(st, hook: dict) -> dict:
    return {"self": f"{st.base_url}/rest/webhooks/1.0/webhook/{hook['id']}", **{
        k: hook[k] for k in ("name", "url", "events", "filters", "excludeBody", "enabled",
                             "lastUpdatedUser", "lastUpdatedDisplayName", "lastUpdated")}}


def _admin_guard():
    st = state()
    if g.user is None:
        return not_authenticated()
    if not st.is_admin(g.user) or not has_scope("ADMIN"):
        return error_json(403, ["You must be a Jira administrator to manage webhooks."])
    return None


@bp.route("/rest/webhooks/1.0/webhook", methods=["GET", "POST"])
def webhooks():
    st = state()
    denied = _admin_guard()
    if denied is not None:
        return denied
    if request.method == "GET":
        return jsonify([_bean(st, h) for h in st.webhooks.values()])
    fields, refused = _registration(st, request.get_json(silent=True))
    if refused is not None:
        return refused
    with st.lock:
        hook = {"id": st.next_webhook_id, **fields}
        st.webhooks[hook["id"]] = hook
        st.next_webhook_id += 1
    resp = jsonify(_bean(st, hook))
    resp.status_code = 201
    return resp


def _registration(st, body):
    """A registration body (POST or PUT) as the stored fields, or the 400 answer."""
    body = body if isinstance(body, dict) else {}
    errors = {}
    if not body.get("name") or not isinstance(body.get("name"), str):
        errors["name"] = "Name is required."
    url = body.get("url") or ""
    if not isinstance(url, str) or not is_loopback_url(url):
        errors["url"] = "The simulator only delivers webhooks to loopback URLs."
    events = body.get("events") or []
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        errors["events"] = f"Events must be a non-empty subset of {list(EVENTS)}."
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        errors["filters"] = "Filters must be an object."
    if errors:
        return None, error_json(400, [], errors)
    secret = body.get("secret") if st.profile.signs_webhooks else None
    if secret is not None and (not isinstance(secret, str) or len(secret) > 1024):
        return None, error_json(400, [], {"secret": "The secret must be text of at most "
                                                    "1024 characters."})
    return {"name": body["name"], "url": url, "events": events, "secret": secret or None,
            "filters": filters, "excludeBody": bool(body.get("excludeBody")),
            "enabled": body.get("enabled", True), "lastUpdatedUser": st.users[g.user]["key"],
            "lastUpdatedDisplayName": st.users[g.user]["displayName"],
            "lastUpdated": int(st.clock() * 1000)}, None


@bp.route("/rest/webhooks/1.0/webhook/<int:hook_id>", methods=["GET", "PUT", "DELETE"])
def webhook(hook_id):
    st = state()
    denied = _admin_guard()
    if denied is not None:
        return denied
    hook = st.webhooks.get(hook_id)
    if hook is None:
        return error_json(404, [f"Webhook with id {hook_id} does not exist."])
    if request.method == "DELETE":
        with st.lock:
            st.webhooks.pop(hook_id, None)
        return "", 204
    if request.method == "PUT":
        fields, refused = _registration(st, request.get_json(silent=True))
        if refused is not None:
            return refused
        with st.lock:
            hook = st.webhooks[hook_id] = {"id": hook_id, **fields}
            st.webhook_updates.append(hook_id)
    return jsonify(_bean(st, hook))


class Dispatcher:
    """State listener that turns issue changes into webhook POSTs (background thread)."""

    def __init__(self, st):
        self.state = st
        self.threads: list[threading.Thread] = []

    def __call__(self, event: str, issue: dict, user: str | None, items: list[dict]) -> None:
        st = self.state
        hooks = [h for h in st.webhooks.values() if h["enabled"] and event in h["events"]
                 and self._passes_filter(h, issue)]
        if not hooks:
            return
        payload = {
            "timestamp": int(st.clock() * 1000), "webhookEvent": event,
            "issue_event_type_name": "issue_created" if event == "jira:issue_created"
            else "issue_generic",
            "user": rep.user(st, user) if user else None,
            "issue": rep.issue(st, issue),
        }
        if items:
            payload["changelog"] = {"id": str(int(st.clock() * 1000) % 10**8),
                                    "items": [{k: (str(v) if v is not None and k in ("from", "to")
                                                   else v) for k, v in it.items()}
                                              for it in items]}
        for hook in hooks:
            body = {"timestamp": payload["timestamp"], "webhookEvent": event} \
                if hook["excludeBody"] else payload
            if st.settings.get("webhook_hold"):
                with st.lock:
                    st.webhook_held.append((hook, body))
                continue
            self._start(hook, body)

    def _start(self, hook: dict, body: dict) -> None:
        t = threading.Thread(target=self._deliver, args=(hook, body), daemon=True,
                             name=f"jira-sim-webhook-{hook['id']}")
        self.threads = [x for x in self.threads if x.is_alive()] + [t]
        t.start()

    def release(self, order: str = "reverse") -> int:
        """Send the deliveries held back by ``webhook_hold`` (``reverse``: newest first,
        one after another, so the receiver sees them out of order). Returns how many."""
        with self.state.lock:
            held, self.state.webhook_held = self.state.webhook_held, []
        if order == "reverse":
            held.reverse()
        for hook, body in held:
            self._deliver(hook, body)
        return len(held)

    def _passes_filter(self, hook: dict, issue: dict) -> bool:
        """Jira's ``filters["issue-related-events-section"]`` JQL (subset, see jql.py)."""
        text = (hook.get("filters") or {}).get("issue-related-events-section")
        if not text:
            return True
        try:
            query = jql.parse(text)
            return jql.Evaluator(self.state, None).matches(query.where, issue)
        except jql.JqlError:
            return False

    def _deliver(self, hook: dict, body: dict) -> None:
        st = self.state
        record = {"webhook": hook["id"], "url": hook["url"], "event": body["webhookEvent"],
                  "payload": body, "status": None, "error": None}
        if not is_loopback_url(hook["url"]):
            record["error"] = "refused: not a loopback URL"
        else:
            try:
                raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
                headers = {"User-Agent": "Atlassian HttpClient (Jira sim)",
                           "Content-Type": "application/json; charset=UTF-8"}
                if hook.get("secret"):
                    headers["X-Hub-Signature"] = "sha256=" + hmac.new(
                        hook["secret"].encode("utf-8"), raw, hashlib.sha256).hexdigest()
                resp = requests.post(hook["url"], data=raw, timeout=5, headers=headers)
                record["status"] = resp.status_code
            except requests.RequestException as exc:
                record["error"] = str(exc)
        with st.lock:
            st.webhook_deliveries.append(record)

    def wait(self, timeout: float = 5.0) -> None:
        """Join pending delivery threads (tests use this instead of sleeping)."""
        for t in list(self.threads):
            t.join(timeout)
