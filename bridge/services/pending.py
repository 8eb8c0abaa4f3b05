"""OAuth flows in progress, kept in the database (``PendingAuth``).

A flow started on one bridge node may come back to another, so ``state`` cannot live in
process memory or a node-local cookie. ``state`` is 256 random bits, stored only as its
SHA-256, valid once (consuming deletes the row, and only the caller whose DELETE removed
it proceeds), and expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from ..errors import BridgeError
from ..models import PendingAuth, utcnow


class StateMismatch(BridgeError):
    status = 422
    code = "state_mismatch"
    public_message = ("This sign-in link is not valid any more (expired, already used, or "
                      "started elsewhere). Start again.")


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start(kind: str, *, ttl: dt.timedelta = dt.timedelta(minutes=10),
          **fields) -> tuple[str, PendingAuth]:
    """Record a new flow; return its ``state`` (give it to the provider) and the row."""
    state = secrets.token_urlsafe(32)
    row = PendingAuth.create(state_hash=_hash(state), kind=kind, expires_at=utcnow() + ttl,
                             **fields)
    return state, row


def consume(state: str | None, kind: str | tuple[str, ...]) -> PendingAuth:
    """Take the flow for ``state`` out of the store, once. Raises ``StateMismatch``."""
    kinds = (kind,) if isinstance(kind, str) else kind
    if not state or len(state) > 200:
        raise StateMismatch()
    row = PendingAuth.get_or_none(PendingAuth.state_hash == _hash(state))
    if row is None or row.kind not in kinds:
        raise StateMismatch()
    deleted = PendingAuth.delete().where(PendingAuth.id == row.id).execute()
    if deleted != 1:  # another request consumed it first
        raise StateMismatch()
    if row.expires_at < utcnow():
        raise StateMismatch()
    return row


def find_by_request_token(token: str, kind: str) -> PendingAuth | None:
    """OAuth 1.0a callbacks carry ``oauth_token``; our ``state`` rides in the callback URL,
    and this cross-checks that the token belongs to that flow."""
    return PendingAuth.get_or_none((PendingAuth.request_token == token)
                                   & (PendingAuth.kind == kind))


def purge_expired() -> int:
    return PendingAuth.delete().where(PendingAuth.expires_at < utcnow()).execute()
