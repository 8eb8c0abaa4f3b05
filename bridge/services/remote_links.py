"""The remote link on a Jira issue back to the Asana task it is linked to (issue 17 §5).

When a task is linked to an issue (the lookup's attach, the create form, a rule run), the
issue gets a remote link to the task: title = the task's name, Asana's icon, the task's
permalink, and ``globalId = asana-task=<task gid>`` so a repeat updates the link instead of
adding a second one (WADL 7.6.1 ``issue/{issueIdOrKey}/remotelink``: "If a globalId is
provided and a remote issue link exists with that globalId, the remote issue link is
updated"). Unlinking removes it (``DELETE ...?globalId=``). Both are done with the tokens
of the user who linked: Jira's permission model (Link Issues) decides, as it does for
creating issues. Where Jira refuses (403: no Link Issues permission, or linking turned
off), the link in Asana stands and the widget's footer says the back-link was not made.

Queued, not inside the request. Making the remote link needs the task's name and
permalink (a read from Asana) and a write to Jira: two more round trips inside Asana's
10 s budget for on-submit and attach, where the issue has just been created and the answer
matters more than the back-link. It is not needed for the answer, and it must survive a
Jira that is down for a while: so the request records the wish (a ``RemoteLink`` row) and
sends a nudge to the durable queue; a worker makes the link, retries with backoff while
Jira or Asana is unavailable, and records the outcome, which the widget's footer shows.
A sweep in every worker re-sends rows whose message was lost (``bridge.queue``: the row
is the work). Repeats are harmless: the ``globalId`` makes the POST an upsert.
"""

from __future__ import annotations

import datetime as dt
import logging

import peewee as pw

from .. import queue
from ..asana.errors import (
    AsanaError,
    AsanaNeedsReconnect,
    AsanaNotFound,
    AsanaRateLimited,
    AsanaUnavailable,
)
from ..db import database
from ..jira.errors import (
    JiraError,
    JiraNeedsReconnect,
    JiraNotFound,
    JiraPermissionDenied,
    JiraRateLimited,
    JiraUnavailable,
)
from ..models import IssueLink, IssueSnapshot, RemoteLink, audit
from ..timeutil import utcnow
from .context import Context

log = logging.getLogger("bridge.remote_links")

TASK = "remote_links.sync"
APPLICATION = {"type": "com.asana", "name": "Asana"}
RELATIONSHIP = "Asana task"  # Jira groups an issue's remote links under this heading
ICON_PATH = "/static/asana-task-16.svg"
ICON_TITLE = "Asana task"
TITLE_MAX = 255
MAX_ATTEMPTS = 8
REQUEUE_AFTER = dt.timedelta(minutes=2)  # a sent message not acted on by then was lost

PENDING, MADE, REFUSED, FAILED = "pending", "made", "refused", "failed"

REFUSED_NOTICE = ("Linked in Asana; Jira did not let {who} link the issue back to this "
                  "task (Link Issues permission).")


def global_id(task_gid: str) -> str:
    """The remote link's ``globalId``: one per task and issue, whoever links it."""
    return f"asana-task={task_gid}"


def payload(task_gid: str, name: str, url: str, public_url: str) -> dict:
    """The create-or-update request (WADL "Remote Issue Link Create Or Update Request")."""
    title = (name or "").strip() or f"Asana task {task_gid}"
    if len(title) > TITLE_MAX:
        title = title[:TITLE_MAX - 1] + "…"
    return {"globalId": global_id(task_gid), "application": dict(APPLICATION),
            "relationship": RELATIONSHIP,
            "object": {"url": url, "title": title,
                       "icon": {"url16x16": public_url.rstrip("/") + ICON_PATH,
                                "title": ICON_TITLE}}}


# -- the wish (called where links are made and removed: services.links) --------------------

