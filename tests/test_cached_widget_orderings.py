"""When a cached widget may skip its database read (``services.widget.cached_json``), in
every ordering of the three things that race: the view's read of the generation, a
change's notification, and the listener losing its session and making another.

Units: the listener is a stand-in whose epoch the test sets, and the read of the
generation is a stand-in that counts calls and can make things happen while it runs.
tests/test_widget_notices.py runs the same promises on a real PostgreSQL server."""

from __future__ import annotations

import time

import pytest

from bridge.services import widget
from bridge.services.process_cache import ProcessCache
from bridge.services.widget_memory import MEMORY_ENTRIES, Changes, Entry

WS, TASK, URL, KEY = "1", "2", "https://jira.example/browse/EX-1", (1, "EX-1")


class FakeListener:
    def __init__(self):
        self.epoch: object | None = object()

    def current(self):
        return self.epoch

    def reconnect(self):
        self.epoch = object()


class Database:
    """The snapshot's generation as the database holds it; ``during`` runs inside the
    read, after the view took its mark and before the answer comes back."""

    def __init__(self, monkeypatch, generation=1):
        self.generation = generation
        self.reads = 0
        self.during = None
        monkeypatch.setattr(widget, "_current_generation", self.read)

    def read(self, instance_id, key):
        self.reads += 1
        snapshot = self.generation  # what the read sees: things during it come after
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return snapshot


def _cache(listener=None) -> ProcessCache:
    cache = ProcessCache()
    cache.listener = listener
    cache.instances._by_workspace[WS] = (time.monotonic(), {}, {URL: (1, "Jira", "EX-1")})
    cache.widgets.put(KEY, Entry(1, b"body-1", time.time()))
    cache.widgets.linked.add((TASK, *KEY))
    return cache


def _view(cache):
    return widget.cached_json(cache, WS, TASK, URL, 60.0)


def _notice(cache, generation=2, key=KEY):
    cache.changes.heard(f"{key[0]} {generation} {key[1]}")


def test_sqlite_reads_the_generation_on_every_view(monkeypatch):
    db = Database(monkeypatch)
    cache = _cache(listener=None)
    assert [_view(cache) for _ in range(3)] == [b"body-1"] * 3
    assert db.reads == 3
    db.generation = 2
    assert _view(cache) is None


def test_once_confirmed_under_the_session_views_make_no_read(monkeypatch):
    db = Database(monkeypatch)
    cache = _cache(FakeListener())
    assert _view(cache) == b"body-1" and db.reads == 1  # a new entry: read, as before
    assert [_view(cache) for _ in range(5)] == [b"body-1"] * 5
    assert db.reads == 1


def test_a_notice_after_the_read_makes_the_next_view_read(monkeypatch):
    db = Database(monkeypatch)
    cache = _cache(FakeListener())
    _view(cache)
    db.generation = 2
    _notice(cache)
    assert _view(cache) is None and db.reads == 2


def test_a_notice_that_arrives_during_the_read_is_not_lost(monkeypatch):
    """The change commits after the read's snapshot was taken: the read says "current",
    and its notice comes while the read is on its way, after the view's mark. The view
    is served (it was current when read), but the entry is not trusted on the next."""
    db = Database(monkeypatch)
    cache = _cache(FakeListener())

    def commit_elsewhere():
        db.generation = 2
        _notice(cache)

    db.during = commit_elsewhere
    assert _view(cache) == b"body-1" and db.reads == 1
    assert _view(cache) is None and db.reads == 2


def test_a_notice_before_the_view_was_committed_before_its_read(monkeypatch):
    db = Database(monkeypatch)
    cache = _cache(FakeListener())
    _view(cache)
    db.generation = 2
    _notice(cache)  # delivered: the commit is visible to any read started now
    assert _view(cache) is None


def test_notices_of_other_issues_change_nothing(monkeypatch):
    db = Database(monkeypatch)
    cache = _cache(FakeListener())
    _view(cache)
    _notice(cache, key=(1, "EX-2"))
    _notice(cache, key=(2, "EX-1"))
    assert _view(cache) == b"body-1" and db.reads == 1


def test_while_the_listener_is_down_every_view_reads(monkeypatch):
    db = Database(monkeypatch)
    listener = FakeListener()
    cache = _cache(listener)
    _view(cache)
    listener.epoch = None  # the session died: notices may be lost from here on
    assert [_view(cache) for _ in range(3)] == [b"body-1"] * 3
    assert db.reads == 4
    listener.reconnect()
    _view(cache)  # one read under the new session
    reads = db.reads
    assert _view(cache) == b"body-1" and db.reads == reads


def test_a_reconnect_between_two_views_makes_the_next_one_read(monkeypatch):
    """Notices sent while the old session was dying are lost: a confirmation made under
    it is worth nothing under the new one."""
    db = Database(monkeypatch)
    listener = FakeListener()
    cache = _cache(listener)
    _view(cache)
    listener.reconnect()
    db.generation = 2  # changed while nobody listened: no notice
    assert _view(cache) is None and db.reads == 2


def test_a_reconnect_during_the_read_does_not_confirm_under_the_new_session(monkeypatch):
    db = Database(monkeypatch)
    listener = FakeListener()
    cache = _cache(listener)
    db.during = listener.reconnect  # the read began under the old session
    assert _view(cache) == b"body-1"
    db.generation = 2  # lost with the old session
    assert _view(cache) is None


def test_a_new_entry_is_read_once_before_it_is_trusted(monkeypatch):
    db = Database(monkeypatch, generation=2)
    cache = _cache(FakeListener())
    _view(cache)
    cache.widgets.put(KEY, Entry(2, b"body-2", time.time()))  # a miss stored a new body
    assert _view(cache) == b"body-2" and db.reads == 2
    assert _view(cache) == b"body-2" and db.reads == 2


def test_an_unreadable_notice_or_a_full_map_counts_as_a_change_of_everything():
    changes = Changes()
    mark = changes.mark()
    changes.heard("not a notice")
    assert changes.since(KEY, mark) and changes.since((9, "X-9"), mark)
    mark = changes.mark()
    for n in range(MEMORY_ENTRIES):
        changes.heard(f"2 1 K-{n}")
    assert not changes.since(KEY, mark)
    changes.heard("2 1 K-full")  # the map is full: emptied, every key changed now
    assert changes.since(KEY, mark)
    assert not changes.since(KEY, changes.mark())


@pytest.mark.parametrize("payload", ["1 7 EX-1", "1 7 KEY WITH SPACE"])
def test_a_notice_names_instance_and_key(payload):
    changes = Changes()
    mark = changes.mark()
    changes.heard(payload)
    assert changes.since((1, payload.split(" ", 2)[2]), mark)
    assert not changes.since((2, "EX-1"), mark)
