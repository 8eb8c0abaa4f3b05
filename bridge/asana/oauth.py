"""Asana OAuth 2.0: authorization code with PKCE (asana-app-components.md §7.2).

``state`` is required by Asana (and checked at app review); the token request is
form-encoded with ``client_id`` and ``client_secret`` in the body; the token response
carries ``data`` {id, name, email}, and the user's gid comes from ``GET /users/me``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from .. import logs
from ..timeutil import expiry
from .client import call, http
from .errors import AsanaError, error_from_response

AUTHORIZE_PATH = "/-/oauth_authorize"
TOKEN_PATH = "/-/oauth_token"
REVOKE_PATH = "/-/oauth_revoke"


@dataclass(frozen=True, repr=False)
class AsanaTokens:
    access_token: str = field(metadata=logs.SECRET)
    refresh_token: str | None = field(metadata=logs.SECRET)
    expires_at: dt.datetime  # naive UTC
    user: dict  # the token response's "data": id, name, email

    __repr__ = logs.masked_repr


def authorize_url(base_url: str, client_id: str, redirect_uri: str, state: str,
                  code_challenge: str) -> str:
    query = urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "state": state, "code_challenge_method": "S256", "code_challenge": code_challenge,
    })
    return f"{base_url}{AUTHORIZE_PATH}?{query}"


def exchange_code(base_url: str, client_id: str, client_secret: str, code: str,
                  redirect_uri: str, code_verifier: str, *, timeout: float = 8.0) -> AsanaTokens:
    return _token(base_url, timeout, {
        "grant_type": "authorization_code", "client_id": client_id,
        "client_secret": client_secret, "redirect_uri": redirect_uri, "code": code,
        "code_verifier": code_verifier,
    })


def _token(base_url: str, timeout: float, form: dict) -> AsanaTokens:
    logs.hide(form.get("client_secret"), form.get("code"), form.get("refresh_token"))
    with call():  # a timeout is "did not answer in time", not "cannot be reached"
        response = http().post(base_url + TOKEN_PATH, data=form, timeout=timeout,
                               allow_redirects=False)
    if response.status_code != 200:
        raise error_from_response(response)
    try:
        body = response.json()
        access_token = body["access_token"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise AsanaError("Asana's token answer was not understood.") from None
    logs.hide(access_token, body.get("refresh_token"))
    return AsanaTokens(
        access_token=access_token,
        refresh_token=body.get("refresh_token"),
        expires_at=expiry(body.get("expires_in")),
        user=body.get("data") or {},
    )


def refresh(base_url: str, client_id: str, client_secret: str, refresh_token: str,
            redirect_uri: str, *, timeout: float = 8.0) -> AsanaTokens:
    """A new access token from the long-lived refresh token (§7.2). Asana does not rotate
    refresh tokens; when the answer carries none, the old one stays valid."""
    tokens = _token(base_url, timeout, {
        "grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
        "redirect_uri": redirect_uri, "refresh_token": refresh_token,
    })
    if tokens.refresh_token:
        return tokens
    return AsanaTokens(access_token=tokens.access_token, refresh_token=refresh_token,
                       expires_at=tokens.expires_at, user=tokens.user)


def revoke(base_url: str, client_id: str, client_secret: str, refresh_token: str, *,
           timeout: float = 8.0) -> bool:
    """Revoke a grant by its refresh token (asana-app-components.md §7.2: bearer tokens
    are refused; 200 means revoked or unknown). Best effort, for a grant the bridge
    obtained but will not keep: True when Asana confirmed, False on any failure."""
    logs.hide(refresh_token, client_secret)
    try:
        with call():
            response = http().post(base_url + REVOKE_PATH, timeout=timeout,
                                   allow_redirects=False,
                                   data={"client_id": client_id, "client_secret": client_secret,
                                         "token": refresh_token})
    except AsanaError:
        return False
    return response.status_code == 200
