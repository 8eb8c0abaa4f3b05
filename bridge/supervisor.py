"""``serve``'s companion queue worker: a child process kept running, stopped with serve.

Why a process and not threads in the web workers: see ``bridge.worker``. Why this is more
than ``Popen`` and ``wait``:

- gunicorn forks its web workers from the process that owns this supervisor; a forked
  worker inherits the object (and serve's ``finally``), so ``stop`` acts only in the
  process that started it. A forked worker that tried to stop the queue worker killed it
  early (and a restart followed) and then hung on a lock copied mid-``wait`` until gunicorn
  killed it after its graceful timeout: the 20 s stop of issue 16.12.
- serve learns it is stopping from the signal itself (``shutting_down``, safe in a signal
  handler), before it stops its web workers, so the queue worker stops at the same time.
- systemd (KillMode=control-group) and a terminal's Ctrl-C signal the whole process group:
  the queue worker may exit a moment before serve has seen its own signal. An exit is
  therefore only reported and restarted after a short grace, and never while stopping.
- gunicorn reaps every child with ``waitpid(-1)``, ours included: the exit status may be
  lost (``Popen`` then reports 0), so it is only reported when known to be non-zero.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

# How long an exit waits before it counts as a crash (a signal to the whole group reaches
# serve too, which then sets ``stopping`` well within this).
GRACE_SECONDS = 0.5
# How long the queue worker gets to stop on SIGTERM (huey stops at once; interrupted
# copies resume on the next start) before it is killed.
STOP_SECONDS = 3.0
POLL_SECONDS = 0.1


class QueueWorkerSupervisor:
    """Start ``command`` as a child, restart it when it dies, stop it with serve."""

    def __init__(self, command: Sequence[str], report: Callable[[str], None]):
        self.command = list(command)
        self.report = report
        self.owner = os.getpid()
        self.stopping = threading.Event()
        self.proc: subprocess.Popen | None = None
        self._spawn_lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise,
                                        name="bridge-worker-supervisor", daemon=True)

    def start(self) -> QueueWorkerSupervisor:
        self._thread.start()
        return self

    def shutting_down(self) -> None:
        """Note that serve is stopping; only sets an event, so callable from a signal
        handler. The supervising thread then stops the queue worker."""
        self.stopping.set()

    def stop(self) -> None:
        """Stop the queue worker and wait for it (in the process that started it only)."""
        if os.getpid() != self.owner:
            return  # a forked gunicorn worker unwinding through serve's ``finally``
        self.stopping.set()
        if self._thread.is_alive():
            self._thread.join(STOP_SECONDS + 2)
        self._terminate()  # in case the thread never got to it

    def _supervise(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            with self._spawn_lock:
                if self.stopping.is_set():
                    break
                self.proc = subprocess.Popen(self.command)
            while self.proc.poll() is None:
                if self.stopping.wait(POLL_SECONDS):
                    self._terminate()
                    return
            if self.stopping.wait(GRACE_SECONDS):
                return  # stopped with serve (the whole process group was signalled)
            code = self.proc.returncode
            delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, 30.0)
            status = f" ({code})" if code else ""
            self.report(f"asana-jira-bridge: the queue worker exited{status}; "
                        f"restarting in {delay:.0f} s")
            if self.stopping.wait(delay):
                return

    def _terminate(self) -> None:
        with self._spawn_lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_SECONDS)
