"""Re-reading the linked issues of synced projects, for ``services.sync``: once when an
admin turns the sync on (the fields get their first values), and periodically, which is
how fields follow Jira where webhooks are off.

Each issue is re-read through the widget's own refresh (``services.widget.refresh``), so
one Jira read feeds both the widget's snapshot and the fields.
"""

from __future__ import annotations

import logging

from ..jira.errors import JiraError
from ..models import AsanaWorkspace, FieldSync, IssueLink, JiraInstance
from . import widget
from .context import Context

log = logging.getLogger("bridge.sync")

BACKFILL_TASK = "sync.backfill"
MAX_ISSUES_PER_RUN = 2000


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


def reread(ctx: Context, sync: FieldSync) -> int:
    """Re-read the project's linked issues now; returns how many were read."""
    read = 0
    for instance, key in linked_issues(sync):
        widget.invalidate(instance, issue_key=key)
        try:
            widget.refresh(ctx, instance, key)
            read += 1
        except JiraError as exc:
            log.info("sync.reread_failed key=%s error=%s", key, exc.code)
    return read


def backfill(ctx: Context, sync_id: int) -> int:
    sync = FieldSync.get_or_none(FieldSync.id == sync_id)
    if sync is None or sync.state != "active":
        return 0
    return reread(ctx, sync)


def refresh_all(ctx: Context) -> int:
    """Every five minutes: the fields follow Jira even where no webhook tells the bridge
    of a change (with webhooks this finds nothing to write)."""
    return sum(reread(ctx, sync) for sync in FieldSync.select().where(FieldSync.state == "active"))
