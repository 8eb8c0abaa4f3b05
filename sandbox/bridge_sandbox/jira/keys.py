"""Public-key parsing the way Jira's ``RSAKeys`` does it (reference jira-server.md §1.1).

* text starting with ``-----BEGIN CERTIFICATE-----`` → X.509 certificate (UI form only);
* otherwise strip every ``-----…-----`` armour line and newlines and decode the Base64
  as an X.509 SubjectPublicKeyInfo key — so a PKCS#1 ``RSA PUBLIC KEY`` fails.
The result is normalised to an SPKI PEM that oauthlib's verifier accepts.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class InvalidPublicKey(ValueError):
    """Jira's ``auth.oauth.config.serviceprovider.invalid.public.key`` / REST
    ``applinks.invalid.consumer.publickey``."""


def parse_public_key(text: str, allow_certificate: bool = True) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidPublicKey("empty public key")
    try:
        if text.startswith("-----BEGIN CERTIFICATE-----"):
            if not allow_certificate:
                raise InvalidPublicKey("certificates are only accepted in the UI form")
            key = x509.load_pem_x509_certificate(text.encode("ascii")).public_key()
        else:
            body = re.sub(r"-----[^-]*-----", "", text)
            body = "".join(body.split())
            der = base64.b64decode(body, validate=True)
            key = serialization.load_der_public_key(der)
            # cryptography also accepts PKCS#1 DER; Java's X509EncodedKeySpec does not
            spki = key.public_bytes(serialization.Encoding.DER,
                                    serialization.PublicFormat.SubjectPublicKeyInfo)
            if spki != der:
                raise InvalidPublicKey("not an X.509 SubjectPublicKeyInfo key")
    except InvalidPublicKey:
        raise
    except (ValueError, binascii.Error, TypeError, UnicodeError) as exc:
        raise InvalidPublicKey(str(exc)) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPublicKey("not an RSA key")
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
