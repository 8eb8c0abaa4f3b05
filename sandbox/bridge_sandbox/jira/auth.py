"""Who is calling: session cookie, HTTP Basic, OAuth 1.0a 3LO or OAuth 2.0 bearer.

Runs before every request (except ``/_sim``) like Jira's Seraph + OAuth filters:
* OAuth 1.0a (reference jira-server.md §1.2, §1.5): only a complete 3LO parameter set is
  checked; a failure stops the request with the OAuth problem response.
* OAuth 2.0 bearer (§2.6): an unknown/expired token is logged and ignored → anonymous;
  a READ-scope token gets 403 on every non-GET request.
* Basic auth with wrong credentials → 401 (``X-Seraph-LoginReason: AUTHENTICATED_FAILED``).
  After ``max_authentication_attempts`` (3, Jira's default) failures in a row for one user,
  every Basic-auth request as that user, right password or not, gets 403 with
  ``X-Authentication-Denied-Reason: CAPTCHA_CHALLENGE; login-url=<base>/login.jsp`` until
  the user signs in through ``/login.jsp`` (where Jira shows a CAPTCHA) or a test clears it
  (``DELETE /_sim/captcha``).  docs/jira-server.md §9 "CAPTCHA after failed logins".
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, render_template, request

from bridge_sandbox.jira import oauth1, oauth2
from bridge_sandbox.jira.webutil import error_json, local, state

bp = Blueprint("auth", __name__)

SESSION_COOKIE = "JSESSIONID"
# The token endpoints authenticate clients themselves; user authentication must not run
# there.  For the OAuth 2.0 endpoints this means HTTP Basic client credentials are simply
# ignored (→ ``invalid_request``: client_id missing, or ``invalid_client``: no secret)
# rather than failing as a Seraph login — UNCONFIRMED which one a real Jira answers.
_OAUTH_SERVLETS = ("/plugins/servlet/oauth/request-token", "/plugins/servlet/oauth/access-token",
                   "/rest/oauth2/latest/token", "/rest/oauth2/latest/revoke")


def identify() -> Response | None:
    """Set ``g.user``/``g.auth``/``g.scope``; return a response to stop the request."""
    st = state()
    g.user, g.auth, g.scope = None, "anonymous", None
    g.login_reason = None
    if request.path in _OAUTH_SERVLETS:
        return None
    authz = request.headers.get("Authorization", "")
    scheme, _, credentials = authz.partition(" ")
    scheme = scheme.lower()
    op, params = {}, []
    if _mentions_oauth(authz):
        try:
            params = oauth1.collected_params()
        except oauth1.OAuthProblem as problem:
            return problem.response()
        op = oauth1.oauth_params(params)
    if oauth1.is_three_legged_attempt(op):
        try:
            g.user = oauth1.authenticate_api_request(op, params)
        except oauth1.OAuthProblem as problem:
            return problem.response()
        g.auth = "oauth1"
    elif all(k in op for k in oauth1.THREE_LO_PARAMS) and op.get("oauth_token") == "":
        return oauth1.OAuthProblem("permission_denied").response()  # 2LO never enabled here
    elif scheme == "bearer" and st.profile.has_oauth2_provider:
        found = oauth2.authenticate_bearer(credentials.strip())
        if found is not None:
            g.user, g.scope = found
            g.auth = "oauth2"
    elif scheme == "basic":
        try:
            name, _, password = base64.b64decode(credentials).decode("utf-8").partition(":")
        except (ValueError, UnicodeError):
            name, password = "", ""
        basic_on = st.settings.get("basic_auth", True)
        if basic_on and name in st.captcha:
            return captcha_challenge()
        user = st.check_password(name, password) if basic_on else None
        token_user = None
        if user is None and st.profile.has_oauth2_provider:
            # token.via.basic.authentication=true (plugin 3.1.5): an OAuth 2.0 access
            # token works as the Basic password (reference §2.5/§2.6)
            token_user = oauth2.authenticate_bearer(password)
        if token_user is not None and token_user[0] == name:
            g.user, g.scope = token_user
            g.auth = "oauth2"
        elif user is None:
            if basic_on:
                st.login_failed(name)
            # With basic authentication turned off (Jira 11's default) a password is not
            # even checked. Jira's exact answer then is not in the reference; the closest
            # documented one is this refused Basic login (401, AUTHENTICATED_FAILED).
            g.login_reason = "AUTHENTICATED_FAILED"
            resp = error_json(401, [])
            resp.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
            return resp
        else:
            st.login_succeeded(name)
            g.user, g.auth = user["name"], "basic"
    if g.user is None:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid and sid in st.sessions:
            g.user, g.auth = st.sessions[sid], "session"
    if g.auth == "oauth2" and request.method not in ("GET", "HEAD", "OPTIONS") \
            and oauth2.scope_level(g.scope) < oauth2.SCOPE_LEVEL["WRITE"]:
        # ReadWriteScopeFilter (reference §2.6)
        return error_json(403, [f"Request does not have write scope. Cannot complete "
                                f"{request.method} request."])
    return None


def captcha_challenge() -> Response:
    """Seraph's answer once a user must solve a CAPTCHA (observed headers; HTML body)."""
    resp = Response("<html><body><p>Authentication denied: CAPTCHA required. Sign in "
                    "through the browser.</p></body></html>", status=403,
                    mimetype="text/html")
    resp.headers["X-Authentication-Denied-Reason"] = (
        f"CAPTCHA_CHALLENGE; login-url={state().base_url}/login.jsp")
    resp.headers["X-Seraph-LoginReason"] = "AUTHENTICATION_DENIED"
    g.login_reason = "AUTHENTICATION_DENIED"
    return resp


