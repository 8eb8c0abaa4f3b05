"""What a process remembers of widgets: which issue a URL names, and the rendered bodies.

Both are keyed by database row ids (an instance's id), so they belong to one app's
``ProcessCache`` (``services.process_cache``), never to a module: another app in the same
process, on another database, reuses the ids. ``services.widget`` decides what goes in
and when an entry may be served.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..jira import issue_refs
from ..models import JiraInstance

MEMORY_ENTRIES = 10_000


class Instances:
    """Each workspace's instances (base URL → id, name) and the resource URLs already
    resolved; reloaded from the database on a miss and every ``ttl`` seconds, so a new
    instance is found at once and a removed one soon forgotten (a widget miss that finds
    its remembered instance gone reloads at once: ``services.widget.widget_json``). URLs
    are read by ``jira.issue_refs``, as the lookup reads them."""

    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self._by_workspace: dict[str, tuple[float, dict[str, tuple[int, str]], dict]] = {}

    def find(self, workspace: str, resource_url: str, reload: bool | None = False
             ) -> tuple[int, str, str] | None:
        """``(instance id, instance name, issue key)`` for a resource URL, or ``None``.
        ``reload=None``: memory only, never the database."""
        entry = self._by_workspace.get(workspace)
        stale = entry is None or time.monotonic() - entry[0] > self.ttl
        if reload is None:
            if stale:
                return None
        elif reload or stale:
            rows = (JiraInstance.select(JiraInstance.id, JiraInstance.base_url,
                                        JiraInstance.name)
                    .join_from(JiraInstance, JiraInstance.workspace.rel_model)
                    .where(JiraInstance.workspace.rel_model.gid == workspace).tuples())
            entry = (time.monotonic(), {b: (i, n or b) for i, b, n in rows}, {})
            self._by_workspace[workspace] = entry
        found = entry[2].get(resource_url)
        if found is not None:
            return found
        try:
            ref = issue_refs.parse_url(resource_url, list(entry[1]))
        except issue_refs.NotJiraOfWorkspace:
            ref = None
        if ref is not None and ref.key:
            instance_id, name = entry[1][ref.base_url]
            if len(entry[2]) >= MEMORY_ENTRIES:
                entry[2].clear()
            entry[2][resource_url] = found = (instance_id, name, ref.key)
            return found
        if reload is False:
            return self.find(workspace, resource_url, reload=True)
        return None


@dataclass
class Entry:
    """A rendered widget body at one snapshot ``generation``. ``validated``: the listener
    session (epoch) and ``Changes.mark`` under which a database read last found that
    generation current (``services.widget.cached_json``), or ``None``."""

    generation: int
    body: bytes
    fetched_at: float  # time.time() of the Jira read
    validated: tuple[object, int] | None = None


class Changes:
    """Which snapshots PostgreSQL said changed, in the order it said so
    (``bridge.db_listen``; the trigger of ``migrations._snapshot_notices`` notifies
    ``instance generation key`` on every insert, generation bump and delete of a
    snapshot row).

    Each notice gets the next number of a counter; ``mark()`` is the counter now, and
    ``since(key, mark)`` whether a notice for ``key`` arrived after that mark. A notice's
    generation is not compared with anything: only "something changed after this moment"
    is acted on, and the generation is then read from the database. At most
    ``MEMORY_ENTRIES`` keys are remembered; when the map is emptied, every key counts as
    changed at that moment (``_floor``), so nothing is forgotten unsafely.
    """

    def __init__(self):
        self._count = 0
        self._floor = 0
        self._last: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()

    def heard(self, payload: str) -> None:
        try:
            instance, _generation, key = payload.split(" ", 2)
            found = (int(instance), key)
        except ValueError:  # not ours: everything may have changed
            found = None
        with self._lock:
            self._count += 1
            if found is None or len(self._last) >= MEMORY_ENTRIES:
                self._floor = self._count  # first: a reader never sees neither
                self._last.clear()
            if found is not None:
                self._last[found] = self._count

    def mark(self) -> int:
        return self._count

    def since(self, key: tuple[int, str], mark: int) -> bool:
        return self._last.get(key, self._floor) > mark


@dataclass
class Memory:
    """Rendered bodies per (instance id, issue key), and the (task, instance id, key)
    triples seen linked (a body is served only on a task the issue is linked to)."""

    entries: dict[tuple[int, str], Entry] = field(default_factory=dict)
    linked: set[tuple[str, int, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, key: tuple[int, str], entry: Entry) -> None:
        with self.lock:
            if len(self.entries) >= MEMORY_ENTRIES:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = entry
            if len(self.linked) >= MEMORY_ENTRIES:
                self.linked.clear()
