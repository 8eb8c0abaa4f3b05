"""The widget of a linked Jira issue: what it shows, whose token reads it, how fresh it is.

What it shows (issue 8 §3, asana-app-components.md §6.1): title "KEY summary", subtitle
"instance · issue type", a Status pill coloured by Jira's status *category* (the one
thing every workflow's statuses share, jira-server.md §3.3), Priority and Assignee with
their Jira icons, the due date when set, the comment count, and an ``updated`` footer
from Jira's ``updated``. Every Jira field may be null or absent (priorities can be off,
issues unassigned, ``comment`` left out): nothing here assumes otherwise.

Whose token reads it (ARCHITECTURE §1: reading follows Asana's permission model): the
token of the user who linked the issue to this task, so everyone who can see the task
sees the widget. If that user must reconnect, the next user who linked the same issue
and can still see it; then the viewer's own. A task with no link record of ours is read
with the viewer's token only: another task's link must not lend its reader to it.

How fresh (§3 "Cached per issue"): one ``IssueSnapshot`` row per (instance, issue key)
holds the compact data and a ``generation`` that every write and every invalidation
bumps. Each app keeps the rendered JSON of the snapshots it served, tagged with that
generation, in its ``ProcessCache`` (``ctx.cache``), and serves it only while the shared
database still holds that generation, so a change made by any node (a webhook's
invalidation, a refresh, a copy's progress) shows on every node:

- on SQLite, the next view after the change commits shows it: a view from memory costs
  one indexed read of the generation;
- on PostgreSQL, a view from memory makes no SQL at all, and a change shows within
  milliseconds of its commit (the time its notification takes to arrive): a trigger
  notifies every change of a snapshot's generation (``migrations._snapshot_notices``),
  each serving process listens (``bridge.db_listen``), and an entry is trusted only if
  a read of the generation made while the listener's current session was up found it
  current and no change of it was notified since (``cached_json``). While that session is down, or
  until a new entry has been read once, views read the generation as on SQLite; a dead
  session is noticed within a few seconds (its pings go unanswered).

Without webhooks a snapshot is served for at most ``BRIDGE_WIDGET_MAX_AGE`` seconds. A
refresh writes only if the generation is still the one it read, so a webhook that
arrives while Jira is being read is never overwritten by older data.

While Jira gives no answer the last snapshot is shown, on the tasks it is linked to only,
with a footer that says so; when Jira counts as down (``jira_outages`` says which failures
count) it is not asked for a few seconds. A deleted or hidden issue gets a valid widget
that says so. Neither is an error: Asana shows an error
as "Something went wrong" (asana-app-components.md §10.1), which helps nobody.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee as pw

from .. import queue
from ..asana import components as ui
from ..db import database, execute_prepared
from ..jira import icon_urls
from ..jira.errors import (
    JiraError,
    JiraNeedsReconnect,
    JiraNotConnected,
    JiraNotFound,
    JiraPermissionDenied,
    JiraRateLimited,
    JiraUnavailable,
)
from ..models import AsanaUser, IssueLink, IssueSnapshot, JiraCredential, JiraInstance, utcnow
from . import attachments, credentials, links, remote_links, sync, webhooks
from .context import Context
from .process_cache import ProcessCache
from .widget_memory import Entry

# What the widget reads: one GET, nothing more (jira-server.md §3.3).
ISSUE_FIELDS = ("summary", "status", "priority", "assignee", "issuetype", "duedate",
                "comment", "updated")

# Jira's status categories (jira-server.md §3.3) → Asana pill colours (§6.1). Jira draws
# them blue-gray, yellow and green; Asana has no blue-gray, and blue reads as "to do".
STATUS_COLORS = {"new": "blue", "indeterminate": "yellow", "done": "green"}
UNKNOWN_STATUS_COLOR = "cool-gray"
_CATEGORY_BY_COLOR_NAME = {"blue-gray": "new", "yellow": "indeterminate", "green": "done"}
_CATEGORY_BY_ID = {2: "new", 4: "indeterminate", 3: "done"}

log = logging.getLogger("bridge.widget")


# Nobody's token can read this widget, and the viewer has none: connect first.
CONNECT_TO_SEE = ("Connect your Jira account to see this issue: open the Jira app's "
                  "authorization from this task.")


# The URL names no issue of an instance connected to the widget's workspace.
NOT_OF_WORKSPACE = "This link is not an issue of a Jira connected to this workspace."


class _InstanceGone(JiraNotFound):
    """``_load`` found no instance with the id it was given: removed since the caller
    looked it up. Answered as ``JiraNotFound``; ``widget_json`` first looks again."""


# -- what it shows --------------------------------------------------------------------------


def status_color(category: dict | None) -> str:
    """The pill colour of a status category bean (key first, then colour name, then id)."""
    category = category or {}
    key = category.get("key")
    if key not in STATUS_COLORS:
        key = _CATEGORY_BY_COLOR_NAME.get(category.get("colorName") or "")
    if key is None:
        try:
            key = _CATEGORY_BY_ID.get(int(category.get("id")))
        except (TypeError, ValueError):
            key = None
    return STATUS_COLORS.get(key or "", UNKNOWN_STATUS_COLOR)


def summarize(issue: dict, base_url: str | None = None) -> dict:
    """The part of a Jira ``IssueBean`` the widget shows, robust to nulls and omissions.
    Icon URLs are kept only if Asana may load them (``jira.icon_urls``: on the instance's
    ``base_url``, or public https)."""
    fields = issue.get("fields") or {}
    status = fields.get("status") or {}
    priority = fields.get("priority") or {}
    assignee = fields.get("assignee") or {}
    issuetype = fields.get("issuetype") or {}
    comment = fields.get("comment")
    avatars = assignee.get("avatarUrls") or {}
    total = comment.get("total") if isinstance(comment, dict) else None
    return {
        "id": str(issue.get("id") or ""),
        "key": str(issue.get("key") or ""),
        "summary": fields.get("summary") or "",
        "type": issuetype.get("name") or "",
        "type_icon": icon_urls.usable(issuetype.get("iconUrl"), base_url),
        "status": status.get("name") or "",
        "status_color": status_color(status.get("statusCategory")) if status else None,
        "status_icon": icon_urls.usable(status.get("iconUrl"), base_url),
        "priority": priority.get("name"),
        "priority_icon": icon_urls.usable(priority.get("iconUrl"), base_url),
        "assignee": (assignee.get("displayName") or assignee.get("name")) if assignee else None,
        "assignee_icon": icon_urls.usable(
            avatars.get("24x24") or avatars.get("16x16") or avatars.get("48x48"), base_url),
        "duedate": fields.get("duedate"),
        "comments": total if isinstance(total, int) else None,
        "updated": fields.get("updated"),
    }


def render(snap: dict, instance_name: str, *, notice: str | None = None) -> dict:
    """The ``WidgetMetadataResponse`` for a snapshot; ``notice`` replaces the footer."""
    key = snap.get("key") or ""
    if snap.get("missing"):
        return ui.widget(
            key, [ui.pill("Status", "Not available", "none")],
            ui.footer_text(notice or "This issue was deleted in Jira, or the Jira account "
                           "that reads it can no longer see it."),
            subtitle=instance_name)
    if snap.get("placeholder"):
        return ui.widget(key, [ui.pill("Status", "Unknown", UNKNOWN_STATUS_COLOR)],
                         ui.footer_text(notice or ""), subtitle=instance_name)
    fields = [ui.pill("Status", snap.get("status") or "Unknown",
                      snap.get("status_color") or UNKNOWN_STATUS_COLOR)]
    if snap.get("priority"):
        fields.append(ui.text_with_icon("Priority", snap["priority"], snap.get("priority_icon")))
    fields.append(ui.text_with_icon("Assignee", snap.get("assignee") or "Unassigned",
                                    snap.get("assignee_icon")))
    if snap.get("duedate") and ui.iso_utc(snap["duedate"]):
        fields.append(ui.datetime_with_icon("Due date", snap["duedate"]))
    if notice:
        footer = ui.footer_text(notice)
    elif ui.iso_utc(snap.get("updated")):
        footer = ui.footer_updated(snap["updated"])
    else:
        footer = ui.footer_text("Jira did not say when this issue last changed.")
    subtitle = " · ".join(p for p in (instance_name, snap.get("type")) if p)
    return ui.widget(f"{key} {snap.get('summary') or ''}".strip(), fields, footer,
                     subtitle=subtitle, subicon_url=snap.get("type_icon"),
                     num_comments=snap.get("comments"))


def encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- memory (the app's ``ProcessCache``) -----------------------------------------------------


_GENERATION_SQL: dict[str, str] = {}  # by parameter style, not by database: no row ids


def _current_generation(instance_id: int, key: str) -> int | None:
    """The snapshot's generation: the one query a view served from memory makes."""
    db = database.obj
    sql = _GENERATION_SQL.get(db.param)
    if sql is None:
        table = IssueSnapshot._meta.table_name
        sql = (f'SELECT "generation" FROM "{table}" WHERE "instance_id" = {db.param} '
               f'AND "issue_key" = {db.param}')
        _GENERATION_SQL[db.param] = sql
    row = database.execute_sql(sql, (instance_id, key)).fetchone()
    return None if row is None else row[0]


