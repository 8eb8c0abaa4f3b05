"""The database: a peewee ``DatabaseProxy`` bound at start, a connection per request.

SQLite (a file in the instance folder) is the default; PostgreSQL is selected by
``BRIDGE_DATABASE_URL=postgresql://...``. Connections are opened lazily per request and
closed on teardown, never at import time, so gunicorn workers forked from one master each
get their own connections.
"""

from __future__ import annotations

import re
import time
import weakref
from pathlib import Path
from urllib.parse import urlsplit

import peewee
from playhouse.db_url import connect, parse
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

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
            return _Sqlite(":memory:", pragmas=pragmas)  # each connection: its own db
        # A pooled connection serves one thread at a time, but not always the same one.
        return _SqlitePool(path, pragmas=pragmas, max_connections=32, stale_timeout=300,
                           timeout=10, check_same_thread=False)
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
        return _PostgresPool(**parse(url), max_connections=32, stale_timeout=300,
                             timeout=10)
    raise DatabaseError(f"unsupported database scheme {scheme!r}")


class _ImmediateTransactions:
    """SQLite transactions take the write lock when they begin (``BEGIN IMMEDIATE``).

    In WAL mode a deferred transaction that reads, then writes after another connection
    committed, fails at once with "database is locked": its read snapshot is stale and
    busy_timeout does not apply (https://sqlite.org/wal.html, "Sometimes Queries Return
    SQLITE_BUSY In WAL Mode"). Read-then-write blocks (upsert a credential, claim a slot)
    are the usual shape here and several processes share one file, so every transaction
    waits for the lock up front instead; SQLite has one writer at a time anyway.
    Savepoints inside a transaction are unaffected."""

    def transaction(self, lock_type=None):
        return super().transaction(lock_type=lock_type or "IMMEDIATE")


class _Sqlite(_ImmediateTransactions, peewee.SqliteDatabase):
    pass


class _SqlitePool(_ImmediateTransactions, PooledSqliteDatabase):
    pass


class _PostgresPool(PooledPostgresqlDatabase):
    """peewee's pool, without its ``SELECT 1`` on checking out a connection that was
    returned less than ``trust_for`` seconds ago. That ping is a round trip per request,
    as much as a cached widget's whole query (issue 18 §8); a connection in use a moment
    ago is alive but for a server restart within that moment. One idle for longer is
    pinged as before, and replaced if the server dropped it."""

    trust_for = 5.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._returned: dict[int, float] = {}

    def _is_closed(self, conn):
        returned = self._returned.pop(self.conn_key(conn), None)
        if (returned is not None and time.monotonic() - returned < self.trust_for
                and not conn.closed
                and self._adapter.txn_status(conn) == self._adapter.txn_idle):
            return False
        return super()._is_closed(conn)

    def _close(self, conn, close_conn=False):
        if close_conn:
            self._returned.pop(self.conn_key(conn), None)
        else:
            self._returned[self.conn_key(conn)] = time.monotonic()
        return super()._close(conn, close_conn)


_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection → names


def execute_prepared(name: str, sql: str, params: tuple):
    """Run ``sql`` (written with the database's ``param`` placeholder), prepared once per
    connection on PostgreSQL, and return the cursor.

    psycopg2 sends every statement as text, so PostgreSQL parses and plans it each time:
    for the widget miss's one read (five tables, two sub-queries) planning took four times
    as long as running it (EXPLAIN ANALYZE: 0.44 ms and 0.12 ms). Prepared, the plan is
    kept for the session. The first use on a connection sends PREPARE and EXECUTE in one
    round trip. SQLite's driver keeps its own statement cache: plain execution there.
    """
    db = database.obj
    if not isinstance(db, peewee.PostgresqlDatabase):
        return database.execute_sql(sql, params)
    names = _prepared.setdefault(database.connection(), set())
    execute = f"EXECUTE {name} ({', '.join(['%s'] * len(params))})" if params \
        else f"EXECUTE {name}"
    if name in names:
        try:
            return database.execute_sql(execute, params)
        except peewee.DatabaseError as exc:
            if getattr(getattr(exc, "orig", None), "pgcode", None) != "26000":
                raise
            names.discard(name)  # never prepared (sent in a transaction already aborted)
    numbered = iter(range(1, len(params) + 1))
    prepare = re.sub(r"%s", lambda _: f"${next(numbered)}", sql)
    names.add(name)  # before: a PREPARE stays when the EXECUTE after it fails
    return database.execute_sql(f"PREPARE {name} AS {prepare}; {execute}", params)


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
