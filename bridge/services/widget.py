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
bumps. Each process keeps the rendered JSON of the snapshots it served, tagged with that
generation; serving from memory costs one indexed read of the generation, so a webhook
received by any node (which bumps it in the shared database) changes what every node
serves next. Without webhooks a snapshot is served for at most ``BRIDGE_WIDGET_MAX_AGE``
seconds. A refresh writes only if the generation is still the one it read, so a webhook
that arrives while Jira is being read is never overwritten by older data.

While Jira gives no answer the last snapshot is shown, on the tasks it is linked to only,
with a footer that says so; when Jira counts as down (``jira_outages`` says which failures
count) it is not asked for a few seconds. A deleted or hidden issue gets a valid widget
that says so. Neither is an error: Asana shows an error
as "Something went wrong" (asana-app-components.md §10.1), which helps nobody.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee as pw

from .. import queue
from ..asana import components as ui
from ..db import database
from ..jira import icon_urls, issue_refs
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
from . import attachments, credentials, jira_as_user, jira_outages, remote_links, webhooks

# What the widget reads: one GET, nothing more (jira-server.md §3.3).
ISSUE_FIELDS = ("summary", "status", "priority", "assignee", "issuetype", "duedate",
                "comment", "updated")

# Jira's status categories (jira-server.md §3.3) → Asana pill colours (§6.1). Jira draws
# them blue-gray, yellow and green; Asana has no blue-gray, and blue reads as "to do".
STATUS_COLORS = {"new": "blue", "indeterminate": "yellow", "done": "green"}
UNKNOWN_STATUS_COLOR = "cool-gray"
_CATEGORY_BY_COLOR_NAME = {"blue-gray": "new", "yellow": "indeterminate", "green": "done"}
_CATEGORY_BY_ID = {2: "new", 4: "indeterminate", 3: "done"}

MEMORY_ENTRIES = 10_000


# Nobody's token can read this widget, and the viewer has none: connect first.
CONNECT_TO_SEE = ("Connect your Jira account to see this issue: open the Jira app's "
                  "authorization from this task.")


@dataclass(frozen=True)
class WidgetRequest:
    workspace: str
    task: str
    user: str
    resource_url: str


@dataclass(frozen=True)
class WidgetOptions:
    """The settings the widget depends on (from ``bridge.config``)."""

    max_age: float = 60.0


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


# -- which issue ----------------------------------------------------------------------------


class _Instances:
    """Per-process map of each workspace's instances (base URL → id, name) and of the
    resource URLs already resolved; reloaded from the database on a miss and every
    ``ttl`` seconds, so a new instance is found at once and a removed one soon forgotten.
    URLs are read by ``jira.issue_refs``, as the lookup reads them."""

    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self._by_workspace: dict[str, tuple[float, dict[str, tuple[int, str]], dict]] = {}

    def find(self, workspace: str, resource_url: str, reload: bool | None = False
             ) -> tuple[int, str, str] | None:
        """``(instance id, instance name, issue key)`` for a resource URL, or ``None``.
        ``reload=None``: memory only, never the database."""
        entry = self._by_workspace.get(workspace)
        stale = entry is None or time.monotonic() - entry[0] > self.ttl
        if reload is None:
            if stale:
                return None
        elif reload or stale:
            rows = (JiraInstance.select(JiraInstance.id, JiraInstance.base_url,
                                        JiraInstance.name)
                    .join_from(JiraInstance, JiraInstance.workspace.rel_model)
                    .where(JiraInstance.workspace.rel_model.gid == workspace).tuples())
            entry = (time.monotonic(), {b: (i, n or b) for i, b, n in rows}, {})
            self._by_workspace[workspace] = entry
        found = entry[2].get(resource_url)
        if found is not None:
            return found
        try:
            ref = issue_refs.parse_url(resource_url, list(entry[1]))
        except issue_refs.NotJiraOfWorkspace:
            ref = None
        if ref is not None and ref.key:
            instance_id, name = entry[1][ref.base_url]
            if len(entry[2]) >= MEMORY_ENTRIES:
                entry[2].clear()
            entry[2][resource_url] = found = (instance_id, name, ref.key)
            return found
        if reload is False:
            return self.find(workspace, resource_url, reload=True)
        return None

    def clear(self) -> None:
        self._by_workspace.clear()


# -- the per-process layer ------------------------------------------------------------------


@dataclass
class _Entry:
    generation: int
    body: bytes
    fetched_at: float  # time.time() of the Jira read


