"""The queue's storage, the worker's heartbeat as /readyz sees it, and the purge job."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

from bridge import queue, tasks
from bridge.models import (
    AsanaWorkspace,
    AttachmentCopy,
    IssueLink,
    JiraInstance,
    WorkerBeat,
)
from bridge.services import workers
from bridge.timeutil import utcnow


def _copy(app, **fields):
    with app.app_context():
        ws = AsanaWorkspace.create(gid="1")
        inst = JiraInstance.create(workspace=ws, base_url="https://jira.example.com",
                                   auth_mode="oauth2")
        link = IssueLink.create(task_gid="9", instance=inst, issue_id="1", issue_key="EX-1")
        return AttachmentCopy.create(link=link, asana_gid="5", name="a.txt", size=1, **fields)


def test_the_queue_lives_in_the_bridges_database(app):
    huey = app.extensions["bridge.queue"]
    assert queue.describe(app.config["BRIDGE"]) in ("sqlite", "postgresql")
    with app.app_context():
        seen = []
        huey = queue.configure(app.config["BRIDGE"], {"test.echo": seen.append})
        queue.enqueue("test.echo", 42)
        assert huey.pending_count() == 1
        task = huey.dequeue()
        huey.execute(task)
        assert seen == [42]
        assert huey.pending_count() == 0


def test_readyz_fails_only_when_copies_wait_without_a_worker(app, client):
    assert client.get("/readyz").status_code == 200  # nothing queued: no worker needed
    _copy(app, next_attempt_at=utcnow() - dt.timedelta(minutes=5))
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert "no queue worker is running" in answer.get_json()["failed"]["queue"]
    with app.app_context():
        workers.beat("host:1:abc", threads=2)
        assert workers.liveness()["workers"] == 1
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        WorkerBeat.update(beat_at=utcnow() - dt.timedelta(minutes=1)).execute()
    assert client.get("/readyz").status_code == 503


def test_a_dead_local_process_is_dead_at_once(app):
    with app.app_context():
        workers.beat("x", threads=1)
        import socket

        me = workers.process_worker_id()
        gone = f"{socket.gethostname()}:999999:abcd"
        workers.beat(gone, threads=1)  # beating, but no such process on this host
        assert workers.is_dead(gone)
        workers.beat(me, threads=1)
        assert not workers.is_dead(me)
        assert workers.is_dead(None)


def test_purge_job_runs_every_purge(app, monkeypatch):
    calls = []
    monkeypatch.setattr(tasks, "PURGES", {"a": lambda: calls.append("a") or 1,
                                          "b": lambda: 1 / 0,
                                          "c": lambda: calls.append("c") or 2})
    with app.app_context():
        assert tasks.purge(None) == {"a": 1, "c": 2}
    assert calls == ["a", "c"]


def test_a_worker_knows_every_task_without_importing_the_web_layer(tmp_path):
    """What the worker runs: its own queue from ``bridge.tasks``, and ``bridge.worker``;
    no view module is imported, yet every message the bridge sends has a handler."""
    code = textwrap.dedent(f"""
        import json, sys
        from bridge import config, tasks, worker
        settings = config.load({{"DATABASE_URL": "sqlite:///{tmp_path}/q.db",
                                 "INSTANCE_PATH": "{tmp_path}"}})
        huey = tasks.configure(settings)
        print(json.dumps(sorted(huey._registry._registry)))  # "<module>.<task name>"
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("bridge.web"))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    known = json.loads(out[0])
    for name in ("attachments.copy", "widget.refresh", "remote_links.sync",
                 "maintenance.purge"):
        assert any(key.endswith("." + name) for key in known), (name, known)
    assert json.loads(out[1]) == []


def test_redis_is_an_option_with_a_clear_sentence_when_its_client_is_missing(make_app):
    import importlib.util

    import pytest

    from bridge.config import ConfigError, load

    with pytest.raises(ConfigError, match="BRIDGE_QUEUE_URL must be a Redis URL"):
        load({"QUEUE_URL": "amqp://x"})
    if importlib.util.find_spec("redis") is None:
        with pytest.raises(queue.QueueError, match=r"pip install 'asana-jira-bridge\[redis\]'"):
            make_app(QUEUE_URL="redis://127.0.0.1:6379/0")
    else:
        app = make_app(QUEUE_URL="redis://127.0.0.1:6379/0")
        assert type(app.extensions["bridge.queue"]).__name__ == "RedisHuey"
        assert queue.describe(app.config["BRIDGE"]) == "redis"