def on_linked(link: IssueLink) -> RemoteLink | None:
    """Record that ``link``'s issue should link back to its task, and queue it."""
    if link.linked_by_id is None:
        return None
    now = utcnow()
    where = ((RemoteLink.instance == link.instance_id) & (RemoteLink.issue_id == link.issue_id)
             & (RemoteLink.task_gid == link.task_gid))
    row = RemoteLink.get_or_none(where)
    if row is None:
        try:
            with database.atomic():  # a savepoint: the same link may be made twice at once
                row = RemoteLink.create(instance=link.instance_id, issue_id=link.issue_id,
                                        issue_key=link.issue_key, task_gid=link.task_gid,
                                        link=link.id, user=link.linked_by_id,
                                        next_attempt_at=now, enqueued_at=now, updated_at=now)
        except pw.IntegrityError:
            row = RemoteLink.get(where)
        else:
            _send(row.id)
            return row
    (RemoteLink.update(wanted=True, state=PENDING, link=link.id, user=link.linked_by_id,
                       issue_key=link.issue_key, generation=RemoteLink.generation + 1,
                       attempts=0, next_attempt_at=now, enqueued_at=now, error=None,
                       updated_at=now)
     .where(RemoteLink.id == row.id).execute())
    _send(row.id)
    return row


def on_unlinked(link: IssueLink) -> None:
    """Record that the remote link of ``link`` should go, and queue its removal. Nothing
    to do when no remote link was ever asked for."""
    now = utcnow()
    changed = (RemoteLink.update(wanted=False, state=PENDING, link=None,
                                 generation=RemoteLink.generation + 1, attempts=0,
                                 next_attempt_at=now, enqueued_at=now, error=None,
                                 updated_at=now)
               .where((RemoteLink.instance == link.instance_id)
                      & (RemoteLink.issue_id == link.issue_id)
                      & (RemoteLink.task_gid == link.task_gid)).execute())
    if changed:
        row = RemoteLink.get(instance=link.instance_id, issue_id=link.issue_id,
                             task_gid=link.task_gid)
        _send(row.id)


def _send(row_id: int) -> None:
    try:
        queue.enqueue(TASK, row_id)
    except Exception as exc:  # the sweep sends it later: the row is the work
        log.warning("remote_link.enqueue_failed row=%s error=%s", row_id, type(exc).__name__)


def notice(link_id: int | None) -> str | None:
    """The widget footer for a link whose back-link Jira refused, else ``None``."""
    if link_id is None:
        return None
    row = (RemoteLink.select(RemoteLink.state, RemoteLink.error)
           .where((RemoteLink.link == link_id) & (RemoteLink.state == REFUSED)).first())
    return row.error if row is not None else None


# -- the work -----------------------------------------------------------------------------------

def sync(ctx: Context, row_id: int) -> str | None:
    """Queue handler: make or remove one remote link. Returns the row's state afterwards
    (``None``: nothing to do, or the row is gone)."""
    row = RemoteLink.get_or_none(RemoteLink.id == row_id)
    if row is None or row.state != PENDING or row.next_attempt_at > utcnow() + dt.timedelta(
            seconds=1):
        return None
    generation = row.generation
    try:
        if row.wanted:
            outcome = _make(ctx, row)
        else:
            outcome = _remove(ctx, row)
    except Exception as exc:  # decide: retry later, or give up with a sentence
        outcome = _after_failure(row, exc)
    return _finish(row, generation, outcome)


def _make(ctx: Context, row: RemoteLink) -> dict:
    settings = ctx.settings
    user = row.user
    if user is None:
        return {"state": FAILED, "error": "Nobody is left to link the issue back to the task."}
    task = ctx.asana(user).task(row.task_gid, fields="name,permalink_url")
    url = task.get("permalink_url") or (
        f"{settings.asana_base_url.rstrip('/')}/0/0/{row.task_gid}")
    body = payload(row.task_gid, task.get("name") or "", url, settings.public_url or "")
    jira = ctx.jira_for(row.instance, user=user)
    made = jira.save_remote_link(row.issue_id, body)
    return {"state": MADE, "jira_link_id": str(made.get("id") or "") or None, "error": None}


def _remove(ctx: Context, row: RemoteLink) -> dict:
    user = row.user
    if user is not None:
        try:
            ctx.jira_for(row.instance, user=user).delete_remote_link(
                row.issue_id, global_id(row.task_gid))
        except JiraNotFound:
            pass  # gone already (or the issue is): nothing left to remove
    return {"delete": True}


