"""The durable queue: huey, on the bridge's own database unless Redis is configured.

Why huey: a small, well-kept queue by peewee's author whose SQL storage runs on the peewee
database the bridge already has, so a single node needs no new server:

- ``BRIDGE_QUEUE_URL`` empty (the default): huey's ``SqlStorage`` (``huey.contrib.sql_huey``,
  peewee) on ``BRIDGE_DATABASE_URL``: SQLite for one node (``BEGIN IMMEDIATE`` around each
  dequeue), PostgreSQL for several (``FOR UPDATE SKIP LOCKED``, so two nodes never take the
  same message). Its four tables carry a ``huey_`` prefix and are created by migration 2.
- ``BRIDGE_QUEUE_URL=redis://...``: huey's ``RedisHuey``, for large installations.

What huey gives and what it does not: a message is removed from storage when a worker
takes it, so a worker killed mid-task loses that message (at-most-once delivery). The
bridge therefore never keeps the truth in the queue: each piece of work has its own row
(``AttachmentCopy``) that records intent before acting, and a maintenance sweep run by every
worker re-enqueues rows whose worker died (``add_maintenance``). A huey message is a nudge;
the row is the work.

Handlers register by name (``register``); the web process and the workers build the same
``Huey`` from the settings (``configure``), so ``enqueue`` works from either.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from .config import ConfigError

log = logging.getLogger("bridge.queue")

QUEUE_NAME = "bridge"
HUEY_TABLE_PREFIX = "huey_"

_handlers: dict[str, tuple[Callable[..., Any], dict]] = {}
_periodic: dict[str, tuple[Callable[..., Any], Callable[[dt.datetime], bool]]] = {}
_maintenance: dict[str, Callable[[], Any]] = {}
_state: dict[str, Any] = {"huey": None, "settings": None, "wrappers": {}}


class QueueError(ConfigError):
    """The queue cannot be set up as configured (a setting names it). Safe to show; the
    CLI prints it as a sentence, like any ``ConfigError``."""


# -- registration (at import time of the modules that own the work) ----------------------

def register(name: str, **options) -> Callable[[Callable], Callable]:
    """Declare ``fn`` as the handler of messages called ``name``."""

    def decorate(fn: Callable) -> Callable:
        _handlers[name] = (fn, options)
        if _state["huey"] is not None:
            _wrap(_state["huey"], name)
        return fn

    return decorate


def periodic(name: str, when: Callable[[dt.datetime], bool]) -> Callable[[Callable], Callable]:
    """Declare ``fn`` as a job huey's scheduler runs when ``when(now)`` is true
    (``huey.crontab(...)`` builds such predicates)."""

    def decorate(fn: Callable) -> Callable:
        _periodic[name] = (fn, when)
        if _state["huey"] is not None:
            _wrap_periodic(_state["huey"], name)
        return fn

    return decorate


def add_maintenance(name: str, fn: Callable[[], Any]) -> None:
    """``fn`` runs every few seconds in every worker (see ``bridge.worker``): sweeps that
    recover work whose worker died must not wait for a minute-granular cron."""
    _maintenance[name] = fn


def maintenance() -> dict[str, Callable[[], Any]]:
    return dict(_maintenance)


# -- building huey from the settings -----------------------------------------------------

def configure(settings) -> Any:
    """Build the process's huey from ``settings`` and bind every registered handler."""
    huey = _build(settings)
    _state.update(huey=huey, settings=settings, wrappers={})
    for name in _handlers:
        _wrap(huey, name)
    for name in _periodic:
        _wrap_periodic(huey, name)
    return huey


def current():
    huey = _state["huey"]
    if huey is None:
        raise QueueError("the queue is not configured (create_app was not called)")
    return huey


def settings():
    """The settings the queue was configured with (workers read theirs from here)."""
    if _state["settings"] is None:
        raise QueueError("the queue is not configured (create_app was not called)")
    return _state["settings"]


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


def _wrap(huey, name: str) -> None:
    fn, options = _handlers[name]
    _state["wrappers"][name] = huey.task(name=name, **options)(fn)


def _wrap_periodic(huey, name: str) -> None:
    fn, when = _periodic[name]
    _state["wrappers"][name] = huey.periodic_task(when, name=name)(fn)


# -- sending -----------------------------------------------------------------------------

def enqueue(name: str, *args, delay: float | None = None) -> None:
    """Send a message to ``name``'s handler, now or after ``delay`` seconds."""
    current()
    wrapper = _state["wrappers"].get(name)
    if wrapper is None:
        raise QueueError(f"no handler is registered for {name!r}")
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

