"""Who administers the bridge (ARCHITECTURE §8).

Reaching ``/setup`` or ``/jira/connect`` is not enough to attach a Jira to a workspace.
The first admin proves it with a one-time setup token the bridge prints on first start
(as Jenkins does with its initial password) and keeps in ``instance/setup_token`` (0600);
afterwards admins are the emails in ``BRIDGE_ADMINS`` or those an admin granted, and they
sign in with Asana. Only the token's SHA-256 is stored in the database.

Admin sessions live on the server (``AdminSession``): every admin request re-checks the
session (not ended, under ``SESSION_MAX_AGE`` since sign-in, used within
``SESSION_IDLE``) and that its email is still an admin; sign-out and ``revoke`` delete
the rows, so neither a copied cookie nor a removed admin keeps any right.

Only the latest token is valid: minting one (a lost token file at start, or
``asana-jira-bridge admins setup-token``) retires every earlier unused one, so a token
that leaked from an old copy of the file cannot claim the bridge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from pathlib import Path

from .. import sealing
from ..db import database
from ..errors import BridgeError
from ..models import AdminSession, BridgeAdmin, SetupToken, audit, utcnow

SESSION_MAX_AGE = dt.timedelta(hours=8)  # from sign-in, however active the admin is
SESSION_IDLE = dt.timedelta(hours=1)


class NotAnAdmin(BridgeError):
    status = 403
    code = "not_admin"
    public_message = ("Your Asana account is not an administrator of this bridge. Ask an "
                      "administrator to add you, or set BRIDGE_ADMINS.")


class BadSetupToken(BridgeError):
    status = 403
    code = "bad_setup_token"
    public_message = "That setup token is not valid. Copy it again from the bridge's console."


SUPERSEDED = "(superseded)"  # ``used_by`` of a token retired by a newer one


def _hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def admins_exist(configured: tuple[str, ...]) -> bool:
    return bool(configured) or BridgeAdmin.select().exists()


def is_admin(email: str | None, configured: tuple[str, ...]) -> bool:
    if not email:
        return False
    email = email.strip().lower()
    return email in configured or BridgeAdmin.select().where(BridgeAdmin.email == email).exists()


def ensure_setup_token(instance_path: Path, configured: tuple[str, ...]) -> str | None:
    """The setup token to print at start, while no admin exists; ``None`` once one does.

    The token is created once and kept in the instance folder, so a restart prints the
    same token instead of invalidating the one the admin copied.
    """
    if admins_exist(configured):
        return None
    path = instance_path / "setup_token"
    if path.exists():
        token = path.read_text().strip()
        latest = _latest_unused()
        if latest is not None and hmac.compare_digest(latest.token_hash, _hash(token)):
            return token
    return mint_setup_token(instance_path)


def mint_setup_token(instance_path: Path) -> str:
    """A fresh setup token, written to ``instance/setup_token``; earlier unused tokens
    stop working."""
    token = secrets.token_urlsafe(18)
    with database.atomic():
        (SetupToken.update(used_at=utcnow(), used_by=SUPERSEDED)
         .where(SetupToken.used_at.is_null()).execute())
        SetupToken.create(token_hash=_hash(token))
    sealing.write_secret_file(instance_path / "setup_token", token)
    audit("admin.setup_token_minted", actor="bridge")
    return token


def _latest_unused() -> SetupToken | None:
    return (SetupToken.select().where(SetupToken.used_at.is_null())
            .order_by(SetupToken.id.desc()).first())


def claim_with_setup_token(email: str, token: str, instance_path: Path | None = None) -> None:
    """Make ``email`` the first admin if ``token`` is the latest, unused setup token."""
    row = _latest_unused()
    if row is not None and hmac.compare_digest(row.token_hash, _hash(token or "")):
        updated = (SetupToken.update(used_at=utcnow(), used_by=email)
                   .where((SetupToken.id == row.id) & SetupToken.used_at.is_null())
                   .execute())
        if updated == 1:
            BridgeAdmin.get_or_create(email=email.lower(), defaults={"granted_by": "setup-token"})
            audit("admin.claimed", actor=email, outcome="ok")
            if instance_path is not None:
                (instance_path / "setup_token").unlink(missing_ok=True)
            return
    audit("admin.claim_refused", actor=email, outcome="refused")
    raise BadSetupToken()


def grant(email: str, by: str) -> BridgeAdmin:
    admin, _ = BridgeAdmin.get_or_create(email=email.strip().lower(),
                                         defaults={"granted_by": by})
    audit("admin.granted", actor=by, target=email)
    return admin


def revoke(email: str, by: str) -> bool:
    """Take a granted admin's rights away, and end their sessions on every node."""
    email = email.strip().lower()
    removed = BridgeAdmin.delete().where(BridgeAdmin.email == email).execute()
    if removed:
        end_sessions_of(email)
        audit("admin.revoked", actor=by, target=email)
    return bool(removed)


# -- sessions --------------------------------------------------------------------------------


def start_session(email: str) -> str:
    """A new admin session; returns the id for the (signed) cookie."""
    sid = secrets.token_urlsafe(32)
    AdminSession.delete().where(AdminSession.created_at < utcnow() - SESSION_MAX_AGE).execute()
    AdminSession.create(id_hash=_hash(sid), email=email.strip().lower())
    return sid


def check_session(sid: str | None, configured: tuple[str, ...]) -> str | None:
    """The admin's email if ``sid`` is a live session of someone who is still an admin;
    otherwise ``None`` (and an expired or orphaned session is ended)."""
    if not sid:
        return None
    row = AdminSession.get_or_none(AdminSession.id_hash == _hash(sid))
    if row is None:
        return None
    now = utcnow()
    if (row.created_at < now - SESSION_MAX_AGE or row.last_seen_at < now - SESSION_IDLE
            or not is_admin(row.email, configured)):
        row.delete_instance()
        return None
    if row.last_seen_at < now - dt.timedelta(minutes=1):  # one write a minute at most
        AdminSession.update(last_seen_at=now).where(AdminSession.id == row.id).execute()
    return row.email


def end_session(sid: str | None) -> None:
    if sid:
        AdminSession.delete().where(AdminSession.id_hash == _hash(sid)).execute()


def end_sessions_of(email: str) -> int:
    return AdminSession.delete().where(AdminSession.email == email.strip().lower()).execute()