# -- serving ---------------------------------------------------------------------------------


def widget_json(ctx: Context, resource_url: str, *, memory_checked: bool = False,
                attachment: str | None = None) -> bytes:
    """The widget of ``resource_url`` on the context's task, as JSON bytes.

    Raises ``JiraNotFound`` when the URL is not an issue of a Jira connected to the
    workspace, and ``JiraNotConnected`` when nobody's token can read the issue and
    the viewer has no usable one (the answer that makes Asana open the Authentication
    URL). ``memory_checked``: the caller already tried ``cached_json`` for this request.
    ``attachment``: the gid of the Asana attachment the widget is shown for.
    """
    if not memory_checked:
        cached = cached_json(ctx.cache, ctx.workspace, ctx.task, resource_url,
                             ctx.settings.widget_max_age)
        if cached is not None:
            return cached
    found = ctx.cache.instances.find(ctx.workspace, resource_url)
    if found is None:
        raise JiraNotFound(NOT_OF_WORKSPACE)
    try:
        return _serve_slowly(ctx, *found, attachment)
    except _InstanceGone:
        # Removed since this process listed the workspace's instances, perhaps added
        # again under a new id (``jira remove``, ``jira add``): list them again, once. A
        # second miss (removed again meanwhile) is answered as not found: no loop.
        found = ctx.cache.instances.find(ctx.workspace, resource_url, reload=True)
        if found is None:
            raise JiraNotFound(NOT_OF_WORKSPACE) from None
    return _serve_slowly(ctx, *found, attachment)


