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

    def __init__(self, client_key: str, **kwargs):
        kwargs.setdefault("signature_method", SIGNATURE_METHOD)
        if kwargs["signature_method"] != SIGNATURE_METHOD:
            raise ValueError("Jira accepts only RSA-SHA1 (jira-server.md §1.3)")
        super().__init__(client_key, **kwargs)


JiraOAuth1Client.register_signature_method(SIGNATURE_METHOD, _sign_with_client)
