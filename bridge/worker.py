"""The queue worker process: huey's consumer (threads), a heartbeat, sweeps and purges.

A process of its own beside ``serve`` (which starts and restarts one; ``--no-worker``
leaves it to another service), never threads in the web workers: a long copy must not
share a GIL with requests Asana times out after 10 s, nor die when gunicorn recycles a web
worker. Every few seconds it beats and runs ``tasks.SWEEPS``; huey's scheduler runs
``tasks.purge`` every 15 minutes. Details: docs/background-work.md.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from . import queue, tasks
from .db import database

log = logging.getLogger("bridge.worker")


def _close_db() -> None:
    if not database.is_closed():
        database.close()


class Heartbeat(threading.Thread):
    """Beat, then run the maintenance sweeps, every ``BEAT_SECONDS``."""

    def __init__(self, worker_id: str, threads: int, parent_pid: int | None = None):
        super().__init__(name="bridge-heartbeat", daemon=True)
        self.worker_id = worker_id
        self.threads = threads
        self.parent_pid = parent_pid
        self.stopping = threading.Event()

    def run(self) -> None:
        from .services import workers

        while not self.stopping.is_set():
            if self.parent_pid and os.getppid() != self.parent_pid:
                log.warning("worker.parent_gone parent=%s", self.parent_pid)
                os.kill(os.getpid(), signal.SIGTERM)  # huey stops at once; copies resume
                return
            try:
                workers.beat(self.worker_id, self.threads)
                for name, sweep in tasks.SWEEPS.items():
                    try:
                        sweep()
                    except Exception:
                        log.exception("maintenance.failed name=%s", name)
            except Exception:
                log.exception("heartbeat.failed")
            finally:
                _close_db()
            self.stopping.wait(workers.BEAT_SECONDS)


def run(threads: int, parent_pid: int | None = None) -> None:
    """Run the consumer until SIGINT (graceful) or SIGTERM (immediate)."""
    from .services import attachments, workers

    huey = queue.current()
    worker_id = workers.process_worker_id()

    @huey.post_execute()
    def _release_connection(task, task_value, exc):
        _close_db()

    beat = Heartbeat(worker_id, threads, parent_pid)
    workers.beat(worker_id, threads)
    _close_db()
    beat.start()
    consumer = huey.create_consumer(workers=threads, worker_type="thread", periodic=True,
                                    initial_delay=0.1, backoff=1.15, max_delay=1.0,
                                    check_worker_health=True)
    log.info("worker.started id=%s threads=%d", worker_id, threads)
    try:
        consumer.run()
    finally:
        beat.stopping.set()
        try:
            attachments.release_leases(worker_id)
            workers.gone(worker_id)
        finally:
            _close_db()
        log.info("worker.stopped id=%s", worker_id)
