"""``asana-jira-bridge demo`` starts the bridge and both simulators, wired together, and
Ctrl-C or SIGTERM (as ``timeout``, systemd and container runtimes send) stops all three
within 5 s with their ports free.

The last test builds an environment exactly as ``scripts/run`` does on a fresh clone (a new
``.venv`` through ``scripts/bootstrap``) and starts the demo from it: the demo must not
depend on anything only the test extra installs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bridge.jira import versions
from bridge.jira.oauth2 import FIRST_VERSION as OAUTH2_FIRST_VERSION

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    return [str(exe)] if exe.exists() else [sys.executable, "-c",
                                             "from bridge.cli import main; main()"]


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return {**env, **extra}


def _read_until_ready(proc: subprocess.Popen, timeout: float, busy_ok: bool = False):
    """Everything the demo prints until it is ready (its URL, then how to use it); with
    ``busy_ok``, ``None`` when it could not start because its ports were taken."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if busy_ok and "cannot start the demo" in line:
            proc.wait()
            return None
        if line.startswith("Ctrl-C stops the demo"):
            return "".join(lines)
    proc.kill()
    pytest.fail("the demo did not print its URL:\n" + "".join(lines)
                + (proc.stdout.read() or ""))


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _check_running(text: str) -> list[int]:
    """The demo works as printed; returns the three ports it announced."""
    ports = [int(p) for p in re.findall(r" on http://127\.0\.0\.1:(\d+)", text)]
    assert len(ports) == 3, text
    # The demo's own checks before "Ready" expect what they get (a signed widget call
    # answered 401: nobody is connected yet); nothing in its output looks like a failure.
    logged = [line for line in text.splitlines()
              if re.search(r" (INFO|WARNING|ERROR|CRITICAL) ", line)]
    assert not [line for line in logged if "failed" in line or " INFO " not in line], text
    urls = re.findall(r"^\s+(http://\S+)\s*$", text, re.M)
    assert len(urls) == 1, f"the demo prints one URL to open:\n{text}"
    assert "Seeded Jira" in text and "Connecting Jira" in text  # says what it does
    assert "queue worker" in text
    page = requests.get(urls[0], timeout=10)
    assert page.status_code == 200 and 'id="connect"' in page.text
    bridge_url = re.search(r"Starting the bridge on (\S+)", text).group(1)
    assert bridge_url in page.text  # the task page talks to the bridge
    assert requests.get(bridge_url + "/healthz", timeout=10).json()["status"] == "ok"
    jira_url = re.search(r"Jira simulator \(Jira [\d.]+\) on (\S+)", text).group(1)
    jira = requests.Session()  # a browser session: Jira 11 refuses passwords on REST calls
    jira.post(jira_url + "/login.jsp", data={"os_username": "admin", "os_password": "admin"},
              allow_redirects=False, timeout=10)
    issues = jira.get(jira_url + "/rest/api/2/search", params={"jql": "project = EX"},
                      timeout=10).json()["issues"]
    statuses = {i["fields"]["status"]["name"] for i in issues}
    assert {"Open", "In Progress", "Done"} <= statuses
    assert any(i["fields"]["assignee"] for i in issues)
    hooks = jira.get(jira_url + "/rest/webhooks/1.0/webhook", timeout=10).json()
    assert [h for h in hooks if h["url"].startswith(bridge_url + "/jira/webhook/")]
    # The printed command that changes a status in the Jira simulator works.
    command = re.search(r"curl -X POST (\S+) .* -d '(\{.*\})'", text)
    moved = requests.post(command.group(1), data=command.group(2), timeout=10,
                          headers={"Content-Type": "application/json"})
    assert moved.status_code == 200 and moved.json()["issue"]["fields"]["status"]["name"] \
        == "Done"
    return ports


def _stop_and_check(proc: subprocess.Popen, sig: int, ports: list[int]) -> str:
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the demo did not stop within 5 s of {signal.Signals(sig).name}; "
                    f"it printed:\n{out[-2000:]}")
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, out
    assert "Demo stopped." in out
    assert elapsed < 5
    busy = [p for p in ports if not _port_free(p)]
    assert not busy, f"ports still bound after the demo stopped: {busy}"
    left = subprocess.run(["pgrep", "-f", f"--parent-pid {proc.pid}"], capture_output=True,
                          text=True).stdout.split()
    assert not left, f"the demo's queue worker outlived it: {left}"
    return out


@pytest.mark.parametrize(("version", "sig"), [("8.20.0", signal.SIGTERM),
                                              ("10.3.0", signal.SIGINT),
                                              ("11.1.0", signal.SIGTERM)])  # basic auth off
def test_demo_starts_everything_and_stops_on_a_signal(tmp_path, version, sig):
    proc = subprocess.Popen([*_cli(), "demo", "--port", "0", "--jira-version", version,
                             "--instance-path", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env())
    try:
        text = _read_until_ready(proc, 60)
        ports = _check_running(text)
        mode = ("OAuth 2.0" if versions.at_least(version, OAUTH2_FIRST_VERSION)
                else "application link")
        assert mode in text
    except BaseException:
        proc.kill()
        raise
    _stop_and_check(proc, sig, ports)


def test_demo_refuses_a_busy_port_with_a_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*_cli(), "demo", "--port", str(port), "--instance-path",
                                 str(tmp_path / "demo")], capture_output=True, text=True,
                                env=_env(), timeout=60)
    assert result.returncode != 0
    assert "cannot start the demo" in result.stderr and "--port 0" in result.stderr
    assert "Traceback" not in result.stderr


def _copy_of_the_repository(dest: Path) -> None:
    """The files a fresh clone has: tracked and new files, without ignored ones."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout")
def test_scripts_run_demo_on_a_fresh_clone(tmp_path):
    """``scripts/run`` with no Asana app configured sets up a new .venv exactly as on a
    fresh clone (the pip cache is reused) and starts the demo from it."""
    clone = tmp_path / "clone"
    _copy_of_the_repository(clone)
    env = _env()  # the clone sits in tmp_path with nothing beside it
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)))
    proc = subprocess.Popen(["scripts/run", "demo", "--port", "0"], cwd=clone,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        text = _read_until_ready(proc, 480)
        ports = _check_running(text)
    except BaseException:
        proc.kill()
        raise
    _stop_and_check(proc, signal.SIGTERM, ports)
    freeze = subprocess.run([str(clone / ".venv/bin/python"), "-m", "pip", "freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    installed = {line.split("==")[0] for line in freeze.splitlines()}
    assert "jsonschema" in installed and "pytest" not in installed  # no test extra

    # The README's first command, scripts/run with no Asana app configured, is the demo on
    # ports 8080-8082 (checked only when this machine has them free).
    if all(_port_free(p) for p in (8080, 8081, 8082)):
        proc = subprocess.Popen(["scripts/run"], cwd=clone, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
        try:
            text = _read_until_ready(proc, 240, busy_ok=True)
            if text is None:  # another run took the ports meanwhile
                return
            assert "starts the demo" in text
            assert _check_running(text) == [8081, 8082, 8080]
        except BaseException:
            proc.kill()
            raise
        _stop_and_check(proc, signal.SIGTERM, [8080, 8081, 8082])
