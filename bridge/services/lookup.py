"""Linking an existing Jira issue to an Asana task: the lookup's typeahead and attach.

Reference: asana-app-components.md §5.3 (lookup), §5.6 (typeahead text), §6.3-§6.4
(responses); issue 8 §4; ARCHITECTURE §2 (several instances per workspace, several issues
per task) and §8 (a pasted URL of another host is refused and never fetched).

- What the user typed is a key (``ABC-12``), a URL of one of the workspace's Jira
  instances (``issue_refs``), or free text: Jira's issue picker, then a full-text search
  built by ``jira.jql`` (no input changes the query's meaning). At most 50 items, each
  with key, summary and status; its ``value`` is the issue's canonical ``/browse/KEY``
  URL, so attaching the chosen item names its instance unambiguously.
- Everything is read with the acting user's own Jira token (``jira_as_user``): they see
  only what Jira lets them see, and a user with no usable credential gets
  ``JiraNotConnected`` (401: Asana opens the Authentication URL).
- Attaching records one link per issue and task through ``links`` (which holds the
  ``BRIDGE_MAX_ISSUES_PER_TASK`` limit and forgets links whose Asana attachment is gone,
  asked of Asana with the user's Asana token) and an audit event; a refused attach
  records an audit event too and changes nothing else.
"""

from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..asana import components
from ..asana.errors import AsanaError, AsanaNeedsReconnect
from ..db import database
from ..errors import BridgeError
from ..jira import issue_refs, jql
from ..jira.client import JiraClient
from ..jira.errors import (
    JiraError,
    JiraInvalidInput,
    JiraNeedsReconnect,
    JiraNotFound,
    JiraPermissionDenied,
)
from ..models import JiraInstance, audit
from . import links
from .context import Context

log = logging.getLogger("bridge.lookup")

MAX_ITEMS = 50  # reference §5.4, §6.3: typeahead results are limited to 50 items
TITLE_MAX = 200
FIELDS = ("summary", "status", "issuetype")
MAX_PARALLEL = 8  # instances asked at once by one typeahead


class LookupRefused(BridgeError):
    status = 400
    code = "lookup_refused"


class NoJiraConnected(LookupRefused):
    status = 404
    code = "no_jira_connected"
    public_message = ("No Jira is connected to this Asana workspace yet. Ask your Jira "
                      "administrator to connect it.")


class NotAnIssue(LookupRefused):
    code = "not_an_issue"
    public_message = "Paste the URL of a Jira issue, or its key (like ABC-12)."


class OtherHost(LookupRefused):
    code = "other_host"
    public_message = ("That address is not a Jira connected to this Asana workspace. Paste "
                      "an issue URL of your Jira, or the issue key.")


class CloudIssue(LookupRefused):
    code = "jira_cloud_url"
    public_message = ("That is a Jira Cloud issue. This app links Jira Server and Data "
                      "Center issues; for Jira Cloud use Asana's own Jira Cloud integration.")


class IssueNotVisible(LookupRefused):
    status = 404
    code = "issue_not_visible"
    public_message = "Jira has no such issue, or your Jira account cannot see it."


TooManyIssues = links.TaskFull


class NoTask(LookupRefused):
    code = "no_task"
    public_message = "The request from Asana names no task."


@dataclass(frozen=True)
class Target:
    """What the user's text names: a key on some instances (a URL names exactly one)."""

    key: str
    instances: tuple[JiraInstance, ...]
    from_url: bool = False


def _resolve(text: str, connected: list[JiraInstance]) -> Target | None:
    """Key or URL → ``Target``; free text → ``None``. Refuses foreign and Cloud URLs."""
    if issue_refs.is_url(text):
        by_base = {i.base_url: i for i in connected}
        try:
            ref = issue_refs.parse_url(text, list(by_base))
        except issue_refs.CloudURL:
            raise CloudIssue() from None
        except issue_refs.NotJiraOfWorkspace:
            raise OtherHost() from None
        if ref.key is None:
            raise NotAnIssue()
        return Target(ref.key, (by_base[ref.base_url],), from_url=True)
    key = issue_refs.as_key(text)
    return Target(key, tuple(connected)) if key else None


def _item(instance: JiraInstance, issue: dict, name_instance: bool) -> dict:
    fields = issue.get("fields") or {}
    key = str(issue.get("key", ""))
    status = (fields.get("status") or {}).get("name") or "Unknown status"
    subtitle = f"{status} · {instance.name or instance.base_url}" if name_instance else status
    item = {"title": components.clip(f"{key} {fields.get('summary') or ''}", TITLE_MAX),
            "subtitle": components.clip(subtitle, 100),
            "value": issue_refs.browse_url(instance.base_url, key)}
    icon = components.icon((fields.get("issuetype") or {}).get("iconUrl"))
    if icon:
        item["icon_url"] = icon
    return item


def _clients(ctx: Context, candidates) -> list[tuple[JiraInstance, JiraClient]]:
    """Clients for the instances the user can use; ``JiraNotConnected`` if none."""
    usable, missing = [], None
    for instance in candidates:
        try:
            usable.append((instance, ctx.jira_for(instance)))
        except JiraNeedsReconnect as exc:
            missing = exc
    if not usable and missing is not None:
        raise missing
    return usable


