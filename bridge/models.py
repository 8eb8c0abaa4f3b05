"""The bridge's data model (ARCHITECTURE §5), as peewee models.

Everything a second bridge node needs lives here: OAuth state started on one node
completes on another because ``PendingAuth`` is a table, not process memory.

Secrets are ``SealedField`` columns: they hold ``sealing`` envelopes in the database and
plain strings in Python. Timestamps are naive UTC.
"""

from __future__ import annotations

import json
import secrets
import time

import peewee as pw

from . import sealing
from .db import database
from .timeutil import utcnow


class SealedField(pw.TextField):
    """A text column sealed with AES-GCM at rest, bound to its table and column."""

    def _context(self) -> str:
        return f"{self.model._meta.table_name}.{self.column_name}"

    def db_value(self, value):
        if value is None:
            return None
        return sealing.current().seal(str(value), self._context())

    def python_value(self, value):
        if value is None:
            return None
        return sealing.current().open(value, self._context())


class JSONField(pw.TextField):
    """JSON stored as text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = pw.IntegerField(primary_key=True)
    description = pw.CharField()
    applied_at = pw.DateTimeField(default=utcnow)


class AsanaWorkspace(BaseModel):
    gid = pw.CharField(unique=True, max_length=64)
    name = pw.CharField(default="")
    created_at = pw.DateTimeField(default=utcnow)


class JiraInstance(BaseModel):
    """One Jira Server / DC, reachable at ``base_url``, connected to a workspace.

    ``auth_mode`` is ``oauth1`` (application link, RSA-SHA1) or ``oauth2`` (incoming link).
    """

    workspace = pw.ForeignKeyField(AsanaWorkspace, backref="instances", on_delete="CASCADE")
    base_url = pw.CharField(max_length=512)
    name = pw.CharField(default="")
    auth_mode = pw.CharField(max_length=16)
    consumer_key = pw.CharField(null=True, max_length=255)
    private_key = SealedField(null=True)
    public_key = pw.TextField(null=True)
    client_id = pw.CharField(null=True, max_length=255)
    client_secret = SealedField(null=True)
    webhook_secret = SealedField(null=True)
    # Jira DC 10+ signs deliveries with this key (X-Hub-Signature, services.webhooks);
    # once Jira is known to have it, unsigned deliveries are refused.
    webhook_signing_key = SealedField(null=True)
    webhook_signed = pw.BooleanField(default=False)
    version = pw.CharField(null=True, max_length=32)
    version_checked_at = pw.DateTimeField(null=True)
    verified_at = pw.DateTimeField(null=True)  # a signed / authorized call succeeded
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("workspace", "base_url"), True),)


class AsanaUser(BaseModel):
    gid = pw.CharField(unique=True, max_length=64)
    email = pw.CharField(default="", max_length=320)
    name = pw.CharField(default="")
    access_token = SealedField(null=True)
    refresh_token = SealedField(null=True)
    token_expires_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class BridgeAdmin(BaseModel):
    """An Asana user granted administration of the bridge by another admin (§8)."""

    email = pw.CharField(unique=True, max_length=320)
    granted_by = pw.CharField(default="", max_length=320)
    created_at = pw.DateTimeField(default=utcnow)


class AdminSession(BaseModel):
    """A signed-in admin, on the server side: the cookie carries only a random id, whose
    SHA-256 is the key here. Signing out or losing admin rights deletes the row, so a
    copied cookie stops working at once; ``created_at`` caps the session's lifetime."""

    id_hash = pw.CharField(unique=True, max_length=64)
    email = pw.CharField(max_length=320, index=True)
    created_at = pw.DateTimeField(default=utcnow)
    last_seen_at = pw.DateTimeField(default=utcnow)


class SetupToken(BaseModel):
    """The one-time token that lets the first admin in (ARCHITECTURE §8), stored hashed."""

    token_hash = pw.CharField(unique=True, max_length=64)
    created_at = pw.DateTimeField(default=utcnow)
    used_at = pw.DateTimeField(null=True)
    used_by = pw.CharField(default="", max_length=320)


