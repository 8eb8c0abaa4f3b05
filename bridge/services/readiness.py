"""Can this node do its work? The deep checks behind ``/readyz`` (load balancers).

``/healthz`` only says the process answers (liveness: cheap, for restarts). Readiness
says whether requests would succeed, so it checks what they need:

- the database at the expected schema;
- a real write that reaches the database: this node's ``NodeBeat`` row is upserted and
  committed on a connection opened for the check (``db.open_unpooled``). A rolled-back
  write proves nothing (SQLite writes nothing to disk before a commit: a read-only file,
  ``-wal``, ``-shm`` or folder is only noticed then), and a pooled connection opened
  before the database turned read-only could still write (issue 16 §7b);
- the checks registered by other parts (the queue's consumer: ``services.workers``).

Load balancers probe every second or so, from several places: the write is coalesced
(``Heartbeat``). Each process writes at most once every ``BEAT_EVERY`` seconds, and not
at all while another process of the node wrote less than that ago (its committed row is
read instead); probes arriving while a write is in flight wait for it and share its
outcome. Every answer carries the outcome it relies on and its age (``heartbeat_age``).
So a database that turns read-only is noticed within ``BEAT_EVERY`` seconds (5) of the
change, by the first probe after that: the last good write is never vouched for longer.
A failed write is not remembered past the same period, so recovery shows as quickly.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from .. import migrations
from ..db import database, open_unpooled
from ..models import NodeBeat
from ..timeutil import utcnow

log = logging.getLogger("bridge.health")

BEAT_EVERY = 5.0  # seconds: the longest a heartbeat's outcome is vouched for

# name -> callable returning None when healthy, else a short reason (no secrets).
Check = Callable[[], str | None]


def node_name() -> str:
    return socket.gethostname()[:255] or "node"


def write_heartbeat(database_url: str) -> None:
    """Upsert and commit this node's heartbeat on a fresh connection; raises the driver's
    error when the database refuses the write."""
    now = utcnow()
    query = (NodeBeat.insert(node=node_name(), beat_at=now)
             .on_conflict(conflict_target=[NodeBeat.node],
                          update={NodeBeat.beat_at: now}))
    sql, params = query.sql()  # built for the bridge's database, whose dialect this is
    fresh = open_unpooled(database_url)
    try:
        fresh.connect()
        with fresh.atomic():
            fresh.execute_sql(sql, params)
    finally:
        if not fresh.is_closed():
            fresh.close()


def _sibling_beat_age() -> float | None:
    """Seconds since another process of this node committed the heartbeat, if it did;
    ``None`` when unknown. A read: it proves nothing about writes by itself, only that
    a write succeeded that long ago."""
    row = (NodeBeat.select(NodeBeat.beat_at).where(NodeBeat.node == node_name())
           .tuples().first())
    if row is None or row[0] is None:
        return None
    age = (utcnow() - row[0]).total_seconds()
    return age if age >= 0 else None


class Heartbeat:
    """The heartbeat of one process (one per app): the last write's outcome and when;
    one write in flight at a time, shared by the probes that arrive meanwhile."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._at: float | None = None  # clock() of the outcome below
        self._failed: str | None = None  # the driver error's class name, if it failed
        self._inflight: threading.Event | None = None

    def outcome(self, database_url: str) -> tuple[str | None, float]:
        """``(error or None, age in seconds)`` of a heartbeat no older than
        ``BEAT_EVERY``: the last one, the one in flight, or a new write."""
        with self._lock:
            now = self.clock()
            if self._at is not None and now - self._at < BEAT_EVERY:
                return self._failed, now - self._at
            waiting = self._inflight
            if waiting is None:
                self._inflight = threading.Event()
        if waiting is not None:
            waiting.wait(30.0)
            with self._lock:
                if self._at is not None:
                    return self._failed, max(0.0, self.clock() - self._at)
            return "Timeout", 0.0
        try:
            failed, age = self._beat(database_url)
        finally:
            with self._lock:
                done = self._inflight
                self._inflight = None
        with self._lock:
            self._failed, self._at = failed, self.clock() - age
        done.set()
        return failed, age

    def _beat(self, database_url: str) -> tuple[str | None, float]:
        try:
            sibling = _sibling_beat_age()
        except Exception:  # unreadable: the write below finds out why
            sibling = None
        if sibling is not None and sibling < BEAT_EVERY:
            return None, sibling  # another process of the node wrote it just now
        try:
            write_heartbeat(database_url)
        except Exception as exc:
            log.warning("readiness.database_read_only error=%s", type(exc).__name__)
            return type(exc).__name__, 0.0
        return None, 0.0


def check(database_url: str, checks: dict[str, Check],
          heartbeat: Heartbeat | None = None) -> tuple[int, dict]:
    """``(HTTP status, body)`` of the readiness check. The body names what failed
    without the database URL or any driver message. ``heartbeat``: the process's
    (coalesced writes); without one, this check writes."""
    try:
        version = migrations.current_version(database.obj)
    except Exception as exc:  # any driver error means "not ready"
        log.warning("readiness.database_unreachable error=%s", type(exc).__name__)
        return 503, {"status": "error", "database": "unreachable"}
    if version != migrations.LATEST:
        return 503, {"status": "error", "database": "needs_migration",
                     "schema_version": version,
                     "expected_schema_version": migrations.LATEST,
                     "hint": "run: asana-jira-bridge init-db"}
    failed_write, age = (heartbeat or Heartbeat()).outcome(database_url)
    age = round(age, 1)
    if failed_write:
        return 503, {"status": "error", "database": "read_only", "schema_version": version,
                     "heartbeat_age": age}
    failed = {}
    for name, run in checks.items():
        try:
            reason = run()
        except Exception as exc:
            reason = f"check failed ({type(exc).__name__})"
        if reason:
            failed[name] = reason
    if failed:
        return 503, {"status": "error", "database": "ok", "schema_version": version,
                     "heartbeat_age": age, "failed": failed}
    return 200, {"status": "ok", "database": "ok", "schema_version": version,
                 "heartbeat_age": age}