def cached_json(cache: ProcessCache, workspace: str, task: str, resource_url: str,
                max_age: float) -> bytes | None:
    """The widget ``cache`` holds, if it is still current; else ``None``.

    Current means: read from Jira less than ``max_age`` seconds ago, for a task this
    process has seen linked to the issue, and at the generation the shared database
    holds. How that last point is known (module docstring, "How fresh"): on PostgreSQL,
    without any SQL once a read under the listener's current session found the entry
    current and no change of the snapshot was notified since; otherwise (SQLite, the
    listener down or reconnecting, an entry not yet confirmed, a change notified) with
    one indexed read of the generation.
    """
    found = cache.instances.find(workspace, resource_url, reload=None)
    if found is None:
        return None
    instance_id, _, key = found
    cached = cache.widgets.entries.get((instance_id, key))
    if (cached is None or (task, instance_id, key) not in cache.widgets.linked
            or time.time() - cached.fetched_at >= max_age):
        return None
    listener = cache.listener
    if listener is None:  # SQLite: nothing tells this process about changes
        return cached.body if _current_generation(instance_id, key) == cached.generation \
            else None
    epoch = listener.current()
    validated = cached.validated
    if (epoch is not None and validated is not None and validated[0] is epoch
            and not cache.changes.since((instance_id, key), validated[1])):
        return cached.body
    # Taken before the read: a change committed after the read began is notified to this
    # very session after this mark (NOTIFY is delivered at commit), so ``since`` sees it.
    mark = cache.changes.mark()
    if _current_generation(instance_id, key) != cached.generation:
        return None
    if epoch is not None:
        cached.validated = (epoch, mark)
    return cached.body


