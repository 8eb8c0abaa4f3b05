"""When a process stops asking a Jira instance for a while: which failures say it is down.

The widget answers from the last snapshot, without waiting on Jira, while an instance is
down; so "down" must mean Jira itself is unwell, never that one user or one request was
refused (issue 16 §4). What counts:

- counted: ``JiraUnavailable`` and its ``JiraTimedOut``: a refused or dropped connection,
  a timeout, a 5xx answer (``jira.errors``);
- never counted: 401 and every OAuth problem (a refused signature included: it concerns
  one signed request, or an admin's setting, and waiting does not mend it), 403, 404, 400,
  429 (Jira Data Center limits each user separately), answers the bridge cannot read or
  that broke on the way, and an address, redirect or proxy an admin must fix
  (``jira.client.error_for``: waiting mends none of them).

Down: ``THRESHOLD`` counted failures within ``WINDOW`` seconds, with no successful call
since, and from more than one source: a refused connection or a timeout from at least two
different calls (reader and issue; one user retrying one broken issue is not an outage),
a 5xx answer from at least two different readers (Jira answered, so one user's requests
failing, on however many issues, may be about that user or those issues). It lasts
``BACKOFF`` seconds; then the next call asks Jira again, and a success forgets the
failures. Per app (its ``ProcessCache.outages``): each process and node learns on its own.
"""

from __future__ import annotations

import threading
import time

from ..jira.errors import JiraError, JiraUnavailable

THRESHOLD = 3
WINDOW = 10.0
BACKOFF = 5.0


def counts(error: JiraError) -> bool:
    """Whether ``error`` says the Jira instance itself is unwell (module docstring)."""
    return isinstance(error, JiraUnavailable)


class Outages:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._failures: dict[int, list[tuple[float, bool, object, object]]] = {}
        self._down_until: dict[int, float] = {}
        self._lock = threading.Lock()

    def failed(self, instance_id: int, call: tuple[object, object], error: JiraError) -> bool:
        """Record a failed call (``call`` names it: reader and issue); returns whether the
        instance now counts as down."""
        if not counts(error):
            return False
        answered = getattr(error, "http_status", None) is not None  # a 5xx, not a timeout
        now = self.clock()
        with self._lock:
            recent = [entry for entry in self._failures.get(instance_id, ())
                      if now - entry[0] < WINDOW]
            recent.append((now, answered, *call))
            self._failures[instance_id] = recent[-4 * THRESHOLD:]
            unreachable = {(reader, issue) for _, was, reader, issue in recent if not was}
            readers = {reader for _, was, reader, _ in recent if was}
            if len(recent) >= THRESHOLD and (len(unreachable) >= 2 or len(readers) >= 2):
                self._down_until[instance_id] = now + BACKOFF
                self._failures[instance_id] = []
                return True
        return False

    def succeeded(self, instance_id: int) -> None:
        if instance_id in self._failures or instance_id in self._down_until:
            with self._lock:
                self._failures.pop(instance_id, None)
                self._down_until.pop(instance_id, None)

    def is_down(self, instance_id: int) -> bool:
        return self._down_until.get(instance_id, 0.0) > self.clock()
