"""``GET /healthz``: is the database reachable and at the schema this code expects?

Load balancers and ``doctor`` call it. It answers 503 (not 500) when the database is down
or not migrated, so an orchestrator takes the node out of rotation instead of alerting on
a crash. The body names the problem without revealing the database URL.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from .. import migrations
from ..db import database

bp = Blueprint("health", __name__)
log = logging.getLogger("bridge.health")


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
    return jsonify(status="ok", database="ok", schema_version=version)
