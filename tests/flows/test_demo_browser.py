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


def _connect(page) -> None:
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


def _task_page(page, url: str, task: str) -> None:
    page.goto(re.sub(r"/demo/task/\d+", f"/demo/task/{task}", url))
    page.wait_for_selector("#widgets[data-loaded=true]", state="attached")


def _link(page, text: str, key: str):
    page.click("#app-menu-button")
    page.click("#open-lookup")
    page.fill("#lookup-input", text)
    page.press("#lookup-input", "Enter")
    return page.wait_for_selector(f".widget[data-attachment]:not(.error):has-text('{key}')")


def test_the_demo_links_by_key_and_url_creates_with_files_and_runs_a_rule(browser_page,
                                                                         demo):
    """The rest of the demo's promises (issue 15, "Done when"), in the demo's own processes,
    its queue worker included: link by key and by URL, create an issue with the task's
    files (copied by the worker), configure and run a rule."""
    from bridge_sandbox.asana.seed import PROJECT, TASK_EMPTY, TASK_LINKS, TASK_RICH

    page = browser_page
    url = re.search(r"^\s+(http://\S+)\s*$", demo, re.M).group(1)
    jira = re.search(r"Starting the Jira simulator \(Jira [^)]*\) on (\S+)", demo).group(1)
    page.goto(url)
    page.wait_for_selector("#widgets[data-loaded=true]", state="attached")
    _connect(page)

    _task_page(page, url, TASK_EMPTY)
    assert "No Jira issue is linked" in page.inner_text("#widgets")
    assert "Connect" in page.inner_text("#connect")
    _link(page, "EX-3", "EX-3")  # by key
    assert page.get_attribute("#connect", "data-connected") == "true"
    _task_page(page, url, TASK_LINKS)
    _link(page, f"{jira}/browse/EX-4", "EX-4")  # by URL
    screenshot(page, "demo-5-linked-by-url")

    _task_page(page, url, TASK_RICH)
    page.click("#app-menu-button")
    page.click("#open-form")
    page.wait_for_selector("#modal:not([hidden])")
    page.select_option("#field-project", "EX")
    page.wait_for_selector("#field-issuetype")
    page.select_option("#field-issuetype", label="Bug")
    page.wait_for_selector("#field-summary")
    page.click("#modal-submit")
    page.wait_for_selector("#modal[hidden]", state="attached")
    card = page.wait_for_selector(".widget[data-attachment]:not(.error):has-text('Login fails')")
    key = re.search(r"\bEX-\d+\b", card.inner_text()).group(0)
    deadline = time.monotonic() + 60
    while "Copying" in card.inner_text():  # the demo's worker copies the task's files
        assert time.monotonic() < deadline, "the demo's worker did not copy the files"
        time.sleep(0.5)
        _task_page(page, url, TASK_RICH)
        card = page.wait_for_selector(f".widget[data-attachment]:not(.error):has-text('{key}')")
    files = requests.get(f"{jira}/rest/api/2/issue/{key}?fields=attachment",
                         auth=("admin", "admin"), timeout=10).json()["fields"]["attachment"]
    assert len(files) >= 4, files
    screenshot(page, "demo-6-created-with-files")

    # A rule, run on a new task of the project (one issue per task by default).
    made = requests.post(url.split("/demo/")[0] + "/_sim/tasks", timeout=10,
                         json={"name": "Export the quarterly report", "projects": [PROJECT]})
    assert made.status_code == 201, made.text
    _task_page(page, url, made.json()["gid"])
    page.click("#add-rule")
    page.wait_for_selector("#modal:not([hidden])")
    page.fill("#rule-name", "Bugs to Jira")
    page.select_option("#field-project", "EX")
    page.wait_for_selector("#field-issuetype")
    page.select_option("#field-issuetype", label="Task")
    page.click("#modal-submit")
    page.wait_for_selector(".rule >> text=Bugs to Jira")
    page.click(".run-rule")
    page.wait_for_selector("body[data-rule-run='200']", state="attached")
    assert "created EX-" in page.inner_text("#status")
    page.wait_for_selector(".widget[data-attachment]:not(.error)")
    screenshot(page, "demo-7-rule-run")
