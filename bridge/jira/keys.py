"""RSA key pairs for OAuth 1.0a consumers (application links).

Reference: jira-server.md §1.1. Jira parses the consumer's public key as an X.509
SubjectPublicKeyInfo (``-----BEGIN PUBLIC KEY-----``); a PKCS#1 ``RSA PUBLIC KEY`` is
refused (``InvalidKeySpecException``). The private key stays PKCS#8 PEM, which both
pycryptodome and oauthlib's PyJWT backend read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from Crypto.PublicKey import RSA

from .. import logs

KEY_BITS = 2048


@dataclass(frozen=True, repr=False)
class KeyPair:
    private_pem: str = field(metadata=logs.SECRET)  # PKCS#8, unencrypted
    public_pem: str  # X.509 SubjectPublicKeyInfo

    __repr__ = logs.masked_repr


def generate_key_pair(bits: int = KEY_BITS) -> KeyPair:
    key = RSA.generate(bits)
    return KeyPair(
        private_pem=key.export_key(format="PEM", pkcs=8).decode(),
        public_pem=public_pem_from_private(key),
    )


def public_pem_from_private(key: RSA.RsaKey | str) -> str:
    """SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``), the only form Jira's REST accepts."""
    if isinstance(key, str):
        key = RSA.import_key(key)
    return key.public_key().export_key(format="PEM").decode() + "\n"