def _serve_slowly(ctx: Context, instance_id: int, name: str, key: str,
                  attachment: str | None = None) -> bytes:
    """A miss: one statement reads what the database holds (``_load``), at most one Jira
    read, one statement writes the snapshot (issue 18 §8); and once per link, the first
    time Asana names its attachment, one more to remember that gid."""
    miss = _load(instance_id, key, ctx.task, ctx.user)
    instance, row = miss.instance, miss.row
    linked = miss.linked(ctx.task)
    copying = None
    if linked:
        _, link_id, copies, refused, known = miss.links[0]
        if attachment and attachment != known:  # its removal is then certain (links.py)
            links.saw_attachment(link_id, attachment)
        copying = ((_copies_notice(link_id) if copies else None)
                   or (remote_links.notice(link_id) if refused else None))
    # Memory holds one body per issue: a task with a copy footer of its own is not served
    # from it, and its body is not put there (another task's view would show that footer).
    shared = linked and copying is None
    if shared:
        ctx.cache.widgets.linked.add((ctx.task, instance_id, key))
    else:
        ctx.cache.widgets.linked.discard((ctx.task, instance_id, key))
    now = time.time()
    if (row is not None and linked and not row.stale
            and now - _epoch(row.fetched_at) < ctx.settings.widget_max_age):
        body = render(row.data, name, notice=copying)
        return (_remember(ctx, instance_id, key, row.generation, row.fetched_at, body) if shared
                else encode(body))
    # A snapshot was read with a linker's token: it is shown on a task it is linked to,
    # and nowhere else, Jira down or not (issue 16 §1).
    shown = row if linked else None
    if jira_is_down(ctx, instance_id):
        if not linked and not _can_read(instance, miss.viewer):
            raise JiraNotConnected(CONNECT_TO_SEE)
        return encode(_while_down(instance, key, shown, DOWN_NOTICE))
    outcome = _read(ctx, instance, key, miss.readers(linked))
    if outcome.snapshot is not None:
        generation, fetched_at = _store(instance, key, outcome.snapshot, row)
        body = render(outcome.snapshot, name, notice=copying)
        if generation is not None and shared:
            return _remember(ctx, instance_id, key, generation, fetched_at, body)
        return encode(body)
    if outcome.failed:
        return encode(_while_down(instance, key, shown, outcome.failed))
    if outcome.missing and not outcome.reconnect:
        missing = {"key": key, "id": row.issue_id if row else "", "missing": True}
        body = render(missing, name)
        if linked:  # a viewer's own 404 says nothing about what the linkers see
            generation, fetched_at = _store(instance, key, missing, row)
            if generation is not None:
                return _remember(ctx, instance_id, key, generation, fetched_at, body)
        return encode(body)
    # Nobody could read it: every reader must reconnect, or there was no reader at all.
    if not outcome.reconnect or (not linked and ctx.user in outcome.reconnect_gids):
        raise JiraNotConnected(CONNECT_TO_SEE)
    notice = (f"{_names(outcome.reconnect)} must reconnect Jira (the Jira app's "
              "authorization in Asana) for this to update.")
    if shown is not None and not shown.data.get("missing"):
        return encode(render(shown.data, name, notice=notice))
    return encode(render({"key": key, "placeholder": True}, name, notice=notice))


def jira_is_down(ctx: Context, instance_id: int) -> bool:
    """Whether this process is leaving the instance alone for a while (it failed)."""
    return ctx.cache.outages.is_down(instance_id)


def _can_read(instance: JiraInstance,
              viewer: tuple[AsanaUser, JiraCredential | None] | None) -> bool:
    """Whether the viewer has a credential that could read the instance now."""
    cred = viewer[1] if viewer is not None else None
    return (cred is not None and cred.state == credentials.ACTIVE
            and cred.auth_mode == instance.auth_mode)


def _copies_notice(link_id: int) -> str | None:
    """The footer while the task's files are being copied to the issue, then what could
    not be copied, if anything (``attachments.progress_for``). Every change of a copy bumps
    the snapshot's generation, so cached widgets are rendered again."""
    progress = attachments.progress_for(IssueLink(id=link_id))
    if progress is None or (progress["finished"] and not progress["problems"]):
        return None
    return progress["text"]


def _remember(ctx: Context, instance_id: int, key: str, generation: int, fetched_at,
              body: dict) -> bytes:
    data = encode(body)
    ctx.cache.widgets.put((instance_id, key), Entry(generation, data, _epoch(fetched_at)))
    return data


DOWN_NOTICE = "Jira cannot be reached right now"
LIMITED_NOTICE = "Jira is limiting requests right now"
REFUSED_NOTICE = "Jira could not answer right now"


