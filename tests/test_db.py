"""Storage: migrations with a recorded version, sealed columns, health, per-request
connections. Runs on SQLite and, in CI, on PostgreSQL."""

import time

import peewee
import pytest

from bridge import create_app, migrations, models
from bridge.models import AsanaUser, AsanaWorkspace, JiraInstance, SchemaVersion


def test_migrate_records_version_and_is_idempotent(settings):
    app = create_app(settings)
    db = app.extensions["bridge.db"]
    with app.app_context():
        assert migrations.current_version(db) == 0
        assert migrations.migrate(db) == [v for v, _, _ in migrations.MIGRATIONS]
        assert migrations.migrate(db) == []
        assert migrations.current_version(db) == migrations.LATEST
        row = SchemaVersion.get(SchemaVersion.version == 1)
        assert row.description == "initial schema"
        for model in (AsanaWorkspace, JiraInstance, AsanaUser):
            assert db.table_exists(model._meta.table_name)
    db.close()


def test_a_database_from_before_migration_6_loses_the_unused_job_table(settings):
    app = create_app(settings)
    db = app.extensions["bridge.db"]
    with app.app_context():
        db.create_tables([SchemaVersion])
        for version, description, step in migrations.MIGRATIONS[:5]:  # as released
            step(db)
            SchemaVersion.create(version=version, description=description)
        assert db.table_exists("job")
        assert migrations.migrate(db)[:1] == [6]
        assert not db.table_exists("job")
        assert set(db.get_tables()) >= {m._meta.table_name for m in models.ALL_MODELS}
    db.close()


def _raw(db, sql):
    return db.execute_sql(sql).fetchall()


def test_sealed_columns_hold_no_plain_secret(app):
    db = app.extensions["bridge.db"]
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1")
        JiraInstance.create(workspace=ws, base_url="https://jira.example.com",
                            auth_mode="oauth2", client_id="cid",
                            client_secret="client-secret-value-42")
        AsanaUser.create(gid="9", access_token="asana-access-token-77")
        raw_secret = _raw(db, "SELECT client_secret FROM jira_instance")[0][0]
        raw_token = _raw(db, "SELECT access_token FROM asana_user")[0][0]
        assert "client-secret-value-42" not in raw_secret and raw_secret.startswith("s1.")
        assert "asana-access-token-77" not in raw_token
        assert JiraInstance.get().client_secret == "client-secret-value-42"
        assert AsanaUser.get().access_token == "asana-access-token-77"


def test_data_is_unreadable_with_another_key(app, settings):
    with app.app_context():
        AsanaUser.create(gid="9", access_token="asana-access-token-77")
    app.extensions["bridge.db"].close()
    other = create_app({**settings, "SECRET_KEY": "another-key-" + "z" * 30})
    from bridge.sealing import SealingError

    with other.app_context(), pytest.raises(SealingError, match="sealed with key"):
        AsanaUser.get().access_token  # noqa: B018


def test_readyz_ok_when_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok",
                                   "schema_version": migrations.LATEST,
                                   "heartbeat_age": 0.0}  # written by this probe


def test_readyz_503_when_schema_missing(settings):
    app = create_app(settings)  # not migrated
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "needs_migration"
    assert "init-db" in body["hint"]


def test_readyz_503_when_database_unreachable(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path),
                      "SECRET_KEY": "k" * 40,
                      "DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:1/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
    assert b"pw" not in response.data and b"nobody" not in response.data


def test_connection_is_released_after_each_request(app, client):
    db = app.extensions["bridge.db"]
    assert client.get("/readyz").status_code == 200
    assert db.is_closed()


def test_unique_workspace_and_base_url(app):
    import peewee

    with app.app_context():
        ws = AsanaWorkspace.create(gid="1")
        JiraInstance.create(workspace=ws, base_url="https://j", auth_mode="oauth1")
        with pytest.raises(peewee.IntegrityError), app.extensions["bridge.db"].atomic():
            JiraInstance.create(workspace=ws, base_url="https://j", auth_mode="oauth2")


