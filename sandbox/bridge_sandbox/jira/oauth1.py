"""OAuth 1.0a service provider (reference jira-server.md §1.2–§1.6).

Signatures are verified with oauthlib's own ``signature`` module (which signs and
verifies RSA through PyJWT + cryptography), never with bridge code.  The signature base
string uses the simulator's *configured* base URL plus the request path, like Jira's
``request.getRequestURL()`` behind a misconfigured proxy (§1.3, pitfall §6.3) — so a
simulator told ``https://jira.example.com`` while served on loopback answers
``signature_invalid`` with the base string it computed.
"""

from __future__ import annotations

import secrets
import string
import types
from urllib.parse import unquote, urlencode, urlsplit

from flask import Blueprint, Response, abort, render_template, request
from oauthlib.oauth1.rfc5849 import signature as oauth_sig

from bridge_sandbox.jira.state import (
    ACCESS_TOKEN_TTL,
    REQUEST_TOKEN_TTL,
    SESSION_TTL,
    AccessToken,
    RequestToken,
)
from bridge_sandbox.jira.webutil import current_user, local, login_redirect, oauth_problem, state

bp = Blueprint("oauth1", __name__)

TIMESTAMP_WINDOW = 300  # seconds, ±5 min (§1.3)
NONCE_WINDOW = 300
THREE_LO_PARAMS = ("oauth_consumer_key", "oauth_token", "oauth_signature_method",
                   "oauth_signature", "oauth_timestamp", "oauth_nonce")


class OAuthProblem(Exception):
    def __init__(self, problem: str, **extra: str):
        super().__init__(problem)
        self.problem = problem
        self.extra = extra

    def response(self) -> Response:
        return oauth_problem(self.problem, **self.extra)


class UserCannotLogIn(OAuthProblem):
    """A valid token of a user who may not log in: bare 401 + challenge (reference §1.5)."""

    def __init__(self):
        super().__init__("permission_denied")

    def response(self) -> Response:
        resp = Response("", status=401, mimetype="text/plain")
        resp.headers["WWW-Authenticate"] = f'OAuth realm="{state().base_url}"'
        return resp


def _form_body() -> str | None:
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.get_data(as_text=True)
    return None


def collected_params() -> list[tuple[str, str]]:
    """All query, form-body and ``Authorization: OAuth`` parameters (§1.2, §1.3).

    Uses oauthlib's ``collect_parameters`` so the set is exactly what RFC 5849 signs.
    """
    headers = {}
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "oauth ":
        headers["Authorization"] = auth
    try:
        return oauth_sig.collect_parameters(
            uri_query=request.query_string.decode("latin-1"), body=_form_body(),
            headers=headers, exclude_oauth_signature=False)
    except (ValueError, TypeError) as exc:
        raise OAuthProblem("parameter_rejected", oauth_problem_advice=str(exc)) from exc


def oauth_params(params: list[tuple[str, str]] | None = None) -> dict[str, str]:
    params = collected_params() if params is None else params
    return {k: v for k, v in params if k.startswith("oauth_")}


def is_three_legged_attempt(params: dict[str, str]) -> bool:
    """Only requests with all six params and a non-empty token go to the 3LO filter (§1.2)."""
    return all(k in params for k in THREE_LO_PARAMS) and bool(params["oauth_token"])


def signed_url() -> str:
    """Request URL as Jira reconstructs it: configured base URL + servlet path (§1.3),
    the path as the client sent it (``getRequestURL`` does not decode its escapes)."""
    return state().base_url + _raw_path()


