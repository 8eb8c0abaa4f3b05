"""The database: a peewee ``DatabaseProxy`` bound at start, a connection per request.

SQLite (a file in the instance folder) is the default; PostgreSQL is selected by
``BRIDGE_DATABASE_URL=postgresql://...``. Connections are opened lazily per request and
closed on teardown, never at import time, so gunicorn workers forked from one master each
get their own connections.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import peewee
from playhouse.db_url import connect

database = peewee.DatabaseProxy()


class DatabaseError(Exception):
    """The database cannot be reached or is not usable. The message is safe to show."""


def open_database(url: str) -> peewee.Database:
    """Create (but do not connect) the peewee database for ``url``."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers and one writer work at once across gunicorn workers;
        # busy_timeout makes a second writer wait instead of failing at once.
        # Pooled like PostgreSQL: opening a file connection and setting these pragmas
        # cost more than a whole cached widget view, so a request reuses a connection.
        pragmas = {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1,
                   "synchronous": "normal"}
        if not path or path == ":memory:":
            return connect(url, pragmas=pragmas)  # each connection would be its own db
        # A pooled connection serves one thread at a time, but not always the same one.
        return connect(url.replace("sqlite://", "sqlite+pool://", 1), pragmas=pragmas,
                       max_connections=32, stale_timeout=300, timeout=10,
                       check_same_thread=False)
    if scheme in ("postgres", "postgresql"):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise DatabaseError(
                "BRIDGE_DATABASE_URL points to PostgreSQL but no driver is installed: "
                "pip install 'asana-jira-bridge[postgres]'"
            ) from None
        # A per-process pool: "closing" at the end of a request returns the connection,
        # so a request does not pay for a new PostgreSQL session. Pools are created
        # lazily, after gunicorn forks its workers.
        pooled = url.replace(f"{scheme}://", "postgresql+pool://", 1)
        return connect(pooled, max_connections=32, stale_timeout=300, timeout=10)
    raise DatabaseError(f"unsupported database scheme {scheme!r}")


def open_unpooled(url: str) -> peewee.Database:
    """A database for one connection of its own, opened as a new request's would be, then
    closed: the readiness check writes through it, because a pooled connection opened
    before the database turned read-only (a file made read-only keeps its open
    descriptor writable; a PostgreSQL session keeps its settings) would still succeed."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return peewee.SqliteDatabase(url[len("sqlite:///"):], timeout=5,
                                     pragmas={"busy_timeout": 5000})
    if scheme in ("postgres", "postgresql"):
        return connect(url.replace(f"{scheme}://", "postgresql://", 1), connect_timeout=5)
    raise DatabaseError(f"unsupported database scheme {scheme!r}")


def describe(url: str) -> str:
    """The URL without its password, for logs and ``doctor``."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def init_app(app, url: str) -> None:
    """Bind the proxy and release the request's connection on teardown.

    peewee connects on first use (``autoconnect``), so requests that never query the
    database (static files, CORS preflights) never open a connection.
    """
    db = open_database(url)
    database.initialize(db)
    app.extensions["bridge.db"] = db

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()
