"""``/healthz`` is liveness; ``/readyz`` tells the truth about writes and registered checks
(issue 11 §7, issue 16 §7b, issue 18 §8).

With the SQLite database made read-only (the file, its ``-wal`` and ``-shm`` and the
folder) every write path failed while the health check said ok: its rolled-back write
never reached the disk. The read-only state is made here the way an operator meets it:
``chmod`` on SQLite's files, for a bridge process that file permissions bind (the tests
run as root, whom ``chmod`` does not stop, so that process runs without the
``CAP_DAC_OVERRIDE``/``CAP_DAC_READ_SEARCH``/``CAP_FOWNER`` capabilities, through
``setpriv``); PostgreSQL's ``default_transaction_read_only`` on the database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import peewee
import pytest
import requests

from bridge.web.health import add_check

ROOT = Path(__file__).resolve().parents[1]
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@pytest.fixture
def postgres_read_only(app, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite is made read-only with chmod below")
    with _read_only(app, database_url):
        yield


@contextlib.contextmanager
def _read_only(app, database_url):
    from bridge.db import open_database

    db = app.extensions["bridge.db"]
    name = urlsplit(database_url).path.lstrip("/")
    admin = open_database(database_url)
    admin.execute_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    admin.close_all()
    db.close_all()
    try:
        yield
    finally:
        db.close_all()
        admin.execute_sql("SET default_transaction_read_only = off")
        admin.execute_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        admin.close_all()


def test_readyz_is_503_when_postgresql_refuses_writes(app, postgres_read_only):
    from bridge.services import admins

    with app.app_context():
        admins.is_admin("a@example.com", ())  # reads work
        with pytest.raises(peewee.DatabaseError):
            admins.grant("a@example.com", by="test")  # writes do not
    response = app.test_client().get("/readyz")
    assert response.status_code == 503, response.json
    assert response.json["database"] == "read_only"
    assert app.test_client().get("/healthz").status_code == 200  # alive, not ready


_SERVE = """
import sys
from werkzeug.serving import make_server
from bridge import create_app
app = create_app({"INSTANCE_PATH": sys.argv[1], "SECRET_KEY": "k" * 40,
                  "DATABASE_URL": sys.argv[2]})
make_server("127.0.0.1", int(sys.argv[3]), app, threaded=True).serve_forever()
"""

_WRITE = """
import sys
from bridge import create_app
from bridge.services import admins
app = create_app({"INSTANCE_PATH": sys.argv[1], "SECRET_KEY": "k" * 40,
                  "DATABASE_URL": sys.argv[2]})
with app.app_context():
    admins.grant("writer@example.com", by="test")
