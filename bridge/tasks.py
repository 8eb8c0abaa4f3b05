"""Every piece of work the queue runs, listed in one place.

The web process (``create_app``) and the worker configure the queue from these tables
(``configure``), so a message one sends is one the other knows, whichever modules each
happened to import; nothing registers itself as a side effect of an import.

- ``TASKS``: messages by name, each a nudge to do one piece of work whose truth is a row
  (``bridge.queue`` explains why). A handler gets the worker's ``Context`` (the settings;
  the row says who acts) before the message's own arguments.
- ``SWEEPS``: run every few seconds by every worker (``bridge.worker``), to send again
  the work whose message or worker was lost.
- ``PURGES``: run every 15 minutes by huey's scheduler in a worker, to keep the tables the
  public can grow bounded; ``PERIODIC`` lists the scheduled jobs (they get the context too).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from huey import crontab

from . import queue
from .db import database
from .services import (
    attachments,
    idempotency,
    jira_upgrades,
    maintenance,
    remote_links,
    sync,
    sync_refresh,
    turns,
    webhook_filter,
    widget,
    workers,
)
from .services.context import Context
from .services.process_cache import ProcessCache

log = logging.getLogger("bridge.tasks")

TASKS: dict[str, Callable[..., Any]] = {
    attachments.TASK: attachments.copy,          # one file from Asana onto a Jira issue
    widget.REFRESH_TASK: widget.refresh_later,   # the re-read a Jira webhook asked for
    remote_links.TASK: remote_links.sync,        # the link back to the Asana task
    sync.WRITE_TASK: sync.write,                 # Jira's state into a task's Asana fields
    sync.APPLY_TASK: sync.apply_latest,          # the same, once Asana takes requests again
    sync_refresh.BACKFILL_TASK: sync_refresh.backfill,  # a project's fields, first values
    webhook_filter.TASK: webhook_filter.follow,  # the webhook's filter, a new project in it
}

SWEEPS: dict[str, Callable[[], Any]] = {
    "attachments.sweep": attachments.sweep,
    "remote_links.sweep": remote_links.sweep,
    "sync.sweep": sync.sweep,
    "webhook_filter.sweep": webhook_filter.sweep,
}

PURGES: dict[str, Callable[[], Any]] = {
    "expired": maintenance.purge,          # OAuth flows, rate-limit windows
    "worker_beats": workers.prune,
    "finished_runs": idempotency.purge,
    "periodic_turns": turns.prune,         # turns of jobs that stopped running
}


def purge(_ctx: Context) -> dict:
    """Run every purge; one failing does not stop the others (no purge needs settings)."""
    removed = {}
    try:
        for name, fn in PURGES.items():
            try:
                removed[name] = fn()
            except Exception:
                log.exception("purge.failed name=%s", name)
        log.info("purge.done %s", " ".join(f"{k}={v}" for k, v in removed.items()))
        return removed
    finally:
        if not database.is_closed():
            database.close()


PERIODIC = {"maintenance.purge": (purge, crontab(minute="*/15")),
            # synced fields follow Jira where no webhook says what changed: fired every
            # five minutes in every worker, run once per instance and period across all
            # (services.sync_refresh: hourly where the webhook is delivering)
            "sync.refresh": (sync_refresh.refresh_all, crontab(minute="*/5")),
            # Jira upgraded in place: each instance's version read again, once a day per
            # instance across all workers (services.jira_upgrades)
            "jira.versions": (jira_upgrades.check_all, crontab(minute="23"))}


def configure(settings, cache: ProcessCache | None = None) -> Any:
    """This process's queue, knowing every task above; handlers and periodic jobs run
    with a background ``Context`` of ``settings`` and ``cache`` (the app's, from
    ``create_app``; a new one when none is given)."""
    ctx = Context.background(settings, cache if cache is not None else ProcessCache())
    return queue.configure(settings, {name: _with(ctx, fn) for name, fn in TASKS.items()},
                           {name: (_with(ctx, fn), when)
                            for name, (fn, when) in PERIODIC.items()})


def _with(ctx: Context, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # huey names a task by its function's module: keep the handler's
    def handler(*args):
        return fn(ctx, *args)

    return handler
