"""Sealing of secrets at rest: AES-256-GCM (OpenSSL, through ``cryptography``).

Tokens, RSA private keys and client secrets are stored only as sealed strings. A sealed
string carries the format version, the id of the key that sealed it, the nonce and the
GCM tag, so that:

- a wrong key is reported as "sealed with key X, the bridge has key Y" instead of
  decrypting to garbage (GCM authenticates; the key id makes the message useful);
- each value is bound to the column it was written to (the column name is the GCM
  associated data), so a sealed token copied into another column will not open;
- ``rotate-key`` can tell which values it has already re-sealed.

Format: ``s1.<key id>.<base64url(nonce | ciphertext | tag)>``.

Every widget miss opens a token (and, on OAuth 1.0a, the instance's private key), so the
cipher is made once per key: opening a value costs about a microsecond, where building a
pycryptodome cipher per value cost about 45 (issue 18 §8). The format and the key
derivation are those of the earlier pycryptodome version: values sealed by it still open.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "s1"
_NONCE = 12
_TAG = 16


class SealingError(Exception):
    """A sealed value cannot be opened (wrong key, tampered, not sealed at all)."""


class Sealer:
    """Seals and opens strings with one key derived from ``BRIDGE_SECRET_KEY``.

    The configured secret is stretched with HKDF-SHA256 so that any high-entropy string
    of 32+ characters works as a key, not only 32 raw bytes.
    """

    def __init__(self, secret: str):
        if len(secret) < 32:
            raise ValueError("the secret key must be at least 32 characters long")
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"asana-jira-bridge",
                         info=b"sealing v1").derive(secret.encode())
        self.key_id = hashlib.sha256(self._key).hexdigest()[:8]
        self._cipher = AESGCM(self._key)  # 16-byte tags, appended to the ciphertext

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._cipher.encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        blob = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self.key_id}.{blob}"

    def open(self, sealed: str, context: str) -> str:
        version, key_id, blob = _split(sealed)
        if key_id != self.key_id:
            raise SealingError(
                f"this value was sealed with key {key_id} but the bridge has key {self.key_id}: "
                "BRIDGE_SECRET_KEY is not the key the data was written with"
            )
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        if len(raw) < _NONCE + _TAG:
            raise SealingError("sealed value is truncated")
        try:
            return self._cipher.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()
                                        ).decode("utf-8")
        except InvalidTag:
            raise SealingError(
                f"sealed value for {context} failed authentication (tampered or moved)"
            ) from None

    def sealed_by_me(self, sealed: str) -> bool:
        return _split(sealed)[1] == self.key_id


def _split(sealed: str) -> tuple[str, str, str]:
    parts = sealed.split(".") if isinstance(sealed, str) else []
    if len(parts) != 3 or parts[0] != _VERSION:
        raise SealingError("value is not a sealed secret (unknown format)")
    return parts[0], parts[1], parts[2]


def generate_secret() -> str:
    """A fresh 256-bit secret, URL-safe text (what ``BRIDGE_SECRET_KEY`` should look like)."""
    return secrets.token_urlsafe(32)


def write_secret_file(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` with mode 0600 from the first byte (no readable window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def load_or_create_secret(instance_path: Path) -> str:
    """Read the instance folder's ``secret_key``, generating it on first start.

    Used only when neither ``BRIDGE_SECRET_KEY`` nor ``BRIDGE_SECRET_KEY_FILE`` is set.
    Creation is atomic, so two gunicorn workers starting together agree on one key.
    """
    path = instance_path / "secret_key"
    instance_path.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Write a complete file under a private name, then link it into place: link()
        # fails if another process won the race, and nobody ever sees a half-written key.
        tmp = instance_path / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        write_secret_file(tmp, generate_secret())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealingError(f"{path} is readable by others; run chmod 600 on it")
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise SealingError(f"{path} holds no usable key (truncated?)")
    return secret


# The sealer of the running app. Model fields seal and open through it; ``create_app`` sets
# it (one app per process in production; tests create apps one after another).
_current: Sealer | None = None


def install(sealer: Sealer | None) -> None:
    global _current
    _current = sealer


def current() -> Sealer:
    if _current is None:
        raise SealingError("no sealing key is configured (create_app() was not called)")
    return _current
