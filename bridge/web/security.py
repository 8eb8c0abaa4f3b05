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


def settings():
    return current_app.config["BRIDGE"]


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
    """Sliding-window counts per key, in this process. Idle keys are swept every
    ``SWEEP_EVERY`` hits, so memory stays bounded by the clients of the last window."""

    SWEEP_EVERY = 1000

    def __init__(self):
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()
        self._since_sweep = 0

    def hit(self, key: str, limit: int, window: float) -> bool:
        now = time.monotonic()
        with self._lock:
            self._since_sweep += 1
            if self._since_sweep >= self.SWEEP_EVERY:
                self._sweep(now - window)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def _sweep(self, oldest: float) -> None:
        self._since_sweep = 0
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= oldest]:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


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
