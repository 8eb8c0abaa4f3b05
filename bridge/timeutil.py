"""Time helpers: the bridge stores naive UTC datetimes (portable across SQLite and
PostgreSQL), and token lifetimes arrive as ``expires_in`` seconds."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# Longer than any token lives; a larger ``expires_in`` (10**20, or 1e400 read as inf)
# overflowed timedelta and crashed the sign-in or refresh that received it.
MAX_LIFETIME = dt.timedelta(days=3650)


def expiry(expires_in, default: int = 3600) -> dt.datetime:
    """Naive UTC expiry from an ``expires_in`` that may be missing, malformed or huge."""
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):  # None, "soon", NaN
        seconds = default
    except OverflowError:  # inf
        seconds = int(MAX_LIFETIME.total_seconds())
    seconds = min(max(0, seconds), int(MAX_LIFETIME.total_seconds()))
    return utcnow() + dt.timedelta(seconds=seconds)
