"""OAuth 2.0 with Jira 8.22+ incoming application links (jira-server.md §2).

Authorization code with PKCE ``S256`` and scope ``WRITE`` (a READ token gets 403 on every
non-GET, §2.6); ``client_id`` and ``client_secret`` travel in the form body (the token
resource has no HTTP-Basic client authentication, §2.3); ``redirect_uri`` is sent on
refresh too (§2.4, some provider versions demand it); refresh tokens rotate, so the caller
must store the new pair before anyone else refreshes (see ``services.credentials``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from .. import logs
from ..timeutil import expiry
from .client import session_for, transport_errors
from .errors import JiraError, JiraMisconfigured, JiraNeedsReconnect, JiraUnavailable

AUTHORIZE_PATH = "/rest/oauth2/latest/authorize"
TOKEN_PATH = "/rest/oauth2/latest/token"
SCOPE = "WRITE"
# An administrator's one-time consent to register the webhook (§2.1: ADMIN ⊃ WRITE; the
# incoming link's Permission must be Admin, or Jira answers invalid_scope).
ADMIN_SCOPE = "ADMIN"
FIRST_VERSION = (8, 22)


@dataclass(frozen=True, repr=False)
class TokenSet:
    access_token: str = field(metadata=logs.SECRET)
    refresh_token: str = field(metadata=logs.SECRET)
    expires_at: dt.datetime  # naive UTC
    scope: str

    __repr__ = logs.masked_repr


def authorize_url(base_url: str, client_id: str, redirect_uri: str, state: str,
                  code_challenge: str, scope: str = SCOPE) -> str:
    query = urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": scope, "state": state, "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    })
    return f"{base_url}{AUTHORIZE_PATH}?{query}"


def exchange_code(base_url: str, client_id: str, client_secret: str, code: str,
                  redirect_uri: str, code_verifier: str, *, timeout: float = 8.0) -> TokenSet:
    return _token_request(base_url, timeout, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": client_id, "client_secret": client_secret,
        "code_verifier": code_verifier,
    })


def refresh(base_url: str, client_id: str, client_secret: str, refresh_token: str,
            redirect_uri: str, *, timeout: float = 8.0) -> TokenSet:
    return _token_request(base_url, timeout, {
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect_uri,
    })


REVOKE_PATH = "/rest/oauth2/latest/revoke"


def revoke(base_url: str, client_id: str, client_secret: str, token: str, *,
           timeout: float = 8.0) -> bool:
    """Revoke a token pair (jira-server.md §2.7: either token of a pair removes both; 200
    also for a token already invalid). Best effort, for a token the bridge obtained but
    will not keep: True when Jira confirmed, False on any failure (never raises)."""
    logs.hide(token, client_secret)
    try:
        with transport_errors():
            response = session_for(base_url).post(
                base_url + REVOKE_PATH, timeout=timeout, allow_redirects=False,
                data={"token": token, "client_id": client_id,
                      "client_secret": client_secret})
    except JiraError:
        return False
    return response.status_code == 200


def _token_request(base_url: str, timeout: float, form: dict) -> TokenSet:
    logs.hide(form.get("client_secret"), form.get("refresh_token"), form.get("code"))
    with transport_errors():  # a timeout is "did not answer in time", not "unreachable"
        response = session_for(base_url).post(base_url + TOKEN_PATH, data=form,
                                              timeout=timeout, allow_redirects=False)
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        error = body.get("error", "") if isinstance(body, dict) else ""
        if error == "invalid_client":
            raise JiraMisconfigured(  # the advice says where to copy them from
                "Jira rejected the OAuth 2.0 client id or client secret.",
                problem="invalid_client", http_status=response.status_code)
        if error == "invalid_grant":
            raise JiraNeedsReconnect(problem="invalid_grant", http_status=response.status_code)
        if response.status_code >= 500:
            raise JiraUnavailable(http_status=response.status_code)
        raise JiraError(f"Jira refused the authorization ({error or response.status_code}).",
                        http_status=response.status_code)
    logs.hide(body["access_token"], body.get("refresh_token"))
    return TokenSet(
        access_token=body["access_token"],
        # Rotation is the documented behaviour (§2.4); if a provider ever omits the new
        # refresh token, the caller keeps the one it has rather than storing nothing.
        refresh_token=body.get("refresh_token") or form.get("refresh_token") or "",
        expires_at=expiry(body.get("expires_in")),
        scope=body.get("scope", ""),
    )