def _while_down(instance: JiraInstance, key: str, row: IssueSnapshot | None,
                notice: str) -> dict:
    """The last snapshot with a footer saying why it is not fresh (``row`` is ``None``
    when there is none, or the task is not linked: then only the key is shown)."""
    name = instance.name or instance.base_url
    if row is not None:
        at = ui.iso_utc(row.fetched_at) or ""
        when = f"{at[:10]} {at[11:16]} UTC" if at else "earlier"
        return render(row.data, name, notice=f"{notice}; showing what it said at {when}.")
    return render({"key": key, "placeholder": True}, name,
                  notice=f"{notice}; try again later.")


def _epoch(moment) -> float:
    return moment.replace(tzinfo=dt.UTC).timestamp()


def _names(users: list[AsanaUser]) -> str:
    names = [u.name or u.email or f"Asana user {u.gid}" for u in users]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# -- who reads it ---------------------------------------------------------------------------


@dataclass
class _Miss:
    """What a widget miss needs from the database, read in one statement (``_load``):
    the instance, the issue's snapshot, the issue's links (this task's first, then the
    most recent: the order their linkers' tokens are tried in, module docstring) and the
    credentials of the linkers and of the viewer."""

    instance: JiraInstance
    row: IssueSnapshot | None
    # task gid, link id, has copies, refused back, the Asana attachment's gid if known
    links: list[tuple[str, int, bool, bool, str | None]]
    linkers: list[tuple[AsanaUser, JiraCredential | None]]
    viewer: tuple[AsanaUser, JiraCredential | None] | None

    def linked(self, task: str) -> bool:
        return bool(self.links) and self.links[0][0] == task

    def readers(self, linked: bool) -> list[tuple[AsanaUser, JiraCredential | None]]:
        """Whose tokens may read the issue, in order: a task's linkers, then the viewer;
        on a task with no link of ours the viewer only."""
        found = list(self.linkers) if linked else []
        if self.viewer is not None and all(u.gid != self.viewer[0].gid for u, _ in found):
            found.append(self.viewer)
        return found


_I = ("id", "base_url", "name", "auth_mode", "consumer_key", "client_id", "version",
      "private_key")
_S = ("id", "issue_id", "data", "fetched_at", "generation", "stale")
_U = ("id", "gid", "name", "email")
_C = ("id", "auth_mode", "state", "expires_at", "token", "access_token")
_LOAD_SQL: dict[str, str] = {}


def _load_sql(param: str) -> str:
    """The miss's one statement, built once per parameter style (peewee would spend more
    time building it than the database running it). Its parameters, in order: refused
    state, task, key, key, instance id, key, viewer gid, instance id."""
    sql = _LOAD_SQL.get(param)
    if sql is not None:
        return sql
    from ..models import AttachmentCopy, RemoteLink

    def t(model) -> str:
        return f'"{model._meta.table_name}"'

    def cols(alias: str, model, names) -> str:
        return ", ".join(f'{alias}."{model._meta.fields[n].column_name}"' for n in names)

    head = f"{cols('i', JiraInstance, _I)}, {cols('s', IssueSnapshot, _S)}"
    snapshot = (f'LEFT JOIN {t(IssueSnapshot)} s ON s."instance_id" = i."id" '
                f'AND s."issue_key" = {param}')
    credential = (f'LEFT JOIN {t(JiraCredential)} c ON c."instance_id" = i."id" '
                  f'AND c."asana_user_id" = u."id"')
    links = (
        f'SELECT {head}, l."id", l."task_gid", l."attachment_gid", '
        f'EXISTS (SELECT 1 FROM {t(AttachmentCopy)} a WHERE a."link_id" = l."id"), '
        f'EXISTS (SELECT 1 FROM {t(RemoteLink)} r WHERE r."link_id" = l."id" '
        f'AND r."state" = {param}), '
        f"{cols('u', AsanaUser, _U)}, {cols('c', JiraCredential, _C)}, "
        f'CASE WHEN l."task_gid" = {param} THEN 0 ELSE 1 END AS o1, l."created_at" AS o2 '
        f"FROM {t(JiraInstance)} i {snapshot} "
        f'JOIN {t(IssueLink)} l ON l."instance_id" = i."id" AND l."issue_key" = {param} '
        f'LEFT JOIN {t(AsanaUser)} u ON u."id" = l."linked_by_id" {credential} '
        f'WHERE i."id" = {param}')
    viewer = (
        f"SELECT {head}, NULL, NULL, NULL, NULL, NULL, "
        f"{cols('u', AsanaUser, _U)}, {cols('c', JiraCredential, _C)}, 2, NULL "
        f"FROM {t(JiraInstance)} i {snapshot} "
        f'LEFT JOIN {t(AsanaUser)} u ON u."gid" = {param} {credential} '
        f'WHERE i."id" = {param}')
    sql = f"{links} UNION ALL {viewer} ORDER BY o1, o2 DESC"
    _LOAD_SQL[param] = sql
    return sql


