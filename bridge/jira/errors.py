"""What can go wrong talking to Jira, as one hierarchy, each with a sentence for users.

Mapping (jira-server.md §1.5, §2.3, §2.6, §3.11):

- OAuth 1.0a ``oauth_problem`` values that mean the user's token is gone
  (``token_rejected``, ``token_expired``, ``token_revoked``, ``consumer_key_unknown``,
  ``permission_denied``, ``permission_unknown``), an OAuth 2.0 ``invalid_grant`` on
  refresh, and 401 on ``/myself`` → ``JiraNeedsReconnect``: the user must authorize again.
- ``signature_invalid``, ``timestamp_refused``, ``signature_method_rejected``,
  ``version_rejected``, ``parameter_absent``/``parameter_rejected``, ``nonce_used`` and
  OAuth 2.0 ``invalid_client`` → ``JiraMisconfigured``: an admin must fix something; the
  advice names what.
- 403 → ``JiraPermissionDenied``; 404 → ``JiraNotFound`` (Jira hides what you may not see);
  400 with ``errors`` → ``JiraInvalidInput`` (field errors kept for the form); 429 →
  ``JiraRateLimited`` with ``retry_after``; 5xx, timeouts, refused connections →
  ``JiraUnavailable``.

``public_message`` never contains a token or an upstream body verbatim; Jira's own field
error texts are passed on only through ``field_errors`` (they are Jira's words about the
user's input).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from ..errors import BridgeError, retry_after_seconds

RECONNECT_PROBLEMS = frozenset({
    "token_rejected", "token_expired", "token_revoked", "consumer_key_unknown",
    "consumer_key_rejected", "permission_denied", "permission_unknown", "token_used",
    "token_not_authorized", "additional_authorization_required",
})

_ADVICE = {
    "signature_invalid": (
        "Jira rebuilt a different signature base string. Usually the Jira base URL "
        "registered in the bridge differs from the URL Jira sees for itself (scheme, host, "
        "port or context path), often because of a reverse proxy: set proxyName/proxyPort/"
        "scheme in Jira's server.xml or register the base URL exactly as Jira's Base URL "
        "setting. Compare the base strings with: asana-jira-bridge doctor"
    ),
    "timestamp_refused": (
        "Jira refused the request's timestamp: the clocks of the bridge and Jira differ by "
        "more than 5 minutes. Run NTP on both machines."
    ),
    "signature_method_rejected": "Jira accepts only RSA-SHA1 signatures.",
    "version_rejected": "Jira refused the OAuth version (only 1.0 is accepted).",
    "parameter_absent": "Jira says a required OAuth parameter is missing.",
    "parameter_rejected": "Jira rejected an OAuth parameter (often the callback URL).",
    "nonce_used": "Jira saw this request's nonce before (a signed request was replayed).",
    # Advice says what to do, not again what went wrong: pages show it under the error.
    "consumer_key_unknown": (
        "The application link is missing, was deleted, or its Incoming Authentication has "
        "another consumer key. Create it again from the bridge's /jira/connect page."
    ),
    "invalid_client": (
        "Copy the client id and secret again from the incoming link's Credentials in Jira "
        "(Administration > Applications > Application links)."
    ),
}


class JiraError(BridgeError):
    status = 502
    code = "jira_error"
    public_message = "Jira could not complete the request."

    def __init__(self, public_message: str | None = None, *, http_status: int | None = None,
                 **kwargs):
        super().__init__(public_message, **kwargs)
        self.http_status = http_status


class JiraNeedsReconnect(JiraError):
    status = 401
    code = "jira_reconnect"
    public_message = ("Your Jira authorization is no longer valid. Connect your Jira account "
                      "again.")

    def __init__(self, public_message=None, *, problem: str = "", **kwargs):
        super().__init__(public_message, **kwargs)
        self.problem = problem


class JiraNotConnected(JiraNeedsReconnect):
    """The user holds no usable credential on the instance (none yet, needs reconnect, or
    one from the instance's former auth mode): they must run the Authentication URL. The
    one class for this; a raise site may say what the connection is needed for."""

    code = "jira_not_connected"
    public_message = ("Connect your Jira account first: open the app's authorization and "
                      "sign in to Jira.")

    def __init__(self, public_message=None, **kwargs):
        kwargs.setdefault("problem", "not_connected")
        super().__init__(public_message, **kwargs)


class JiraMisconfigured(JiraError):
    status = 502
    code = "jira_misconfigured"
    public_message = ("The connection between the bridge and Jira is misconfigured. Ask your "
                      "Jira administrator to run: asana-jira-bridge doctor")

    def __init__(self, public_message=None, *, problem: str = "", advice: str | None = None,
                 jira_base_string: str | None = None, **kwargs):
        super().__init__(public_message, **kwargs)
        self.problem = problem
        # ``advice=""``: the message already says what to do (no generic advice under it)
        self.advice = _ADVICE.get(problem, "") if advice is None else advice
        self.jira_base_string = jira_base_string


class JiraPermissionDenied(JiraError):
    status = 403
    code = "jira_forbidden"
    public_message = "Your Jira account is not allowed to do this."


class JiraNotFound(JiraError):
    status = 404
    code = "jira_not_found"
    public_message = "Jira has no such issue, or your Jira account cannot see it."


class JiraInvalidInput(JiraError):
    status = 400
    code = "jira_invalid_input"
    public_message = "Jira did not accept the input."

    def __init__(self, public_message=None, *, field_errors: dict | None = None,
                 messages: list | None = None, **kwargs):
        super().__init__(public_message, **kwargs)
        self.field_errors = dict(field_errors or {})
        self.messages = list(messages or [])


class JiraRateLimited(JiraError):
    status = 429
    code = "jira_rate_limited"
    public_message = "Jira is limiting requests right now. Try again in a moment."


class JiraUnavailable(JiraError):
    status = 503
    code = "jira_unavailable"
    public_message = "Jira cannot be reached right now. Try again later."


class JiraTimedOut(JiraUnavailable):
    """Jira accepted the connection but did not finish answering within the deadline."""

    code = "jira_timeout"
    public_message = "Jira did not answer in time. Try again later."


class JiraBadAnswer(JiraError):
    """Jira answered something the bridge cannot read: not JSON, absurdly nested, or
    larger than the bridge accepts (outbound.ResponseTooLarge)."""

    code = "jira_bad_answer"
    public_message = "Jira's answer was not understood."


class JiraAnswerTooLarge(JiraBadAnswer):
    code = "jira_answer_too_large"


def parse_oauth_problem(response) -> dict[str, str]:
    """The ``oauth_problem`` parameters of a Jira OAuth 1.0a failure (§1.5), or ``{}``.

    They come as a form-encoded body and in ``WWW-Authenticate: OAuth realm=..,
    oauth_problem=".."``; the body carries the extras (base string, advice).
    """
    params: dict[str, str] = {}
    header = response.headers.get("WWW-Authenticate", "")
    if "oauth_problem" in header:
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            key = key.replace("OAuth ", "").strip()
            if key.startswith("oauth_"):
                params[key] = value.strip().strip('"')
    ctype = response.headers.get("Content-Type", "")
    if "json" not in ctype:
        try:
            text = response.text
        except Exception:
            text = ""
        if "oauth_problem=" in text and len(text) < 20000:
            params.update(dict(parse_qsl(text.strip(), keep_blank_values=True)))
    return params


def error_from_response(response) -> JiraError:
    """Map a failed Jira response to the hierarchy (see the module docstring)."""
    status = response.status_code
    problem = parse_oauth_problem(response)
    name = problem.get("oauth_problem")
    if name:
        if name in RECONNECT_PROBLEMS:
            return JiraNeedsReconnect(problem=name, http_status=status)
        return JiraMisconfigured(problem=name, http_status=status,
                                 jira_base_string=problem.get("oauth_signature_base_string"))
    body = _json(response)
    if status == 401:
        return JiraNeedsReconnect(problem="unauthenticated", http_status=status)
    if status == 403:
        return JiraPermissionDenied(http_status=status)
    if status == 404:
        return JiraNotFound(http_status=status)
    if status == 429:
        return JiraRateLimited(retry_after=_retry_after(response), http_status=status)
    if status == 400 or status == 422:
        errors = body.get("errors") if isinstance(body, dict) else None
        messages = body.get("errorMessages") if isinstance(body, dict) else None
        return JiraInvalidInput(field_errors=errors if isinstance(errors, dict) else {},
                                messages=messages if isinstance(messages, list) else [],
                                http_status=status)
    if status >= 500:  # a 503 may say when to come back
        return JiraUnavailable(http_status=status,
                               retry_after=_retry_after(response) if status == 503 else None)
    return JiraError(http_status=status)


def _json(response):
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def _retry_after(response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"))
