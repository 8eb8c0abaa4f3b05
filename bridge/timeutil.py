"""Time helpers: the bridge stores naive UTC datetimes (portable across SQLite and
PostgreSQL), and token lifetimes arrive as ``expires_in`` seconds."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def expiry(expires_in, default: int = 3600) -> dt.datetime:
    """Naive UTC expiry from an ``expires_in`` that may be missing or malformed."""
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        seconds = default
    return utcnow() + dt.timedelta(seconds=max(0, seconds))