def _model(model, names, values, **extra):
    """A model instance from raw column values, each converted as peewee would."""
    data = {n: model._meta.fields[n].python_value(v)
            for n, v in zip(names, values, strict=True)}
    return model(**data, **extra)


def _load(instance_id: int, key: str, task: str, viewer: str) -> _Miss:
    """Everything a miss reads, in one statement (see ``_Miss``). Only the token the
    instance's auth mode uses is opened."""
    rows = execute_prepared(
        "bridge_widget_load", _load_sql(database.obj.param),
        (remote_links.REFUSED, task, key, key, instance_id, key, viewer or "", instance_id),
    ).fetchall()
    if not rows:  # removed since this process listed the workspace's instances
        raise _InstanceGone(NOT_OF_WORKSPACE)
    ni, ns, nu = len(_I), len(_S), len(_U)
    instance = _model(JiraInstance, _I, rows[0][:ni])
    token = "token" if instance.auth_mode == "oauth1" else "access_token"
    cred_names = ("id", "auth_mode", "state", "expires_at", token)
    row = None
    if rows[0][ni] is not None:
        row = _model(IssueSnapshot, _S, rows[0][ni:ni + ns], instance=instance,
                     issue_key=key)
    links, linkers, seen, viewer_pair = [], [], set(), None
    # A user on several rows (the viewer is usually a linker too) is built once, and
    # their token opened once.
    users: dict[int, AsanaUser] = {}
    creds: dict[int, JiraCredential] = {}
    for values in rows:
        at = ni + ns
        link_id, task_gid, attachment_gid, copies, refused = values[at:at + 5]
        user_values = values[at + 5:at + 5 + nu]
        cred_values = dict(zip(_C, values[at + 5 + nu:], strict=False))
        user = cred = None
        if user_values[0] is not None:
            user = users.get(user_values[0])
            if user is None:
                user = users[user_values[0]] = _model(AsanaUser, _U, user_values)
        if user is not None and cred_values["id"] is not None:
            cred = creds.get(cred_values["id"])
            if cred is None:
                cred = creds[cred_values["id"]] = _model(
                    JiraCredential, cred_names, [cred_values[n] for n in cred_names],
                    asana_user=user, instance=instance)
        if link_id is None:
            viewer_pair = (user, cred) if user is not None else None
            continue
        links.append((task_gid, link_id, bool(copies), bool(refused), attachment_gid))
        if user is not None and user.gid not in seen:
            seen.add(user.gid)
            linkers.append((user, cred))
    return _Miss(instance, row, links, linkers, viewer_pair)


@dataclass
class _Outcome:
    snapshot: dict | None = None
    missing: bool = False
    failed: str | None = None  # why Jira gave no answer (a notice), if it did not
    reconnect: list[AsanaUser] = field(default_factory=list)

    @property
    def reconnect_gids(self) -> set[str]:
        return {u.gid for u in self.reconnect}


def _read(ctx: Context, instance: JiraInstance, key: str,
          readers: list[tuple[AsanaUser, JiraCredential | None]]) -> _Outcome:
    """Read the issue with the first reader whose token works (in order)."""
    outcome = _Outcome()
    for user, cred in readers:
        if cred is None:
            continue
        if cred.state != credentials.ACTIVE or cred.auth_mode != instance.auth_mode:
            outcome.reconnect.append(user)
            continue
        try:
            issue = ctx.jira_with(cred).issue(key, fields=ISSUE_FIELDS)
        except JiraNeedsReconnect:  # the client marked the credential already
            outcome.reconnect.append(user)
            continue
        except (JiraNotFound, JiraPermissionDenied):
            outcome.missing = True  # hidden from this reader; another may see it
            continue
        except JiraError as exc:  # show the last snapshot; only an unwell Jira counts
            ctx.cache.outages.failed(instance.id, (user.gid, key), exc)
            outcome.failed = (DOWN_NOTICE if isinstance(exc, JiraUnavailable)
                              else LIMITED_NOTICE if isinstance(exc, JiraRateLimited)
                              else REFUSED_NOTICE)
            return outcome
        ctx.cache.outages.succeeded(instance.id)
        outcome.snapshot = summarize(issue, instance.base_url)
        outcome.missing = False
        return outcome
    return outcome


