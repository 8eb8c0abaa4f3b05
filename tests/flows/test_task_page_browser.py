"""What an Asana user does, in a real browser, on the Asana simulator's task page against
the real bridge: page and bridge on different origins (another port), so Chromium
enforces CORS on every App Components call, and the simulator signs them as Asana does.

- a user without a Jira credential searches, gets sent through the popup (401 → the
  Authentication URL), links an issue, and the widget follows a status change in Jira;
- a user creates an issue from the task with its attachments;
- a rule is configured, saved and run.

Each test leaves screenshots in ``test-results/screenshots/``.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from bridge_sandbox.asana.seed import PROJECT, TASK_PLAIN, TASK_RICH

from bridge.models import IssueLink, JiraInstance

from .chromium import needs_chromium
from .conftest import ASANA_CLIENT_ID, jira_state
from .helpers import authorize_user, oauth1_instance, oauth2_instance, worker_context
from .pagecheck import screenshot

pytestmark = [pytest.mark.e2e, needs_chromium]

CONNECT = {"8.20.0": oauth1_instance, "10.3.0": oauth2_instance}


@pytest.fixture
def task_page(browser_page, asana, bridge):
    asana.app.sim.configure_components(client_id=ASANA_CLIENT_ID, bridge_url=bridge.url,
                                       install_on=[PROJECT])
    assert bridge.url != asana.url  # two origins: Chromium enforces CORS on every call
    return browser_page


def _open(page, asana, task):
    page.goto(f"{asana.url}/demo/task/{task}")
    page.wait_for_selector("#widgets[data-loaded=true]", state="attached")


def _connected(bridge, jira, version) -> JiraInstance:
    from bridge.services import webhooks

    instance = CONNECT[version](bridge, jira)
    with bridge.app.app_context():
        instance = JiraInstance.get_by_id(instance.id)
        webhooks.register(instance, bridge.url, "admin", "admin")
    return instance


@pytest.mark.parametrize("version", sorted(CONNECT))
def test_link_by_search_through_the_popup_then_the_widget_follows_jira(task_page, asana,
                                                                       bridge, jira_factory,
                                                                       version):
    page = task_page
    jira = jira_factory(version)
    _connected(bridge, jira, version)
    _open(page, asana, TASK_PLAIN)
    page.click("#app-menu-button")
    page.click("#open-lookup")
    with page.context.expect_page() as popup_info:  # no Jira credential yet: 401
        page.fill("#lookup-input", "release")
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
    item = page.wait_for_selector(".typeahead-item[data-value$='/browse/EX-2']")  # again
    screenshot(page, f"task-{version}-1-lookup")
    item.click()
    widget = page.wait_for_selector(".widget[data-attachment]:not(.error):has-text('EX-2')")
    text = widget.inner_text()
    assert "Write release notes" in text and "In Progress" in text
    screenshot(page, f"task-{version}-2-widget")
    with bridge.app.app_context():
        link = IssueLink.get()
        assert (link.task_gid, link.issue_key) == (TASK_PLAIN, "EX-2")

    moved = requests.post(f"{jira.url}/_sim/issues/EX-2", json={"status": "Done"}, timeout=5)
    assert moved.status_code == 200
    deadline = time.monotonic() + 5
    while True:
        _open(page, asana, TASK_PLAIN)
        card = page.wait_for_selector(".widget[data-attachment]:not(.error)")
        if "Done" in card.inner_text():
            break
        assert time.monotonic() < deadline, "the widget did not show the status change"
        time.sleep(0.2)
    screenshot(page, f"task-{version}-3-widget-after-status-change")


def test_create_an_issue_from_the_task_with_its_attachments(task_page, asana, bridge,
                                                           jira_factory):
    page = task_page
    jira = jira_factory("10.3.0")
    _connected(bridge, jira, "10.3.0")
    authorize_user(bridge, jira)
    _open(page, asana, TASK_RICH)
    page.click("#app-menu-button")
    page.click("#open-form")
    page.wait_for_selector("#modal:not([hidden])")
    page.select_option("#field-project", "EX")
    page.wait_for_selector("#field-issuetype")
    page.select_option("#field-issuetype", label="Bug")
    page.wait_for_selector("#field-summary")
    assert page.input_value("#field-summary") == "Login fails on Safari"  # the task's name
    screenshot(page, "task-create-1-form")
    page.click("#modal-submit")
    page.wait_for_selector("#modal[hidden]", state="attached")
    widget = page.wait_for_selector(".widget[data-attachment]:not(.error):has-text('Login fails')")
    key = re.search(r"\bEX-\d+\b", widget.inner_text()).group(0)
    screenshot(page, "task-create-2-widget")
    issue = requests.get(f"{jira.url}/rest/api/2/issue/{key}", auth=("admin", "admin"),
                         timeout=5).json()
    assert issue["fields"]["summary"] == "Login fails on Safari"
    assert "Safari 17" in issue["fields"]["description"]
    assert "Copying" in widget.inner_text()  # the widget's footer follows the copies

    # The queue worker's part, run here in-process: every file goes to Jira once.
    from bridge.models import AttachmentCopy
    from bridge.services import attachments

    with bridge.app.app_context():
        for row in AttachmentCopy.select().where(AttachmentCopy.state == "pending"):
            attachments.attempt(worker_context(), row.id, "browser-test")
    files = [a for a in jira_state(jira).attachments.values() if a["issue"] == key]
    assert len(files) >= 4 and len({f["filename"] for f in files}) == len(files)
    _open(page, asana, TASK_RICH)
    card = page.wait_for_selector(f".widget[data-attachment]:not(.error):has-text('{key}')")
    assert "Copying" not in card.inner_text() and "safari-trace.zip" in card.inner_text()
    screenshot(page, "task-create-3-copied")


def test_a_rule_configured_saved_and_run(task_page, asana, bridge, jira_factory):
    page = task_page
    jira = jira_factory("8.20.0")
    _connected(bridge, jira, "8.20.0")
    authorize_user(bridge, jira)
    _open(page, asana, TASK_PLAIN)
    page.click("#add-rule")
    page.wait_for_selector("#modal:not([hidden])")
    page.fill("#rule-name", "Bugs to Jira")
    page.select_option("#field-project", "EX")
    page.wait_for_selector("#field-issuetype")
    page.select_option("#field-issuetype", label="Task")
    screenshot(page, "task-rule-1-form")
    page.click("#modal-submit")
    page.wait_for_selector(".rule >> text=Bugs to Jira")
    action = page.get_attribute(".run-rule", "data-action")
    page.click(f".run-rule[data-action='{action}']")
    page.wait_for_selector("body[data-rule-run='200']", state="attached")
    widget = page.wait_for_selector(".widget[data-attachment]:not(.error):has-text('Export')")
    screenshot(page, "task-rule-2-run")
    key = re.search(r"\bEX-\d+\b", widget.inner_text()).group(0)
    issue = requests.get(f"{jira.url}/rest/api/2/issue/{key}", auth=("admin", "admin"),
                         timeout=5).json()
    assert issue["fields"]["issuetype"]["name"] == "Task"


IN_VIEW_AND_UNCOVERED = """sel => {
  const node = document.querySelector(sel);
  if (!node || node.hidden) return "missing or hidden";
  const r = node.getBoundingClientRect();
  if (!r.height || r.top < 0 || r.bottom > window.innerHeight) return "out of view";
  const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return node === top || node.contains(top) ? "ok" : "covered by " + top.outerHTML.slice(0, 80);
}"""


def _gap(page, a: str, b: str) -> float:
    """Vertical distance in pixels between two elements' boxes."""
    return page.evaluate("""([a, b]) => {
      const x = document.querySelector(a).getBoundingClientRect();
      const y = document.querySelector(b).getBoundingClientRect();
      return Math.max(0, y.top - x.bottom, x.top - y.bottom);
    }""", [a, b])


