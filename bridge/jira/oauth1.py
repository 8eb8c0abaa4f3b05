"""OAuth 1.0a request signing for Jira application links: RSA-SHA1 with pycryptodome.

Reference: jira-server.md §1.3 (Jira accepts only ``RSA-SHA1``; anything else gets
``signature_method_rejected``) and RFC 5849 §3.4.3 (RSA-SHA1: RSASSA-PKCS1-v1_5 over the
SHA-1 digest of the signature base string, base64-encoded).

The signer is registered on ``JiraOAuth1Client``, a subclass of oauthlib's client with its
own method table, so oauthlib builds the base string and the header while pycryptodome
does the RSA work, and other users of oauthlib in the same process (the simulators, a
stock ``requests_oauthlib.OAuth1Session``) keep oauthlib's own signer.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from Crypto.Hash import SHA1
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15
from oauthlib import oauth1

SIGNATURE_METHOD = oauth1.SIGNATURE_RSA_SHA1  # "RSA-SHA1"


@lru_cache(maxsize=64)
def _private_key(pem: str) -> RSA.RsaKey:
    # Importing a PEM costs about a millisecond; a bridge signs with a handful of keys.
    return RSA.import_key(pem)


def sign_rsa_sha1(base_string: str | bytes, rsa_private_pem: str) -> str:
    """RFC 5849 §3.4.3.1: base64(RSASSA-PKCS1-v1_5-SIGN(key, SHA1(base string)))."""
    if isinstance(base_string, str):
        base_string = base_string.encode("utf-8")
    digest = SHA1.new(base_string)
    signature = pkcs1_15.new(_private_key(rsa_private_pem)).sign(digest)
    return base64.b64encode(signature).decode("ascii")


def _sign_with_client(base_string: str, client: oauth1.Client) -> str:
    if not client.rsa_key:
        raise ValueError("RSA-SHA1 signing needs the consumer's private key")
    return sign_rsa_sha1(base_string, client.rsa_key)


class JiraOAuth1Client(oauth1.Client):
    """oauthlib's client with pycryptodome doing RSA-SHA1, and nothing else allowed."""

    SIGNATURE_METHODS = dict(oauth1.Client.SIGNATURE_METHODS)

    def __init__(self, client_key: str, *args, **kwargs):
        # requests-oauthlib passes every argument positionally; signature_method is the
        # sixth parameter of oauthlib's Client.
        if len(args) < 5:
            kwargs.setdefault("signature_method", SIGNATURE_METHOD)
        super().__init__(client_key, *args, **kwargs)
        if self.signature_method != SIGNATURE_METHOD:
            raise ValueError("Jira accepts only RSA-SHA1 (jira-server.md §1.3)")


JiraOAuth1Client.register_signature_method(SIGNATURE_METHOD, _sign_with_client)


# -- The three-legged dance (jira-server.md §1.2, §1.8) ------------------------------------

REQUEST_TOKEN_PATH = "/plugins/servlet/oauth/request-token"
AUTHORIZE_PATH = "/plugins/servlet/oauth/authorize"
ACCESS_TOKEN_PATH = "/plugins/servlet/oauth/access-token"


def fetch_request_token(base_url: str, consumer_key: str, private_key_pem: str,
                        callback_uri: str, *, timeout: float = 8.0) -> tuple[str, str]:
    """POST request-token with ``oauth_callback`` (1.0a mode, so a verifier is required
    later; without a callback Jira falls back to OAuth 1.0, pitfall §6.9).

    Returns ``(oauth_token, oauth_token_secret)``.
    """
    from .client import JiraClient, oauth1_auth
    from .errors import JiraMisconfigured, JiraNeedsReconnect

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
    from urllib.parse import urlencode

    return f"{base_url}{AUTHORIZE_PATH}?{urlencode({'oauth_token': request_token})}"


def fetch_access_token(base_url: str, consumer_key: str, private_key_pem: str,
                       request_token: str, verifier: str, *, timeout: float = 8.0) -> dict:
    """POST access-token with the request token and ``oauth_verifier``.

    Returns Jira's form values: ``oauth_token`` (the access token, valid 5 years by
    default), ``oauth_token_secret``, ``oauth_expires_in``, ``oauth_session_handle``.
    """
    from .client import JiraClient, oauth1_auth

    client = JiraClient(base_url, oauth1_auth(consumer_key, private_key_pem,
                                              token=request_token, verifier=verifier),
                        timeout=timeout)
    return _form(client.request("POST", ACCESS_TOKEN_PATH))


def _form(response) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(response.text.strip(), keep_blank_values=True))