# -- storing and invalidating ---------------------------------------------------------------


_STORE_SQL: dict[tuple[str, bool, bool], str] = {}

# A new snapshot's first generation: the database's clock in microseconds, one clock for
# every node (models.IssueSnapshot says why it is never 1). SQLite's 'now' has whole
# milliseconds, the same for every use within one statement.
_FIRST_GENERATION = {
    True: "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
    False: ("(CAST(strftime('%s', 'now') AS INTEGER) * 1000000"
            " + CAST(substr(strftime('%f', 'now'), 4) AS INTEGER) * 1000)"),
}


def _store_sql(param: str, insert: bool) -> str:
    """The snapshot's write, built once per parameter style: an insert that yields to a
    concurrent one and returns the generation it started at, or an update that yields
    to a concurrent invalidation."""
    postgres = isinstance(database.obj, pw.PostgresqlDatabase)
    sql = _STORE_SQL.get((param, insert, postgres))
    if sql is None:
        f = IssueSnapshot._meta.fields
        table = f'"{IssueSnapshot._meta.table_name}"'
        if insert:
            names = ("instance", "issue_key", "issue_id", "data", "fetched_at", "stale",
                     "generation")
            columns = ", ".join(f'"{f[n].column_name}"' for n in names)
            sql = (f"INSERT INTO {table} ({columns}) VALUES "
                   f"({', '.join([param] * (len(names) - 1))}, {_FIRST_GENERATION[postgres]}) "
                   f'ON CONFLICT ("{f["instance"].column_name}", '
                   f'"{f["issue_key"].column_name}") DO NOTHING '
                   f'RETURNING "{f["generation"].column_name}"')
        else:
            sets = ", ".join(f'"{f[n].column_name}" = {param}'
                             for n in ("data", "issue_id", "fetched_at", "stale",
                                       "generation"))
            sql = (f'UPDATE {table} SET {sets} WHERE "id" = {param} '
                   f'AND "{f["generation"].column_name}" = {param}')
        _STORE_SQL[(param, insert, postgres)] = sql
    return sql


def _store(instance: JiraInstance, key: str, snap: dict, row: IssueSnapshot | None):
    """Write the snapshot (one statement) unless an invalidation arrived since ``row``
    was read, or another process stored it first; returns ``(generation, fetched_at)``
    of what was written, or ``(None, None)``."""
    now = utcnow()
    f = IssueSnapshot._meta.fields
    data = f["data"].db_value(snap)
    at = f["fetched_at"].db_value(now)
    stale = f["stale"].db_value(False)
    if row is None:
        params = (instance.id, key, snap.get("id") or "", data, at, stale)
        made = execute_prepared("bridge_widget_insert", _store_sql(database.obj.param, True),
                                params).fetchall()
        return (made[0][0], now) if made else (None, None)  # read to the end: SQLite commits
    generation = row.generation + 1
    params = (data, snap.get("id") or row.issue_id, at, stale, generation, row.id,
              row.generation)
    cursor = execute_prepared("bridge_widget_update", _store_sql(database.obj.param, False),
                              params)
    return (generation, now) if cursor.rowcount == 1 else (None, None)


def invalidate(instance: JiraInstance, *, issue_id: str = "", issue_key: str = "") -> list[str]:
    """Mark an issue's snapshots stale on every node; returns the keys they are held
    under (the key a widget asked for can be an old key of a moved issue)."""
    return [key for key, _ in _invalidate(instance, issue_id, issue_key)]


