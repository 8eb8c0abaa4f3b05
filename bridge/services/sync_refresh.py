"""Re-reading the linked issues of synced projects, for ``services.sync``: once when an
admin turns the sync on (the fields get their first values), and periodically, which is
how fields follow Jira where webhooks are off.

Each issue is re-read through the widget's own refresh (``services.widget.refresh``), so
one Jira read feeds both the widget's snapshot and the fields.

The periodic re-read runs once per period across every worker of every node, per Jira
instance: huey's scheduler fires it every five minutes in each worker, and only the
worker that claims the instance's turn (``services.turns``) reads Jira. The period:

- every 5 minutes, unless
- the instance's webhook is delivering (``services.webhooks.delivering``: registered,
  Jira delivered to the bridge within the last 24 hours, and its filter names every
  project with linked issues): then hourly, a safety net for a lost delivery, since the
  webhook already brings each change within a second.
"""

from __future__ import annotations

import datetime as dt
import logging

from ..jira.errors import JiraError
from ..models import AsanaWorkspace, FieldSync, IssueLink, JiraInstance
from ..timeutil import utcnow
from . import turns, webhooks, widget
from .context import Context

log = logging.getLogger("bridge.sync")

BACKFILL_TASK = "sync.backfill"
MAX_ISSUES_PER_RUN = 2000
TICK = dt.timedelta(minutes=5)  # how often the scheduler fires it (bridge.tasks.PERIODIC)
PERIOD = dt.timedelta(minutes=5)  # without a delivering webhook
SAFETY_NET = dt.timedelta(hours=1)  # with one
RENEW_EVERY = 50  # issues read between renewals of the turn


def linked_issues(sync: FieldSync) -> list[tuple[JiraInstance, str]]:
    """Every (instance, issue key) linked to a task in the project's workspace (which of
    those tasks are in the project ``services.sync`` asks Asana, once per task)."""
    rows = (IssueLink.select(IssueLink.issue_key, JiraInstance)
            .join(JiraInstance).join(AsanaWorkspace)
            .where(AsanaWorkspace.gid == sync.workspace_gid)
            .order_by(IssueLink.id.desc()).limit(MAX_ISSUES_PER_RUN))
    seen: dict[tuple[int, str], tuple[JiraInstance, str]] = {}
    for link in rows:
        seen.setdefault((link.instance.id, link.issue_key), (link.instance, link.issue_key))
    return list(seen.values())


def _reread_one(ctx: Context, instance: JiraInstance, key: str) -> bool:
    widget.invalidate(instance, issue_key=key)
    try:
        widget.refresh(ctx, instance, key)
        return True
    except JiraError as exc:
        log.info("sync.reread_failed key=%s error=%s", key, exc.code)
        return False


def reread(ctx: Context, sync: FieldSync) -> int:
    """Re-read the project's linked issues now; returns how many were read."""
    return sum(_reread_one(ctx, instance, key) for instance, key in linked_issues(sync))


def backfill(ctx: Context, sync_id: int) -> int:
    sync = FieldSync.get_or_none(FieldSync.id == sync_id)
    if sync is None or sync.state != "active":
        return 0
    return reread(ctx, sync)


def period_for(instance: JiraInstance, now: dt.datetime | None = None) -> dt.timedelta:
    """How long until the instance's linked issues are re-read again (module docstring)."""
    return SAFETY_NET if webhooks.delivering(instance, now) else PERIOD


def synced_instances() -> list[JiraInstance]:
    """The Jira instances of workspaces with at least one active sync."""
    workspaces = (FieldSync.select(FieldSync.workspace_gid)
                  .where(FieldSync.state == "active").distinct())
    return list(JiraInstance.select().join(AsanaWorkspace)
                .where(AsanaWorkspace.gid.in_(workspaces)).order_by(JiraInstance.id))


def _keys(instance: JiraInstance) -> list[str]:
    rows = (IssueLink.select(IssueLink.issue_key).where(IssueLink.instance == instance.id)
            .order_by(IssueLink.id.desc()).limit(MAX_ISSUES_PER_RUN).tuples())
    return list(dict.fromkeys(key for (key,) in rows))


def refresh_instance(ctx: Context, instance: JiraInstance, *, now: dt.datetime | None = None,
                     holder: str | None = None) -> int | None:
    """Re-read the instance's linked issues if it is this worker's turn; ``None`` when
    it is not (not due yet, or another worker has it), else how many were read."""
    name, holder = f"sync.refresh/{instance.id}", holder or turns.holder_id()
    started = now or utcnow()
    if not turns.claim(name, holder, now=started):
        return None
    read = 0
    try:
        period = period_for(instance, started)
        for done, key in enumerate(_keys(instance)):
            if done and done % RENEW_EVERY == 0 and not turns.renew(name, holder):
                log.warning("sync.refresh_turn_lost instance=%s", instance.id)
                return read  # held too long: another worker has taken over
            read += _reread_one(ctx, instance, key)
    except BaseException:
        turns.give_up(name, holder)
        raise
    turns.finish(name, holder, started=started, period=period, tick=TICK)
    log.info("sync.refreshed instance=%s read=%d next_in=%ds", instance.id, read,
             period.total_seconds())
    return read


def refresh_all(ctx: Context, *, now: dt.datetime | None = None,
                holder: str | None = None) -> int:
    """The scheduled job (every five minutes in every worker): each synced instance whose
    turn this worker takes is re-read; returns how many issues were read."""
    return sum(refresh_instance(ctx, instance, now=now, holder=holder) or 0
               for instance in synced_instances())
