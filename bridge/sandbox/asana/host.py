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
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, urlencode

import requests

from bridge.sandbox.asana import signing, validator
from bridge.sandbox.asana.clock import iso_z

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
    status: int
    body: object
    headers: dict
    request: SignedRequest
    attempts: list[SignedRequest] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


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

    def send(self, signed: SignedRequest) -> ComponentResponse:
        resp = self.session.request(
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
        return self.send(self.prepare(kind, **kw))

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
                 idempotency_key=None, **kw) -> ComponentResponse:
        """POST run-action; retried on an error status or timeout with the same key."""
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
                result = self.send(signed)
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

    def auth_url(self) -> str:
        """The Authentication URL opens in a popup, unsigned (reference §5.5)."""
        return self.url_for("auth")


def check_response(kind: str, status: int, body, content_type: str = "") -> None:
    """Validate a response the way Asana would use it; raises ``ResponseInvalid``."""
    if status == 200 and RESPONSE_KIND.get(kind):
        validator.validate(RESPONSE_KIND[kind], body)
    elif status == 400 and kind in FORM_ON_400:
        validator.validate("form", body)
    elif status >= 400 and "json" in content_type and isinstance(body, dict):
        validator.validate("error", body)
