"""Response helpers shared by the blueprints: Jira's error shapes and OAuth problems."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import Response, current_app, g, jsonify, redirect, request

# reference jira-server.md §1.5 (net.oauth OAuth.Problems.TO_HTTP_CODE)
OAUTH_PROBLEM_STATUS = {
    "version_rejected": 400,
    "parameter_absent": 400,
    "parameter_rejected": 400,
    "timestamp_refused": 400,
    "signature_method_rejected": 400,
    "nonce_used": 401,
    "signature_invalid": 401,
    "consumer_key_unknown": 401,
    "consumer_key_rejected": 401,
    "consumer_key_refused": 503,
    "token_used": 401,
    "token_expired": 401,
    "token_revoked": 401,
    "token_rejected": 401,
    "additional_authorization_required": 401,
    "permission_unknown": 401,
    "permission_denied": 401,
    "user_refused": 503,
    "token_not_authorized": 401,
}

NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."


def state():
    return current_app.extensions["jira_sim"]


def _oauth_header_value(value: str) -> str:
    return quote(str(value), safe="~-._")


def oauth_problem(problem: str, **extra: str) -> Response:
    """net.oauth ``OAuthServlet.handleException`` output (reference §1.5)."""
    realm = state().base_url
    params = {"oauth_problem": problem, **extra}
    header = f'OAuth realm="{realm}", ' + ", ".join(
        f'{k}="{_oauth_header_value(v)}"' for k, v in params.items())
    resp = Response(urlencode(params), status=OAUTH_PROBLEM_STATUS[problem],
                    mimetype="text/plain")
    resp.headers["WWW-Authenticate"] = header
    return resp


def error_json(status: int, messages=(), errors=None) -> Response:
    """Jira's ``ErrorCollection`` body: ``{"errorMessages": [...], "errors": {...}}``."""
    resp = jsonify({"errorMessages": list(messages), "errors": errors or {}})
    resp.status_code = status
    return resp


def not_authenticated() -> Response:
    return error_json(401, [NOT_AUTHENTICATED])


def login_redirect() -> Response:
    """Send a browser to ``/login.jsp`` and back (Jira's ``os_destination``)."""
    dest = request.full_path if request.query_string else request.path
    return redirect(local("/login.jsp") + "?" + urlencode({"os_destination": dest}), code=302)


def local(path: str) -> str:
    """Path as the browser sees it on this server (context path kept, host not forced).

    Browser redirects stay relative so a simulator told a different public base URL
    (proxy-mismatch demo) still works in a browser; only ``self`` links, the OAuth realm
    and the OAuth base string use the configured base URL.
    """
    return request.script_root + path


def url(path: str) -> str:
    """Absolute URL under the simulator's configured base URL."""
    return state().base_url + path


def current_user() -> str | None:
    return getattr(g, "user", None)
