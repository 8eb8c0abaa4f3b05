"""The durable queue: huey, on the bridge's own database unless Redis is configured.

huey's SQL storage runs on the peewee database the bridge already has, so one node needs
no new server (``BRIDGE_QUEUE_URL=redis://...`` for large installations). Delivery is at
most once, so the truth is never a message: each piece of work has its own row, and sweeps
re-send what was lost. What runs on the queue is listed in ``bridge.tasks``; both the web
process and the workers ``configure`` it from that list. Details: docs/background-work.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .config import ConfigError

log = logging.getLogger("bridge.queue")

QUEUE_NAME = "bridge"
HUEY_TABLE_PREFIX = "huey_"

Periodic = Mapping[str, tuple[Callable[..., Any], Callable[[dt.datetime], bool]]]

_state: dict[str, Any] = {"huey": None, "wrappers": {}}


class QueueError(ConfigError):
    """The queue cannot be set up as configured (a setting names it). Safe to show; the
    CLI prints it as a sentence, like any ``ConfigError``."""


# -- building huey from the settings -----------------------------------------------------

def configure(settings, tasks: Mapping[str, Callable[..., Any]],
              periodic: Periodic | None = None) -> Any:
    """Build the process's huey from ``settings`` with a handler for each name in
    ``tasks`` and the ``periodic`` jobs (name → function, ``when(now)`` predicate, as
    ``huey.crontab(...)`` builds)."""
    huey = _build(settings)
    wrappers = {name: huey.task(name=name)(fn) for name, fn in tasks.items()}
    for name, (fn, when) in (periodic or {}).items():
        wrappers[name] = huey.periodic_task(when, name=name)(fn)
    _state.update(huey=huey, wrappers=wrappers)
    return huey


def current():
    huey = _state["huey"]
    if huey is None:
        raise QueueError("the queue is not configured (create_app was not called)")
    return huey


def describe(settings) -> str:
    url = settings.queue_url or ""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis"
    from urllib.parse import urlsplit

    scheme = urlsplit(settings.database_url).scheme
    return "postgresql" if scheme.startswith("postgres") else "sqlite"


def _build(settings):
    from huey import Huey

    url = settings.queue_url or ""
    if url:
        try:
            import redis  # noqa: F401
            from huey import RedisHuey
        except ImportError:
            raise QueueError("BRIDGE_QUEUE_URL points to Redis but the redis package is not "
                             "installed: pip install 'asana-jira-bridge[redis]'") from None
        return RedisHuey(QUEUE_NAME, url=url, results=False, utc=True)
    from .db import open_database

    storage = _sql_storage_class()
    return Huey(QUEUE_NAME, results=False, utc=True, storage_class=storage,
                database=open_database(settings.database_url), create_tables=False)


def _sql_storage_class():
    from huey.contrib.sql_huey import SqlStorage

    class BridgeSqlStorage(SqlStorage):
        """huey's SQL storage with its tables named ``huey_*`` in the bridge's database."""

        def create_models(self):
            kv, schedule, task, counter = super().create_models()
            for model in (kv, schedule, task, counter):
                model._meta.set_table_name(HUEY_TABLE_PREFIX + model.__name__.lower())
            # huey indexes the task table on (priority desc, id); an index object holds
            # the table it was made for, so make it again for the renamed table.
            task._meta.indexes = []
            task.add_index(task.priority.desc(), task.id)
            return kv, schedule, task, counter

    return BridgeSqlStorage


def create_sql_tables(db) -> None:
    """Create huey's tables in ``db`` (migration 2); harmless when they exist."""
    storage = _sql_storage_class()(QUEUE_NAME, database=db, create_tables=False)
    db.create_tables([storage.KV, storage.Schedule, storage.Task, storage.Counter], safe=True)


def sql_table_names() -> list[str]:
    return [HUEY_TABLE_PREFIX + n for n in ("kv", "schedule", "task", "counter")]


# -- sending -----------------------------------------------------------------------------

def enqueue(name: str, *args, delay: float | None = None) -> None:
    """Send a message to ``name``'s handler, now or after ``delay`` seconds."""
    current()
    wrapper = _state["wrappers"].get(name)
    if wrapper is None:
        raise QueueError(f"no task is called {name!r} (bridge.tasks lists them)")
    try:
        if delay and delay > 0:
            wrapper.schedule(args=args, delay=delay)
        else:
            wrapper(*args)
    finally:
        release_connection()


def release_connection() -> None:
    """Give back this thread's connection to the queue's tables (SQL storage): request
    threads enqueue now and then, and must not each keep a connection open."""
    database = getattr(getattr(_state["huey"], "storage", None), "database", None)
    if database is not None and not database.is_closed():
        database.close()

