"""``/healthz`` tells the truth about writes and registered checks (issue 11 §7).

With the database read-only every write path answered 500 while ``/healthz`` said 200.
The read-only state is made the way an operator meets it: PostgreSQL's
``default_transaction_read_only`` on the database, SQLite's ``query_only`` on every
connection the bridge opens.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import peewee
import pytest

from bridge.web.health import add_check


@pytest.fixture
def read_only(app, database_url):
    db = app.extensions["bridge.db"]
    if database_url.startswith("sqlite"):
        saved = list(db._pragmas)
        db._pragmas = [*saved, ("query_only", 1)]
        db.close_all()  # pooled: only new connections get the pragma
        yield
        db._pragmas = saved
        db.close_all()
        return
    from bridge.db import open_database

    name = urlsplit(database_url).path.lstrip("/")
    admin = open_database(database_url)
    admin.execute_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    admin.close_all()
    db.close_all()
    try:
        yield
    finally:
        db.close_all()
        admin.execute_sql("SET default_transaction_read_only = off")
        admin.execute_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        admin.close_all()


def test_healthz_is_503_when_the_database_refuses_writes(app, read_only):
    from bridge.services import admins

    with app.app_context():
        admins.is_admin("a@example.com", ())  # reads work
        with pytest.raises(peewee.DatabaseError):
            admins.grant("a@example.com", by="test")  # writes do not
    response = app.test_client().get("/healthz")
    assert response.status_code == 503, response.json
    assert response.json["database"] == "read_only"


def test_healthz_writes_nothing(app):
    from bridge.models import SchemaVersion

    with app.app_context():
        before = [(r.version, r.applied_at) for r in SchemaVersion.select()]
    assert app.test_client().get("/healthz").status_code == 200
    with app.app_context():
        assert [(r.version, r.applied_at) for r in SchemaVersion.select()] == before


def test_a_registered_check_that_fails_makes_healthz_503(app):
    state = {"reason": "no consumer seen for 120 s"}
    add_check(app, "queue", lambda: state["reason"])
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["failed"] == {"queue": "no consumer seen for 120 s"}
    state["reason"] = None
    assert app.test_client().get("/healthz").status_code == 200


def test_a_check_that_crashes_counts_as_failed_without_details(app):
    def broken():
        raise RuntimeError("secret-ish detail")

    add_check(app, "queue", broken)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert "secret-ish" not in response.get_data(as_text=True)
