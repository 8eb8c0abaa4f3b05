"""``asana-jira-bridge demo`` starts the bridge and both simulators, wired together."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e


def test_demo_starts_everything_and_stops_on_ctrl_c(tmp_path):
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                             "from bridge.cli import main; main()"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    proc = subprocess.Popen([*cmd, "demo", "--port", "0", "--instance-path",
                             str(tmp_path / "demo")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Open the task page"):
                break
        text = "".join(lines)
        task_url = re.search(r"Demo task page:\s+(\S+)", text).group(1)
        bridge_url = re.search(r"Bridge:\s+(\S+)", text).group(1)
        jira_url = re.search(r"Jira simulator:\s+(\S+)", text).group(1)
        page = requests.get(task_url, timeout=10)
        assert page.status_code == 200 and 'id="connect"' in page.text
        assert bridge_url in page.text  # the task page opens the bridge's auth popup
        assert requests.get(bridge_url + "/healthz", timeout=10).json()["status"] == "ok"
        assert requests.get(jira_url + "/rest/api/2/serverInfo",
                            timeout=10).json()["version"] == "8.20.0"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Demo stopped." in out
