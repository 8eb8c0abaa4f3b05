"""``serve`` runs gunicorn with several workers on the configured database."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid, queue_worker=False):
    """gunicorn's workers of ``pid`` (or, with ``queue_worker``, serve's queue worker)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    found = []
    for child in (int(p) for p in out.split()):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (b"worker" in cmdline) == queue_worker:
            found.append(child)
    return found


def test_serve_gunicorn_two_workers_readyz(settings, tmp_path):
    port = _free_port()
    env = {**os.environ, **{"BRIDGE_" + k: v for k, v in settings.items()}}
    log = tmp_path / "serve.log"
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                             "from bridge.cli import main; main()"]
    with open(log, "w") as out:
        proc = subprocess.Popen([*cmd, "serve", "--workers", "2",
                                 "--bind", f"127.0.0.1:{port}"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(url, timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"bridge did not start:\n{log.read_text()}")
                time.sleep(0.2)
        assert response.status_code == 200, response.text
        assert response.json()["database"] == "ok"
        assert response.headers["Server"].startswith("gunicorn")
        deadline = time.monotonic() + 10
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_children(proc.pid)) == 2
        queue_workers = _children(proc.pid, queue_worker=True)
        assert len(queue_workers) == 1  # serve's own queue worker, beside gunicorn
        statuses = {requests.get(url, timeout=5).status_code for _ in range(20)}
        assert statuses == {200}
        # A credential sent to the bridge is not written to its log.
        requests.get(f"http://127.0.0.1:{port}/nope?access_token=tok-serve-7c1f",
                     headers={"Authorization": "Bearer tok-serve-7c1f"}, timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    for pid in queue_workers:  # stopped with serve, not left behind
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    text = log.read_text()
    assert "tok-serve-7c1f" not in text
    assert "Booting worker" in text
    # No admin yet: the one-time setup token is printed and kept in a private file.
    token_file = Path(settings["INSTANCE_PATH"]) / "setup_token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert f"one-time setup token:\n\n    {token_file.read_text().strip()}" in text


def _descendants(pid):
    """Every process below ``pid`` (gunicorn's web workers and serve's queue worker)."""
    found, todo = [], [pid]
    while todo:
        out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True,
                             text=True).stdout
        children = [int(p) for p in out.split()]
        found += children
        todo += children
    return found


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("whole_group", [False, True],
                         ids=["serve-only", "process-group"])
def test_sigterm_stops_serve_and_its_queue_worker_at_once(settings, tmp_path, whole_group):
    """Issue 16.12: SIGTERM took 20 s and restarted the queue worker during shutdown.

    ``serve-only`` is ``kill PID`` (docker stop, an init script); ``process-group`` is what
    systemd's default KillMode and a terminal's Ctrl-C do: every process gets the signal,
    the queue worker possibly before serve has seen its own.
    """
    port = _free_port()
    env = {**os.environ, **{"BRIDGE_" + k: v for k, v in settings.items()}}
    log = tmp_path / "serve.log"
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                             "from bridge.cli import main; main()"]
    with open(log, "w") as out:
        proc = subprocess.Popen([*cmd, "serve", "--workers", "2",
                                 "--bind", f"127.0.0.1:{port}"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    family = []
    try:
        deadline = time.monotonic() + 30
        while "worker.started" not in log.read_text() or len(_descendants(proc.pid)) < 3:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"bridge did not start:\n{log.read_text()}")
            time.sleep(0.2)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        family = _descendants(proc.pid)
        assert len(_children(proc.pid, queue_worker=True)) == 1
        if whole_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still running 5 s after SIGTERM:\n{log.read_text()}")
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in family:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    text = log.read_text()
    assert "restarting" not in text, text
    assert text.count("worker.started") == 1, text
    assert [pid for pid in family if _alive(pid)] == [], text
    assert took < 5


def test_a_queue_worker_that_dies_is_restarted(settings, tmp_path):
    """The other side of 16.12: outside shutdown, a dead queue worker is replaced."""
    port = _free_port()
    env = {**os.environ, **{"BRIDGE_" + k: v for k, v in settings.items()}}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from bridge.cli import main; main()",
                                 "serve", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "worker.started" not in log.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.2)
        [first] = _children(proc.pid, queue_worker=True)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while log.read_text().count("worker.started") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert "the queue worker exited (-9); restarting in" in log.read_text()
        [second] = _children(proc.pid, queue_worker=True)
        assert second != first
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        assert not _alive(second)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