class JiraCredential(BaseModel):
    """One Asana user's authorization on one Jira instance.

    OAuth 1.0a: ``token`` / ``token_secret`` (5-year access token). OAuth 2.0:
    ``access_token`` / ``refresh_token`` / ``expires_at`` (rotating pair).
    ``state`` is ``active`` or ``needs_reconnect``.
    """

    asana_user = pw.ForeignKeyField(AsanaUser, backref="jira_credentials", on_delete="CASCADE")
    instance = pw.ForeignKeyField(JiraInstance, backref="credentials", on_delete="CASCADE")
    auth_mode = pw.CharField(max_length=16)
    token = SealedField(null=True)
    token_secret = SealedField(null=True)
    access_token = SealedField(null=True)
    refresh_token = SealedField(null=True)
    expires_at = pw.DateTimeField(null=True)
    refresh_lease_until = pw.DateTimeField(null=True)  # one worker refreshes at a time
    jira_username = pw.CharField(default="", max_length=255)
    state = pw.CharField(default="active", max_length=32)
    updated_at = pw.DateTimeField(default=utcnow)
    # New on every authorization (services.credentials), kept through token refreshes:
    # what the user's create metadata is remembered under (services.create_issue).
    grant_id = pw.CharField(max_length=32, null=True, default=lambda: secrets.token_hex(8))

    class Meta:
        indexes = ((("asana_user", "instance"), True),)


class IssueLink(BaseModel):
    task_gid = pw.CharField(max_length=64, index=True)
    attachment_gid = pw.CharField(null=True, max_length=64)
    instance = pw.ForeignKeyField(JiraInstance, backref="links", on_delete="CASCADE")
    issue_id = pw.CharField(max_length=64)
    issue_key = pw.CharField(max_length=255)
    linked_by = pw.ForeignKeyField(AsanaUser, null=True, backref="links", on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("task_gid", "instance", "issue_id"), True),)


class LinkSlot(BaseModel):
    """One of a task's ``BRIDGE_MAX_ISSUES_PER_TASK`` places for a link (``services.links``).

    The unique (task, slot) index is the limit: two workers or nodes cannot both hold slot
    0 of a task, on SQLite or PostgreSQL. ``link`` is empty while the issue is being made
    in Jira (claimed, then bound); deleting the link frees the slot with it."""

    task_gid = pw.CharField(max_length=64)
    slot = pw.IntegerField()
    link = pw.ForeignKeyField(IssueLink, null=True, backref="slots", on_delete="CASCADE")
    token = pw.CharField(max_length=64)
    claimed_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("task_gid", "slot"), True),)


class RuleAction(BaseModel):
    action_gid = pw.CharField(unique=True, max_length=64)
    workspace = pw.ForeignKeyField(AsanaWorkspace, backref="rule_actions", on_delete="CASCADE")
    project_gid = pw.CharField(default="", max_length=64)
    config = JSONField(default=dict)
    creator = pw.ForeignKeyField(AsanaUser, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)


class ActionRun(BaseModel):
    """Result of a rule run, keyed by Asana's ``idempotency_key`` (Asana retries)."""

    idempotency_key = pw.CharField(unique=True, max_length=255)
    action = pw.ForeignKeyField(RuleAction, null=True, on_delete="SET NULL")
    status = pw.CharField(default="running", max_length=32)
    result = JSONField(null=True)
    created_at = pw.DateTimeField(default=utcnow)