def test_link_slots_migration_numbers_the_links_already_there(settings):
    """Links made before the slots each get one, so the limit holds for old tasks too."""
    from bridge.models import IssueLink, LinkSlot

    app = create_app(settings)
    db = app.extensions["bridge.db"]
    with app.app_context():
        every = migrations.MIGRATIONS
        migrations.MIGRATIONS = every[:6]
        try:
            migrations.migrate(db)
        finally:
            migrations.MIGRATIONS = every
        assert not db.table_exists(LinkSlot._meta.table_name)
        ws = AsanaWorkspace.create(gid="1")
        inst = JiraInstance.create(workspace=ws, base_url="https://jira.example.com",
                                   auth_mode="oauth2")
        for task, issue in (("7", "1"), ("8", "2"), ("7", "3")):
            IssueLink.create(task_gid=task, instance=inst, issue_id=issue,
                             issue_key=f"EX-{issue}")
        assert migrations.migrate(db)[:1] == [7]
        slots = [(s.task_gid, s.slot, s.link.issue_key) for s in
                 LinkSlot.select().order_by(LinkSlot.task_gid, LinkSlot.slot)]
        assert slots == [("7", 0, "EX-1"), ("7", 1, "EX-3"), ("8", 0, "EX-2")]
    db.close()


def _backend_query(database_url: str, pid: int) -> str:
    from bridge.db import open_unpooled

    other = open_unpooled(database_url)
    try:
        return other.execute_sql("SELECT query FROM pg_stat_activity WHERE pid = %s",
                                 (pid,)).fetchone()[0]
    finally:
        other.close()


def test_postgres_pool_does_not_ping_a_connection_returned_a_moment_ago(database_url):
    """peewee's pool runs ``SELECT 1`` on every checkout: a round trip per request (issue
    18 §8). A connection returned a moment ago is handed out without it; one idle for
    longer is pinged, and replaced when the server dropped it."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's pool")
    from bridge.db import open_database, open_unpooled

    db = open_database(database_url)
    try:
        db.connect()
        pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        db.close()
        db.connect()  # checked out again: no ping
        assert _backend_query(database_url, pid) == "SELECT pg_backend_pid()"
        db.close()

        db.trust_for = 0.0  # idle "long enough": pinged on checkout
        db.connect()
        assert _backend_query(database_url, pid) == "SELECT 1"
        db.close()
        killer = open_unpooled(database_url)
        killer.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
        killer.close()
        time.sleep(0.2)
        db.connect()  # the dead one is discarded, a new one works
        assert db.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != pid
        db.close()
    finally:
        db.close_all()


def test_attachment_copies_from_before_migration_13_get_sent_at(settings):
    """Copies planned by an older release carry on: the column is added, empty."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as alter

    from bridge.models import AttachmentCopy

    app = create_app(settings)
    db = app.extensions["bridge.db"]
    table = AttachmentCopy._meta.table_name
    with app.app_context():
        every = migrations.MIGRATIONS
        migrations.MIGRATIONS = every[:12]
        try:
            migrations.migrate(db)
        finally:
            migrations.MIGRATIONS = every
        # migration 3 made the table from today's model: take the column away, as released
        alter(SchemaMigrator.from_database(db).drop_column(table, "sent_at"))
        assert "sent_at" not in {c.name for c in db.get_columns(table)}
        assert migrations.migrate(db)[:1] == [13]
        assert "sent_at" in {c.name for c in db.get_columns(table)}
    db.close()


def test_sqlite_read_then_write_transaction_waits_for_a_concurrent_writer(app, database_url):
    """Two processes share one SQLite file (two bridge nodes, or gunicorn workers): a
    transaction that reads, then writes after another connection committed, must wait
    for the lock, not fail with 'database is locked' (the OAuth callback's credential
    upsert failed this way under load)."""
    import threading

    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's locking only")
    db = app.extensions["bridge.db"]
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1", name="before")
    read_done, errors = threading.Event(), []

    def reader_then_writer():
        try:
            with app.app_context(), db.connection_context(), db.atomic():
                AsanaWorkspace.get_by_id(ws.id)
                read_done.set()
                time.sleep(0.3)  # meanwhile the other connection writes
                AsanaWorkspace.update(name="first").where(AsanaWorkspace.id == ws.id).execute()
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    def writer():
        read_done.wait(5)
        try:
            with app.app_context(), db.connection_context():
                AsanaWorkspace.update(name="second").where(AsanaWorkspace.id == ws.id).execute()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader_then_writer), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    with app.app_context():
        assert AsanaWorkspace.get_by_id(ws.id).name == "second"  # it waited for the first


