"""What one bridge app remembers between requests, owned by that app.

Every cache here is keyed by database row ids (an instance's id, a user's id). Held by a
module, it would outlive its database: a second app in the same process, on another
database, reuses the ids 1, 2, ... and would be served the first one's rows. So one
``ProcessCache`` is made by ``create_app`` (kept as ``app.extensions["bridge.cache"]``,
shared by the web process's routes and the WSGI short path ``web.widget_cache``) and by
the worker's set-up (``bridge.tasks.configure``, which ``create_app`` hands its own), and
services reach it on their ``Context`` as ``ctx.cache``. A fresh app starts cold.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..db_listen import Listener
from .jira_outages import Outages
from .widget_memory import Changes, Instances, Memory

# The trigger of ``migrations._snapshot_notices`` notifies it of every snapshot change.
SNAPSHOT_CHANNEL = "bridge_snapshots"


class TTLCache:
    """Values kept for a given number of seconds (create metadata changes rarely; forms
    ask for it often). At most ``limit`` keys: past that it starts again empty."""

    def __init__(self, limit: int = 2000):
        self.limit = limit
        self._data: dict = {}
        self._lock = threading.Lock()

    def get(self, key, ttl: float, load: Callable[[], Any]):
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit and now - hit[0] < ttl:
                return hit[1]
        value = load()
        with self._lock:
            self._data[key] = (now, value)
            if len(self._data) > self.limit:
                self._data.clear()
        return value


@dataclass
class ProcessCache:
    """``widgets``: rendered widget bodies; ``instances``: which instance and issue a
    resource URL names (both ``services.widget_memory``); ``forms``: create metadata and
    task content for the create form and rules (``services.create_issue``); ``outages``:
    which Jira instances this process leaves alone for a while (``services.jira_outages``);
    on PostgreSQL, ``listener`` (``bridge.db_listen``) feeds ``changes``: which snapshots
    changed, so a cached widget need not ask the database (``services.widget``).
    """

    widgets: Memory = field(default_factory=Memory)
    instances: Instances = field(default_factory=Instances)
    forms: TTLCache = field(default_factory=TTLCache)
    outages: Outages = field(default_factory=Outages)
    changes: Changes = field(default_factory=Changes)
    listener: Listener | None = None

    @classmethod
    def for_database(cls, url: str) -> ProcessCache:
        """The cache of an app on ``url``; on PostgreSQL with a listener (not yet started:
        it starts in the process that serves widgets)."""
        cache = cls()
        if url.startswith(("postgres://", "postgresql://")):
            cache.listener = Listener(url, SNAPSHOT_CHANNEL, cache.changes.heard)
        return cache

    def close(self) -> None:
        """The app is done: stop listening."""
        if self.listener is not None:
            self.listener.stop()
