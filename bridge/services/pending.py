"""OAuth flows in progress, kept in the database (``PendingAuth``).

A flow started on one bridge node may come back to another, so ``state`` cannot live in
process memory. ``state`` is 256 random bits, stored only as its SHA-256, valid once
(consuming deletes the row, and only the caller whose DELETE removed it proceeds), and
expires. It is also bound to the browser that started the flow (a random id in the
signed session cookie, which every node can read): a callback URL handed to somebody
else's browser does not complete there, so nobody can make a victim finish the
attacker's flow and link the victim's Jira account to the attacker's Asana user (login
CSRF, RFC 6749 §10.12).

Anyone can start a flow (``/asana/auth`` is anonymous), so the table is bounded: a browser
or a user keeps at most ``MAX_PER_OWNER`` flows (starting another drops its oldest), and
while ``MAX_PENDING`` flows are alive in all new ones are refused until some expire.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from ..errors import BridgeError
from ..models import PendingAuth, utcnow

MAX_PER_OWNER = 10
MAX_PENDING = 5000


class TooManyPending(BridgeError):
    status = 503
    code = "too_many_sign_ins"
    public_message = ("Too many sign-ins are in progress on this bridge right now. Try again "
                      "in a few minutes.")


class StateMismatch(BridgeError):
    status = 422
    code = "state_mismatch"
    public_message = ("This sign-in link is not valid any more (expired, already used, or "
                      "started elsewhere). Start again.")


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start(kind: str, *, browser: str, ttl: dt.timedelta = dt.timedelta(minutes=10),
          **fields) -> tuple[str, PendingAuth]:
    """Record a new flow for ``browser``; return its ``state`` and the row."""
    purge_expired()
    now = utcnow()
    alive = PendingAuth.expires_at >= now
    if PendingAuth.select().where(alive).count() >= MAX_PENDING:
        raise TooManyPending()
    owner = PendingAuth.browser_hash == _hash(browser)
    if fields.get("asana_user") is not None:
        owner |= PendingAuth.asana_user == fields["asana_user"]
    _drop_oldest(owner, keep=MAX_PER_OWNER - 1)
    state = secrets.token_urlsafe(32)
    row = PendingAuth.create(state_hash=_hash(state), kind=kind, browser_hash=_hash(browser),
                             expires_at=now + ttl, **fields)
    return state, row


def _drop_oldest(owner, keep: int) -> None:
    ids = [r.id for r in PendingAuth.select(PendingAuth.id).where(owner)
           .order_by(PendingAuth.id.desc()).offset(keep)]
    if ids:
        PendingAuth.delete().where(PendingAuth.id.in_(ids)).execute()


def consume(state: str | None, kind: str | tuple[str, ...], *, browser: str) -> PendingAuth:
    """Take the flow for ``state`` out of the store, once, if ``browser`` started it.

    Raises ``StateMismatch``; a flow presented by another browser stays usable by its own.
    """
    kinds = (kind,) if isinstance(kind, str) else kind
    if not state or len(state) > 200 or not browser:
        raise StateMismatch()
    row = PendingAuth.get_or_none(PendingAuth.state_hash == _hash(state))
    if row is None or row.kind not in kinds:
        raise StateMismatch()
    if not hmac.compare_digest(row.browser_hash, _hash(browser)):
        raise StateMismatch()
    deleted = PendingAuth.delete().where(PendingAuth.id == row.id).execute()
    if deleted != 1:  # another request consumed it first
        raise StateMismatch()
    if row.expires_at < utcnow():
        raise StateMismatch()
    return row


def purge_expired() -> int:
    return PendingAuth.delete().where(PendingAuth.expires_at < utcnow()).execute()