class PendingAuth(BaseModel):
    """An OAuth dance in progress. ``state`` is stored hashed: a database leak does not
    let anyone complete someone else's flow."""

    state_hash = pw.CharField(unique=True, max_length=64)
    browser_hash = pw.CharField(max_length=64)  # the session that started the flow
    kind = pw.CharField(max_length=32)
    asana_user = pw.ForeignKeyField(AsanaUser, null=True, on_delete="CASCADE")
    instance = pw.ForeignKeyField(JiraInstance, null=True, on_delete="CASCADE")
    request_token = pw.CharField(null=True, max_length=255, index=True)
    secret = SealedField(null=True)  # OAuth 1.0a request-token secret, or a client secret
    pkce_verifier = SealedField(null=True)
    return_url = pw.TextField(null=True)
    payload = JSONField(default=dict)
    expires_at = pw.DateTimeField(index=True)
    created_at = pw.DateTimeField(default=utcnow)


class UsedOAuthState(BaseModel):
    """The nonce of an anonymous sign-in's signed ``state``, recorded when the state is
    used (``services.pending``): single use with no row per start, so a flood of starts
    grows nothing. Deleted once the state would have expired anyway."""

    nonce_hash = pw.CharField(unique=True, max_length=64)
    expires_at = pw.DateTimeField(index=True)


class RateCount(BaseModel):
    """Requests counted per key and fixed window, in the database so that every worker
    and every node shares one count (a per-process count multiplies the limit by the
    number of processes). Old windows are purged by ``services.maintenance``."""

    key = pw.CharField(max_length=255)
    window = pw.BigIntegerField()  # start of the window, in seconds since the epoch
    hits = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("key", "window"), True),)


class IssueSnapshot(BaseModel):
    """Cached widget data of a linked issue (``services.widget``), one row per issue key a
    widget asks for. ``generation`` grows with every write and every invalidation, so a
    node can tell cheaply whether what it holds in memory is still current; ``stale``
    says a webhook reported a change since ``fetched_at``.

    A new row's generation is the time in microseconds (``services.widget._store`` takes
    the database's clock), never 1: a row deleted and made again (its instance removed
    and added back, which on SQLite can give the same ids) must not repeat a generation
    of its earlier life, which a node may still remember. Each bump adds 1 and takes far
    longer than a microsecond, so an earlier life never reaches where a later one
    starts."""

    instance = pw.ForeignKeyField(JiraInstance, on_delete="CASCADE")
    issue_key = pw.CharField(max_length=255)
    issue_id = pw.CharField(max_length=64, default="")
    data = JSONField()
    fetched_at = pw.DateTimeField(default=utcnow)
    generation = pw.BigIntegerField(default=lambda: time.time_ns() // 1000)
    stale = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("instance", "issue_key"), True), (("instance", "issue_id"), False))


class AttachmentCopy(BaseModel):
    """One Asana file to copy onto a linked Jira issue: the durable record of that work.

    The row, not the queue message, is the truth (see ``bridge.queue``): ``state`` moves
    ``pending`` → ``copying`` (intent recorded before any byte is sent, with a lease held
    by one worker) → ``done`` / ``skipped`` / ``failed``; ``error`` is the sentence the
    widget shows for the last two. ``sent_at``: when an attempt had sent Jira the whole
    file and was waiting for its answer (Jira may still store it after that worker died);
    ``sent_sha256``: the hash of the bytes it sent, by which a retry knows that upload.
    """

    link = pw.ForeignKeyField(IssueLink, backref="copies", on_delete="CASCADE")
    asana_gid = pw.CharField(max_length=64)
    name = pw.CharField(max_length=512)
    size = pw.BigIntegerField(null=True)
    position = pw.IntegerField(default=0)
    state = pw.CharField(default="pending", max_length=16, index=True)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow, index=True)
    enqueued_at = pw.DateTimeField(null=True)
    lease_owner = pw.CharField(null=True, max_length=128)
    lease_until = pw.DateTimeField(null=True)
    jira_attachment_id = pw.CharField(null=True, max_length=64)
    error = pw.TextField(null=True)
    sent_at = pw.DateTimeField(null=True)
    sent_sha256 = pw.CharField(null=True, max_length=64)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("link", "asana_gid"), True),)


