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

A user's request without a body (every read: the widget's issue, searches, pickers) is
signed by ``JiraOAuth1`` itself: its base string is only the method, the URL and the
query and OAuth parameters (RFC 5849 §3.4.1), and oauthlib spent more time building it
than OpenSSL spends on the RSA signature. Anything else (a body, a callback, a verifier)
goes through oauthlib as before. The tests hold the two to the same header.

This module sits at the bottom of ``bridge.jira``: ``client`` and the OAuth dances import
it, it imports none of them.
"""

from __future__ import annotations

import base64
import secrets
import time
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlsplit

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
    return JiraOAuth1(consumer_key, rsa_key=private_key_pem, resource_owner_key=token,
                      resource_owner_secret="" if token else None, verifier=verifier,
                      callback_uri=callback_uri, signature_method=SIGNATURE_METHOD,
                      signature_type="AUTH_HEADER", client_class=JiraOAuth1Client)


def _encode(value: str) -> str:
    """RFC 5849 §3.6: UTF-8, every byte but ALPHA, DIGIT, "-", ".", "_", "~" as %XX."""
    return quote(value, safe="~")


class JiraOAuth1(OAuth1):
    """requests-oauthlib's ``OAuth1``, signing a user's body-less request itself
    (module docstring); everything else goes to oauthlib."""

    def __call__(self, r):
        client = self.client
        if (r.body or not client.resource_owner_key or client.verifier
                or client.callback_uri or client.signature_type != "AUTH_HEADER"
                or client.realm):
            return super().__call__(r)
        r.headers["Authorization"] = self.authorization(
            r.method, r.url, nonce=client.nonce or _nonce(),
            timestamp=client.timestamp or str(int(time.time())))
        return r

    def authorization(self, method: str, url: str, *, nonce: str, timestamp: str) -> str:
        """The ``Authorization`` header for a body-less request with the user's token."""
        client = self.client
        oauth = [("oauth_nonce", nonce), ("oauth_timestamp", timestamp),
                 ("oauth_version", "1.0"), ("oauth_signature_method", SIGNATURE_METHOD),
                 ("oauth_consumer_key", client.client_key),
                 ("oauth_token", client.resource_owner_key)]
        signature = sign_rsa_sha1(_base_string(method, url, oauth), client.rsa_key)
        return "OAuth " + ", ".join(f'{name}="{_encode(value)}"' for name, value in
                                    [*oauth, ("oauth_signature", signature)])


def _nonce() -> str:
    return secrets.token_hex(16)


def _base_string(method: str, url: str, oauth: list[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1: method, base string URI (§3.4.1.2: scheme and host in lower
    case, default port left out, no query) and the normalized query and OAuth parameters
    (§3.4.1.3.2: encoded, then sorted by name and value)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{parts.port}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    pairs = sorted((_encode(k), _encode(v)) for k, v in [*query, *oauth])
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), _encode(f"{scheme}://{host}{parts.path or '/'}"),
                     _encode(normalized)))


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
