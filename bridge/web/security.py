"""Page security shared by the admin and auth blueprints (ARCHITECTURE §8).

- CSRF: a per-session token in every state-changing form, checked on POST.
- Admin sessions: who signed in with Asana and was found to be an admin.
- Return URLs: only paths on the bridge itself (no open redirects).
- Rate limits: per client address on the auth endpoints, in this process.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from flask import abort, current_app, request, session

from ..errors import BridgeError


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
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        raise CSRFError()


def public_url() -> str:
    """The bridge's own base URL: ``BRIDGE_PUBLIC_URL``, else the URL of this request."""
    configured = current_app.config["BRIDGE"].public_url
    return configured or request.url_root.rstrip("/")


def safe_return_path(target: str | None, default: str = "/") -> str:
    """Accept only a path on this bridge: no scheme, no host, no ``//`` or ``\\`` tricks."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def current_admin() -> dict | None:
    return session.get("admin")


def admin_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_admin() is None:
            from flask import redirect, url_for

            return redirect(url_for("admin.signin", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


class _Limiter:
    def __init__(self):
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: float) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            if len(self._hits) > 10000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v][:5000]:
                    del self._hits[k]
            return True


def _limiter() -> _Limiter:
    return current_app.extensions.setdefault("bridge.limiter", _Limiter())


def rate_limit(limit: int = 30, window: float = 60.0):
    """Allow ``limit`` requests per ``window`` seconds per client address for a view."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            key = f"{view.__name__}:{request.remote_addr}"
            if not _limiter().hit(key, limit, window):
                raise RateLimited()
            return view(*args, **kwargs)

        return wrapper

    return decorate


def require_app_components():
    if not current_app.config["BRIDGE"].app_components_enabled:
        abort(503, "Asana sign-in is not configured on this bridge: set "
                   "BRIDGE_ASANA_CLIENT_ID and BRIDGE_ASANA_CLIENT_SECRET.")
