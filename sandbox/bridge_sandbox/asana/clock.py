"""An adjustable clock, so tests can make tokens and download URLs expire without sleeping.

Every time-dependent rule in the simulator (access-token lifetime, 2-minute ``download_url``,
``expires_at``, the per-minute rate limit) reads :meth:`SimClock.now`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


class SimClock:
    """Wall clock (or ``base``) plus an offset that :meth:`advance` moves forward."""

    def __init__(self, base: Callable[[], float] | None = None):
        self._base = base or time.time
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now()

    def now(self) -> float:
        with self._lock:
            return self._base() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)


def iso_z(ts: float) -> str:
    """``2019-04-15T01:01:46.055Z``: the format of every Asana timestamp (reference §3.3)."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
