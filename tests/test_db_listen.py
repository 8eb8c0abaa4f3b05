"""``bridge.db_listen`` on a real PostgreSQL server: notices in order, pings answered
without dropping the session, a killed session replaced under a new epoch, stop."""

from __future__ import annotations

import os
import time

import pytest

from bridge.db_listen import Listener

TEST_DATABASE_URL = os.environ.get("BRIDGE_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgres"),
                                reason="PostgreSQL only: SQLite has no NOTIFY")


def _until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.002)
    return found


def _run(sql: str, *params):
    import psycopg2
    from playhouse.db_url import parse

    conn = psycopg2.connect(**parse(TEST_DATABASE_URL))
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        conn.close()


@pytest.fixture
def listener(database_url):
    heard: list[str] = []
    found = Listener(database_url, "bridge_test_channel", heard.append)
    found.ping_every = 0.1
    found.heard = heard
    yield found
    found.stop()


def test_notices_arrive_in_order_and_pings_keep_the_session(listener):
    assert listener.current() is None  # started now; not yet listening
    epoch = _until(listener.current, 5, "listening")
    for n in range(5):
        _run("SELECT pg_notify('bridge_test_channel', %s)", str(n))
    _until(lambda: len(listener.heard) == 5, 2, "five notices")
    assert listener.heard == ["0", "1", "2", "3", "4"]  # pings are not passed on
    time.sleep(listener.ping_every * 8)  # several pings, each answered
    assert listener.current() is epoch


def test_a_killed_session_is_replaced_under_a_new_epoch(listener):
    epoch = _until(listener.current, 5, "listening")
    _run("SELECT pg_terminate_backend(%s)", listener.backend_pid)
    _until(lambda: listener.current() not in (None, epoch), 5, "a new session")
    new = listener.current()
    _run("SELECT pg_notify('bridge_test_channel', 'after')")
    _until(lambda: listener.heard == ["after"], 2, "a notice to the new session")
    assert new is listener.current()


def test_after_stop_nothing_is_trusted_and_the_thread_ends(listener):
    _until(listener.current, 5, "listening")
    thread = listener._thread
    listener.stop()
    assert listener.current() is None
    thread.join(2)
    assert not thread.is_alive()


def test_a_forked_worker_listens_on_a_session_of_its_own(listener):
    """gunicorn forks its workers: the parent's thread does not exist in the child, whose
    first use starts its own (the parent's session is not trusted there)."""
    import os

    _until(listener.current, 5, "listening")
    parent_pid = listener.backend_pid
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: report its session's server process, then leave
        code = 1
        try:
            assert listener.current() is None  # the parent's epoch is not this one's
            deadline = time.monotonic() + 5
            while listener.current() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            os.write(write, str(listener.backend_pid).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as answer:
        child_pid = answer.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_pid and int(child_pid) != parent_pid
    assert listener.backend_pid == parent_pid and listener.current() is not None