def test_lookup_messages_stay_in_view_and_clear_when_the_link_goes(task_page, asana, bridge,
                                                                  jira_factory):
    """Issue 16.10: the limit error is in view and not under the results list; it goes
    when the link is removed; "Connect Jira" and "Linked issues" say where things stand."""
    page = task_page
    jira = jira_factory("8.20.0")
    _connected(bridge, jira, "8.20.0")
    authorize_user(bridge, jira)
    _open(page, asana, TASK_PLAIN)
    assert "No Jira issue is linked to this task yet" in page.inner_text("#widgets")
    assert page.get_attribute("#connect", "data-connected") != "true"

    page.click("#app-menu-button")
    page.click("#open-lookup")
    page.fill("#lookup-input", "EX-2")
    page.press("#lookup-input", "Enter")
    page.wait_for_selector(".widget[data-attachment]:not(.error):has-text('EX-2')")
    assert "No Jira issue is linked" not in page.inner_text("#widgets")
    assert page.get_attribute("#connect", "data-connected") == "true"
    assert "connected" in page.inner_text("#connect")

    page.click("#app-menu-button")
    page.click("#open-lookup")
    page.fill("#lookup-input", "EX-3")
    page.wait_for_selector("#lookup-results:not([hidden]) .typeahead-item")  # the list is open
    page.press("#lookup-input", "Enter")
    page.wait_for_selector("#lookup-error:not([hidden])")
    assert "already has" in page.inner_text("#lookup-error")
    assert page.get_attribute("#lookup-error", "role") == "alert"
    assert page.evaluate(IN_VIEW_AND_UNCOVERED, "#lookup-error") == "ok"
    screenshot(page, "task-lookup-limit")

    page.click(".attachment:has-text('EX-2') .remove-attachment")
    page.wait_for_selector("#lookup-error", state="hidden")
    page.fill("#lookup-input", "EX-3")
    page.press("#lookup-input", "Enter")
    page.wait_for_selector(".widget[data-attachment]:not(.error):has-text('EX-3')")
    assert page.is_hidden("#lookup-error")


def test_an_error_shows_next_to_the_button_that_caused_it(task_page, asana, bridge,
                                                          jira_factory):
    """Issue 15.3: an error reaching the task page shows beside the control the user
    pressed, in view, as an alert, not at the bottom of the page."""
    page = task_page
    page.set_viewport_size({"width": 1280, "height": 600})
    jira = jira_factory("8.20.0")
    _connected(bridge, jira, "8.20.0")
    authorize_user(bridge, jira)
    _open(page, asana, TASK_RICH)
    # From now on the bridge refuses every call with a sentence (400): the page signs with
    # a secret the bridge does not know, as after a client secret rotated on one side only.
    asana.app.sim.configure_components(client_id=ASANA_CLIENT_ID, client_secret="rotated")

    page.evaluate("window.scrollTo(0, 0)")
    page.click("#app-menu-button")
    page.click("#open-form")
    alert = page.wait_for_selector("#status[role=alert]:not(:empty)")
    assert page.evaluate(IN_VIEW_AND_UNCOVERED, "#status") == "ok", alert.inner_text()
    assert _gap(page, "#app-menu-button", "#status") < 80
    screenshot(page, "task-error-beside-create")

    page.click("#add-rule")
    page.wait_for_selector(".rule-options + #status[role=alert]:not(:empty)")
    assert page.inner_text("#status").strip()
    assert page.evaluate(IN_VIEW_AND_UNCOVERED, "#status") == "ok"
    assert _gap(page, "#add-rule", "#status") < 80
