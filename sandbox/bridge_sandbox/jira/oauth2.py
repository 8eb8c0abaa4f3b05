"""OAuth 2.0 provider for incoming links, Jira 8.22+ (reference jira-server.md §2).

Before 8.22 every path here answers 404.  Behaviour follows the decompiled
oauth2-provider-plugin 3.1.5 as summarised in the reference: client secret only from the
form (no HTTP Basic client auth), PKCE ``S256``/``plain``, one-time codes whose reuse
deletes the tokens, rotating refresh tokens, ``{"error","error_description"}`` bodies.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from urllib.parse import urlencode, urlsplit

import jwt
from flask import Blueprint, Response, abort, jsonify, render_template, request

from bridge_sandbox.jira.state import (
    OAUTH2_ACCESS_TTL,
    OAUTH2_REFRESH_TTL,
    AuthCode,
    OAuth2Token,
)
from bridge_sandbox.jira.webutil import current_user, local, login_redirect, state

bp = Blueprint("oauth2", __name__)

# §2.1 scope inheritance: WRITE ⊃ READ, ADMIN ⊃ WRITE, SYSTEM_ADMIN ⊃ ADMIN
SCOPE_LEVEL = {"READ": 1, "WRITE": 2, "ADMIN": 3, "SYSTEM_ADMIN": 4}
SCOPE_TEXT = {
    "READ": "View projects and issues the user can view, and the user's profile",
    "WRITE": "Create, update, and delete projects and issues, and change the user's profile",
    "ADMIN": "Administer Jira",
    "SYSTEM_ADMIN": "Administer Jira system",
}
CODE_CHALLENGE_RE = re.compile(r"^[0-9a-zA-Z~\-._]{43,128}$")  # §2.2
ERROR_STATUS = {"invalid_request": 400, "invalid_grant": 400, "unsupported_grant_type": 400,
                "unsupported_response_type": 400, "invalid_client": 401,
                "unsupported_token_type": 400, "invalid_scope": 400}


@bp.before_request
def _only_from_8_22():
    if not state().profile.has_oauth2_provider:
        abort(404)


class OAuth2Error(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(error)
        self.error = error
        self.description = description

    def response(self) -> Response:
        resp = jsonify({"error": self.error, "error_description": self.description})
        resp.status_code = ERROR_STATUS.get(self.error, 500)
        return _no_store(resp)


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


def scope_level(scope: str) -> int:
    """Highest level among space-separated scope names (0 if none is known)."""
    return max((SCOPE_LEVEL.get(s, 0) for s in scope.split()), default=0)


def _scope_ok(requested: str, client_scope: str) -> bool:
    names = requested.split()
    return bool(names) and all(n in SCOPE_LEVEL for n in names) and \
        scope_level(requested) <= SCOPE_LEVEL[client_scope]


def _redirect_with(uri: str, **params: str) -> Response:
    sep = "&" if urlsplit(uri).query else "?"
    clean = {k: v for k, v in params.items() if v is not None}
    return Response(status=302, headers={"Location": uri + sep + urlencode(clean)})


def _error_page(error: str, description: str, status: int = 400):
    return render_template("oauth2_error.html", error=error, description=description), status


def _validate_authorization(values) -> tuple:
    """Shared by the authorize endpoint and the consent page.

    Returns ``(client, error_page_response, redirect_error_response)``; at most one of the
    responses is set.  Unknown client / redirect URI → Jira error page; everything else
    goes back to the client's redirect URI (§2.2).
    """
    st = state()
    for name in ("client_id", "redirect_uri"):
        if not values.get(name):
            return None, _error_page("invalid_request", f"The required input parameter "
                                     f"'{name}' is missing."), None
    client = st.oauth2_clients.get(values["client_id"])
    if client is None:
        return None, _error_page("invalid_request", "The provided value for the input "
                                 "parameter 'client_id' is not valid."), None
    redirect_uri = values["redirect_uri"]
    if redirect_uri not in client.redirects:
        return None, _error_page("invalid_request", "The provided value for the input "
                                 "parameter 'redirect_uri' is not valid."), None
    state_param = values.get("state")

    def back(error, description):
        return client, None, _redirect_with(redirect_uri, error=error,
                                            error_description=description, state=state_param)

    if not values.get("response_type"):
        return back("invalid_request", "The required input parameter 'response_type' is missing.")
    if values["response_type"] != "code":
        return back("unsupported_response_type",
                    "The authorization server does not support obtaining an authorization "
                    "code using this method.")
    if not values.get("scope"):
        return back("invalid_request", "The required input parameter 'scope' is missing.")
    if not _scope_ok(values["scope"], client.scope):
        return back("invalid_scope", "The requested scope is invalid, unknown, or exceeds the "
                                     "scope granted to the client.")
    method = values.get("code_challenge_method")
    challenge = values.get("code_challenge")
    if method or challenge:
        if (method or "plain").lower() not in ("plain", "s256"):
            return back("invalid_request", "The provided value for the input parameter "
                                           "'code_challenge_method' is not valid.")
        if not challenge or not CODE_CHALLENGE_RE.match(challenge):
            return back("invalid_request", "The provided value for the input parameter "
                                           "'code_challenge' is not valid.")
    return client, None, None


AUTHZ_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state",
                "code_challenge_method", "code_challenge")


@bp.route("/rest/oauth2/latest/authorize", methods=["GET"])
def authorize():
    client, page, back = _validate_authorization(request.args)
    if page is not None:
        return page
    if back is not None:
        return back
    query = {k: request.args[k] for k in AUTHZ_PARAMS if request.args.get(k) is not None}
    return Response(status=303, headers={
        "Location": local("/plugins/servlet/oauth2/consent") + "?" + urlencode(query)})


@bp.route("/plugins/servlet/oauth2/consent", methods=["GET", "POST"])
def consent():
    st = state()
    if current_user() is None:
        return login_redirect()
    values = request.values
    client, page, back = _validate_authorization(values)
    if page is not None:
        return page
    if back is not None:
        return back
    if request.method == "GET":
        scopes = [s for s in SCOPE_LEVEL if SCOPE_LEVEL[s] <= scope_level(values["scope"])]
        return render_template("oauth2_consent.html", client=client,
                               user=st.users[current_user()],
                               scope_texts=[SCOPE_TEXT[s] for s in scopes],
                               params={k: values[k] for k in AUTHZ_PARAMS if values.get(k)})
    if "approve" not in request.form:
        # UNCONFIRMED (reference §2.2/§7): deny modelled as error=access_denied
        return _redirect_with(values["redirect_uri"], error="access_denied",
                              error_description="The user denied the request.",
                              state=values.get("state"))
    method = values.get("code_challenge_method")
    code = AuthCode(code=secrets.token_urlsafe(32), client_id=client.client_id,
                    user=current_user(), redirect_uri=values["redirect_uri"],
                    scope=" ".join(values["scope"].split()),
                    code_challenge=values.get("code_challenge"),
                    code_challenge_method=(method or "plain").upper()
                    if values.get("code_challenge") else None,
                    created=st.clock())
    with st.lock:
        st.auth_codes[code.code] = code
    return _redirect_with(values["redirect_uri"], code=code.code, state=values.get("state"))


def _mint(client_id: str, user: str, scope: str) -> OAuth2Token:
    st = state()
    now = st.clock()

    def jwt_token():  # HS256 JWT whose only claim is an opaque id (§2.3)
        return jwt.encode({"id": str(uuid.uuid4())}, st.oauth2_jwt_secret, algorithm="HS256")

    token = OAuth2Token(access_token=jwt_token(), refresh_token=jwt_token(),
                        client_id=client_id, user=user, scope=scope, created=now,
                        refresh_created=now)
    with st.lock:
        st.oauth2_tokens[token.access_token] = token
    return token


def _token_body(token: OAuth2Token) -> Response:
    return _no_store(jsonify({"access_token": token.access_token, "token_type": "bearer",
                              "expires_in": OAUTH2_ACCESS_TTL,
                              "refresh_token": token.refresh_token, "scope": token.scope}))


def _form() -> dict:
    """Token-endpoint parameters: form fields (and, like the servlet, the query string).

    HTTP Basic client credentials are deliberately ignored (§2.3).
    """
    values = dict(request.args.items())
    values.update(request.form.items())
    return values


def _require(values: dict, *names: str) -> None:
    for name in names:
        if not values.get(name, "").strip():
            raise OAuth2Error("invalid_request",
                              f"The required input parameter '{name}' is missing.")


def _check_client_secret(client_id: str, secret: str | None):
    client = state().oauth2_clients.get(client_id)
    if client is None or not secret or not secrets.compare_digest(client.client_secret, secret):
        raise OAuth2Error("invalid_client", "Client authentication failed.")
    return client


def _verify_pkce(code: AuthCode, verifier: str | None) -> bool:
    if code.code_challenge is None:
        return True
    if not verifier or not CODE_CHALLENGE_RE.match(verifier):
        return False
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    return secrets.compare_digest(computed, code.code_challenge)


@bp.route("/rest/oauth2/latest/token", methods=["POST"])
def token():
    values = _form()
    try:
        _require(values, "grant_type")
        grant = values["grant_type"]
        if grant == "authorization_code":
            return _authorization_code_grant(values)
        if grant == "refresh_token":
            return _refresh_grant(values)
        raise OAuth2Error("unsupported_grant_type",
                          "The authorization grant type is not supported by the "
                          "authorization server.")
    except OAuth2Error as err:
        return err.response()


def _authorization_code_grant(values: dict) -> Response:
    st = state()
    _require(values, "code", "redirect_uri", "client_id")
    with st.lock:
        code = st.auth_codes.get(values["code"])
        if code is None:
            raise OAuth2Error("invalid_grant", "The provided authorization code is invalid.")
        if code.used:  # reuse: delete everything minted from it (§2.3)
            for access in code.issued:
                st.oauth2_tokens.pop(access, None)
            code.issued.clear()
            raise OAuth2Error("invalid_grant", "The authorization code has already been used.")
        if st.clock() - code.created > st.settings["oauth2_code_ttl"]:
            raise OAuth2Error("invalid_grant", "The authorization code has expired.")
        if code.client_id != values["client_id"]:
            raise OAuth2Error("invalid_grant", "The authorization code was issued to another "
                                               "client.")
        if values["redirect_uri"] != code.redirect_uri:
            raise OAuth2Error("invalid_grant", "The redirect_uri does not match the one used "
                                               "for the authorization request.")
        client = st.oauth2_clients.get(values["client_id"])
        if client is None or values["redirect_uri"] not in client.redirects:
            raise OAuth2Error("invalid_client", "The redirect_uri is not registered for "
                                                "the client.")
        if not _verify_pkce(code, values.get("code_verifier")):
            raise OAuth2Error("invalid_grant", "PKCE verification failed: the code_verifier "
                                               "is missing or does not match.")
        _check_client_secret(values["client_id"], values.get("client_secret"))
        code.used = True
        token = _mint(code.client_id, code.user, code.scope)
        code.issued.append(token.access_token)
    return _token_body(token)


def _refresh_grant(values: dict) -> Response:
    st = state()
    _require(values, "refresh_token", "client_id")
    with st.lock:
        old = next((t for t in st.oauth2_tokens.values()
                    if t.refresh_token == values["refresh_token"]), None)
        if old is None or st.clock() - old.refresh_created > OAUTH2_REFRESH_TTL:
            raise OAuth2Error("invalid_grant", "The refresh token is invalid or expired.")
        if old.client_id != values["client_id"]:
            raise OAuth2Error("invalid_grant", "The refresh token was issued to another client.")
        client = _check_client_secret(values["client_id"], values.get("client_secret"))
        if st.settings["oauth2_refresh_requires_redirect_uri"]:
            # stricter provider documented by jira.js (reference §2.4), UNCONFIRMED versions
            if values.get("redirect_uri") not in client.redirects:
                raise OAuth2Error("invalid_grant", "The redirect_uri is missing or invalid.")
        st.oauth2_tokens.pop(old.access_token, None)  # rotation: old pair dies
        new = _mint(old.client_id, old.user, old.scope)
    return _token_body(new)


@bp.route("/rest/oauth2/latest/revoke", methods=["POST"])
def revoke():
    st = state()
    values = _form()
    try:
        _require(values, "token", "client_id")
        hint = values.get("token_type_hint") or ""
        if hint not in ("", "access_token", "refresh_token"):
            raise OAuth2Error("unsupported_token_type", "The token type is not supported.")
        _check_client_secret(values["client_id"], values.get("client_secret"))
    except OAuth2Error as err:
        return err.response()
    with st.lock:
        for access, tok in list(st.oauth2_tokens.items()):
            if tok.client_id != values["client_id"]:
                continue
            if (hint in ("", "access_token") and access == values["token"]) or \
                    (hint in ("", "refresh_token") and tok.refresh_token == values["token"]):
                del st.oauth2_tokens[access]  # either token of a pair removes both (§2.7)
    return _no_store(Response(status=200))


@bp.route("/rest/oauth2/latest/.well-known/oauth-authorization-server", methods=["GET"])
def metadata():
    base = state().base_url
    return jsonify({
        "issuer": base,
        "authorization_endpoint": base + "/rest/oauth2/latest/authorize",
        "token_endpoint": base + "/rest/oauth2/latest/token",
        "revocation_endpoint": base + "/rest/oauth2/latest/revoke",
        "scopes_supported": list(SCOPE_LEVEL),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_post"],
    })


@bp.route("/plugins/servlet/oauth2/authorized-applications", methods=["GET", "POST"])
def authorized_applications():
    """Profile ▸ Authorized applications (servlet path UNCONFIRMED, reference §2.7/§7)."""
    st = state()
    user = current_user()
    if user is None:
        return login_redirect()
    if request.method == "POST":
        client_id = request.form.get("client_id", "")
        with st.lock:
            for access, tok in list(st.oauth2_tokens.items()):
                if tok.user == user and tok.client_id == client_id:
                    del st.oauth2_tokens[access]
        return Response(status=302, headers={"Location": local(request.path)})
    apps = {}
    for tok in st.oauth2_tokens.values():
        if tok.user == user and tok.client_id in st.oauth2_clients:
            apps[tok.client_id] = (st.oauth2_clients[tok.client_id], tok.scope)
    return render_template("oauth2_authorized_apps.html", apps=list(apps.values()),
                           user=st.users[user])


def authenticate_bearer(token_value: str) -> tuple[str, str] | None:
    """(user, scope) for a live access token, else None — the caller then goes anonymous (§2.6)."""
    st = state()
    tok = st.oauth2_tokens.get(token_value)
    if tok is None or st.clock() - tok.created > OAUTH2_ACCESS_TTL:
        return None
    if tok.client_id not in st.oauth2_clients:
        return None
    return tok.user, tok.scope
