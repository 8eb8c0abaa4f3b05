"""Housekeeping that keeps the tables the public can grow bounded.

``purge`` deletes expired OAuth flows and old rate-limit windows. It is meant to run on a
schedule (a periodic job of the queue). Until then, and as a safety net after, the same
deletes also run from the paths that add rows: ``pending.start`` purges expired flows,
``limits.hit`` purges old windows at most once a minute per process.
"""

from __future__ import annotations

from . import limits, pending


def purge() -> dict[str, int]:
    """Delete what has expired; return how many rows of each kind went."""
    return {"pending_auth": pending.purge_expired(), "rate_counts": limits.purge()}
