"""PKCE (RFC 7636) for the bridge's OAuth clients: Asana sign-in and Jira OAuth 2.0.

A verifier of 43 or more unreserved characters (§4.1) and its ``S256`` challenge (§4.2).
Its own module because both providers use it and neither owns it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets


def challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (§4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_pair() -> tuple[str, str]:
    """A fresh random verifier and its challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, challenge(verifier)
