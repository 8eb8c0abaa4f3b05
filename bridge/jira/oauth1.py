"""The OAuth 1.0a three-legged dance with Jira application links (jira-server.md §1.2, §1.8).

Request token (with ``oauth_callback``), the user's authorization in the browser, access
token (with ``oauth_verifier``). Every call is signed RSA-SHA1 by ``signing`` through
``client.JiraClient``, which never retries a signed request (§6.5).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from .client import JiraClient
from .errors import JiraMisconfigured, JiraNeedsReconnect
from .signing import oauth1_auth

REQUEST_TOKEN_PATH = "/plugins/servlet/oauth/request-token"
AUTHORIZE_PATH = "/plugins/servlet/oauth/authorize"
ACCESS_TOKEN_PATH = "/plugins/servlet/oauth/access-token"


def fetch_request_token(base_url: str, consumer_key: str, private_key_pem: str,
                        callback_uri: str, *, timeout: float = 8.0) -> tuple[str, str]:
    """POST request-token with ``oauth_callback`` (1.0a mode, so a verifier is required
    later; without a callback Jira falls back to OAuth 1.0, pitfall §6.9).

    Returns ``(oauth_token, oauth_token_secret)``.
    """
    client = JiraClient(base_url, oauth1_auth(consumer_key, private_key_pem,
                                              callback_uri=callback_uri), timeout=timeout)
    try:
        values = _form(client.request("POST", REQUEST_TOKEN_PATH))
    except JiraNeedsReconnect as exc:
        # No user token is involved yet: consumer_key_unknown and friends mean the
        # application link is missing or wrong, which only an admin can fix.
        raise JiraMisconfigured(problem=exc.problem, http_status=exc.http_status) from None
    if values.get("oauth_callback_confirmed") != "true" or not values.get("oauth_token"):
        raise JiraMisconfigured("Jira did not confirm the OAuth callback.",
                                problem="callback_not_confirmed")
    return values["oauth_token"], values.get("oauth_token_secret", "")


def authorize_url(base_url: str, request_token: str) -> str:
    return f"{base_url}{AUTHORIZE_PATH}?{urlencode({'oauth_token': request_token})}"


def fetch_access_token(base_url: str, consumer_key: str, private_key_pem: str,
                       request_token: str, verifier: str, *, timeout: float = 8.0) -> dict:
    """POST access-token with the request token and ``oauth_verifier``.

    Returns Jira's form values: ``oauth_token`` (the access token, valid 5 years by
    default), ``oauth_token_secret``, ``oauth_expires_in``, ``oauth_session_handle``.
    """
    client = JiraClient(base_url, oauth1_auth(consumer_key, private_key_pem,
                                              token=request_token, verifier=verifier),
                        timeout=timeout)
    return _form(client.request("POST", ACCESS_TOKEN_PATH))


def _form(response) -> dict[str, str]:
    return dict(parse_qsl(response.text.strip(), keep_blank_values=True))