@dataclass
class _Memory:
    entries: dict[tuple[int, str], _Entry] = field(default_factory=dict)
    linked: set[tuple[str, int, str]] = field(default_factory=set)  # (task, instance, key)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, key: tuple[int, str], entry: _Entry) -> None:
        with self.lock:
            if len(self.entries) >= MEMORY_ENTRIES:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = entry
            if len(self.linked) >= MEMORY_ENTRIES:
                self.linked.clear()

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.linked.clear()


_memory = _Memory()
_instances = _Instances()


def reset_process_cache() -> None:
    """Forget what this process remembers (tests start each from a cold process)."""
    _memory.clear()
    _instances.clear()
    jira_outages.outages.clear()


_GENERATION_SQL: dict[str, str] = {}


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


def widget_json(req: WidgetRequest, options: WidgetOptions, *,
                memory_checked: bool = False) -> bytes:
    """The widget for one signed request, as JSON bytes.

    Raises ``JiraNotFound`` when the URL is not an issue of a Jira connected to the
    workspace, and ``JiraNotConnected`` when nobody's token can read the issue and
    the viewer has no usable one (the answer that makes Asana open the Authentication
    URL). ``memory_checked``: the caller already tried ``cached_json`` for this request.
    """
    if not memory_checked:
        cached = cached_json(req.workspace, req.task, req.resource_url, options.max_age)
        if cached is not None:
            return cached
    found = _instances.find(req.workspace, req.resource_url)
    if found is None:
        raise JiraNotFound("This link is not an issue of a Jira connected to this workspace.")
    instance_id, name, key = found
    return _serve_slowly(req, options, instance_id, name, key)


def cached_json(workspace: str, task: str, resource_url: str, max_age: float) -> bytes | None:
    """The widget this process holds in memory, if it is still current; else ``None``.

    Current means: read from Jira less than ``max_age`` seconds ago, for a task this
    process has seen linked to the issue, and with the generation the shared database
    still has (one indexed read: the only database work of a cached view).
    """
    found = _instances.find(workspace, resource_url, reload=None)
    if found is None:
        return None
    instance_id, _, key = found
    cached = _memory.entries.get((instance_id, key))
    if (cached is not None and (task, instance_id, key) in _memory.linked
            and time.time() - cached.fetched_at < max_age
            and _current_generation(instance_id, key) == cached.generation):
        return cached.body
    return None


def _serve_slowly(req: WidgetRequest, options: WidgetOptions, instance_id: int, name: str,
                  key: str) -> bytes:
    links = _linkers(instance_id, key, req.task)
    linked = bool(links) and links[0][0] == req.task
    link_id = links[0][2] if linked else None
    copying = (_copies_notice(link_id) or remote_links.notice(link_id)) if linked else None
    # Memory holds one body per issue: a task with a copy footer of its own is not served
    # from it, and its body is not put there (another task's view would show that footer).
    shared = linked and copying is None
    if shared:
        _memory.linked.add((req.task, instance_id, key))
    else:
        _memory.linked.discard((req.task, instance_id, key))
    row = IssueSnapshot.get_or_none(instance=instance_id, issue_key=key)
    now = time.time()
    if (row is not None and linked and not row.stale
            and now - _epoch(row.fetched_at) < options.max_age):
        body = render(row.data, name, notice=copying)
        return (_remember(instance_id, key, row.generation, row.fetched_at, body) if shared
                else encode(body))
    instance = _instance(instance_id)
    # A snapshot was read with a linker's token: it is shown on a task it is linked to,
    # and nowhere else, Jira down or not (issue 16 §1).
    shown = row if linked else None
    if jira_is_down(instance_id):
        if not linked and not _can_read(instance, req.user):
            raise JiraNotConnected(CONNECT_TO_SEE)
        return encode(_while_down(instance, key, shown, DOWN_NOTICE))
    readers = [gid for _, gid, _ in links] if linked else []
    outcome = _read(instance, key, readers + [req.user], options)
    if outcome.snapshot is not None:
        generation, fetched_at = _store(instance, key, outcome.snapshot, row)
        body = render(outcome.snapshot, name, notice=copying)
        if generation is not None and shared:
            return _remember(instance_id, key, generation, fetched_at, body)
        return encode(body)
    if outcome.failed:
        return encode(_while_down(instance, key, shown, outcome.failed))
    if outcome.missing and not outcome.reconnect:
        missing = {"key": key, "id": row.issue_id if row else "", "missing": True}
        body = render(missing, name)
        if linked:  # a viewer's own 404 says nothing about what the linkers see
            generation, fetched_at = _store(instance, key, missing, row)
            if generation is not None:
                return _remember(instance_id, key, generation, fetched_at, body)
        return encode(body)
    # Nobody could read it: every reader must reconnect, or there was no reader at all.
    if not outcome.reconnect or (not linked and req.user in outcome.reconnect_gids):
        raise JiraNotConnected(CONNECT_TO_SEE)
    notice = (f"{_names(outcome.reconnect)} must reconnect Jira (the Jira app's "
              "authorization in Asana) for this to update.")
    if shown is not None and not shown.data.get("missing"):
        return encode(render(shown.data, name, notice=notice))
    return encode(render({"key": key, "placeholder": True}, name, notice=notice))


