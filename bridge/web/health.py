"""``GET /healthz``: can this node serve? Database reachable, at the expected schema, and
writable; plus whatever other checks the bridge registers (the queue's consumer).

Load balancers and ``doctor`` call it. It answers 503 (not 500) when any check fails, so
an orchestrator takes the node out of rotation instead of alerting on a crash. The body
names the problem without revealing the database URL.

A database that answers reads but refuses writes (read-only mount, a replica after a
failover, a full disk) fails every write path; so the check writes: it touches the
schema row inside a transaction it rolls back, which the database refuses when it cannot
write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Flask, current_app, jsonify

from .. import migrations
from ..db import database

bp = Blueprint("health", __name__)
log = logging.getLogger("bridge.health")

# name -> callable returning None when healthy, else a short reason (no secrets).
Check = Callable[[], str | None]


def add_check(app: Flask, name: str, check: Check) -> None:
    """Register another health check (e.g. ``queue``: is a consumer alive?)."""
    app.extensions.setdefault("bridge.health_checks", {})[name] = check


class _Rollback(Exception):
    pass


def _database_writable() -> None:
    try:
        with database.atomic():
            database.execute_sql(
                "UPDATE schema_version SET applied_at = applied_at WHERE version = "
                "(SELECT MAX(version) FROM schema_version)")
            raise _Rollback()
    except _Rollback:
        pass


@bp.get("/healthz")
def healthz():
    try:
        database.execute_sql("SELECT 1")
        version = migrations.current_version(database.obj)
    except Exception as exc:  # any driver error means "not healthy"
        log.warning("health.database_unreachable error=%s", type(exc).__name__)
        return jsonify(status="error", database="unreachable"), 503
    if version != migrations.LATEST:
        return jsonify(
            status="error",
            database="needs_migration",
            schema_version=version,
            expected_schema_version=migrations.LATEST,
            hint="run: asana-jira-bridge init-db",
        ), 503
    try:
        _database_writable()
    except Exception as exc:
        log.warning("health.database_read_only error=%s", type(exc).__name__)
        return jsonify(status="error", database="read_only", schema_version=version), 503
    failed = {}
    for name, check in current_app.extensions.get("bridge.health_checks", {}).items():
        try:
            reason = check()
        except Exception as exc:
            reason = f"check failed ({type(exc).__name__})"
        if reason:
            failed[name] = reason
    if failed:
        log.warning("health.failed checks=%s", ",".join(sorted(failed)))
        return jsonify(status="error", database="ok", schema_version=version,
                       failed=failed), 503
    return jsonify(status="ok", database="ok", schema_version=version)