def _raw_path() -> str:
    """``request.path`` before percent-decoding: the request line's path, without the
    mount point (``SCRIPT_NAME``) and the query."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return request.path
    path = raw.split("?", 1)[0]
    mount = request.environ.get("SCRIPT_NAME", "")
    if mount and path.startswith(mount):
        path = path[len(mount):]
    return path if unquote(path) == request.path else request.path


def validate_message(consumer_key: str, params: list[tuple[str, str]]) -> None:
    """net.oauth ``SimpleOAuthValidator`` order: version, method, timestamp+nonce, signature."""
    st = state()
    op = oauth_params(params)
    if op.get("oauth_version", "1.0") not in ("1.0",):
        try:
            too_new = float(op["oauth_version"]) > 1.0
        except ValueError:
            too_new = True
        if too_new:
            raise OAuthProblem("version_rejected", oauth_acceptable_versions="1.0-1.0")
    for required in ("oauth_signature_method", "oauth_signature", "oauth_timestamp",
                     "oauth_nonce"):
        if not op.get(required):
            raise OAuthProblem("parameter_absent", oauth_parameters_absent=required)
    if op["oauth_signature_method"] != "RSA-SHA1":  # §1.3: exactly RSA-SHA1
        raise OAuthProblem("signature_method_rejected",
                           oauth_acceptable_signature_methods="RSA-SHA1")
    now = int(st.clock())
    try:
        ts = int(op["oauth_timestamp"])
    except ValueError:
        ts = None
    if ts is None or abs(ts - now) > TIMESTAMP_WINDOW:
        raise OAuthProblem("timestamp_refused", oauth_acceptable_timestamps=(
            f"{now - TIMESTAMP_WINDOW}-{now + TIMESTAMP_WINDOW}"))
    with st.lock:
        for k, seen in list(st.nonces.items()):
            if seen < now - NONCE_WINDOW:
                del st.nonces[k]
        nonce_key = (consumer_key, op["oauth_nonce"], op["oauth_timestamp"])
        if nonce_key in st.nonces:
            raise OAuthProblem("nonce_used")
        st.nonces[nonce_key] = now
    consumer = st.consumers[consumer_key]
    unsigned = [(k, v) for k, v in params if k not in ("oauth_signature", "realm")]
    uri = signed_url()
    fake_request = types.SimpleNamespace(params=unsigned, uri=uri, http_method=request.method,
                                         signature=op["oauth_signature"])
    try:
        ok = oauth_sig.verify_rsa_sha1(fake_request, consumer.public_key_pem)
    except Exception:  # malformed base64 etc. → just an invalid signature
        ok = False
    if not ok:
        base_string = oauth_sig.signature_base_string(
            request.method, oauth_sig.base_string_uri(uri),
            oauth_sig.normalize_parameters(unsigned))
        raise OAuthProblem("signature_invalid", oauth_signature=op["oauth_signature"],
                           oauth_signature_base_string=base_string,
                           oauth_signature_method=op["oauth_signature_method"])


def _consumer_for(op: dict[str, str]):
    key = op.get("oauth_consumer_key")
    if not key:
        raise OAuthProblem("parameter_absent", oauth_parameters_absent="oauth_consumer_key")
    consumer = state().consumers.get(key)
    if consumer is None:
        raise OAuthProblem("consumer_key_unknown")
    return consumer


def authenticate_api_request(op: dict[str, str], params: list[tuple[str, str]]) -> str:
    """3LO on an API call (``OAuthFilter`` + ``AuthenticatorImpl``): returns the user name."""
    st = state()
    consumer = _consumer_for(op)
    token = st.access_tokens.get(op["oauth_token"])
    if token is None or token.consumer_key != consumer.key:
        # unknown, revoked, a request token, or another consumer's token (§1.5)
        raise OAuthProblem("token_rejected")
    if st.clock() - token.created > ACCESS_TOKEN_TTL:
        raise OAuthProblem("token_expired")
    if not consumer.three_lo_allowed:
        raise OAuthProblem("permission_denied")
    validate_message(consumer.key, params)
    user = st.users.get(token.user)
    if user is None or not user.get("active", True):
        raise UserCannotLogIn()
    return token.user


def _token_text(**values: str) -> Response:
    return Response(urlencode(values), mimetype="text/plain")


def _valid_callback(cb: str) -> bool:
    if cb == "oob":
        return True
    parts = urlsplit(cb)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _new_token() -> str:
    return secrets.token_urlsafe(24)


# -- servlets -------------------------------------------------------------------------

@bp.route("/plugins/servlet/oauth/request-token", methods=["GET", "POST"])
def request_token():
    if request.method != "POST":  # servlet implements POST only (§1.2, pitfall §6.8)
        return Response("", status=200)
    st = state()
    try:
        params = collected_params()
        op = oauth_params(params)
        consumer = _consumer_for(op)
        callback = op.get("oauth_callback")
        if callback is not None and not _valid_callback(callback):
            raise OAuthProblem("parameter_rejected", oauth_parameters_rejected="oauth_callback",
                               oauth_problem_advice="The callback must be an absolute http(s) "
                                                    "URI or 'oob'")
        if not consumer.three_lo_allowed:
            raise OAuthProblem("permission_denied")
        validate_message(consumer.key, params)
    except OAuthProblem as problem:
        return problem.response()
    token = RequestToken(token=_new_token(), secret=secrets.token_urlsafe(24),
                         consumer_key=consumer.key, callback=callback, created=st.clock())
    with st.lock:
        st.request_tokens[token.token] = token
    values = {"oauth_token": token.token, "oauth_token_secret": token.secret}
    if callback is not None:
        values["oauth_callback_confirmed"] = "true"
    return _token_text(**values)


@bp.route("/plugins/servlet/oauth/authorize", methods=["GET", "POST"])
def authorize():
    st = state()
    if current_user() is None:
        return login_redirect()
    token_value = request.values.get("oauth_token", "")
    token = st.request_tokens.get(token_value)
    if token is None or st.clock() - token.created > REQUEST_TOKEN_TTL:
        return render_template("oauth1_error.html", message="The request token is invalid or "
                               "has expired. Return to the application and try again."), 400
    consumer = st.consumers.get(token.consumer_key)
    if consumer is None:
        return render_template("oauth1_error.html", message="Unknown consumer."), 400
    if request.method == "GET":
        return render_template("oauth1_authorize.html", consumer=consumer, token=token.token,
                               user=st.users[current_user()])
    approved = "approve" in request.form and "deny" not in request.form
    with st.lock:
        token.user = current_user()
        if approved:
            token.authorization = "authorized"
            alphabet = string.ascii_letters + string.digits
            token.verifier = "".join(secrets.choice(alphabet) for _ in range(6))
        else:
            token.authorization = "denied"
            token.verifier = "denied"
    callback = token.callback if token.callback and token.callback != "oob" else consumer.callback
    if not callback:
        return render_template("oauth1_verifier.html", consumer=consumer, approved=approved,
                               verifier=token.verifier)
    sep = "&" if urlsplit(callback).query else "?"
    target = callback + sep + urlencode({"oauth_token": token.token,
                                         "oauth_verifier": token.verifier})
    return Response(status=302, headers={"Location": target})


@bp.route("/plugins/servlet/oauth/access-token", methods=["GET", "POST"])
def access_token():
    if request.method != "POST":
        return Response("", status=200)
    st = state()
    try:
        params = collected_params()
        op = oauth_params(params)
        token_value = op.get("oauth_token")
        if not token_value:
            raise OAuthProblem("parameter_absent", oauth_parameters_absent="oauth_token")
        if token_value in st.access_tokens:
            return _renew_session(op, params)
        # Checks in the order of AccessTokenServlet (reference §1.2).
        token = st.request_tokens.get(token_value)
        if token is None:
            raise OAuthProblem("token_rejected")
        if st.clock() - token.created > REQUEST_TOKEN_TTL:
            raise OAuthProblem("token_expired")
        if token.authorization == "none":
            raise OAuthProblem("permission_unknown")
        if token.authorization == "denied":
            raise OAuthProblem("permission_denied")
        if op.get("oauth_consumer_key") != token.consumer_key:
            raise OAuthProblem("token_rejected")
        if token.callback is not None:  # OAuth 1.0a token: verifier required
            verifier = op.get("oauth_verifier")
            if not verifier:
                raise OAuthProblem("parameter_absent", oauth_parameters_absent="oauth_verifier")
            if verifier != token.verifier:
                raise OAuthProblem("token_rejected")
        consumer = _consumer_for(op)
        validate_message(consumer.key, params)
    except OAuthProblem as problem:
        return problem.response()
    now = st.clock()
    new = AccessToken(token=_new_token(), secret=secrets.token_urlsafe(24),
                      consumer_key=token.consumer_key, user=token.user, created=now,
                      session_handle=secrets.token_urlsafe(24), session_created=now)
    with st.lock:
        st.request_tokens.pop(token.token, None)
        st.access_tokens[new.token] = new
    return _access_token_response(new)


def _access_token_response(token: AccessToken) -> Response:
    st = state()
    session_left = round(SESSION_TTL - (st.clock() - token.session_created))
    return _token_text(oauth_token=token.token, oauth_token_secret=token.secret,
                       oauth_expires_in=str(ACCESS_TOKEN_TTL),
                       oauth_session_handle=token.session_handle,
                       oauth_authorization_expires_in=str(session_left))


def _renew_session(op: dict[str, str], params) -> Response:
    """Session extension: an access token + ``oauth_session_handle`` (§1.2, optional)."""
    st = state()
    old = st.access_tokens[op["oauth_token"]]
    handle = op.get("oauth_session_handle")
    if not handle:
        raise OAuthProblem("parameter_absent", oauth_parameters_absent="oauth_session_handle")
    if handle != old.session_handle or op.get("oauth_consumer_key") != old.consumer_key:
        raise OAuthProblem("token_rejected")
    if st.clock() - old.session_created > SESSION_TTL:
        raise OAuthProblem("permission_denied")
    validate_message(old.consumer_key, params)
    new = AccessToken(token=_new_token(), secret=secrets.token_urlsafe(24),
                      consumer_key=old.consumer_key, user=old.user, created=st.clock(),
                      session_handle=old.session_handle, session_created=old.session_created)
    with st.lock:
        st.access_tokens.pop(old.token, None)
        st.access_tokens[new.token] = new
    return _access_token_response(new)


@bp.route("/plugins/servlet/oauth/users/access-tokens", methods=["GET", "POST"])
def user_access_tokens():
    """"View OAuth Access Tokens" ("Authorized Applications") with revoke (§1.6)."""
    st = state()
    user = current_user()
    if user is None:
        return login_redirect()
    if request.method == "POST":
        token_value = request.form.get("token", "")
        token = st.access_tokens.get(token_value)
        if token is None or token.user != user:
            abort(400)
        with st.lock:
            st.access_tokens.pop(token_value, None)  # revocation deletes (→ token_rejected)
        return Response(status=302, headers={"Location": local(request.path)})
    tokens = [(t, st.consumers.get(t.consumer_key)) for t in st.access_tokens.values()
              if t.user == user]
    return render_template("oauth1_access_tokens.html", tokens=tokens, user=st.users[user])
