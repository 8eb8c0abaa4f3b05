"""The App Components host: calls an app server exactly as Asana does.

Implements reference §3-§5:

* GET (widget, form metadata, rule metadata, every typeahead): parameters in the query string,
  in the order Asana's docs examples show them, percent-encoded (``:`` and ``/`` too), and
  ``x-asana-request-signature`` over that raw query string.
* POST (attach, on-change, on-submit, run-action): body ``{"data": "<JSON string>"}``, the
  signature over that inner string.
* ``expires_at`` a short time ahead (ISO 8601 UTC with milliseconds). The window Asana uses
  is UNCONFIRMED; :attr:`AppComponentsHost.expires_in` defaults to 60 s.
* run-action carries ``idempotency_key`` and is retried with exponential backoff on an error
  status or a timeout (reference §4.2), with the same key. Each attempt gets a fresh
  ``expires_at`` and signature (a replay of a stale request would be rejected as expired).

:meth:`AppComponentsHost.prepare` builds a :class:`SignedRequest` without sending it; the
demo page's JavaScript uses it (through ``/_sim/app-components/sign``) to send the request
from the browser, as Asana's client does.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, urlencode

import requests

from bridge_sandbox.asana import signing, validator
from bridge_sandbox.asana.clock import iso_z

# Route paths of the bridge's App Components (ARCHITECTURE §4).
DEFAULT_PATHS = {
    "widget": "/asana/widget",
    "form_metadata": "/asana/form",
    "form_change": "/asana/form/change",
    "form_submit": "/asana/form/submit",
    "lookup_typeahead": "/asana/lookup/typeahead",
    "lookup_attach": "/asana/lookup/attach",
    "typeahead": "/asana/typeahead/{field}",
    "rule_metadata": "/asana/rule",
    "rule_change": "/asana/rule/change",
    "rule_submit": "/asana/rule/submit",
    "rule_run": "/asana/rule/run",
    "auth": "/asana/auth",
}

# What a 200 must look like per call, and whether a 400 carries a form (reference §5, §6.6).
RESPONSE_KIND = {
    "widget": "widget",
    "form_metadata": "form",
    "form_change": "form",
    "form_submit": "attached",
    "lookup_typeahead": "typeahead",
    "lookup_attach": "attached",
    "typeahead": "typeahead",
    "rule_metadata": "form",
    "rule_change": "form",
    "rule_submit": None,  # "Successfully handled form submission": no schema
    "rule_run": "ran_action",
}
FORM_ON_400 = {"form_change", "form_submit", "rule_change", "rule_submit"}
# Statuses for which the spec gives every call a body ``{"error": "..."}`` (reference §6.6;
# 418 only on the widget, where it points to the Unauthorized schema). 410 and 429 have none.
ERROR_BODY_STATUSES = {400, 401, 403, 404, 500}
# Calls Asana's servers make (rule runs); every other call comes from the user's browser,
# where Asana can open the Authentication URL (reference §2.1).
SERVER_SIDE = {"rule_run"}
METHODS = {k: "POST" for k in ("form_change", "form_submit", "lookup_attach", "rule_change",
                               "rule_submit", "rule_run")}

TIMEOUT_SECONDS = 10  # documented for on-change/on-submit; used for every call (reference §0.4)


@dataclass
class SignedRequest:
    """One request as Asana would send it. ``message`` is what was signed."""

    kind: str
    method: str
    url: str
    headers: dict
    body: str | None
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ComponentResponse:
    """What the app answered. ``outcome`` is ``"ok"``, ``"auth_required"`` (a 401 with an
    ``{"error"}`` body on a call from the browser: Asana opens the Authentication URL) or
    ``"error"``. ``auth_flow`` says what the host did about a 401: ``None`` (nothing was
    needed), ``"required"`` (no ``authenticate`` hook: the flow is owed), ``"completed"``
    (the hook succeeded and this is the retried call's answer) or ``"failed"``."""

    status: int
    body: object
    headers: dict
    request: SignedRequest
    attempts: list[SignedRequest] = field(default_factory=list)
    auth_flow: str | None = None
    auth_url: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def auth_required(self) -> bool:
        return (self.status == 401 and self.request.kind not in SERVER_SIDE
                and isinstance(self.body, dict) and isinstance(self.body.get("error"), str))

    @property
    def outcome(self) -> str:
        if self.ok:
            return "ok"
        return "auth_required" if self.auth_required else "error"


class AppComponentsHost:
    """Asana's side of App Components for one app: its server URL and client secret."""

    def __init__(
        self,
        bridge_url: str,
        client_secret: str,
        *,
        clock: Callable[[], float] | None = None,
        paths: dict | None = None,
        expires_in: float = 60.0,
        locale: str | None = "en",
        session: requests.Session | None = None,
        validate: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        retry_attempts: int = 5,
        retry_backoff: float = 1.0,
        timeout: float = TIMEOUT_SECONDS,
        authenticate: Callable[[str], bool] | None = None,
    ):
        self.bridge_url = bridge_url.rstrip("/")
        self.client_secret = client_secret
        self.clock = clock or time.time
        self.paths = {**DEFAULT_PATHS, **(paths or {})}
        self.expires_in = expires_in
        self.locale = locale
        self.session = session or requests.Session()
        self.validate = validate
        self.sleep = sleep
        self.retry_attempts = retry_attempts
        self.retry_backoff = retry_backoff
        self.timeout = timeout
        # Called with the Authentication URL when the app answers 401 (see ``call``); it
        # stands for the user completing the popup and returns True on "success".
        self.authenticate = authenticate
        self.auth_flows: list[dict] = []  # every 401 that asked for the Authentication URL

    # --- building ----------------------------------------------------------------------

    def expires_at(self) -> str:
        return iso_z(self.clock() + self.expires_in)

    def url_for(self, kind: str, url: str | None = None, **fmt) -> str:
        """Absolute URL: ``url`` when the app returned one (callbacks, ``typeahead_url``)."""
        if url:
            return url
        return self.bridge_url + self.paths[kind].format(**fmt)

    def signed_get(self, kind: str, url: str, params: list[tuple[str, str]]) -> SignedRequest:
        query = urlencode(
            [(k, str(v)) for k, v in params if v is not None], quote_via=quote, safe=""
        )
        full = url + ("&" if "?" in url else "?") + query
        headers = {signing.HEADER: signing.sign(self.client_secret, query)}
        return SignedRequest(kind, "GET", full, headers, None, query)

    def signed_post(self, kind: str, url: str, data: dict) -> SignedRequest:
        payload = {k: v for k, v in data.items() if v is not None}
        # Asana's client is JavaScript: JSON.stringify output (compact, UTF-8 kept).
        message = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        body = json.dumps({"data": message})
        headers = {
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(self.client_secret, message),
        }
        return SignedRequest(kind, "POST", url, headers, body, message)

    def prepare(self, kind: str, **kw) -> SignedRequest:
        """Build the signed request for ``kind`` (a key of :data:`DEFAULT_PATHS`)."""
        exp = self.expires_at()
        locale = kw.get("locale", self.locale)
        url = self.url_for(kind, kw.get("url"), field=kw.get("field", ""))
        w, t, u = kw.get("workspace"), kw.get("task"), kw.get("user")
        if kind == "widget":  # §5.1; order of the docs example
            return self.signed_get(kind, url, [
                ("workspace", w), ("task", t), ("user", u), ("locale", locale),
                ("attachment", kw.get("attachment")), ("expires_at", exp),
                ("resource_url", kw.get("resource_url")),
            ])
        if kind == "form_metadata":  # §5.2
            return self.signed_get(kind, url, [
                ("workspace", w), ("task", t), ("user", u), ("locale", locale), ("expires_at", exp),
            ])
        if kind in ("lookup_typeahead", "typeahead"):  # §5.3, §5.6; no task in rule forms
            return self.signed_get(kind, url, [
                ("workspace", w), ("task", t), ("user", u), ("query", kw.get("query", "")),
                ("expires_at", exp),
            ])
        if kind == "rule_metadata":  # §5.4; `action` omitted for a new rule action
            return self.signed_get(kind, url, [
                ("workspace", w), ("project", kw.get("project")),
                ("action_type", kw.get("action_type")), ("action", kw.get("action")),
                ("user", u), ("locale", locale), ("expires_at", exp),
            ])
        common = {"expires_at": exp, "user": u, "workspace": w}
        if kind == "lookup_attach":
            data = {**common, "task": t, "attachment": kw.get("attachment"),
                    "query": kw.get("query", "")}
        elif kind == "form_change":
            data = {**common, "task": t, "values": kw.get("values", {}),
                    "changed_field": kw.get("changed_field")}
        elif kind == "form_submit":
            data = {**common, "task": t, "values": kw.get("values", {}),
                    "attachment": kw.get("attachment")}
        elif kind == "rule_change":
            data = {**common, "values": kw.get("values", {}),
                    "changed_field": kw.get("changed_field"), "action": kw.get("action"),
                    "action_type": kw.get("action_type"), "project": kw.get("project")}
        elif kind == "rule_submit":
            data = {**common, "values": kw.get("values", {}), "task": t,
                    "rule_name": kw.get("rule_name"), "action": kw.get("action"),
                    "action_type": kw.get("action_type"), "project": kw.get("project")}
        elif kind == "rule_run":
            data = {**common, "project": kw.get("project"),
                    "target_object": kw.get("target_object"), "action": kw.get("action"),
                    "action_type": kw.get("action_type"),
                    "idempotency_key": kw.get("idempotency_key") or str(uuid.uuid4())}
        else:
            raise ValueError(f"unknown App Components call {kind!r}")
        return self.signed_post(kind, url, data)

    # --- sending -----------------------------------------------------------------------

    def send(self, signed: SignedRequest,
             session: requests.Session | None = None) -> ComponentResponse:
        resp = (session or self.session).request(
            signed.method, signed.url, headers=signed.headers,
            data=signed.body.encode("utf-8") if signed.body is not None else None,
            timeout=self.timeout,
        )
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        result = ComponentResponse(resp.status_code, body, dict(resp.headers), signed, [signed])
        if self.validate:
            check_response(signed.kind, result.status, body, resp.headers.get("Content-Type", ""))
        return result

    def call(self, kind: str, **kw) -> ComponentResponse:
        """Send one call; a 401 ``{"error"}`` means "the user must authenticate".

        What Asana shows on a 401 is UNCONFIRMED (reference §11); the project's choice (the
        lead's, documented in the README) is that Asana opens the Authentication URL, as the
        console's "Install your app" text says it does "when the app returns a response
        indicating the user must authenticate". The host records the flow in
        :attr:`auth_flows`; with an ``authenticate`` hook it runs the flow and, on success,
        sends the call again (freshly signed), as the task page does after the popup posts
        ``"success"``.
        """
        result = self.send(self.prepare(kind, **kw))
        if not result.auth_required:
            return result
        auth_url = self.auth_url()
        self.auth_flows.append({"kind": kind, "auth_url": auth_url, "error": result.body["error"]})
        result.auth_url = auth_url
        if self.authenticate is None:
            result.auth_flow = "required"
            return result
        if not self.authenticate(auth_url):
            result.auth_flow = "failed"
            return result
        retried = self.send(self.prepare(kind, **kw))
        retried.attempts = result.attempts + retried.attempts
        retried.auth_flow = "completed"
        retried.auth_url = auth_url
        return retried

    # --- one method per component call -------------------------------------------------

    def widget(self, *, workspace, task, user, attachment, resource_url, **kw):
        return self.call("widget", workspace=workspace, task=task, user=user,
                         attachment=attachment, resource_url=resource_url, **kw)

    def form_metadata(self, *, workspace, task, user, **kw):
        return self.call("form_metadata", workspace=workspace, task=task, user=user, **kw)

    def form_change(self, *, workspace, task, user, values, changed_field, url=None, **kw):
        return self.call("form_change", workspace=workspace, task=task, user=user,
                         values=values, changed_field=changed_field, url=url, **kw)

    def form_submit(self, *, workspace, task, user, values, url=None, **kw):
        return self.call("form_submit", workspace=workspace, task=task, user=user,
                         values=values, url=url, **kw)

    def lookup_typeahead(self, *, workspace, task, user, query, **kw):
        return self.call("lookup_typeahead", workspace=workspace, task=task, user=user,
                         query=query, **kw)

    def lookup_attach(self, *, workspace, task, user, query, **kw):
        return self.call("lookup_attach", workspace=workspace, task=task, user=user,
                         query=query, **kw)

    def typeahead(self, field_name=None, *, workspace, user, query, task=None, url=None, **kw):
        """A form field's typeahead: ``url`` is the field's ``typeahead_url`` if known."""
        return self.call("typeahead", field=field_name or "", url=url, workspace=workspace,
                         task=task, user=user, query=query, **kw)

    def rule_metadata(self, *, workspace, project, user, action_type, action=None, **kw):
        return self.call("rule_metadata", workspace=workspace, project=project, user=user,
                         action_type=action_type, action=action, **kw)

    def rule_change(self, *, workspace, project, user, action_type, values, changed_field,
                    action=None, url=None, **kw):
        return self.call("rule_change", workspace=workspace, project=project, user=user,
                         action_type=action_type, action=action, values=values,
                         changed_field=changed_field, url=url, **kw)

    def rule_submit(self, *, workspace, project, user, action_type, action, values,
                    rule_name=None, url=None, **kw):
        return self.call("rule_submit", workspace=workspace, project=project, user=user,
                         action_type=action_type, action=action, values=values,
                         rule_name=rule_name, url=url, **kw)

    def rule_run(self, *, workspace, project, user, action_type, action, target_object,
                 idempotency_key=None, session=None, **kw) -> ComponentResponse:
        """POST run-action; retried on an error status or timeout with the same key, after
        ``retry_backoff`` seconds, doubling each time (reference §4.2)."""
        key = idempotency_key or str(uuid.uuid4())
        attempts: list[SignedRequest] = []
        delay = self.retry_backoff
        last_exc: Exception | None = None
        for attempt in range(1, self.retry_attempts + 1):
            signed = self.prepare("rule_run", workspace=workspace, project=project, user=user,
                                  action_type=action_type, action=action,
                                  target_object=target_object, idempotency_key=key, **kw)
            attempts.append(signed)
            try:
                result = self.send(signed, session)
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_exc, result = exc, None
            if result is not None:
                result.attempts = attempts
                # 410 Gone: the action no longer exists; retrying cannot help (UNCONFIRMED).
                if result.ok or result.status == 410 or attempt == self.retry_attempts:
                    return result
            elif attempt == self.retry_attempts:
                raise last_exc
            self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def rule_run_deliveries(self, copies: int = 2, *, idempotency_key=None,
                            **kw) -> list[ComponentResponse]:
        """``copies`` deliveries of one run at the same instant, with one idempotency key,
        each retried on its own (Asana's retry of a delivery that timed out can overlap the
        first one; reference §4.2). Each delivery has its own connection. Answers in
        delivery order; a delivery that failed for good raises after all have finished."""
        key = idempotency_key or str(uuid.uuid4())
        start = threading.Barrier(copies)
        results: list = [None] * copies

        def deliver(i: int) -> None:
            with requests.Session() as session:
                try:
                    start.wait(timeout=self.timeout)
                    results[i] = self.rule_run(idempotency_key=key, session=session, **kw)
                except Exception as exc:  # handed back to the caller below
                    results[i] = exc

        threads = [threading.Thread(target=deliver, args=(i,), daemon=True)
                   for i in range(copies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results

    def auth_url(self) -> str:
        """The Authentication URL opens in a popup, unsigned (reference §5.5)."""
        return self.url_for("auth")


def check_response(kind: str, status: int, body, content_type: str = "") -> None:
    """Validate a response the way Asana would use it; raises ``ResponseInvalid``.

    200 bodies by call (reference §5, §6); a 400 on form change/submit and rule
    change/submit is a form, or, as on every other call, ``{"error": "..."}``; 401, 403, 404,
    500 (and the widget's 418) must be ``{"error": "..."}`` in JSON, since Asana shows that
    sentence. Statuses the spec gives no body (410, 429, and whatever a proxy adds) are
    not checked.
    """
    if status == 200 and RESPONSE_KIND.get(kind):
        validator.validate(RESPONSE_KIND[kind], body)
        return
    documented = status in ERROR_BODY_STATUSES or (status == 418 and kind == "widget")
    if not documented:
        if status >= 400 and "json" in content_type and isinstance(body, dict) and body:
            validator.validate("error", body)
        return
    if "json" not in content_type or not isinstance(body, dict):
        raise validator.ResponseInvalid(
            "", f"a {status} must be JSON {{\"error\": \"...\"}} (got {content_type or 'no type'})")
    if status == 400 and kind in FORM_ON_400 and "template" in body:
        validator.validate("form", body)
    else:
        validator.validate("error", body)