def test_webhooks_registered_before_migration_17_keep_their_filter(settings):
    """The filter an older release registered (then only in the audit log) is what the
    bridge knows Jira holds; a registration whose token was rotated since is not kept."""
    from bridge.models import JiraWebhook, audit

    app = create_app(settings)
    db = app.extensions["bridge.db"]
    with app.app_context():
        every = migrations.MIGRATIONS
        migrations.MIGRATIONS = every[:16]
        try:
            migrations.migrate(db)
        finally:
            migrations.MIGRATIONS = every
        ws = AsanaWorkspace.create(gid="1")
        kept, rotated = (JiraInstance.create(workspace=ws, base_url=url, auth_mode="oauth2")
                         for url in ("https://a.example.com", "https://b.example.com"))
        for instance in (kept, rotated):
            audit("jira.webhook_registered", target=instance.base_url, instance=instance.id,
                  jira_admin="admin", via="password", jql='project in ("OLD")')
        audit("jira.webhook_registered", target=kept.base_url, instance=kept.id,
              jira_admin="admin", via="consent", jql='project in ("EX")')
        audit("jira.webhook_token_rotated", target=rotated.base_url, instance=rotated.id)
        assert migrations.migrate(db)[0] == 17
        row, = JiraWebhook.select()
        assert (row.instance_id, row.jql, row.via) == (kept.id, 'project in ("EX")', "consent")
        assert row.registered_at is not None and row.self_url is None
    db.close()


def test_snapshot_generations_from_before_migration_18_hold_microseconds(settings):
    """A new snapshot starts at the time in microseconds (models.IssueSnapshot): on
    PostgreSQL migration 18 widens the column that held 32 bits, and the snapshot notices
    (migration 16) still name the instance, the generation and the key."""
    import peewee as pw

    from bridge.models import IssueSnapshot

    app = create_app(settings)
    db = app.extensions["bridge.db"]
    table = IssueSnapshot._meta.table_name
    with app.app_context():
        every = migrations.MIGRATIONS
        migrations.MIGRATIONS = every[:17]
        try:
            migrations.migrate(db)
        finally:
            migrations.MIGRATIONS = every
        postgres = isinstance(db, pw.PostgresqlDatabase)
        if postgres:  # the column as migration 2 made it then (32 bits), its trigger on it
            db.execute_sql(f'DROP TRIGGER bridge_snapshot_notice ON "{table}"')
            db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "generation" TYPE INTEGER')
            migrations._snapshot_notices(db)
        assert migrations.migrate(db)[0] == 18
        if postgres:
            db.execute_sql("LISTEN bridge_snapshots")
        ws = AsanaWorkspace.create(gid="1")
        instance = JiraInstance.create(workspace=ws, base_url="https://a.example.com",
                                       auth_mode="oauth2")
        made = IssueSnapshot.create(instance=instance, issue_key="EX-1", data={})
        assert made.generation > 1_700_000_000 * 10**6  # microseconds, not 1
        assert IssueSnapshot.get().generation == made.generation
        if postgres:
            conn = db.connection()
            conn.poll()
            assert [n.payload for n in conn.notifies] == [
                f"{instance.id} {made.generation} EX-1"]
    db.close()


def test_a_prepared_statement_is_planned_once_per_connection_and_survives_mishaps(app):
    """``execute_prepared`` (issue 18 §8): on PostgreSQL the first use on a connection
    prepares (one round trip with its EXECUTE), later ones only execute; a statement the
    session lost is prepared again, and a failing first EXECUTE leaves it usable."""
    from bridge.db import database, execute_prepared

    sql = f"SELECT 100 / {database.obj.param}, {database.obj.param}"
    with app.app_context():
        seen: list[str] = []
        database.obj.query_hooks.append(lambda event: seen.append(event.sql))
        try:
            assert execute_prepared("t_prepared", sql, (4, "a")).fetchone() == (25, "a")
            assert execute_prepared("t_prepared", sql, (5, "b")).fetchone() == (20, "b")
            if not isinstance(database.obj, peewee.PostgresqlDatabase):
                assert seen == [sql, sql]  # SQLite: its driver caches the statement
                return
            assert seen[0].startswith("PREPARE t_prepared AS SELECT 100 / $1, $2;")
            assert seen[1] == "EXECUTE t_prepared (%s, %s)"
            database.execute_sql("DEALLOCATE ALL")  # the session lost it
            assert execute_prepared("t_prepared", sql, (10, "c")).fetchone() == (10, "c")
            with pytest.raises(peewee.DataError):  # division by zero in its first EXECUTE
                execute_prepared("t_failing", sql, (0, "d"))
            assert execute_prepared("t_failing", sql, (50, "e")).fetchone() == (2, "e")
        finally:
            database.obj.query_hooks.clear()
            if isinstance(database.obj, peewee.PostgresqlDatabase):
                database.execute_sql("DEALLOCATE ALL")
