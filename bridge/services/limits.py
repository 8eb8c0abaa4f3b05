"""Rate limits kept in the database, so every worker and every node counts together.

A per-process counter lets an attacker multiply the limit by the number of gunicorn
workers and bridge nodes. Here each hit is one upsert on ``RateCount`` (key, window) and
one read of the current and previous windows; the count is the sliding-window estimate
``previous * (share of the previous window still inside the last `window` seconds) +
current``, which smooths the burst a fixed window allows at its edges.
"""

from __future__ import annotations

import threading
import time

from ..models import RateCount

PURGE_EVERY = 60.0  # seconds between opportunistic purges, per process
_last_purge = 0.0
_purge_lock = threading.Lock()


def hit(key: str, limit: int, window: int, *, now: float | None = None) -> bool:
    """Count one request for ``key``; False when it is over ``limit`` per ``window`` s."""
    now = time.time() if now is None else now
    window = max(1, int(window))
    start = int(now // window * window)
    key = key[:255]
    (RateCount.insert(key=key, window=start, hits=1)
     .on_conflict(conflict_target=[RateCount.key, RateCount.window],
                  update={RateCount.hits: RateCount.hits + 1})
     .execute())
    counts = dict(RateCount.select(RateCount.window, RateCount.hits)
                  .where((RateCount.key == key)
                         & (RateCount.window.in_([start, start - window])))
                  .tuples())
    overlap = 1.0 - (now - start) / window
    estimate = counts.get(start - window, 0) * overlap + counts.get(start, 0)
    _purge_now_and_then()
    return estimate <= limit


def _purge_now_and_then() -> None:
    """Old windows also go from here, at most once a minute per process, so a bridge
    run without a queue worker (which purges every 15 minutes) stays bounded."""
    global _last_purge
    with _purge_lock:
        if time.monotonic() - _last_purge < PURGE_EVERY:
            return
        _last_purge = time.monotonic()
    purge()


def purge(older_than: float = 3600, *, now: float | None = None) -> int:
    """Delete windows that ended more than ``older_than`` seconds ago."""
    now = time.time() if now is None else now
    return RateCount.delete().where(RateCount.window < now - older_than).execute()
