"""The demo task page in a real browser (Debian chromium driven by Playwright).

The page talks to a test-only App Components server (``fake_bridge.py``) directly from the
browser, so signatures, CORS preflights and the auth popup's postMessage are all real.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from bridge.sandbox.asana import seed

from .conftest import CLIENT_ID

CHROMIUM = os.environ.get("BRIDGE_CHROMIUM") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium") or ""
)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.e2e,
    # On CI a missing browser fails instead: scripts/test installs it.
    pytest.mark.skipif(not (CHROMIUM and os.path.exists(CHROMIUM)) and not os.environ.get("CI"),
                       reason="chromium not found (apt-get install chromium, or set "
                              "BRIDGE_CHROMIUM to its path)"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, sim, fake_bridge):
    sim.sim.configure_components(bridge_url=fake_bridge.url)
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, errors


def open_task(page, sim, gid=seed.TASK_RICH):
    page.goto(f"{sim.base}/demo/task/{gid}")
    page.wait_for_selector("#widgets[data-loaded=true]", state="attached")


def test_task_page_shows_task_and_rich_notes(page, sim):
    open_task(page, sim)
    assert page.inner_text(".task-title") == "Login fails on Safari"
    assert page.locator(".notes strong").first.inner_text() == "Login fails on Safari 17"
    assert page.locator(".notes ol li").count() == 3
    assert page.locator(".notes a").get_attribute("href") == "https://www.example.com/login"
    assert "12.0 MB" in page.inner_text("#attachment-list")


def test_lookup_typeahead_then_widget(page, sim, fake_bridge):
    open_task(page, sim)
    page.click("#app-menu-button")
    page.click("#open-lookup")
    page.fill("#lookup-input", "export")
    item = page.wait_for_selector(".typeahead-item[data-value='EX-2']")
    assert "Jira issues" in page.inner_text("#lookup-results")
    item.dispatch_event("mousedown")
    widget = page.wait_for_selector(".widget:not(.error)")
    assert "EX-2" in widget.inner_text()
    assert page.locator(".widget .pill-blue").inner_text() == "In Progress"
    assert page.locator(".widget .pill-red").inner_text() == "High"
    assert page.locator(".widget .footer-text").inner_text().startswith("Updated ")
    assert page.locator(".widget .comments").inner_text() == "2 comments"
    calls = fake_bridge.app.config["CALLS"]
    assert {c["path"] for c in calls} >= {"/asana/lookup/typeahead", "/asana/lookup/attach",
                                           "/asana/widget"}
    assert all(c["origin"] == sim.base for c in calls)  # sent by the browser, cross-origin
    attach = [c for c in calls if c["path"] == "/asana/lookup/attach"][-1]
    assert attach["payload"]["query"] == "EX-2"
    assert [a for a in sim.sim.widget_attachments(seed.TASK_RICH)
            if a["url"] == "https://jira.example.com/browse/EX-2"]


def test_modal_form_watch_errors_and_submit(page, sim, fake_bridge):
    open_task(page, sim)
    page.click("#app-menu-button")
    page.click("#open-form")
    page.wait_for_selector("#modal:not([hidden])")
    types = page.eval_on_selector_all(
        "#modal-form .form-field", "els => els.map(e => e.className.split(' ')[1])")
    assert set(types) == {"static_text", "dropdown", "single_line_text", "rich_text",
                          "multi_line_text", "radio_button", "checkbox", "date", "datetime",
                          "typeahead"}
    page.select_option("#field-project", "OPS")  # watched: on-change returns a new form
    page.wait_for_selector("[data-field=component]")
    page.fill("#field-summary", "   ")
    page.click("#field-priority input[value=high]")
    page.check("#field-copy input[value=yes]")
    page.fill("#field-due", "2026-12-24")
    page.fill("#field-assignee", "bo")
    page.wait_for_selector("[data-field=assignee] .typeahead-item[data-value=bob]").dispatch_event(
        "mousedown")
    page.click("#modal-submit")
    error = page.wait_for_selector("[data-field=summary] .field-error")
    assert error.inner_text() == "Summary is required"
    page.fill("#field-summary", "Broken login")
    page.click("#field-description")
    page.keyboard.type("Steps attached")
    page.click("#modal-submit")
    page.wait_for_selector("#modal[hidden]", state="attached")
    widget = page.wait_for_selector(".widget:not(.error)")
    assert "OPS-101 Broken login" in widget.inner_text()
    submit = [c for c in fake_bridge.app.config["CALLS"] if c["path"] == "/asana/form/submit"][-1]
    values = submit["payload"]["values"]
    assert values["project"] == "OPS" and values["summary"] == "Broken login"
    assert values["copy"] == ["yes"] and values["priority"] == "high"
    assert values["assignee"]["value"] == "bob" and values["assignee"]["title"] == "Bob Builder"
    assert values["due"].startswith("2026-12-2") and values["due"].endswith("Z")
    assert "Steps attached" in values["description"]
    change = [c for c in fake_bridge.app.config["CALLS"] if c["path"] == "/asana/form/change"][0]
    assert change["payload"]["changed_field"] == "project"


def test_invalid_widget_shows_asana_error(page, sim, fake_bridge):
    fake_bridge.app.config["BROKEN_WIDGET"] = True
    sim.sim.add_external_attachment(parent=seed.TASK_RICH, name="EX-1",
                                    url="https://jira.example.com/browse/EX-1",
                                    connected_app=CLIENT_ID)
    open_task(page, sim)
    assert page.inner_text(".widget.error") == "Something went wrong. Try again later."


def _popup_consent(page, sim, fake_bridge, decision):
    sim.sim.apps[CLIENT_ID].redirect_uris.append(fake_bridge.url + "/oauth/asana/callback")
    open_task(page, sim)
    with page.context.expect_page() as popup_info:
        page.click("#connect")
    popup = popup_info.value
    popup.wait_for_selector("text=wants to access your Asana account")
    assert popup.url.startswith(sim.base + "/-/oauth_authorize?")
    popup.fill("input[name=email]", "bob@example.com")
    popup.fill("input[name=password]", "bob-password")
    popup.click(f"button[value={decision}]")


def test_auth_popup_oauth_then_success(page, sim, fake_bridge):
    _popup_consent(page, sim, fake_bridge, "allow")
    page.wait_for_selector("body[data-auth=success]", state="attached")
    assert "is connected" in page.inner_text("#status")
    tokens = fake_bridge.app.config["TOKENS"]
    assert tokens[0]["data"]["email"] == "bob@example.com" and tokens[0]["expires_in"] == 3600


def test_auth_popup_deny_posts_error(page, sim, fake_bridge):
    _popup_consent(page, sim, fake_bridge, "deny")
    page.wait_for_selector("body[data-auth=error]", state="attached")
    assert fake_bridge.app.config["TOKENS"] == []


def test_screenshot(page, sim):
    sim.sim.add_external_attachment(parent=seed.TASK_RICH, name="EX-1 Login fails on Safari",
                                    url="https://jira.example.com/browse/EX-1",
                                    connected_app=CLIENT_ID)
    open_task(page, sim)
    page.wait_for_selector(".widget:not(.error)")
    page.screenshot(path="/tmp/asana-sim-task.png", full_page=True)
    page.click("#app-menu-button")
    page.click("#open-form")
    page.wait_for_selector("#modal:not([hidden])")
    page.screenshot(path="/tmp/asana-sim-form.png")
    assert json.loads(page.inner_text("#sim-config"))["bridge_origin"]
