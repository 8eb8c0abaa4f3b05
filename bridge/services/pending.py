"""The ``state`` of OAuth flows in progress: single use, expiring, bound to a browser.

A flow started on one bridge node may come back to another, so ``state`` cannot live in
process memory. Every state is valid once and expires, and is bound to the browser that
started the flow (a random id in the signed session cookie, which every node can read): a
callback URL handed to somebody else's browser does not complete there, so nobody can
make a victim finish the attacker's flow and link the victim's Jira account to the
attacker's Asana user (login CSRF, RFC 6749 §10.12). Two kinds of state:

- **Anonymous flows** (Asana sign-in, before the bridge knows who is there; anyone can
  start one at ``/asana/auth``) keep no row: the state is a signed, timed value
  (itsdangerous, keyed by the bridge's secret) naming the kind, a nonce, the browser (as
  an HMAC) and the return path; the PKCE verifier is derived from the nonce with the
  same key, so it never travels. Single use is kept by recording the nonce when the state
  is *used* (``UsedOAuthState``, unique), not when it is issued: a flood of starts from
  rotating addresses writes nothing and locks nobody out.
- **Flows of a known user** (their Jira authorization, an admin's setup check) carry what
  cannot travel (a request-token secret, a client secret): a ``PendingAuth`` row, the
  state 256 random bits stored only as its SHA-256 (consuming deletes the row, and only
  the caller whose DELETE removed it proceeds). A browser or a user keeps at most
  ``MAX_PER_OWNER`` of them (starting another drops its oldest), and while
  ``MAX_PENDING`` are alive in all new ones are refused until some expire.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import peewee as pw
from itsdangerous import BadData, URLSafeTimedSerializer

from ..db import database
from ..errors import BridgeError
from ..models import PendingAuth, UsedOAuthState, utcnow

MAX_PER_OWNER = 10
MAX_PENDING = 5000
TTL = dt.timedelta(minutes=10)
# How long a used nonce outlives its state: itsdangerous accepts a state until a second
# past ``issued + TTL`` (whole seconds), and another node's purge may run on a clock a
# little ahead of the one that checks the state.
USED_MARGIN = dt.timedelta(minutes=2)
_SALT = "bridge.oauth-state"


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


def start(kind: str, *, browser: str, ttl: dt.timedelta = TTL,
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
    now = utcnow()
    used = UsedOAuthState.delete().where(UsedOAuthState.expires_at < now).execute()
    return PendingAuth.delete().where(PendingAuth.expires_at < now).execute() + used


# -- anonymous flows: a signed state, no row until it is used --------------------------------


@dataclass(frozen=True)
class SignedState:
    """What an anonymous flow's state carried, once verified and used."""

    kind: str
    pkce_verifier: str
    return_url: str | None


def _mac(key: bytes | str, purpose: str, value: str) -> str:
    raw = key.encode() if isinstance(key, str) else key
    digest = hmac.new(raw, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _serializer(key: bytes | str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=_SALT)


def issue_signed(kind: str, *, key: bytes | str, browser: str,
                 return_url: str | None = None) -> tuple[str, str]:
    """``(state, pkce_verifier)`` for an anonymous flow; nothing is stored."""
    nonce = secrets.token_urlsafe(16)
    state = _serializer(key).dumps({"k": kind, "n": nonce, "b": _mac(key, "browser", browser),
                                    "r": return_url})
    return state, _mac(key, "pkce", nonce)  # 43 characters (RFC 7636 §4.1)


def consume_signed(state: str | None, kinds: tuple[str, ...], *, key: bytes | str,
                   browser: str, ttl: dt.timedelta = TTL) -> SignedState:
    """Verify an anonymous flow's state for ``browser`` and use it up; ``StateMismatch``
    when it is forged, expired, of another kind or browser, or used before."""
    if not state or len(state) > 1000 or not browser:
        raise StateMismatch()
    try:
        payload, issued = _serializer(key).loads(state, max_age=int(ttl.total_seconds()),
                                                 return_timestamp=True)
    except BadData:
        raise StateMismatch() from None
    if not isinstance(payload, dict) or payload.get("k") not in kinds \
            or not isinstance(payload.get("n"), str):
        raise StateMismatch()
    if not hmac.compare_digest(str(payload.get("b", "")), _mac(key, "browser", browser)):
        raise StateMismatch()
    expires = issued.astimezone(dt.UTC).replace(tzinfo=None) + ttl + USED_MARGIN
    try:
        with database.atomic():  # a savepoint inside a caller's transaction
            UsedOAuthState.create(nonce_hash=_hash(payload["n"]), expires_at=expires)
    except pw.IntegrityError:  # used before (or at this moment, by another request)
        raise StateMismatch() from None
    return_url = payload.get("r")
    return SignedState(kind=payload["k"], pkce_verifier=_mac(key, "pkce", payload["n"]),
                       return_url=return_url if isinstance(return_url, str) else None)
