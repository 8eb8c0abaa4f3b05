"""Schema creation and migrations, with the applied version recorded in ``schema_version``.

Each migration is a function applied in its own transaction, in order, once. Migration 1
creates the initial schema; later ones alter it with ``playhouse.migrate`` and must never
be edited once released. ``migrate`` takes a lock first (an advisory lock on PostgreSQL,
an immediate transaction on SQLite) so two nodes starting together do not both apply it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import peewee as pw

from . import models
from .models import JSONField, SchemaVersion
from .timeutil import utcnow

# Migration 1 as released: these tables, no others. Models added later are created by the
# migration that introduced them, so a fresh database goes through the same steps as an old
# one (``ALL_MODELS`` grows; this list never does).
_INITIAL_MODELS = ("AsanaWorkspace", "JiraInstance", "AsanaUser", "BridgeAdmin", "SetupToken",
                   "JiraCredential", "IssueLink", "RuleAction", "ActionRun", "PendingAuth",
                   "IssueSnapshot", "Job", "AuditEvent")


class _Job(models.BaseModel):
    """Migration 1's ``job`` table, kept here as released: the model is gone from
    ``bridge.models`` (the queue's own tables replaced it) and migration 6 drops it."""

    kind = pw.CharField(max_length=64)
    payload = JSONField(default=dict)
    state = pw.CharField(default="queued", max_length=16, index=True)
    attempts = pw.IntegerField(default=0)
    run_after = pw.DateTimeField(default=utcnow)
    locked_by = pw.CharField(null=True, max_length=128)
    locked_at = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "job"


def _initial(db: pw.Database) -> None:
    db.create_tables([_Job if name == "Job" else getattr(models, name)
                      for name in _INITIAL_MODELS])


def _queue_and_copies(db: pw.Database) -> None:
    """huey's tables (the durable queue), attachment copies and worker heartbeats."""
    from . import queue
    from .models import AttachmentCopy, WorkerBeat

    queue.create_sql_tables(db)
    db.create_tables([AttachmentCopy, WorkerBeat])


def _issue_snapshots_by_key(db: pw.Database) -> None:
    """Snapshots keyed by issue key with a generation (services.widget). The table is a
    cache that nothing filled before this version, so it is simply made anew."""
    from .models import IssueSnapshot

    db.drop_tables([IssueSnapshot], safe=True)
    db.create_tables([IssueSnapshot])


def _rate_counts(db: pw.Database) -> None:
    """Rate limits shared by every worker and node (web.security, services.limits)."""
    from .models import RateCount

    db.create_tables([RateCount])


def _admin_sessions(db: pw.Database) -> None:
    """Admin sessions kept on the server (services.admins), ended by sign-out and removal."""
    from .models import AdminSession

    db.create_tables([AdminSession])


def _drop_jobs(db: pw.Database) -> None:
    """The ``job`` table was never used: durable work is huey's tables plus a row per
    piece of work (``AttachmentCopy``)."""
    db.drop_tables([_Job], safe=True)


def _link_slots(db: pw.Database) -> None:
    """Per-task link slots (services.links), one for each link already there, numbered
    per task in the order the links were made."""
    from .models import IssueLink, LinkSlot

    db.create_tables([LinkSlot])
    numbers: dict[str, int] = {}
    for link_id, task in (IssueLink.select(IssueLink.id, IssueLink.task_gid)
                          .order_by(IssueLink.id).tuples()):
        number = numbers.get(task, 0)
        numbers[task] = number + 1
        LinkSlot.create(task_gid=task, slot=number, link=link_id, token="migrated")


def _remote_links(db: pw.Database) -> None:
    """Remote links on Jira issues back to their Asana tasks (services.remote_links)."""
    from .models import RemoteLink

    db.create_tables([RemoteLink])


def _webhook_signing(db: pw.Database) -> None:
    """The key Jira DC 10+ signs webhook deliveries with, and whether it must."""
    from playhouse.migrate import SchemaMigrator, migrate

    from .models import JiraInstance

    table = JiraInstance._meta.table_name
    have = {column.name for column in db.get_columns(table)}
    migrator = SchemaMigrator.from_database(db)
    # A fresh database has them already: migration 1 creates the table from the model.
    migrate(*[migrator.add_column(table, name, field) for name, field in (
        ("webhook_signing_key", JiraInstance.webhook_signing_key),
        ("webhook_signed", JiraInstance.webhook_signed)) if name not in have])


def _node_beats(db: pw.Database) -> None:
    """The row each web node's readiness check writes (``services.readiness``)."""
    from .models import NodeBeat

    db.create_tables([NodeBeat])


def _field_sync(db: pw.Database) -> None:
    """Jira's state in Asana custom fields (services.sync)."""
    from .models import FieldSync, TaskFields, TaskProjects

    db.create_tables([FieldSync, TaskFields, TaskProjects])


def _used_oauth_states(db: pw.Database) -> None:
    """Used nonces of anonymous sign-ins' signed states (services.pending)."""
    from .models import UsedOAuthState

    db.create_tables([UsedOAuthState])


def _copy_sent_at(db: pw.Database) -> None:
    """When a copy's whole file went to Jira unanswered (services.attachments)."""
    from playhouse.migrate import SchemaMigrator, migrate

    from .models import AttachmentCopy

    table = AttachmentCopy._meta.table_name
    # A fresh database has it already: migration 3 creates the table from the model.
    if "sent_at" not in {column.name for column in db.get_columns(table)}:
        migrate(SchemaMigrator.from_database(db).add_column(table, "sent_at",
                                                            AttachmentCopy.sent_at))


def _copy_sent_sha256(db: pw.Database) -> None:
    """The hash of the bytes a copy sent Jira unanswered (services.attachments)."""
    from playhouse.migrate import SchemaMigrator, migrate

    from .models import AttachmentCopy

    table = AttachmentCopy._meta.table_name
    if "sent_sha256" not in {column.name for column in db.get_columns(table)}:
        migrate(SchemaMigrator.from_database(db).add_column(table, "sent_sha256",
                                                            AttachmentCopy.sent_sha256))


def _field_options(db: pw.Database) -> None:
    """Claims on new enum options, so one worker of all makes each (services.sync)."""
    from .models import FieldOption

    db.create_tables([FieldOption])


def _snapshot_notices(db: pw.Database) -> None:
    """PostgreSQL: every insert, generation change and delete of an issue snapshot
    notifies ``bridge_snapshots`` with ``instance generation key`` at commit, whichever
    code made it (services.widget's cached views listen, bridge.db_listen). SQLite has no
    NOTIFY: nothing to do."""
    if not isinstance(db, pw.PostgresqlDatabase):
        return
    from .models import IssueSnapshot

    table = IssueSnapshot._meta.table_name
    db.execute_sql("""
        CREATE OR REPLACE FUNCTION bridge_snapshot_notice() RETURNS trigger AS $$
        DECLARE
            row_ RECORD;
        BEGIN
            IF TG_OP = 'DELETE' THEN row_ := OLD; ELSE row_ := NEW; END IF;
            PERFORM pg_notify('bridge_snapshots', row_.instance_id || ' '
                              || row_.generation || ' ' || row_.issue_key);
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql""")
    db.execute_sql(f'DROP TRIGGER IF EXISTS bridge_snapshot_notice ON "{table}"')
    db.execute_sql(f"""
        CREATE TRIGGER bridge_snapshot_notice
        AFTER INSERT OR DELETE OR UPDATE OF generation ON "{table}"
        FOR EACH ROW EXECUTE FUNCTION bridge_snapshot_notice()""")


def _turns_and_webhooks(db: pw.Database) -> None:
    """Turns of periodic jobs across nodes (services.turns) and what the bridge knows of
    each instance's webhook (services.webhooks): the registered filter, read until now
    from the audit log, is carried over from the latest registration."""
    from .models import AuditEvent, JiraInstance, JiraWebhook, PeriodicTurn

    db.create_tables([PeriodicTurn, JiraWebhook])
    events = (AuditEvent.select()
              .where(AuditEvent.action.in_(["jira.webhook_registered",
                                            "jira.webhook_token_rotated"])
                     & (AuditEvent.outcome == "ok"))
              .order_by(AuditEvent.at, AuditEvent.id))
    latest = {}
    for event in events:
        detail = event.detail if isinstance(event.detail, dict) else {}
        for instance in JiraInstance.select().where(JiraInstance.base_url == event.target):
            if detail.get("instance", instance.id) != instance.id:
                continue
            if event.action == "jira.webhook_token_rotated":
                latest.pop(instance.id, None)  # what was registered posts to a dead URL
            else:
                latest[instance.id] = (event, detail)
    for instance_id, (event, detail) in latest.items():
        JiraWebhook.create(instance=instance_id, jql=str(detail.get("jql") or ""),
                           via=str(detail.get("via") or "password"),
                           registered_at=event.at)


def _snapshot_generations_unique(db: pw.Database) -> None:
    """A new snapshot's generation is the time in microseconds (models.IssueSnapshot):
    PostgreSQL's column must hold 64 bits (SQLite's integers already do). The notice
    trigger names the column, so it is made again around the change."""
    if not isinstance(db, pw.PostgresqlDatabase):
        return
    from .models import IssueSnapshot

    table = IssueSnapshot._meta.table_name
    db.execute_sql(f'DROP TRIGGER IF EXISTS bridge_snapshot_notice ON "{table}"')
    db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "generation" TYPE BIGINT')
    _snapshot_notices(db)


def _credential_grants(db: pw.Database) -> None:
    """Each authorization's own id (models.JiraCredential.grant_id): create metadata is
    remembered per authorization, so another Jira account's projects are never shown."""
    from playhouse.migrate import SchemaMigrator, migrate

    from .models import JiraCredential

    table = JiraCredential._meta.table_name
    if "grant_id" not in {column.name for column in db.get_columns(table)}:
        migrate(SchemaMigrator.from_database(db).add_column(table, "grant_id",
                                                            JiraCredential.grant_id))


MIGRATIONS: tuple[tuple[int, str, Callable[[pw.Database], None]], ...] = (
    (1, "initial schema", _initial),
    (2, "issue snapshots by key, with a generation", _issue_snapshots_by_key),
    (3, "durable queue, attachment copies, worker heartbeats", _queue_and_copies),
    (4, "rate counts shared across workers and nodes", _rate_counts),
    (5, "admin sessions kept on the server", _admin_sessions),
    (6, "drop the unused job table", _drop_jobs),
    (7, "per-task link slots: the issue limit held by a unique index", _link_slots),
    (8, "remote links back to Asana tasks", _remote_links),
    (9, "webhook signing key (Jira DC 10+)", _webhook_signing),
    (10, "node heartbeats written by the readiness check", _node_beats),
    (11, "Jira's state in Asana custom fields", _field_sync),
    (12, "used nonces of anonymous sign-in states", _used_oauth_states),
    (13, "attachment copies: when the whole file went to Jira", _copy_sent_at),
    (14, "claims on new enum options of synced fields", _field_options),
    (15, "attachment copies: the hash of the bytes sent to Jira", _copy_sent_sha256),
    (16, "PostgreSQL: snapshot changes notified to listening nodes", _snapshot_notices),
    (17, "turns of periodic jobs; what the bridge knows of each webhook", _turns_and_webhooks),
    (18, "snapshot generations never repeat across a row's lives", _snapshot_generations_unique),
    (19, "Jira credentials: each authorization's own id", _credential_grants),
)

LATEST = MIGRATIONS[-1][0]
_PG_LOCK_ID = 0x41534A42  # "ASJB"


def current_version(db: pw.Database) -> int:
    """The applied schema version, 0 for an empty database."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    return SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar() or 0


def migrate(db: pw.Database) -> list[int]:
    """Apply pending migrations; return the versions applied (empty if up to date)."""
    applied: list[int] = []
    db.create_tables([SchemaVersion], safe=True)
    for version, description, step in MIGRATIONS:
        with _locked_transaction(db):
            if current_version(db) >= version:
                continue
            step(db)
            SchemaVersion.create(version=version, description=description)
            applied.append(version)
    return applied


@contextlib.contextmanager
def _locked_transaction(db: pw.Database):
    """A transaction only one node at a time can be in (see the module docstring)."""
    if isinstance(db, pw.SqliteDatabase):
        with db.atomic(lock_type="IMMEDIATE"):
            yield
        return
    with db.atomic():
        if isinstance(db, pw.PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_ID,))
        yield