def jira_is_down(instance_id: int) -> bool:
    """Whether this process is leaving the instance alone for a while (it failed)."""
    return jira_outages.outages.is_down(instance_id)


def _can_read(instance: JiraInstance, user_gid: str) -> bool:
    """Whether the viewer has a credential that could read the instance now."""
    cred = _credentials(instance, [user_gid]).get(user_gid)
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


def _remember(instance_id: int, key: str, generation: int, fetched_at, body: dict) -> bytes:
    data = encode(body)
    _memory.put((instance_id, key), _Entry(generation, data, _epoch(fetched_at)))
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


def _linkers(instance_id: int, key: str, task: str) -> list[tuple[str, str, int]]:
    """``(task gid, linker's Asana gid, link id)`` of every link of the issue, this
    task's first, then the most recent: the order their tokens are tried in (module
    docstring)."""
    rows = (IssueLink.select(IssueLink.task_gid, AsanaUser.gid, IssueLink.id).join(AsanaUser)
            .where((IssueLink.instance == instance_id) & (IssueLink.issue_key == key))
            .order_by(IssueLink.created_at.desc()).tuples())
    return sorted(rows, key=lambda row: row[0] != task)  # stable: recency kept


def _instance(instance_id: int) -> JiraInstance:
    """The instance with the columns a read needs: not its client or webhook secrets.
    (The private key is empty on OAuth 2.0 instances, except those moved from 1.0a.)"""
    fields = [JiraInstance.id, JiraInstance.base_url, JiraInstance.name,
              JiraInstance.auth_mode, JiraInstance.consumer_key, JiraInstance.client_id,
              JiraInstance.version, JiraInstance.private_key]
    instance = JiraInstance.select(*fields).where(JiraInstance.id == instance_id).first()
    if instance is None:  # removed since this process listed the workspace's instances
        _instances.clear()
        raise JiraNotFound("This link is not an issue of a Jira connected to this workspace.")
    return instance


@dataclass
class _Outcome:
    snapshot: dict | None = None
    missing: bool = False
    failed: str | None = None  # why Jira gave no answer (a notice), if it did not
    reconnect: list[AsanaUser] = field(default_factory=list)

    @property
    def reconnect_gids(self) -> set[str]:
        return {u.gid for u in self.reconnect}


def _credentials(instance: JiraInstance, gids: list[str]) -> dict[str, JiraCredential]:
    """The readers' credentials on the instance, by Asana gid, in one query, with only
    the token this instance's auth mode uses opened."""
    token = (JiraCredential.token if instance.auth_mode == "oauth1"
             else JiraCredential.access_token)
    rows = (JiraCredential.select(JiraCredential.id, JiraCredential.asana_user,
                                  JiraCredential.auth_mode, JiraCredential.state,
                                  JiraCredential.expires_at, token, AsanaUser.id,
                                  AsanaUser.gid, AsanaUser.name, AsanaUser.email)
            .join(AsanaUser)
            .where((JiraCredential.instance == instance.id) & AsanaUser.gid.in_(gids)))
    found = {}
    for cred in rows:
        cred.instance = instance  # already loaded: spare a query
        found[cred.asana_user.gid] = cred
    return found


