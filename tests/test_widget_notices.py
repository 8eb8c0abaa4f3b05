"""Cached widgets on PostgreSQL: no SQL once confirmed, and every change on any node seen
as soon as its notification arrives (``migrations._snapshot_notices``, ``bridge.db_listen``).

Real server only (``BRIDGE_TEST_DATABASE_URL``); the orderings are tested as units in
tests/test_cached_widget_orderings.py. Another "node" is a connection of its own that
changes the snapshot row the way any bridge process would: it never talks to this one.
"""

from __future__ import annotations

import os
import time

import pytest

from bridge.models import AsanaWorkspace, IssueSnapshot, JiraInstance
from bridge.services import widget
from bridge.services.widget_memory import Entry

TEST_DATABASE_URL = os.environ.get("BRIDGE_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgres"),
                                reason="PostgreSQL only: SQLite has no NOTIFY")

WS, TASK, BASE = "1100000000000001", "1400000000000001", "https://jira.example"
URL = f"{BASE}/browse/EX-1"
TABLE = IssueSnapshot._meta.table_name


class Statements:
    """Counts the statements this app's database runs (every peewee query takes a
    cursor); the listener's own connection is not the app's."""

    def __init__(self, monkeypatch, db):
        self.count = 0
        cursor = db.cursor

        def counting(*args, **kwargs):
            self.count += 1
            return cursor(*args, **kwargs)

        monkeypatch.setattr(db, "cursor", counting)


def _until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.002)
    return found


@pytest.fixture
def served(make_app, monkeypatch):
    """An app on PostgreSQL holding EX-1's widget in memory, as a view would leave it,
    with its listener up; yields (app, cache, statements, instance id)."""
    app = make_app()
    db = app.extensions["bridge.db"]
    cache = app.extensions["bridge.cache"]
    with app.app_context():
        ws = AsanaWorkspace.create(gid=WS)
        instance = JiraInstance.create(workspace=ws, base_url=BASE, auth_mode="oauth2")
        snap = IssueSnapshot.create(instance=instance, issue_key="EX-1", data={"key": "EX-1"})
        assert cache.instances.find(WS, URL, reload=True) == (instance.id, BASE, "EX-1")
        cache.widgets.put((instance.id, "EX-1"),
                          Entry(snap.generation, b"EX-1 at 1", time.time()))
        cache.widgets.linked.add((TASK, instance.id, "EX-1"))
        _until(lambda: cache.listener.current() is not None, 5, "the listener listens")
        yield app, cache, Statements(monkeypatch, db), instance.id
        db.close()


def _view(cache):
    return widget.cached_json(cache, WS, TASK, URL, 60.0)


def _other_node(sql: str, *params):
    """A statement on a connection of its own, committed (another bridge node)."""
    import psycopg2
    from playhouse.db_url import parse

    conn = psycopg2.connect(**parse(TEST_DATABASE_URL))
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        conn.close()


def _bump(instance_id: int):
    _other_node(f'UPDATE "{TABLE}" SET "generation" = "generation" + 1 '
                'WHERE "instance_id" = %s AND "issue_key" = %s', instance_id, "EX-1")


def test_a_confirmed_cached_view_makes_no_sql_statement(served):
    app, cache, statements, _ = served
    with app.app_context():
        assert _view(cache) == b"EX-1 at 1"
        assert statements.count == 1  # a new entry is confirmed by one read
        for _ in range(50):
            assert _view(cache) == b"EX-1 at 1"
        assert statements.count == 1


def test_a_change_on_another_node_shows_once_its_notice_arrives(served):
    app, cache, statements, instance_id = served
    with app.app_context():
        _view(cache)
        before = statements.count
        committed = time.monotonic()
        _bump(instance_id)
        # Views keep being served from memory, without SQL, until the notice arrives;
        # the first view after it reads the generation and finds it moved.
        _until(lambda: _view(cache) is None, 2, "the change shown")
        seen = time.monotonic() - committed
        assert statements.count == before + 1
    assert seen < 1.0  # milliseconds on a quiet machine; generous for a busy one


@pytest.mark.parametrize("how", ["update", "delete"])
def test_every_write_of_the_row_is_notified(served, how):
    """The trigger, not the code that writes, tells: an invalidation's UPDATE, a
    refresh's write, a removal; a write that leaves the generation alone does not."""
    app, cache, statements, instance_id = served
    with app.app_context():
        _view(cache)
        mark = cache.changes.mark()
        _other_node(f'UPDATE "{TABLE}" SET "stale" = true')
        # Notices arrive in commit order: once a later one is here, an earlier one would be.
        _other_node("SELECT pg_notify('bridge_snapshots', '0 0 LATER-1')")
        _until(lambda: cache.changes.since((0, "LATER-1"), mark), 2, "the later notice")
        assert not cache.changes.since((instance_id, "EX-1"), mark)
        if how == "update":  # as a webhook received by this node does it
            widget.invalidate(JiraInstance.get_by_id(instance_id), issue_key="EX-1")
        else:
            _other_node(f'DELETE FROM "{TABLE}"')
        _until(lambda: cache.changes.since((instance_id, "EX-1"), mark), 2, "the notice")
        assert _view(cache) is None


def test_a_killed_listener_session_means_reads_until_a_new_one_listens(served):
    app, cache, statements, instance_id = served
    listener = cache.listener
    with app.app_context():
        _view(cache)
        first_session = listener.epoch
        _other_node("SELECT pg_terminate_backend(%s)", listener.backend_pid)
        _until(lambda: listener.epoch is not first_session, 5, "the loss noticed")
        # Down or already back: either way the old confirmation is worth nothing.
        before = statements.count
        assert _view(cache) == b"EX-1 at 1"
        assert statements.count == before + 1
        _until(lambda: listener.epoch is not None, 5, "a new session")
        _view(cache)  # confirmed under the new session
        before = statements.count
        for _ in range(10):
            assert _view(cache) == b"EX-1 at 1"
        assert statements.count == before
        _bump(instance_id)  # and the new session hears changes
        _until(lambda: _view(cache) is None, 2, "the change shown")
