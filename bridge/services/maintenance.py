"""Housekeeping that keeps the tables the public can grow bounded.

``purge`` deletes expired OAuth flows and old rate-limit windows; the queue worker runs it
every 15 minutes (``bridge.tasks.PURGES``). The paths that add rows delete too, so a bridge run
without a worker stays bounded: ``pending.start`` purges expired flows, ``limits.hit``
purges old windows at most once a minute per process.
"""

from __future__ import annotations

from . import limits, pending


def purge() -> dict[str, int]:
    """Delete what has expired; return how many rows of each kind went."""
    return {"pending_auth": pending.purge_expired(), "rate_counts": limits.purge()}