def _read(instance: JiraInstance, key: str, readers: list[str],
          options: WidgetOptions) -> _Outcome:
    """Read the issue with the first reader whose token works (gids, in order)."""
    outcome = _Outcome()
    order = list(dict.fromkeys(g for g in readers if g))
    creds = _credentials(instance, order) if order else {}
    for gid in order:
        cred = creds.get(gid)
        if cred is None:
            continue
        if cred.state != credentials.ACTIVE or cred.auth_mode != instance.auth_mode:
            outcome.reconnect.append(cred.asana_user)
            continue
        try:
            issue = jira_as_user.client_for(cred).issue(key, fields=ISSUE_FIELDS)
        except JiraNeedsReconnect:  # the client marked the credential already
            outcome.reconnect.append(cred.asana_user)
            continue
        except (JiraNotFound, JiraPermissionDenied):
            outcome.missing = True  # hidden from this reader; another may see it
            continue
        except JiraError as exc:  # show the last snapshot; only an unwell Jira counts
            jira_outages.outages.failed(instance.id, (gid, key), exc)
            outcome.failed = (DOWN_NOTICE if isinstance(exc, JiraUnavailable)
                              else LIMITED_NOTICE if isinstance(exc, JiraRateLimited)
                              else REFUSED_NOTICE)
            return outcome
        jira_outages.outages.succeeded(instance.id)
        outcome.snapshot = summarize(issue, instance.base_url)
        outcome.missing = False
        return outcome
    return outcome


# -- storing and invalidating ---------------------------------------------------------------


def _store(instance: JiraInstance, key: str, snap: dict, row: IssueSnapshot | None):
    """Write the snapshot unless an invalidation arrived since ``row`` was read; returns
    ``(generation, fetched_at)`` of what was written, or ``(None, None)``."""
    now = utcnow()
    if row is None:
        try:
            with database.atomic():
                created = IssueSnapshot.create(instance=instance, issue_key=key,
                                               issue_id=snap.get("id") or "", data=snap,
                                               fetched_at=now, generation=1, stale=False)
            return created.generation, now
        except pw.IntegrityError:
            return None, None  # another worker stored it first: theirs is as fresh
    written = (IssueSnapshot.update(data=snap, issue_id=snap.get("id") or row.issue_id,
                                    fetched_at=now, stale=False,
                                    generation=row.generation + 1)
               .where((IssueSnapshot.id == row.id)
                      & (IssueSnapshot.generation == row.generation))
               .execute())
    return (row.generation + 1, now) if written else (None, None)


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


def refresh(instance: JiraInstance, key: str, options: WidgetOptions) -> bool:
    """Re-read a stale snapshot now with its linkers' tokens (after a webhook), so the
    next view is served from the cache. Returns whether fresh data was stored.

    Deliveries that arrive while Jira is being read only bump the generation (the row is
    already stale: no second re-read is queued), so the write then fails and the issue is
    read again, a few times at most; what is still stale after that a view reads itself.
    """
    for _ in range(REREAD_ATTEMPTS):
        row = IssueSnapshot.get_or_none(instance=instance, issue_key=key)
        if row is not None and not row.stale:
            return False  # a view or another worker refreshed it since
        readers = [gid for _, gid, _ in _linkers(instance.id, key, task="")]
        outcome = _read(_instance(instance.id), key, readers, options)
        if outcome.snapshot is not None:
            stored = outcome.snapshot
        elif outcome.missing and not outcome.reconnect and readers:
            stored = {"key": key, "id": row.issue_id if row else "", "missing": True}
        else:
            return False
        if _store(instance, key, stored, row)[0] is not None:
            return True
    return False


REFRESH_TASK = "widget.refresh"


def refresh_later(instance_id: int, key: str) -> bool:
    """Queue handler: the re-read a webhook asked for, done by a worker so that a burst of
    Jira events costs a bounded number of threads, never one per delivery."""
    instance = JiraInstance.get_or_none(JiraInstance.id == instance_id)
    if instance is None:
        return False
    options = WidgetOptions(max_age=queue.settings().widget_max_age)
    try:
        return refresh(instance, key, options)
    except JiraError:
        return False  # stays stale: the next view reads Jira itself


def enqueue_refresh(instance: JiraInstance, key: str, options: WidgetOptions) -> bool:
    """``reread`` for a webhook request: send the re-read to the queue, answer at once."""
    queue.enqueue(REFRESH_TASK, instance.id, key)
    return False


def on_issue_event(instance: JiraInstance, payload: dict, options: WidgetOptions,
                   reread: Callable[[JiraInstance, str, WidgetOptions], bool] = refresh
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
            reread(instance, held, options)
        except JiraError:
            pass  # stays stale: the next view reads Jira itself
    return [held for held, _ in found]