def _invalidate(instance: JiraInstance, issue_id: str, issue_key: str,
                changed_at: dt.datetime | None = None) -> list[tuple[str, bool]]:
    """``(key, fresh until now)`` of each snapshot made stale. A snapshot that was already
    stale has a re-read pending (or a view will read Jira itself): the caller need not
    ask for another one. Each row flips with one conditional UPDATE, so of many nodes
    receiving deliveries for one issue at once exactly one sees it flip. A snapshot that
    already holds the change (``changed_at`` not after its ``updated``: a late or
    out-of-order delivery, ``services.webhooks.is_older_than``) is left alone."""
    cond = pw.SQL("1 = 0")
    if issue_id:
        cond = cond | (IssueSnapshot.issue_id == str(issue_id))
    if issue_key:
        cond = cond | (IssueSnapshot.issue_key == issue_key.upper())
    where = (IssueSnapshot.instance == instance) & cond
    rows = IssueSnapshot.select(IssueSnapshot.id, IssueSnapshot.issue_key,
                                IssueSnapshot.data).where(where).tuples()
    found = []
    for row_id, key, data in rows:
        if webhooks.is_older_than(changed_at, data):
            continue
        bump = IssueSnapshot.generation + 1
        flipped = (IssueSnapshot.update(stale=True, generation=bump)
                   .where((IssueSnapshot.id == row_id) & (IssueSnapshot.stale == False))  # noqa: E712
                   .execute())
        if not flipped:
            IssueSnapshot.update(generation=bump).where(IssueSnapshot.id == row_id).execute()
        found.append((key, bool(flipped)))
    return found


REREAD_ATTEMPTS = 3


def refresh(ctx: Context, instance: JiraInstance, key: str) -> bool:
    """Re-read a stale snapshot now with its linkers' tokens (after a webhook), so the
    next view is served from the cache. Returns whether fresh data was stored.

    Deliveries that arrive while Jira is being read only bump the generation (the row is
    already stale: no second re-read is queued), so the write then fails and the issue is
    read again, a few times at most; what is still stale after that a view reads itself.
    """
    for _ in range(REREAD_ATTEMPTS):
        miss = _load(instance.id, key, task="", viewer="")
        row = miss.row
        if row is not None and not row.stale:
            return False  # a view or another worker refreshed it since
        readers = miss.linkers
        outcome = _read(ctx, miss.instance, key, readers)
        if outcome.snapshot is not None:
            stored = outcome.snapshot
        elif outcome.missing and not outcome.reconnect and readers:
            stored = {"key": key, "id": row.issue_id if row else "", "missing": True}
        else:
            return False
        generation = _store(instance, key, stored, row)[0]
        if generation is not None:
            if outcome.snapshot is not None:
                _fields_follow(ctx, instance, key, outcome.snapshot, generation)
            return True
    return False


def _fields_follow(ctx: Context, instance: JiraInstance, key: str, snap: dict,
                   generation: int) -> None:
    """The same read brings synced Asana custom fields up to date (``services.sync``): one
    Jira read feeds both. A failure there never fails the widget's refresh."""
    try:
        sync.on_snapshot(ctx, instance, key, snap, generation)
    except Exception:  # noqa: BLE001 - logged; the sweep and the next change retry
        log.exception("widget.field_sync_failed key=%s", key)


REFRESH_TASK = "widget.refresh"


def refresh_later(ctx: Context, instance_id: int, key: str) -> bool:
    """Queue handler: the re-read a webhook asked for, done by a worker so that a burst of
    Jira events costs a bounded number of threads, never one per delivery."""
    instance = JiraInstance.get_or_none(JiraInstance.id == instance_id)
    if instance is None:
        return False
    try:
        return refresh(ctx, instance, key)
    except JiraError:
        return False  # stays stale: the next view reads Jira itself


def enqueue_refresh(ctx: Context, instance: JiraInstance, key: str) -> bool:
    """``reread`` for a webhook request: send the re-read to the queue, answer at once."""
    queue.enqueue(REFRESH_TASK, instance.id, key)
    return False


def on_issue_event(ctx: Context, instance: JiraInstance, payload: dict,
                   reread: Callable[[Context, JiraInstance, str], bool] = refresh
                   ) -> list[str]:
    """Handle a Jira webhook's payload: it only says *which* issue changed; its content is
    never trusted (anyone who learns the URL could post one). Returns the affected keys.

    A flood of deliveries for one issue costs one re-read: ``reread`` is asked only for a
    snapshot this delivery made stale (issue 16 §7)."""
    issue = payload.get("issue") if isinstance(payload, dict) else None
    if not isinstance(issue, dict):
        return []
    issue_id, key = str(issue.get("id") or ""), str(issue.get("key") or "")
    if not (issue_id or key):
        return []
    found = _invalidate(instance, issue_id, key, webhooks.event_time(payload))
    for held, flipped in found:
        if not flipped:
            continue  # a re-read is pending already
        try:
            reread(ctx, instance, held)
        except JiraError:
            pass  # stays stale: the next view reads Jira itself
    return [held for held, _ in found]