def _after_failure(row: RemoteLink, exc: Exception) -> dict:
    who = (row.user.name or row.user.email or "the user who linked it") if row.user else \
        "the user who linked it"
    if isinstance(exc, JiraPermissionDenied):
        if not row.wanted:
            return {"delete": True, "outcome": "refused"}
        return {"state": REFUSED, "error": REFUSED_NOTICE.format(who=who)}
    if isinstance(exc, (JiraNeedsReconnect, AsanaNeedsReconnect)):
        return {"state": FAILED, "error": f"{who} must reconnect before the issue can link "
                                          "back to this task."}
    if isinstance(exc, (JiraNotFound, AsanaNotFound)):
        if not row.wanted:
            return {"delete": True}
        return {"state": FAILED, "error": "The issue or the task is gone or hidden."}
    transient = isinstance(exc, (JiraUnavailable, JiraRateLimited, AsanaUnavailable,
                                 AsanaRateLimited))
    if transient and row.attempts + 1 < MAX_ATTEMPTS:
        retry_after = getattr(exc, "retry_after", None)
        delay = max(float(retry_after or 0), min(900.0, 5.0 * 2 ** row.attempts))
        return {"state": PENDING, "retry_in": delay, "error": None}
    if not isinstance(exc, (JiraError, AsanaError)):
        log.exception("remote_link.unexpected row=%s", row.id)
    return {"state": FAILED, "error": "Jira or Asana kept failing; the link back was not made."}


def _finish(row: RemoteLink, generation: int, outcome: dict) -> str | None:
    """Record the outcome unless the wish changed meanwhile (then that change's own
    message does the work)."""
    now = utcnow()
    still = (RemoteLink.id == row.id) & (RemoteLink.generation == generation)
    if outcome.get("delete"):
        removed = RemoteLink.delete().where(still).execute()
        if removed:
            audit("remote_link.removed", target=row.issue_key, task=row.task_gid,
                  outcome=outcome.get("outcome", "ok"))
        return None
    state = outcome["state"]
    values = {"state": state, "attempts": RemoteLink.attempts + 1, "updated_at": now,
              "error": outcome.get("error"), "enqueued_at": None}
    if outcome.get("jira_link_id"):
        values["jira_link_id"] = outcome["jira_link_id"]
    if state == PENDING:
        values["next_attempt_at"] = now + dt.timedelta(seconds=outcome["retry_in"])
        values["enqueued_at"] = now
    if not RemoteLink.update(**values).where(still).execute():
        return None
    if state == PENDING:
        queue.enqueue(TASK, row.id, delay=outcome["retry_in"])
        return state
    audit("remote_link." + state, target=row.issue_key, task=row.task_gid,
          actor=row.user.gid if row.user else "")
    if state == REFUSED or row.state == REFUSED:
        _touch_widget(row)
    return state


def _touch_widget(row: RemoteLink) -> None:
    """Bump the issue's snapshot generation: every node renders the widget again, with
    the footer ``notice`` gives (Jira is not read again)."""
    (IssueSnapshot.update(generation=IssueSnapshot.generation + 1)
     .where((IssueSnapshot.instance == row.instance_id)
            & (IssueSnapshot.issue_key == row.issue_key)).execute())


# -- recovery --------------------------------------------------------------------------------

def sweep(now: dt.datetime | None = None) -> int:
    """Re-send due rows whose message was lost (never sent, or not acted on in time)."""
    now = now or utcnow()
    sent = 0
    due = (RemoteLink.select(RemoteLink.id, RemoteLink.enqueued_at)
           .where((RemoteLink.state == PENDING) & (RemoteLink.next_attempt_at <= now)
                  & (RemoteLink.enqueued_at.is_null()
                     | (RemoteLink.enqueued_at < now - REQUEUE_AFTER)))
           .limit(200))
    for row in due:
        cond = (RemoteLink.enqueued_at.is_null() if row.enqueued_at is None
                else RemoteLink.enqueued_at == row.enqueued_at)
        if RemoteLink.update(enqueued_at=now).where((RemoteLink.id == row.id) & cond).execute():
            queue.enqueue(TASK, row.id)
            sent += 1
    return sent