class WorkerBeat(BaseModel):
    """A queue worker's heartbeat: readiness (``/readyz``) and lease recovery."""

    worker_id = pw.CharField(unique=True, max_length=128)
    host = pw.CharField(default="", max_length=255)
    pid = pw.IntegerField(default=0)
    threads = pw.IntegerField(default=0)
    started_at = pw.DateTimeField(default=utcnow)
    beat_at = pw.DateTimeField(default=utcnow, index=True)


class RemoteLink(BaseModel):
    """The remote link on a Jira issue back to an Asana task (``services.remote_links``).

    The row, not the queue message, is the work (see ``bridge.queue``): ``wanted`` says
    whether the link should exist in Jira, ``state`` how far that is (``pending`` →
    ``made`` / ``refused`` / ``failed``), ``generation`` is bumped by every change of
    ``wanted`` so an attempt that finishes after an unlink cannot record a stale outcome.
    ``link`` empties when the issue link is removed; the row then lives until the remote
    link is gone from Jira."""

    instance = pw.ForeignKeyField(JiraInstance, backref="remote_links", on_delete="CASCADE")
    issue_id = pw.CharField(max_length=64)
    issue_key = pw.CharField(max_length=255)
    task_gid = pw.CharField(max_length=64)
    link = pw.ForeignKeyField(IssueLink, null=True, backref="remote_links",
                              on_delete="SET NULL")
    user = pw.ForeignKeyField(AsanaUser, null=True, backref="remote_links", on_delete="SET NULL")
    wanted = pw.BooleanField(default=True)
    state = pw.CharField(default="pending", max_length=16, index=True)
    generation = pw.IntegerField(default=1)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow)
    enqueued_at = pw.DateTimeField(null=True)
    jira_link_id = pw.CharField(null=True, max_length=64)
    error = pw.TextField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("instance", "issue_id", "task_gid"), True),)


class NodeBeat(BaseModel):
    """The last time a web node proved it can write (``/readyz`` upserts its row)."""

    node = pw.CharField(unique=True, max_length=255)
    beat_at = pw.DateTimeField(default=utcnow)


class FieldSync(BaseModel):
    """One Asana project whose tasks get their linked Jira issue's state in custom fields
    (``services.sync``), turned on by a project admin whose Asana token makes the writes.

    ``fields`` maps what is written (``status``, ``priority``, ``assignee``, ``done``) to
    ``{"gid", "name", "options": {lower-case name: option gid}}``; ``state`` is
    ``active`` or ``stopped`` (``notice`` says why, on the settings form);
    ``paused_until`` holds every write with the admin's token after Asana's 429."""

    workspace_gid = pw.CharField(max_length=64)
    project_gid = pw.CharField(max_length=64, unique=True)
    project_name = pw.CharField(default="", max_length=512)
    enabled_by = pw.ForeignKeyField(AsanaUser, null=True, backref="field_syncs",
                                    on_delete="SET NULL")
    fields = JSONField(default=dict)
    complete_on_done = pw.BooleanField(default=False)
    state = pw.CharField(default="active", max_length=16)
    notice = pw.TextField(null=True)
    paused_until = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class FieldOption(BaseModel):
    """An enum option the bridge makes in an Asana field (``services.sync``). The row is
    claimed before Asana is asked, so of all workers and nodes needing the same new value
    at once only the one holding the unique (field, name) row makes it; the others wait
    for ``option_gid``. ``name`` is lower-case (values match options case-insensitively)."""

    field_gid = pw.CharField(max_length=64)
    name = pw.CharField(max_length=512)
    option_gid = pw.CharField(null=True, max_length=64)
    claimed_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("field_gid", "name"), True),)


class TaskFields(BaseModel):
    """What the bridge last wrote into one task's fields (so an unchanged issue costs no
    write), and what it still has to write (``wanted``, after a 429 or an outage)."""

    sync = pw.ForeignKeyField(FieldSync, backref="tasks", on_delete="CASCADE")
    task_gid = pw.CharField(max_length=64)
    written = JSONField(default=dict)
    wanted = JSONField(null=True)
    state = pw.CharField(default="ok", max_length=16, index=True)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("sync", "task_gid"), True),)