def _free_text(client: JiraClient, text: str) -> list[dict]:
    """Jira's issue picker, then the issues' status in one search; a full-text search when
    the picker finds nothing or fails."""
    try:
        keys = [k for k in client.issue_picker(text) if issue_refs.KEY.match(k)][:MAX_ITEMS]
        if keys:
            found = client.search(jql.keys_in(keys), fields=FIELDS, max_results=len(keys))
            by_key = {i.get("key"): i for i in found.get("issues") or []}
            return [by_key[k] for k in keys if k in by_key]
    except JiraNeedsReconnect:
        raise
    except JiraError as exc:
        log.info("lookup.picker_failed error_code=%s", exc.code)
    query = jql.text_search(text)
    if query is None:
        return []
    return list(client.search(query, fields=FIELDS, max_results=MAX_ITEMS).get("issues") or [])


def typeahead(ctx: Context, text: str) -> dict:
    """``TypeaheadListResponse`` for the lookup (reference §5.3, §6.3)."""
    text = text.strip()
    connected = ctx.instances()
    if not connected:
        return {"header": NoJiraConnected.public_message, "items": []}
    if not text:
        return {"items": []}
    try:
        target = _resolve(text, connected)
    except LookupRefused as exc:
        return {"header": exc.public_message, "items": []}
    several = len(connected) > 1
    clients = _clients(ctx, target.instances if target else connected)

    def search(client: JiraClient) -> list[dict]:
        if target is None:
            return _free_text(client, text)
        try:
            return [client.issue(target.key, fields=FIELDS)]
        except (JiraNotFound, JiraPermissionDenied):
            # A pasted URL names one issue; typed text that looks like a key may still be
            # words of a summary.
            return [] if target.from_url else _free_text(client, text)

    items: list[dict] = []
    failure: JiraError | None = None
    for instance, issues, error in _on_each(clients, search):
        if isinstance(error, JiraNeedsReconnect) and len(clients) == 1:
            raise error
        if error is not None:  # one instance down or disconnected: the others answer
            if not isinstance(error, JiraNeedsReconnect):
                failure = failure or error
            continue
        items.extend(_item(instance, issue, several) for issue in issues)
    if not items and failure is not None:
        raise failure
    body: dict = {"items": items[:MAX_ITEMS]}
    if not items:
        body["header"] = "No Jira issue matches, or your Jira account cannot see it."
    return body


def _on_each(clients: list[tuple[JiraInstance, JiraClient]], fn):
    """``(instance, fn(client), error)`` for every instance, in order. Several instances
    are asked at once, so a typeahead costs one Jira's latency, not their sum; each worker
    runs in a copy of the request's context (the secrets it hides from logs) and returns
    any database connection it opened (marking a lost token)."""

    def one(instance: JiraInstance, client: JiraClient, worker: bool):
        try:
            return instance, fn(client), None
        except JiraError as exc:
            return instance, None, exc
        finally:
            if worker and not database.is_closed():
                database.close()

    if len(clients) <= 1:
        return [one(instance, client, False) for instance, client in clients]
    with ThreadPoolExecutor(max_workers=min(len(clients), MAX_PARALLEL)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, instance, client, True)
                   for instance, client in clients]
        return [future.result() for future in futures]


def attach(ctx: Context, text: str, attachment: str | None = None) -> dict:
    """``AttachedResourceResponse`` for the lookup's attach (reference §5.3, §6.4): the
    issue ``text`` names, linked to the context's task (``attachment``: the Asana
    attachment Asana made for it). Every refusal is audited and changes nothing else."""
    try:
        return _attach(ctx, text, attachment)
    except BridgeError as exc:
        audit("lookup.attach_refused", actor=ctx.user or "", target=ctx.task or "",
              outcome=exc.code, workspace=ctx.workspace)
        raise


def _attach(ctx: Context, text: str, attachment: str | None) -> dict:
    task = ctx.task
    if not task:
        raise NoTask()
    connected = ctx.instances()
    if not connected:
        raise NoJiraConnected()
    target = _resolve(text.strip(), connected)
    if target is None:
        raise NotAnIssue()
    instance, issue = _find(ctx, target)
    key = str(issue["key"]).upper()
    url = issue_refs.browse_url(instance.base_url, key)
    user = ctx.asana_user()  # jira_for found its credential
    limit = ctx.settings.max_issues_per_task
    if links.find(task, instance, str(issue["id"])) is not None:
        made = links.link(task_gid=task, instance=instance, issue_id=str(issue["id"]),
                          issue_key=key, user=user, attachment_gid=attachment)[1]
    else:
        with links.reserved(task, limit, lambda: _attachments(ctx, task, limit),
                            actor=ctx.user) as slot:
            made = links.link(task_gid=task, instance=instance,
                              issue_id=str(issue["id"]), issue_key=key, user=user,
                              attachment_gid=attachment, slot=slot)[1]
    if made:
        audit("lookup.linked", actor=ctx.user, target=url, task=task)
    summary = (issue.get("fields") or {}).get("summary") or ""
    return {"resource_name": components.clip(f"{key} {summary}", TITLE_MAX),
            "resource_url": url}


def _find(ctx: Context, target: Target) -> tuple[JiraInstance, dict]:
    """The first instance (oldest first) where the user's own token sees the issue."""
    for instance, client in _clients(ctx, target.instances):
        try:
            return instance, client.issue(target.key, fields=FIELDS)
        except (JiraNotFound, JiraPermissionDenied, JiraInvalidInput):
            continue
    raise IssueNotVisible()


def _attachments(ctx: Context, task: str, limit: int) -> list[dict]:
    """The task's attachments, read with the user's Asana token; when Asana cannot say,
    every link still counts (so the task stays full)."""
    try:
        return ctx.asana().attachments(task)
    except AsanaNeedsReconnect:
        raise
    except AsanaError as exc:
        log.info("lookup.attachments_unknown error_code=%s", exc.code)
        raise links.TaskFull(limit) from None
