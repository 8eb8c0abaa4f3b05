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


def test_serve_gunicorn_two_workers_healthz(settings, tmp_path):
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
        url = f"http://127.0.0.1:{port}/healthz"
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