print("written")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_bound(code: str, *args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["PYTHONPATH"] = str(ROOT)
    return [*WITHOUT_DAC, sys.executable, "-c", code, *args], env


def _until(base: str, status: int):
    """Probe ``/readyz`` until it answers ``status``: a change is noticed within the
    heartbeat's period (``readiness.BEAT_EVERY``), a second more for the probes."""
    from bridge.services import readiness

    deadline = time.monotonic() + readiness.BEAT_EVERY + 1.0
    while True:
        answer = requests.get(base + "/readyz", timeout=10)
        if answer.status_code == status or time.monotonic() > deadline:
            assert answer.status_code == status, answer.text
            return answer
        time.sleep(0.2)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_readyz_is_503_when_the_sqlite_files_are_made_read_only(make_app, tmp_path):
    folder = tmp_path / "data"
    url = f"sqlite:///{folder / 'bridge.sqlite3'}"
    make_app(DATABASE_URL=url)
    instance = str(tmp_path / "instance")
    port = _free_port()
    cmd, env = _run_bound(_SERVE, instance, url, str(port))
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    files = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base + "/healthz", timeout=2)
                break
            except requests.RequestException:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the bridge did not start"
                time.sleep(0.1)
        ready = requests.get(base + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text

        files = [p for p in folder.iterdir() if p.name.startswith("bridge.sqlite3")]
        assert {p.name for p in files} >= {"bridge.sqlite3", "bridge.sqlite3-wal",
                                           "bridge.sqlite3-shm"}
        for path in files:
            path.chmod(0o444)
        folder.chmod(0o555)
        cmd, env = _run_bound(_WRITE, instance, url)
        write = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert write.returncode != 0 and "readonly database" in write.stderr  # writes fail

        answer = _until(base, 503)  # within readiness.BEAT_EVERY
        assert answer.json()["database"] == "read_only"
        assert requests.get(base + "/healthz", timeout=10).status_code == 200

        folder.chmod(0o755)
        for path in files:
            path.chmod(0o644)
        _until(base, 200)
    finally:
        folder.chmod(0o755)
        for path in files:
            path.chmod(0o644)
        server.terminate()
        server.wait(10)


def test_readyz_commits_its_heartbeat_and_writes_nothing_else(app, database_url,
                                                              monkeypatch):
    from bridge.db import open_unpooled
    from bridge.models import NodeBeat, SchemaVersion
    from bridge.services import readiness

    with app.app_context():
        before = [(r.version, r.applied_at) for r in SchemaVersion.select()]
    assert app.test_client().get("/readyz").status_code == 200
    other = open_unpooled(database_url)  # committed: another connection sees it
    with other.bind_ctx([NodeBeat]):
        first = [(b.node, b.beat_at) for b in NodeBeat.select()]
    assert len(first) == 1
    monkeypatch.setattr(readiness, "BEAT_EVERY", 0.0)  # the next probe writes again
    assert app.test_client().get("/readyz").status_code == 200
    with other.bind_ctx([NodeBeat]):
        second = [(b.node, b.beat_at) for b in NodeBeat.select()]
    other.close()
    assert len(second) == 1 and second[0][1] > first[0][1]  # one row per node, upserted
    with app.app_context():
        assert [(r.version, r.applied_at) for r in SchemaVersion.select()] == before


def test_healthz_is_liveness_and_touches_nothing(tmp_path):
    from bridge import create_app

    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 40,
                      "DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:1/none"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["X-Request-Id"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert app.test_client().head("/healthz").status_code == 200
    assert app.test_client().get("/readyz").status_code == 503  # the database is not there


def test_a_registered_check_that_fails_makes_readyz_503(app):
    state = {"reason": "no consumer seen for 120 s"}
    add_check(app, "queue", lambda: state["reason"])
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == {"queue": "no consumer seen for 120 s"}
    assert app.test_client().get("/healthz").status_code == 200
    state["reason"] = None
    assert app.test_client().get("/readyz").status_code == 200


def test_a_check_that_crashes_counts_as_failed_without_details(app):
    def broken():
        raise RuntimeError("secret-ish detail")

    add_check(app, "queue", broken)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "secret-ish" not in response.get_data(as_text=True)


def _count_writes(monkeypatch) -> list:
    from bridge.services import readiness

    real, writes = readiness.write_heartbeat, []

    def counted(url):
        writes.append(time.monotonic())
        time.sleep(0.05)  # a write takes a moment: probes arriving meanwhile share it
        return real(url)

    monkeypatch.setattr(readiness, "write_heartbeat", counted)
    return writes


def test_probes_from_many_places_make_one_heartbeat_write_per_period(app, monkeypatch):
    """A load balancer probing every second from many places: twenty probes at once,
    then twenty more in a row, write the heartbeat once; each answer says how old the
    result it carries is."""
    import threading

    writes = _count_writes(monkeypatch)
    barrier = threading.Barrier(20)
    answers = []

    def probe():
        client = app.test_client()
        barrier.wait()
        answers.append(client.get("/readyz"))

    threads = [threading.Thread(target=probe) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers += [app.test_client().get("/readyz") for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 40
    assert len(writes) == 1
    ages = [a.json["heartbeat_age"] for a in answers]
    assert all(isinstance(age, float) and 0 <= age < 5 for age in ages), ages


def test_the_next_period_writes_again(app, monkeypatch):
    from bridge.services import readiness

    monkeypatch.setattr(readiness, "BEAT_EVERY", 0.3)
    writes = _count_writes(monkeypatch)
    assert app.test_client().get("/readyz").status_code == 200
    assert app.test_client().get("/readyz").status_code == 200
    time.sleep(0.4)
    assert app.test_client().get("/readyz").json["heartbeat_age"] < 0.3
    assert len(writes) == 2


def test_postgresql_turned_read_only_is_noticed_within_the_period(app, database_url,
                                                                  monkeypatch):
    """A probe just before the database turns read-only carries its fresh result for at
    most ``BEAT_EVERY`` seconds; the next period's write finds out."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only (SQLite: the chmod test above, through a server)")
    from bridge.services import readiness

    monkeypatch.setattr(readiness, "BEAT_EVERY", 0.5)
    assert app.test_client().get("/readyz").status_code == 200
    started = time.monotonic()
    with _read_only(app, database_url):
        while app.test_client().get("/readyz").status_code == 200:
            assert time.monotonic() - started < 0.5 + 1.0
            time.sleep(0.05)
        answer = app.test_client().get("/readyz")
        assert answer.status_code == 503 and answer.json["database"] == "read_only"