def _mentions_oauth(authz: str) -> bool:
    if authz[:6].lower() == "oauth ":
        return True
    if b"oauth_" in request.query_string:
        return True
    return request.mimetype == "application/x-www-form-urlencoded" and \
        b"oauth_" in request.get_data()


def has_scope(name: str) -> bool:
    """OAuth 2.0 tokens are capped by their scope; other auth methods are not."""
    if getattr(g, "auth", None) != "oauth2":
        return True
    return oauth2.scope_level(g.scope or "") >= oauth2.SCOPE_LEVEL[name]


def _safe_destination(dest: str | None) -> str:
    if not dest:
        return local("/")
    parts = urlsplit(dest)
    if parts.scheme or parts.netloc:
        return local("/")
    if request.script_root and dest.startswith(request.script_root + "/"):
        return dest
    return local(dest if dest.startswith("/") else "/" + dest)


@bp.route("/login.jsp", methods=["GET", "POST"])
def login():
    """Jira's login form: ``os_username``, ``os_password``, ``os_destination``."""
    st = state()
    dest = request.values.get("os_destination")
    if request.method == "GET":
        return render_template("login.html", destination=dest or "", error=None)
    name = request.form.get("os_username", "")
    user = st.check_password(name, request.form.get("os_password", ""))
    if user is None:
        st.login_failed(name)
        resp = Response(render_template("login.html", destination=dest or "",
                                        error="Sorry, your username and password are "
                                              "incorrect - please try again."))
        resp.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        return resp
    st.login_succeeded(name, browser=True)  # the browser form carries the CAPTCHA
    sid = secrets.token_hex(16).upper()
    with st.lock:
        st.sessions[sid] = user["name"]
    resp = Response(status=302, headers={"Location": _safe_destination(dest)})
    resp.set_cookie(SESSION_COOKIE, sid, httponly=True, path=request.script_root or "/")
    resp.headers["X-Seraph-LoginReason"] = "OK"
    return resp


@bp.route("/logout", methods=["GET", "POST"])
@bp.route("/secure/Logout!default.jspa", methods=["GET", "POST"])
def logout():
    st = state()
    sid = request.cookies.get(SESSION_COOKIE)
    with st.lock:
        st.sessions.pop(sid, None)
    resp = Response(status=302, headers={"Location": local("/login.jsp")})
    resp.delete_cookie(SESSION_COOKIE, path=request.script_root or "/")
    return resp


@bp.route("/", methods=["GET"])
@bp.route("/secure/Dashboard.jspa", methods=["GET"])
def dashboard():
    st = state()
    return render_template("dashboard.html", user=st.users.get(g.user) if g.user else None,
                           title=st.server_title, version=st.profile.version)
