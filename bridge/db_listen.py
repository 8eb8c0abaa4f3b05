"""A process's one PostgreSQL LISTEN session, kept up by a thread of its own.

PostgreSQL delivers a ``NOTIFY`` to every session listening on its channel when the
notifying transaction commits, never before, and drops it for sessions that are not
listening (https://www.postgresql.org/docs/current/sql-notify.html). So what a listener
heard is complete only while one session stays up: ``epoch`` names that session (a new
object on every connect, ``None`` while there is none), and a consumer trusts what it
learnt from the database only under the epoch it read it in.

The thread is a daemon, started on first use (``current``), in the process that uses it:
after gunicorn forks a worker the parent's thread is gone, and the worker starts its
own. It holds a connection of its own in autocommit, reconnects with backoff, and pings
the server when nothing arrived for ``ping_every`` seconds; with TCP keepalives and a
user timeout on the socket, a dead connection is noticed within a few seconds.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable

log = logging.getLogger("bridge.db_listen")


class Listener:
    """``LISTEN channel`` on ``url``; ``on_notice(payload)`` is called in the listener's
    thread, in the order PostgreSQL delivered them."""

    ping_every = 2.0
    backoff_first, backoff_most = 0.05, 5.0

    def __init__(self, url: str, channel: str, on_notice: Callable[[str], None]):
        self.url = url
        self.channel = channel
        self.on_notice = on_notice
        self.epoch: object | None = None
        self.backend_pid: int | None = None  # the session's server process (tests end it)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def current(self) -> object | None:
        """The session's epoch, starting the thread first if this process has none."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._start()
        return self.epoch

    def _start(self) -> None:
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self.epoch = None  # a forked parent's session is not this process's
            self._thread = threading.Thread(target=self._run, name="bridge-db-listen",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop listening (the app is done with it): nothing is trusted from now on, and
        the thread closes its connection within ``ping_every / 2`` seconds."""
        self._stop.set()
        self.epoch = None

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        wait = self.backoff_first
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception as exc:  # noqa: BLE001 - any failure: wait and try again
                log.warning("db_listen.connect_failed wait=%.2fs error=%s", wait,
                            type(exc).__name__)
                self._stop.wait(wait)
                wait = min(wait * 2, self.backoff_most)
                continue
            wait = self.backoff_first
            try:
                self._listen(conn)
            except Exception as exc:  # noqa: BLE001 - the session is gone: start another
                if not self._stop.is_set():
                    log.warning("db_listen.lost error=%s", type(exc).__name__)
            finally:
                self.epoch = None
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass

    def _connect(self):
        import psycopg2
        from playhouse.db_url import parse

        conn = psycopg2.connect(
            **parse(self.url), connect_timeout=3, keepalives=1, keepalives_idle=2,
            keepalives_interval=1, keepalives_count=2,
            tcp_user_timeout=int(self.ping_every * 1500),  # ms unanswered: dead
            application_name="asana-jira-bridge listener")
        conn.autocommit = True
        return conn

    def _listen(self, conn) -> None:
        # The ping is a notice to this session alone, sent through the server: it proves
        # the path notices take, not only that the socket is open.
        pid = conn.get_backend_pid()
        ping_channel = f"{self.channel}_ping_{pid}"
        with conn.cursor() as cursor:
            cursor.execute(f'LISTEN "{self.channel}"; LISTEN "{ping_channel}"')
        self.backend_pid = pid
        self.epoch = object()  # listening from here on: a new session to trust
        log.debug("db_listen.listening channel=%s", self.channel)
        pinged = unanswered = time.monotonic()
        answered = True
        while not self._stop.is_set():
            ready, _, _ = select.select([conn], [], [], self.ping_every / 4)
            if ready:
                conn.poll()
            while conn.notifies:
                notice = conn.notifies.pop(0)
                if notice.channel == self.channel:
                    self.on_notice(notice.payload)
                elif notice.channel == ping_channel:
                    answered = True
            now = time.monotonic()
            if not answered and now - unanswered > self.ping_every:
                raise ConnectionError("the listener's ping went unanswered")
            if answered and now - pinged >= self.ping_every:
                with conn.cursor() as cursor:  # a dead server or network fails here
                    cursor.execute("SELECT pg_notify(%s, '')", (ping_channel,))
                pinged = unanswered = now
                answered = False
