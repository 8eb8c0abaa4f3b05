"""Jira's state in Asana custom fields (issue 17 §6): status, priority, assignee and
"done / not done" of a linked issue, written into enum fields of an Asana project.

Who and where. A project admin in Asana (``access_level`` ``admin`` on the project's
membership, REST OAS ``GET /memberships``) turns it on per project on the bridge's
``/fields`` page, choosing for each value an existing enum field of the project or a new
one the bridge creates and adds to the project. Every write uses that admin's Asana token;
when it is gone (revoked, expired beyond refresh) the sync stops, an audit event says so,
and the settings form shows a notice until an admin turns it on again.

When. The widget's re-read after a Jira webhook (``services.widget.refresh``, on the
queue) hands its fresh snapshot here: one Jira read feeds both. Without webhooks the
periodic refresh (``services.sync_refresh``) re-reads linked issues of synced projects.

How much. Values are matched to enum options by name (case-insensitive); a value with no
option known to the bridge is looked up in the field first (someone may have added it by
hand), then gets one (``POST /custom_fields/{gid}/enum_options``, once per new value). An
option trashed in Asana later (disabled: options are never deleted) makes a write with its
gid a bad request; the sync then forgets that gid and finds or makes the option again,
once. What was last written is kept per task (``TaskFields``), so an unchanged issue
costs no write, and a change costs one ``PUT /tasks/{gid}`` carrying every changed field
(and ``completed`` when the status category becomes done and the admin asked for it).

Asana's limits (asana-app-components.md §8: per token, 1,500 requests a minute on paid
plans; 429 with ``Retry-After``). A 429 pauses every write with that token until
``Retry-After`` has passed (``FieldSync.paused_until``, shared by all workers); the task's
wanted values stay in its row, and the queue brings them back then. Nothing is lost:
the row is the work, the message only a nudge (``bridge.queue``).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from collections.abc import Callable

import peewee as pw

from .. import queue
from ..asana.client import AsanaFieldsClient
from ..asana.errors import (
    AsanaAuthDenied,
    AsanaError,
    AsanaNeedsReconnect,
    AsanaNotFound,
    AsanaRateLimited,
    AsanaUnavailable,
)
from ..db import database
from ..errors import BridgeError
from ..models import (
    AsanaUser,
    AsanaWorkspace,
    FieldOption,
    FieldSync,
    IssueLink,
    IssueSnapshot,
    JiraInstance,
    TaskFields,
    TaskProjects,
    audit,
)
from ..timeutil import utcnow
from . import instances
from .context import Context

log = logging.getLogger("bridge.sync")

WHAT = ("status", "priority", "assignee", "done")
LABELS = {"status": "Status", "priority": "Priority", "assignee": "Assignee",
          "done": "Done / not done (status category)"}
DEFAULT_NAMES = {"status": "Jira status", "priority": "Jira priority",
                 "assignee": "Jira assignee", "done": "Jira done"}
# Asana wants at least one option on a new enum field (REST OAS EnumOption).
FIRST_OPTIONS = {"status": ["To Do", "In Progress", "Done"],
                 "priority": ["Highest", "High", "Medium", "Low", "Lowest"],
                 "assignee": ["Unassigned"], "done": ["Done", "Not done"]}
DONE, NOT_DONE, UNASSIGNED = "Done", "Not done", "Unassigned"
DONE_COLOR = "green"  # the widget's pill colour of Jira's "done" status category

WRITE_TASK = "sync.write"
APPLY_TASK = "sync.apply"
MAX_ATTEMPTS = 8
WRITING = "writing"  # claimed by one worker (see ``write``)
WRITING_LEASE = dt.timedelta(minutes=2)  # a claim older than this: its worker died
PROJECTS_MAX_AGE = dt.timedelta(hours=1)
OPTION_WAIT = 5.0  # seconds a worker waits for another to make an option it needs too
OPTION_POLL = 0.05
OPTION_LEASE = dt.timedelta(minutes=2)  # a claim this old without an option: worker died


class SyncRefused(BridgeError):
    status = 400
    code = "field_sync_refused"


class NotProjectAdmin(SyncRefused):
    status = 403
    code = "not_project_admin"
    public_message = ("Only an admin of this Asana project can change which Jira values "
                      "its fields show.")


class NoJiraHere(SyncRefused):
    code = "no_jira_connected"
    public_message = "No Jira is connected to this project's Asana workspace."


# -- the values -------------------------------------------------------------------------------

def values_of(snap: dict) -> dict:
    """What the fields should say for a widget snapshot (``services.widget.summarize``)."""
    if snap.get("missing") or snap.get("placeholder"):
        return {}
    return {"status": snap.get("status") or None,
            "priority": snap.get("priority") or None,
            "assignee": snap.get("assignee") or UNASSIGNED,
            "done": DONE if snap.get("status_color") == DONE_COLOR else NOT_DONE}


def _fields_client(ctx: Context, user: AsanaUser | None = None) -> AsanaFieldsClient:
    return ctx.asana(user, cls=AsanaFieldsClient)


# -- turning it on and off (the settings page) -------------------------------------------------

def project_admin_check(client: AsanaFieldsClient, project_gid: str, user_gid: str) -> None:
    if client.access_level(project_gid, user_gid) != "admin":
        raise NotProjectAdmin()


def enable(ctx: Context, project_gid: str, choices: dict[str, str],
           *, complete_on_done: bool = False) -> FieldSync:
    """Turn the sync on (or change it) for a project. ``choices`` maps each of ``WHAT``
    to ``"new"`` (create "Jira status" etc.), the gid of an enum field already on the
    project, or ``""`` (not written). Refusals change nothing."""
    user = ctx.asana_user()
    client = _fields_client(ctx, user)
    project_admin_check(client, project_gid, user.gid)
    project = client.project(project_gid)
    workspace = str((project.get("workspace") or {}).get("gid") or "")
    if not instances.for_workspace(workspace):
        raise NoJiraHere()
    chosen = {what: (choices.get(what) or "").strip() for what in WHAT}
    if not any(chosen.values()):
        raise SyncRefused("Choose at least one Jira value to show in a field.")
    on_project = {f["gid"]: f for f in client.project_fields(project_gid)}
    for what, choice in chosen.items():
        if choice and choice != "new":
            field = on_project.get(choice)
            if field is None or field.get("resource_subtype") != "enum":
                raise SyncRefused(f"The field chosen for {LABELS[what]} is not a "
                                  "single-select (enum) field of this project.")
    fields = {}
    for what, choice in chosen.items():
        if not choice:
            continue
        if choice == "new":
            try:
                field = client.create_enum_field(workspace, DEFAULT_NAMES[what],
                                                 FIRST_OPTIONS[what])
            except AsanaError as exc:
                if exc.http_status == 400:
                    raise SyncRefused(f"Asana refused a new field named "
                                      f"“{DEFAULT_NAMES[what]}” (one may exist already in "
                                      "the workspace): choose it from the list instead.") \
                        from None
                raise
            client.add_field_to_project(project_gid, field["gid"])
        else:
            field = on_project[choice]
        fields[what] = {"gid": field["gid"], "name": field.get("name") or "",
                        "options": _options(field)}
    now = utcnow()
    values = {"workspace_gid": workspace, "project_name": project.get("name") or "",
              "enabled_by": user, "fields": fields, "complete_on_done": bool(complete_on_done),
              "state": "active", "notice": None, "paused_until": None, "updated_at": now}
    with database.atomic():
        row = FieldSync.get_or_none(FieldSync.project_gid == project_gid)
        if row is None:
            row = FieldSync.create(project_gid=project_gid, created_at=now, **values)
        else:
            FieldSync.update(**values).where(FieldSync.id == row.id).execute()
            row = FieldSync.get_by_id(row.id)
            TaskFields.delete().where(TaskFields.sync == row).execute()  # fields may differ
    audit("field_sync.enabled", actor=user.gid, target=project_gid,
          fields=sorted(fields), complete_on_done=bool(complete_on_done))
    return row


def disable(ctx: Context, project_gid: str) -> bool:
    user = ctx.asana_user()
    client = _fields_client(ctx, user)
    project_admin_check(client, project_gid, user.gid)
    removed = FieldSync.delete().where(FieldSync.project_gid == project_gid).execute()
    if removed:
        audit("field_sync.disabled", actor=user.gid, target=project_gid)
    return bool(removed)


def _options(field: dict) -> dict[str, str]:
    return {str(o.get("name") or "").lower(): str(o["gid"])
            for o in field.get("enum_options") or [] if o.get("enabled", True)}


def stop(sync: FieldSync, reason: str, notice: str) -> None:
    """Stop writing for a project (its admin's token is gone): an audit event and a
    notice on the settings form."""
    changed = (FieldSync.update(state="stopped", notice=notice, updated_at=utcnow())
               .where((FieldSync.id == sync.id) & (FieldSync.state == "active")).execute())
    if changed:
        audit("field_sync.stopped", actor=sync.enabled_by_id and sync.enabled_by.gid or "",
              target=sync.project_gid, outcome=reason)


# -- after a re-read ---------------------------------------------------------------------------

def active_syncs(instance: JiraInstance) -> list[FieldSync]:
    return list(FieldSync.select().join(AsanaWorkspace, on=(
        FieldSync.workspace_gid == AsanaWorkspace.gid))
        .where((AsanaWorkspace.id == instance.workspace_id) & (FieldSync.state == "active")))


def on_snapshot(ctx: Context, instance: JiraInstance, key: str, snap: dict,
                generation: int | None = None, *, depth: int = 0) -> list[str]:
    """Bring the fields of every synced task linked to the issue up to date with ``snap``
    (fresh from Jira, stored as the widget snapshot's ``generation``). Returns each task's
    outcome (``written``, ``unchanged``, ``superseded``, ...).

    Two workers may hold reads of one issue a moment apart, and the older may reach
    Asana last. So a read whose snapshot has been superseded (its generation moved on: a
    newer read was stored, or a webhook said it changed again) writes nothing, and when
    it moved on during a write, the newest stored snapshot is applied after it: the fields
    end with the latest read, never an older one."""
    syncs = active_syncs(instance)
    if not syncs or not values_of(snap):
        return []
    outcomes = []
    tasks = [gid for (gid,) in IssueLink.select(IssueLink.task_gid).where(
        (IssueLink.instance == instance.id) & (IssueLink.issue_key == key.upper())).tuples()]
    for task_gid in dict.fromkeys(tasks):
        for sync in syncs:
            try:
                if sync.project_gid not in projects_of(ctx, task_gid, sync):
                    continue
            except AsanaError as exc:
                outcome = _on_asana_error(sync, None, exc)
                if outcome == "deferred":  # asked again once Asana takes requests again
                    wait = (FieldSync.get_by_id(sync.id).paused_until - utcnow()).total_seconds()
                    queue.enqueue(APPLY_TASK, instance.id, key, delay=max(0.5, wait))
                outcomes.append(outcome)
                continue
            if generation is not None and _generation(instance, key) != generation:
                outcomes.append("superseded")
                continue
            outcomes.append(apply(ctx, sync, task_gid, values_of(snap)))
    if (generation is not None and "written" in outcomes and depth < 3
            and _generation(instance, key) != generation):
        latest = IssueSnapshot.get_or_none(instance=instance.id, issue_key=key.upper())
        if latest is not None and not latest.stale:  # (stale: its re-read applies it)
            outcomes += on_snapshot(ctx, instance, key, latest.data, latest.generation,
                                    depth=depth + 1)
    return outcomes


def apply_latest(ctx: Context, instance_id: int, key: str) -> list[str]:
    """Queue handler: apply the issue's latest stored snapshot (after a 429 kept the bridge
    from learning which projects a task is in)."""
    instance = JiraInstance.get_or_none(JiraInstance.id == instance_id)
    latest = IssueSnapshot.get_or_none(instance=instance_id, issue_key=key.upper())
    if instance is None or latest is None or latest.stale:
        return []  # gone, or a re-read is on its way (and applies itself)
    return on_snapshot(ctx, instance, key, latest.data, latest.generation)


def _generation(instance: JiraInstance, key: str) -> int | None:
    return (IssueSnapshot.select(IssueSnapshot.generation)
            .where((IssueSnapshot.instance == instance.id)
                   & (IssueSnapshot.issue_key == key.upper())).scalar())


def projects_of(ctx: Context, task_gid: str, sync: FieldSync, *,
                fresh: bool = False) -> list[str]:
    """The task's projects, read once with the admin's token and kept an hour."""
    row = TaskProjects.get_or_none(TaskProjects.task_gid == task_gid)
    if row is not None and not fresh and row.read_at > utcnow() - PROJECTS_MAX_AGE:
        return list(row.projects)
    if sync.enabled_by is None:
        raise AsanaNeedsReconnect()
    task = _fields_client(ctx, sync.enabled_by).task(task_gid, fields="projects")
    projects = [str(p.get("gid")) for p in task.get("projects") or [] if p.get("gid")]
    (TaskProjects.insert(task_gid=task_gid, projects=projects, read_at=utcnow())
     .on_conflict(conflict_target=[TaskProjects.task_gid],
                  update={TaskProjects.projects: projects, TaskProjects.read_at: utcnow()})
     .execute())
    return projects


def apply(ctx: Context, sync: FieldSync, task_gid: str, values: dict) -> str:
    """Record what the task's fields should say and write it if it differs from what was
    last written. While another worker is writing the task, only the wish is recorded:
    that writer sees it changed and writes again."""
    wanted = {what: values[what] for what in sync.fields if what in values}
    row = _row(sync, task_gid)
    if row.state == "ok" and row.written == wanted:
        return "unchanged"
    now = utcnow()
    if (TaskFields.update(wanted=wanted, updated_at=now)
            .where((TaskFields.id == row.id) & (TaskFields.state == WRITING)).execute()):
        return "queued"
    (TaskFields.update(wanted=wanted, state="pending", updated_at=now)
     .where((TaskFields.id == row.id) & (TaskFields.state != WRITING)).execute())
    return write(ctx, row.id)


def _row(sync: FieldSync, task_gid: str) -> TaskFields:
    row = TaskFields.get_or_none((TaskFields.sync == sync) & (TaskFields.task_gid == task_gid))
    if row is not None:
        return row
    try:
        with database.atomic():
            return TaskFields.create(sync=sync, task_gid=task_gid, written={}, state="ok")
    except pw.IntegrityError:
        return TaskFields.get((TaskFields.sync == sync) & (TaskFields.task_gid == task_gid))


def write(ctx: Context, row_id: int) -> str:
    """One ``PUT /tasks/{gid}`` with every field whose wanted value differs from the
    written one, by one worker at a time (the row is claimed: ``pending`` → ``writing``).
    Returns ``written``, ``unchanged``, ``deferred``, ``stopped``, ``failed``, ``busy``
    (another worker is writing it) or ``gone``."""
    for _ in range(3):  # again when a newer wish arrived during the write
        outcome = _write_once(ctx, row_id)
        if outcome != "again":
            return outcome
    TaskFields.update(state="pending").where((TaskFields.id == row_id)
                                             & (TaskFields.state == WRITING)).execute()
    queue.enqueue(WRITE_TASK, row_id)
    return "deferred"


def _write_once(ctx: Context, row_id: int) -> str:
    row = TaskFields.get_or_none(TaskFields.id == row_id)
    if row is None or row.wanted is None or row.state not in ("pending", WRITING):
        return "gone"
    if row.state == WRITING:
        return "busy"
    sync = FieldSync.get_by_id(row.sync_id)
    if sync.state != "active":
        return "stopped"
    now = utcnow()
    if sync.paused_until and sync.paused_until > now:
        return _defer(row, (sync.paused_until - now).total_seconds())
    claimed = (TaskFields.update(state=WRITING, updated_at=now)
               .where((TaskFields.id == row.id) & (TaskFields.state == "pending")).execute())
    if not claimed:
        return "busy"
    row = TaskFields.get_by_id(row.id)  # the wish as claimed
    wanted = dict(row.wanted)
    changed = {what: value for what, value in wanted.items()
               if row.written.get(what, object()) != value}
    if not changed:
        return _done(row, wanted, "unchanged")
    if sync.enabled_by is None:
        _release(row)
        stop(sync, "no_user", "The person who turned this on is no longer known to the "
                              "bridge: an admin of the project must turn it on again.")
        return "stopped"
    try:
        client = _fields_client(ctx, sync.enabled_by)
        data = _task_data(client, sync, changed)
        try:
            client.update_task(row.task_gid, data)
        except AsanaError as exc:
            if exc.http_status != 400 or not _forget_trashed_options(client, sync, data):
                raise
            # An option was trashed in Asana since the bridge learnt its gid: found or
            # made again (once: a second refusal fails the write like any other).
            client.update_task(row.task_gid, _task_data(client, sync, changed))
    except AsanaError as exc:
        _release(row)
        return _on_asana_error(sync, row, exc)
    except Exception:
        _release(row)
        raise
    return _done(row, wanted, "written")


def _task_data(client: AsanaFieldsClient, sync: FieldSync, changed: dict) -> dict:
    """The ``PUT /tasks/{gid}`` body for the changed values."""
    data: dict = {"custom_fields": {}}
    for what, value in changed.items():
        field = sync.fields[what]
        data["custom_fields"][field["gid"]] = (
            None if value is None else _option(client, sync, what, value))
    if (sync.complete_on_done and changed.get("done") == DONE):
        data["completed"] = True
    return data


def _forget_trashed_options(client: AsanaFieldsClient, sync: FieldSync, data: dict) -> bool:
    """After Asana refused a write (400): whether one of its option gids is no longer a
    choice of its field. Options are never deleted in Asana, only disabled ("trashed" in
    the web app, REST OAS ``EnumOption``), and choosing a disabled one is a bad request.
    Each such gid leaves the claim (``FieldOption``) and the stored option map, here and
    in ``sync.fields``, so that ``_option`` finds or makes the option again."""
    trashed = False
    for what, field in sync.fields.items():
        gid = data["custom_fields"].get(field["gid"])
        if gid is None:
            continue
        try:
            if gid in _options(client.field(field["gid"])).values():
                continue
        except AsanaNotFound:  # the field itself is gone: the refusal stands as it is
            continue
        trashed = True
        log.info("sync.option_trashed field=%s option=%s", field["gid"], gid)
        FieldOption.delete().where((FieldOption.field_gid == field["gid"])
                                   & (FieldOption.option_gid == gid)).execute()
        for key in [k for k, v in field["options"].items() if v == gid]:
            del field["options"][key]
            _forget_option(sync.id, what, field["gid"], key, gid)
    return trashed


def _release(row: TaskFields) -> None:
    """Back to ``pending`` (the caller decides when it is tried again)."""
    (TaskFields.update(state="pending")
     .where((TaskFields.id == row.id) & (TaskFields.state == WRITING)).execute())


def _option(client: AsanaFieldsClient, sync: FieldSync, what: str, name: str) -> str:
    """The gid of the field's option called ``name``, made when missing (once across
    workers and nodes: ``_made_option``) and added to the stored option map."""
    field = sync.fields[what]
    gid = field["options"].get(name.lower())
    if gid:
        return gid
    gid = _made_option(client, field["gid"], name)
    field["options"][name.lower()] = gid
    _remember_option(sync.id, what, field["gid"], name.lower(), gid)
    return gid


def _made_option(client: AsanaFieldsClient, field_gid: str, name: str) -> str:
    """The option ``name`` of the field, found or made by whichever worker takes the
    claim row (``FieldOption``, unique per field and name) first: it looks in the field's
    options in Asana first (by name, case-insensitive: one made by hand after set-up is
    used, not made again), then makes it. The others wait a few seconds for its gid;
    past that they look in the field's options too, and find nothing means it is tried
    again later (``AsanaUnavailable``)."""
    key = name.lower()
    where = (FieldOption.field_gid == field_gid) & (FieldOption.name == key)
    deadline = time.monotonic() + OPTION_WAIT
    while True:
        claim = FieldOption.get_or_none(where)
        if claim is None:
            try:
                with database.atomic():
                    claim = FieldOption.create(field_gid=field_gid, name=key)
            except pw.IntegrityError:
                continue  # another worker took it a moment ago
            # Made by hand in Asana after set-up? The stored map would not know it.
            return _make_option(client, claim, name, look_first=True)
        if claim.option_gid:
            return claim.option_gid
        if claim.claimed_at < utcnow() - OPTION_LEASE:  # its worker died: take it over
            if (FieldOption.update(claimed_at=utcnow())
                    .where((FieldOption.id == claim.id) & FieldOption.option_gid.is_null()
                           & (FieldOption.claimed_at == claim.claimed_at)).execute()):
                return _make_option(client, claim, name, look_first=True)
            continue
        if time.monotonic() > deadline:
            found = _options(client.field(field_gid)).get(key)
            if found:
                return found
            raise AsanaUnavailable("Another worker is still adding an option to the field.")
        time.sleep(OPTION_POLL)


def _make_option(client: AsanaFieldsClient, claim: FieldOption, name: str, *,
                 look_first: bool) -> str:
    """Make the claimed option unless ``look_first`` finds it in the field (made by hand,
    or by a dead worker before it could record it) and record its gid on the claim; on
    failure give the claim up."""
    try:
        gid = _options(client.field(claim.field_gid)).get(claim.name) if look_first else None
        gid = gid or str(client.add_enum_option(claim.field_gid, name)["gid"])
    except BaseException:
        FieldOption.delete().where((FieldOption.id == claim.id)
                                   & FieldOption.option_gid.is_null()).execute()
        raise
    FieldOption.update(option_gid=gid).where(FieldOption.id == claim.id).execute()
    return gid


def _remember_option(sync_id: int, what: str, field_gid: str, key: str, gid: str) -> None:
    """Add one option to the stored map (``FieldSync.fields``)."""
    def add(options: dict) -> bool:
        if options.get(key) == gid:
            return False  # there already
        options[key] = gid
        return True

    _change_options(sync_id, what, field_gid, add, "sync.option_not_stored")


def _forget_option(sync_id: int, what: str, field_gid: str, key: str, gid: str) -> None:
    """Drop one option from the stored map if it still names ``gid``."""
    def drop(options: dict) -> bool:
        if options.get(key) != gid:
            return False  # already forgotten or replaced
        del options[key]
        return True

    _change_options(sync_id, what, field_gid, drop, "sync.option_not_forgotten")


def _change_options(sync_id: int, what: str, field_gid: str,
                    change: Callable[[dict], bool], failure: str) -> None:
    """Apply ``change`` to the field's stored options without losing another worker's
    change: the row is rewritten only if it still holds what was read (compare and swap),
    and nothing is written when the admin chose another field meanwhile or ``change``
    says there is nothing to do."""
    for _ in range(20):
        current = FieldSync.get_or_none(FieldSync.id == sync_id)
        if current is None:
            return
        before = copy.deepcopy(current.fields)
        entry = current.fields.get(what)
        if not entry or entry.get("gid") != field_gid or not change(entry["options"]):
            return
        if (FieldSync.update(fields=current.fields)
                .where((FieldSync.id == sync_id) & (FieldSync.fields == before)).execute()):
            return
    log.warning("%s sync=%s field=%s", failure, sync_id, field_gid)


def _done(row: TaskFields, wanted: dict, outcome: str) -> str:
    """Record ``wanted`` as written, unless a newer wish arrived during the write: then
    the row goes back to ``pending`` and the caller writes again (``again``)."""
    finished = (TaskFields.update(written=wanted, state="ok", attempts=0, next_attempt_at=None,
                                  updated_at=utcnow())
                .where((TaskFields.id == row.id) & (TaskFields.wanted == wanted)
                       & (TaskFields.state == WRITING)).execute())
    if finished:
        return outcome
    (TaskFields.update(written=wanted, state="pending")
     .where((TaskFields.id == row.id) & (TaskFields.state == WRITING)).execute())
    return "again"


def _defer(row: TaskFields, seconds: float) -> str:
    seconds = max(0.5, seconds)
    (TaskFields.update(next_attempt_at=utcnow() + dt.timedelta(seconds=seconds))
     .where(TaskFields.id == row.id).execute())
    queue.enqueue(WRITE_TASK, row.id, delay=seconds)
    return "deferred"


def _on_asana_error(sync: FieldSync, row: TaskFields | None, exc: AsanaError) -> str:
    if isinstance(exc, AsanaNeedsReconnect):
        stop(sync, "token_lost", "Writing stopped: the Asana authorization of the person "
                                 "who turned this on is no longer valid. Turn it on again.")
        return "stopped"
    if isinstance(exc, AsanaRateLimited):
        wait = float(exc.retry_after or 30)
        until = utcnow() + dt.timedelta(seconds=wait)
        (FieldSync.update(paused_until=until)
         .where((FieldSync.id == sync.id) & ((FieldSync.paused_until.is_null())
                                            | (FieldSync.paused_until < until))).execute())
        log.info("sync.rate_limited project=%s retry_after=%s", sync.project_gid, wait)
        return _defer(row, wait) if row is not None else "deferred"
    if row is None:
        return "failed"
    if isinstance(exc, AsanaNotFound):
        row.delete_instance()  # the task is gone, or no longer visible to the admin
        return "gone"
    attempts = row.attempts + 1
    if isinstance(exc, AsanaUnavailable) and attempts < MAX_ATTEMPTS:
        TaskFields.update(attempts=attempts).where(TaskFields.id == row.id).execute()
        return _defer(row, min(300.0, 2.0 * 2 ** attempts))
    (TaskFields.update(state="failed", attempts=attempts, updated_at=utcnow())
     .where(TaskFields.id == row.id).execute())
    if isinstance(exc, AsanaAuthDenied):
        log.info("sync.refused project=%s task=%s", sync.project_gid, row.task_gid)
    else:
        log.warning("sync.failed project=%s task=%s error=%s", sync.project_gid,
                    row.task_gid, exc.code)
    return "failed"


def sweep(now: dt.datetime | None = None) -> int:
    """Re-send pending writes whose message was lost (due a while ago, still pending)."""
    now = now or utcnow()
    (TaskFields.update(state="pending", next_attempt_at=now - dt.timedelta(minutes=3))
     .where((TaskFields.state == WRITING) & (TaskFields.updated_at < now - WRITING_LEASE))
     .execute())  # its worker died mid-write: the PUT is repeated (it is idempotent)
    sent = 0
    for row in (TaskFields.select(TaskFields.id)
                .where((TaskFields.state == "pending")
                       & (TaskFields.next_attempt_at.is_null(False))
                       & (TaskFields.next_attempt_at < now - dt.timedelta(minutes=2)))
                .limit(200)):
        TaskFields.update(next_attempt_at=now).where(TaskFields.id == row.id).execute()
        queue.enqueue(WRITE_TASK, row.id)
        sent += 1
    return sent

