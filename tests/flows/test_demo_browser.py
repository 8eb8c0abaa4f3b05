"""The demo as a visitor meets it: ``asana-jira-bridge demo`` in its own process, the one
URL it prints opened in Chromium, and the flows clicked through there: connect through the
popup, link an issue by search, run the printed command that changes its status in the
Jira simulator, and see the widget follow; then the bridge's front page, configured."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .chromium import needs_chromium
from .pagecheck import broken_images, check_page, images, screenshot

pytestmark = [pytest.mark.e2e, needs_chromium]


@pytest.fixture
def demo(tmp_path):
    exe = Path(sys.executable).with_name("asana-jira-bridge")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                             "from bridge.cli import main; main()"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    proc = subprocess.Popen([*cmd, "demo", "--port", "0", "--instance-path",
                             str(tmp_path / "demo")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    text = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        text += line
        if line.startswith("Ctrl-C stops the demo"):
            break
    try:
        assert "Ctrl-C stops the demo" in text, text
        yield text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def test_a_visitor_clicks_through_the_demo(browser_page, demo):
    page = browser_page
    url = re.search(r"^\s+(http://\S+)\s*$", demo, re.M).group(1)
    bridge = re.search(r"Starting the bridge on (\S+)", demo).group(1)
    jira = re.search(r"Starting the Jira simulator \(.*?\) on (\S+)", demo).group(1)
    page.goto(url)
    page.wait_for_selector("#widgets[data-loaded=true]", state="attached")
    screenshot(page, "demo-1-task-page")

    with page.context.expect_page() as popup_info:
        page.click("#connect")
    popup = popup_info.value
    popup.wait_for_selector("input[name=email]")
    popup.fill("input[name=email]", "alice@example.com")
    popup.fill("input[name=password]", "alice-password")
    popup.click("button[value=allow]")
    popup.wait_for_selector("#login-form")
    popup.fill("#login-form-username", "alice")
    popup.fill("#login-form-password", "alice")
    popup.click("#login-form-submit")
    popup.click("#approve")
    page.wait_for_selector("body[data-auth=success]", state="attached")

    page.click("#app-menu-button")
    page.click("#open-lookup")
    page.fill("#lookup-input", "release notes")
    page.click(".typeahead-item[data-value$='/browse/EX-2']")
    card = page.wait_for_selector(".widget[data-attachment]:not(.error):has-text('EX-2')")
    assert "In Progress" in card.inner_text()
    screenshot(page, "demo-2-linked")
    # The widget's issue-type, priority and assignee icons come from the Jira simulator
    # and show (issue 16.8): none of the page's images is broken.
    icons = [src for src in images(page) if src.startswith(jira)]
    assert {"viewavatar", "priorities", "useravatar"} <= {
        part for src in icons for part in src.split("?")[0].split("/")}, icons
    assert broken_images(page) == []

    command = re.search(r"curl -X POST (\S+) .* -d '(\{.*\})'", demo)
    moved = requests.post(command.group(1), data=command.group(2), timeout=10,
                          headers={"Content-Type": "application/json"})
    assert moved.status_code == 200
    deadline = time.monotonic() + 5
    while "Done" not in card.inner_text():
        assert time.monotonic() < deadline, "the widget did not follow the status change"
        time.sleep(0.3)
        page.reload()
        card = page.wait_for_selector(
            ".widget[data-attachment]:not(.error):has-text('EX-2')")
    screenshot(page, "demo-3-status-changed")

    page.goto(bridge + "/")
    page.wait_for_selector("text=Ready")
    check_page(page, "demo-4-front-page")