class TaskProjects(BaseModel):
    """Which projects a linked task is in, as Asana said at ``read_at`` (read once, not
    on every change; the periodic refresh reads it again)."""

    task_gid = pw.CharField(max_length=64, unique=True)
    projects = JSONField(default=list)
    read_at = pw.DateTimeField(default=utcnow)


class PeriodicTurn(BaseModel):
    """Whose turn it is to run a periodic job, shared by every worker of every node
    (``services.turns``): a worker runs the job only after claiming the row with a
    conditional UPDATE (or the INSERT under the unique ``name``), so of N nodes whose
    schedulers fire at once one runs it. ``held_until`` expires, so a dead worker's turn
    is taken over; ``due_at`` is when the next run may start."""

    name = pw.CharField(unique=True, max_length=128)
    holder = pw.CharField(null=True, max_length=128)
    held_until = pw.DateTimeField(null=True)
    due_at = pw.DateTimeField(default=utcnow)
    ran_at = pw.DateTimeField(null=True)


class JiraWebhook(BaseModel):
    """What the bridge knows of the webhook it registered in an instance's Jira
    (``services.webhooks``, ``services.webhook_filter``): Jira's ``self`` URL of it, the
    JQL filter Jira holds, the authorization it was registered with (``registered_by``:
    the admin whose kept OAuth 1.0a authorization may update it; ``None`` when it was a
    password or a one-time consent, neither kept), whether the filter is behind the linked
    projects and why it could not follow, and when Jira last delivered to the bridge."""

    instance = pw.ForeignKeyField(JiraInstance, unique=True, on_delete="CASCADE")
    self_url = pw.CharField(null=True, max_length=1024)
    jql = pw.TextField(null=True)
    via = pw.CharField(default="", max_length=16)  # password, consent, oauth1
    registered_by = pw.ForeignKeyField(AsanaUser, null=True, on_delete="SET NULL")
    registered_at = pw.DateTimeField(null=True)
    behind_since = pw.DateTimeField(null=True)  # a linked project the filter leaves out
    updating_until = pw.DateTimeField(null=True)  # one worker updates the filter at a time
    problem = pw.TextField(null=True)  # why the filter could not follow (the admin's page)
    delivered_at = pw.DateTimeField(null=True)  # the last delivery (to the minute)


class AuditEvent(BaseModel):
    """Who did what, when, and how it ended. Never issue content, never secrets."""

    at = pw.DateTimeField(default=utcnow, index=True)
    actor = pw.CharField(default="", max_length=320)
    action = pw.CharField(max_length=64)
    target = pw.CharField(default="", max_length=512)
    outcome = pw.CharField(default="ok", max_length=32)
    detail = JSONField(default=dict)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    AsanaWorkspace,
    JiraInstance,
    AsanaUser,
    BridgeAdmin,
    AdminSession,
    SetupToken,
    JiraCredential,
    IssueLink,
    LinkSlot,
    RuleAction,
    ActionRun,
    PendingAuth,
    UsedOAuthState,
    RateCount,
    IssueSnapshot,
    AuditEvent,
    AttachmentCopy,
    WorkerBeat,
    RemoteLink,
    NodeBeat,
    FieldSync,
    TaskFields,
    TaskProjects,
    FieldOption,
    PeriodicTurn,
    JiraWebhook,
)


def sealed_columns() -> list[tuple[type[BaseModel], SealedField]]:
    """Every sealed column of every model, for ``rotate-key``."""
    return [
        (model, f)
        for model in ALL_MODELS
        for f in model._meta.sorted_fields
        if isinstance(f, SealedField)
    ]


def audit(action: str, *, actor: str = "", target: str = "", outcome: str = "ok",
          **detail) -> AuditEvent:
    return AuditEvent.create(action=action, actor=actor, target=target, outcome=outcome,
                             detail=detail)
