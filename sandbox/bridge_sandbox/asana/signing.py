"""App Components request signatures, as Asana computes them (reference §4.1).

``x-asana-request-signature`` is the lowercase hex HMAC-SHA256, keyed with the app's OAuth
client secret, of the "message": the raw query string for GET (escapes kept, no leading
``?``), or the string value of the body's ``data`` field for POST. The message is hashed as
UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "x-asana-request-signature"


def sign(client_secret: str, message: str) -> str:
    return hmac.new(
        client_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def verify(client_secret: str, message: str, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign(client_secret, message), signature)
