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
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from .. import migrations
from ..db import database, open_unpooled
from ..models import NodeBeat
from ..timeutil import utcnow

log = logging.getLogger("bridge.health")

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


def check(database_url: str, checks: dict[str, Check]) -> tuple[int, dict]:
    """``(HTTP status, body)`` of the readiness check. The body names what failed
    without the database URL or any driver message."""
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
    try:
        write_heartbeat(database_url)
    except Exception as exc:
        log.warning("readiness.database_read_only error=%s", type(exc).__name__)
        return 503, {"status": "error", "database": "read_only", "schema_version": version}
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
                     "failed": failed}
    return 200, {"status": "ok", "database": "ok", "schema_version": version}
