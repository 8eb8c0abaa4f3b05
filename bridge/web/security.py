"""Page security shared by the admin and auth blueprints (ARCHITECTURE §8).

- CSRF: a per-session token in every state-changing form, checked on POST.
- Admin sessions: who signed in with Asana and was found to be an admin; checked against
  the server-side session and the admin list on every request (``services.admins``).
- Return URLs: only paths on the bridge itself (no open redirects).
- Rate limits: per client address on the auth endpoints, shared by every worker and node.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request, session, url_for

from ..errors import BridgeError
from ..services import limits


class CSRFError(BridgeError):
    status = 400
    code = "csrf_failed"
    public_message = "This form has expired. Reload the page and try again."


class RateLimited(BridgeError):
    status = 429
    code = "rate_limited"
    public_message = "Too many attempts. Wait a minute and try again."


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    # As bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500).
    if not sent or not hmac.compare_digest(sent.encode(), str(expected).encode()):
        raise CSRFError()


def settings():
    return current_app.config["BRIDGE"]


def process_cache():
    """The app's ``services.process_cache.ProcessCache`` (every context of this app)."""
    return current_app.extensions["bridge.cache"]


def browser_id() -> str:
    """A random id for this browser, kept in the signed session cookie; OAuth flows are
    bound to it (see ``services.pending``)."""
    value = session.get("browser")
    if not value:
        value = session["browser"] = secrets.token_urlsafe(24)
    return value


def public_url() -> str:
    """The bridge's own base URL, from ``BRIDGE_PUBLIC_URL`` only: never from the request's
    Host header, which the client controls (callback URLs and link values come from it)."""
    configured = settings().public_url
    if not configured:
        abort(503, "BRIDGE_PUBLIC_URL is not set on this bridge.")
    return configured


def asana_origin() -> str:
    """Asana's origin (``https://app.asana.com``, or the simulator's), for CORS and the
    popup's postMessage target."""
    parts = urlsplit(settings().asana_base_url)
    return f"{parts.scheme}://{parts.netloc}"


def safe_return_path(target: str | None, default: str = "/") -> str:
    """Accept only a path on this bridge: no scheme, no host, no ``//`` or ``\\`` tricks."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def sign_in_admin(who: dict) -> None:
    """Start a server-side admin session for ``who`` (after ``session.clear()``)."""
    from ..services import admins

    session["admin"] = who
    session["admin_sid"] = admins.start_session(who["email"])


def sign_out_admin() -> None:
    from ..services import admins

    admins.end_session(session.get("admin_sid"))
    session.clear()


def current_admin() -> dict | None:
    """The signed-in admin, if the server-side session is alive and they are still an
    admin (checked once per request); a dead session is dropped from the cookie."""
    from flask import g

    from ..services import admins

    if "bridge_admin" not in g:
        who = session.get("admin")
        email = admins.check_session(session.get("admin_sid"), settings().admins) \
            if who else None
        if who and email != (who.get("email") or "").lower():
            session.pop("admin", None)
            session.pop("admin_sid", None)
            who = None
        g.bridge_admin = who
    return g.bridge_admin


def admin_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_admin() is None:
            return redirect(url_for("admin.signin", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def rate_limit(limit: int = 30, window: int = 60):
    """Allow ``limit`` requests per ``window`` seconds per client address for a view,
    counted in the database across every worker and node (``services.limits``)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = f"{view.__name__}:{request.remote_addr}"
            if not limits.hit(key, limit, window):
                raise RateLimited(retry_after=window)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def require_app_components():
    if not current_app.config["BRIDGE"].app_components_enabled:
        abort(503, "Asana sign-in is not configured on this bridge: set "
                   "BRIDGE_ASANA_CLIENT_ID and BRIDGE_ASANA_CLIENT_SECRET.")
