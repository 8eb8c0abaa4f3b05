"""Asana's OAuth 2.0 provider (reference §7.2).

* ``GET /-/oauth_authorize``: ``client_id``, ``redirect_uri`` (must equal a registered URL),
  ``response_type=code``, ``state`` (required, echoed), optional PKCE ``code_challenge`` with
  ``code_challenge_method=S256``, optional ``scope`` (default ``default``). A wrong
  ``client_id`` or ``redirect_uri`` shows a plain-text error and never redirects. Otherwise a
  consent page: a seeded user signs in and allows or denies; deny redirects with
  ``error=access_denied&state=...``.
* ``POST /-/oauth_token`` (form-encoded, client credentials in the body):
  ``authorization_code`` (``code``, ``redirect_uri``, ``code_verifier`` when PKCE was used) and
  ``refresh_token``. Access tokens last 3600 s; the response carries ``data`` with the
  user's ``id``, ``name`` and ``email`` (no ``gid``: UNCONFIRMED, use ``/users/me``).
  Refresh responses do not rotate the refresh token (Asana's are long-lived).
* ``POST /-/oauth_revoke``: ``client_id``, ``client_secret``, ``token`` which must be a refresh
  token; 200 when revoked or unknown, 400 when malformed or a bearer token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request

bp = Blueprint("asana_oauth", __name__)

SCOPES_DEFAULT = "default"


def _state():
    return current_app.sim


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


def _redirect(uri: str, **params) -> Response:
    sep = "&" if "?" in uri else "?"
    return redirect(uri + sep + urlencode({k: v for k, v in params.items() if v is not None}), 302)


def _validate_authorize(params) -> tuple[object, Response | None]:
    """Check the request; return (app, error response or None)."""
    sim = _state()
    app = sim.apps.get(params.get("client_id", ""))
    if app is None:
        return None, _plain(400, "The required parameter client_id is missing or invalid.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return None, _plain(400, "The redirect_uri parameter does not match a registered "
                                 "redirect URL for this app.")
    state = params.get("state")
    if params.get("response_type") != "code":
        # id_token / "code id_token" need the openid flow, which the simulator leaves out.
        return app, _redirect(redirect_uri, error="unsupported_response_type", state=state)
    if not state:
        return app, _redirect(redirect_uri, error="invalid_request",
                              error_description="The state parameter is required.")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if (challenge or method) and (method != "S256" or not challenge):
        return app, _redirect(redirect_uri, error="invalid_request", state=state,
                              error_description="PKCE needs code_challenge with method S256.")
    return app, None


AUTH_FIELDS = ("client_id", "redirect_uri", "response_type", "state", "code_challenge",
               "code_challenge_method", "scope")


@bp.get("/-/oauth_authorize")
def authorize():
    app, error = _validate_authorize(request.args)
    if error is not None:
        return error
    fields = {k: request.args.get(k, "") for k in AUTH_FIELDS}
    return render_template("consent.html", app=app, fields=fields, error=None, email="")


@bp.post("/-/oauth_authorize")
def authorize_decision():
    app, error = _validate_authorize(request.form)
    if error is not None:
        return error
    form = request.form
    if form.get("decision") == "deny":
        return _redirect(form["redirect_uri"], error="access_denied", state=form["state"])
    user = _state().check_password(form.get("email", ""), form.get("password", ""))
    if user is None:
        fields = {k: form.get(k, "") for k in AUTH_FIELDS}
        return render_template("consent.html", app=app, fields=fields,
                               error="Wrong email or password.", email=form.get("email", "")), 200
    code = _state().issue_code(
        client_id=app.client_id, user=user["gid"], redirect_uri=form["redirect_uri"],
        code_challenge=form.get("code_challenge") or None,
        scope=form.get("scope") or SCOPES_DEFAULT,
    )
    return _redirect(form["redirect_uri"], code=code, state=form["state"])


def _oauth_error(status: int, error: str, description: str) -> Response:
    resp = jsonify(error=error, error_description=description)
    resp.status_code = status
    return resp


def _client():
    """Client authentication with ``client_id`` and ``client_secret`` in the form body."""
    sim = _state()
    app = sim.apps.get(request.form.get("client_id", ""))
    secret = request.form.get("client_secret", "")
    if app is None or not hmac.compare_digest(app.client_secret.encode(), secret.encode()):
        return None
    return app


def _pkce_ok(challenge: str | None, verifier: str | None) -> bool:
    if not challenge:
        return True
    if not verifier:
        return False
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return hmac.compare_digest(expected, challenge)


def _user_data(user_gid: str) -> dict:
    user = _state().users[user_gid]
    return {"id": user["gid"], "name": user["name"], "email": user["email"]}


@bp.post("/-/oauth_token")
def token():
    if request.mimetype != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "The body must be form-encoded.")
    app = _client()
    if app is None:
        return _oauth_error(401, "invalid_client", "The client_id or client_secret is invalid.")
    sim = _state()
    grant_type = request.form.get("grant_type")
    if grant_type == "authorization_code":
        grant = sim.take_code(request.form.get("code", ""))
        if grant is None or grant["client_id"] != app.client_id:
            return _oauth_error(400, "invalid_grant", "The code is invalid, used or expired.")
        if request.form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error(400, "invalid_grant",
                                "The redirect_uri does not match the authorization request.")
        if not _pkce_ok(grant["code_challenge"], request.form.get("code_verifier")):
            return _oauth_error(400, "invalid_grant", "The code_verifier does not match.")
        refresh = sim.issue_refresh_token(grant["user"], app.client_id, grant["scope"])
        access = sim.issue_access_token(grant["user"], app.client_id, refresh, grant["scope"])
        return jsonify(access_token=access, expires_in=sim.access_token_ttl, token_type="bearer",
                       refresh_token=refresh, data=_user_data(grant["user"]))
    if grant_type == "refresh_token":
        if request.form.get("redirect_uri") not in app.redirect_uris:
            return _oauth_error(400, "invalid_request", "The redirect_uri is missing or invalid.")
        record = sim.refresh_tokens.get(request.form.get("refresh_token", ""))
        if record is None or record["client_id"] != app.client_id:
            return _oauth_error(400, "invalid_grant", "The refresh token is invalid or revoked.")
        access = sim.issue_access_token(record["user"], app.client_id,
                                        request.form["refresh_token"], record["scope"])
        return jsonify(access_token=access, expires_in=sim.access_token_ttl, token_type="bearer",
                       data=_user_data(record["user"]))
    return _oauth_error(400, "unsupported_grant_type",
                        "grant_type must be authorization_code or refresh_token.")


@bp.post("/-/oauth_revoke")
def revoke():
    app = _client()
    if app is None:
        return _oauth_error(401, "invalid_client", "The client_id or client_secret is invalid.")
    sim = _state()
    tok = request.form.get("token", "")
    if not tok:
        return _oauth_error(400, "invalid_request", "The token parameter is required.")
    if tok in sim.access_tokens:
        return _oauth_error(400, "invalid_request", "Only refresh tokens can be revoked.")
    record = sim.refresh_tokens.get(tok)
    if record is not None and record["client_id"] == app.client_id:
        sim.revoke_refresh(tok)
    return Response("", status=200)
