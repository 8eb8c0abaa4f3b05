"""How the bridge proves who it is to Jira: RSA-SHA1 for OAuth 1.0a, bearer tokens for 2.0.

Reference: jira-server.md §1.3 (Jira accepts only ``RSA-SHA1``; anything else gets
``signature_method_rejected``), RFC 5849 §3.4.3 (RSA-SHA1: RSASSA-PKCS1-v1_5 over the
SHA-1 digest of the signature base string, base64-encoded) and §2.6 (OAuth 2.0 bearer).

The signer is registered on ``JiraOAuth1Client``, a subclass of oauthlib's client with its
own method table, so oauthlib builds the base string and the header while ``cryptography``
(OpenSSL) does the RSA work: about four times faster than pycryptodome, measured, and
the widget signs on every uncached view (issue 18 §8). Other users of oauthlib in the
same process (the simulators, a stock ``requests_oauthlib.OAuth1Session``) keep
oauthlib's own signer.

This module sits at the bottom of ``bridge.jira``: ``client`` and the OAuth dances import
it, it imports none of them.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from oauthlib import oauth1
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from requests_oauthlib import OAuth1

SIGNATURE_METHOD = oauth1.SIGNATURE_RSA_SHA1  # "RSA-SHA1"


@lru_cache(maxsize=64)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    # Loading a PEM costs about a millisecond; a bridge signs with a handful of keys.
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("RSA-SHA1 signing needs an RSA private key")
    return key


def sign_rsa_sha1(base_string: str | bytes, rsa_private_pem: str) -> str:
    """RFC 5849 §3.4.3.1: base64(RSASSA-PKCS1-v1_5-SIGN(key, SHA1(base string)))."""
    if isinstance(base_string, str):
        base_string = base_string.encode("utf-8")
    signature = _private_key(rsa_private_pem).sign(base_string, padding.PKCS1v15(),
                                                   hashes.SHA1())
    return base64.b64encode(signature).decode("ascii")


def _sign_with_client(base_string: str, client: oauth1.Client) -> str:
    if not client.rsa_key:
        raise ValueError("RSA-SHA1 signing needs the consumer's private key")
    return sign_rsa_sha1(base_string, client.rsa_key)


class JiraOAuth1Client(oauth1.Client):
    """oauthlib's client with ``cryptography`` doing RSA-SHA1, and nothing else allowed."""

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


def oauth1_auth(consumer_key: str, private_key_pem: str, token: str | None = None,
                verifier: str | None = None, callback_uri: str | None = None) -> OAuth1:
    """A requests auth object that signs with RSA-SHA1 through our own signer."""
    return OAuth1(consumer_key, rsa_key=private_key_pem, resource_owner_key=token,
                  resource_owner_secret="" if token else None, verifier=verifier,
                  callback_uri=callback_uri, signature_method=SIGNATURE_METHOD,
                  signature_type="AUTH_HEADER", client_class=JiraOAuth1Client)


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` for OAuth 2.0 access tokens (§2.6)."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


def basic_auth(username: str, password: str) -> requests.auth.HTTPBasicAuth:
    """HTTP Basic with an admin's password, used once, as UTF-8 (RFC 7617 §2.1, what
    browsers and curl send). requests encodes str as latin-1, so a password with any
    other character (``пароль``) raised ``UnicodeEncodeError``: a 500, not a refusal."""
    return requests.auth.HTTPBasicAuth((username or "").encode("utf-8"),
                                       (password or "").encode("utf-8"))


def base_string(method: str, url: str, auth: OAuth1) -> str:
    """The RFC 5849 §3.4.1 signature base string ``auth`` signs for this request.

    ``doctor`` shows it beside the one Jira rebuilt (``oauth_signature_base_string``)
    when Jira answers ``signature_invalid``. Nothing is sent.
    """
    prepared = requests.Request(method, url, auth=auth).prepare()
    headers = {k: v.decode() if isinstance(v, bytes) else v
               for k, v in prepared.headers.items()}
    params = oauth_signature.collect_parameters(uri_query=urlsplit(prepared.url).query,
                                                headers=headers)
    return oauth_signature.signature_base_string(
        prepared.method, oauth_signature.base_string_uri(prepared.url),
        oauth_signature.normalize_parameters(params))
