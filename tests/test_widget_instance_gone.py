"""A widget miss whose remembered instance was removed (``jira remove``, then perhaps
``jira add`` of the same Jira under a new id) lists the workspace's instances again once
and retries; it never loops. Units: the memory and the miss are stand-ins that count
calls. tests/flows/test_process_cache.py runs it end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bridge.jira.errors import JiraNotFound
from bridge.services import widget

WS, URL = "1", "https://jira.example/browse/EX-1"


class Instances:
    """What ``Instances.find`` answers: the remembered id first, then each reload's."""

    def __init__(self, remembered, *reloads):
        self.answers = [remembered, *reloads]
        self.calls: list[object] = []

    def find(self, workspace, resource_url, reload=False):
        self.calls.append(reload)
        return self.answers.pop(0)


def _serve(monkeypatch, gone: set[int]):
    served: list[int] = []

    def serve(ctx, instance_id, name, key, attachment=None):
        served.append(instance_id)
        if instance_id in gone:
            raise widget._InstanceGone(widget.NOT_OF_WORKSPACE)
        return f"{instance_id} {key}".encode()

    monkeypatch.setattr(widget, "_serve_slowly", serve)
    return served


def _ctx(instances):
    return SimpleNamespace(workspace=WS, cache=SimpleNamespace(instances=instances))


def test_a_removed_instance_added_again_is_served_after_one_reload(monkeypatch):
    served = _serve(monkeypatch, gone={1})
    instances = Instances((1, "Jira", "EX-1"), (2, "Jira", "EX-1"))
    assert widget.widget_json(_ctx(instances), URL, memory_checked=True) == b"2 EX-1"
    assert served == [1, 2]
    assert instances.calls == [False, True]


def test_removed_again_meanwhile_is_not_found_without_a_second_reload(monkeypatch):
    served = _serve(monkeypatch, gone={1, 2})
    instances = Instances((1, "Jira", "EX-1"), (2, "Jira", "EX-1"))
    with pytest.raises(JiraNotFound, match="not an issue of a Jira connected"):
        widget.widget_json(_ctx(instances), URL, memory_checked=True)
    assert served == [1, 2]
    assert instances.calls == [False, True]


def test_removed_for_good_is_not_found_after_one_reload(monkeypatch):
    served = _serve(monkeypatch, gone={1})
    instances = Instances((1, "Jira", "EX-1"), None)
    with pytest.raises(JiraNotFound, match="not an issue of a Jira connected"):
        widget.widget_json(_ctx(instances), URL, memory_checked=True)
    assert served == [1]
    assert instances.calls == [False, True]
