"""The demo task page in a real browser (Debian chromium driven by Playwright).

The page talks to a test-only App Components server (``fake_bridge.py``) directly from the
browser, so signatures, CORS preflights and the auth popup's postMessage are all real.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from bridge_sandbox.asana import seed

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
    item.click()
    widget = page.wait_for_selector(".widget:not(.error)")
    assert "EX-2" in widget.inner_text()
    assert page.locator(".widget .pill-blue").inner_text() == "In Progress"
    assert page.locator(".widget .pill-red").inner_text() == "High"
    assert page.locator(".widget .footer-text").inner_text().startswith("Updated ")
    assert page.locator(".widget .comments").inner_text() == "2 comments"
    icons = page.eval_on_selector_all(
        ".widget img", "imgs => imgs.map(i => [i.src.split('/').pop(), i.naturalWidth])")
    assert sorted(icons) == [["avatar.svg", 16], ["bug.svg", 16], ["calendar.svg", 16]]
    assert page.locator(".widget .type-datetime_with_icon time").get_attribute(
        "datetime") == "2026-12-04T12:00:00.000Z"
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
    page.click("[data-field=assignee] .typeahead-item[data-value=bob]")
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


def test_401_opens_the_popup_then_the_call_goes_again(page, sim, fake_bridge):
    """The bridge answers 401 {"error"} to a user without a Jira credential: the page opens
    the Authentication URL, and after "success" sends the interrupted call again."""
    fake_bridge.app.config["REQUIRE_AUTH"] = True
    sim.sim.apps[CLIENT_ID].redirect_uris.append(fake_bridge.url + "/oauth/asana/callback")
    sim.sim.add_external_attachment(parent=seed.TASK_RICH, name="EX-1",
                                    url="https://jira.example.com/browse/EX-1",
                                    connected_app=CLIENT_ID)
    open_task(page, sim)
    card = page.wait_for_selector(".widget.error")
    assert "Connect your Jira account to continue." in card.inner_text()
    assert page.locator(".widget.error button.widget-connect").count() == 1
    page.click("#app-menu-button")
    page.click("#open-lookup")
    with page.context.expect_page() as popup_info:
        page.fill("#lookup-input", "export")
    popup = popup_info.value
    assert popup.url.startswith(fake_bridge.url + "/asana/auth") or \
        popup.url.startswith(sim.base + "/-/oauth_authorize")
    assert page.is_visible("#auth-prompt")
    assert "Connect your Jira account" in page.inner_text("#auth-prompt")
    popup.wait_for_selector("input[name=email]")
    popup.fill("input[name=email]", "alice@example.com")
    popup.fill("input[name=password]", "alice-password")
    popup.click("button[value=allow]")
    page.wait_for_selector("body[data-auth=success]", state="attached")
    item = page.wait_for_selector(".typeahead-item[data-value='EX-2']")  # the retried call
    assert page.is_hidden("#auth-prompt")
    item.click()
    page.wait_for_selector(".widget[data-attachment]:not(.error) >> text=EX-2")
    assert page.locator(".widget.error").count() == 0  # the EX-1 widget reloaded too
    typeaheads = [c for c in fake_bridge.app.config["CALLS"]
                  if c["path"] == "/asana/lookup/typeahead"]
    assert typeaheads[0]["payload"]["user"] == seed.ALICE
    assert fake_bridge.app.config["AUTHORIZED"] == {seed.ALICE}


def test_widget_connect_button_and_a_denied_popup(page, sim, fake_bridge):
    fake_bridge.app.config["REQUIRE_AUTH"] = True
    sim.sim.apps[CLIENT_ID].redirect_uris.append(fake_bridge.url + "/oauth/asana/callback")
    sim.sim.add_external_attachment(parent=seed.TASK_RICH, name="EX-1",
                                    url="https://jira.example.com/browse/EX-1",
                                    connected_app=CLIENT_ID)
    open_task(page, sim)
    with page.context.expect_page() as popup_info:
        page.click(".widget.error button.widget-connect")
    popup = popup_info.value
    popup.wait_for_selector("button[value=deny]").click()
    page.wait_for_selector("body[data-auth=error]", state="attached")
    assert page.is_hidden("#auth-prompt")
    assert page.locator(".widget.error").count() == 1


def test_rule_configured_saved_and_run(page, sim, fake_bridge):
    open_task(page, sim, seed.TASK_PLAIN)
    page.click("#add-rule")
    page.wait_for_selector("#modal:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "rule-name"
    page.fill("#rule-name", "Bugs to Jira")
    assert page.locator("#field-issuetype").count() == 0
    page.select_option("#field-project", "EX")  # watched: the rule on_change adds a field
    page.wait_for_selector("#field-issuetype")
    page.click("#modal-submit")  # the issue type is required
    assert "Issue type" in page.inner_text("#modal-error")
    page.select_option("#field-issuetype", "bug")
    page.fill("#field-assignee", "car")
    page.click("[data-field=assignee] .typeahead-item[data-value=carol]")
    page.check("#field-copy input[value=yes]")
    page.click("#modal-submit")
    rule = page.wait_for_selector(".rule >> text=Bugs to Jira")
    assert rule and page.is_hidden("#modal")
    saved = list(sim.sim.rule_actions.values())
    assert len(saved) == 1 and saved[0]["values"]["issuetype"] == "bug"
    assert saved[0]["values"]["assignee"]["value"] == "carol" and saved[0]["user"] == seed.ALICE
    calls = fake_bridge.app.config["CALLS"]
    meta = [c for c in calls if c["path"] == "/asana/rule"][0]["payload"]
    assert "action" not in meta and meta["action_type"] == "1700000000000001"
    assert meta["project"] == seed.PROJECT and "task" not in meta
    change = [c for c in calls if c["path"] == "/asana/rule/change"][0]["payload"]
    assert change["changed_field"] == "project" and change["action"] == saved[0]["action"]
    typeahead = [c for c in calls if c["path"] == "/asana/typeahead/assignee"][-1]["payload"]
    assert "task" not in typeahead
    submit = [c for c in calls if c["path"] == "/asana/rule/submit"][-1]["payload"]
    assert submit["rule_name"] == "Bugs to Jira" and submit["values"]["copy"] == ["yes"]
    assert all(c["origin"] == sim.base for c in calls)  # the rule builder runs in the browser
    fake_bridge.app.config["RUN_FAILURES"] = 1  # one delivery fails first: retried
    page.check("#deliver-twice")
    page.click(f".run-rule[data-action='{saved[0]['action']}']")
    page.wait_for_selector("body[data-rule-run='200']", state="attached")
    widget = page.wait_for_selector(".widget:not(.error)")
    assert "Created by rule" in widget.inner_text()
    assert "created EX-901 Created by rule" in page.inner_text("#status")
    assert page.locator(".widget:not(.error)").count() == 1  # one issue, attached once
    runs = [c for c in fake_bridge.app.config["CALLS"] if c["path"] == "/asana/rule/run"]
    assert len(runs) == 3 and runs[0]["origin"] is None  # from the server, not the browser
    assert len({r["payload"]["idempotency_key"] for r in runs}) == 1
    page.click(".edit-rule")
    page.wait_for_selector("#modal:not([hidden])")
    assert page.input_value("#field-issuetype") == "bug"
    page.keyboard.press("Escape")
    assert page.is_hidden("#modal")
    assert page.evaluate("document.activeElement.className").startswith("secondary edit-rule")
    page.click(".delete-rule")
    page.wait_for_selector("#rule-list[data-count='0']", state="attached")


def test_keyboard_links_an_issue_and_focus_is_visible(page, sim, fake_bridge):
    open_task(page, sim)
    page.focus("#app-menu-button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "open-lookup"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "lookup-input"
    page.keyboard.type("crash")
    page.wait_for_selector(".typeahead-item[data-value='EX-3']")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.value") == "EX-3"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    page.wait_for_selector(".widget:not(.error) >> text=EX-3")
    assert outline != "none"  # the menu button showed its focus too


def test_attachments_upload_and_remove_from_the_page(page, sim, tmp_path):
    open_task(page, sim, seed.TASK_LINKS)
    page.wait_for_selector("#attachment-list[data-count='4']", state="attached")
    links = page.locator("#attachment-list a")
    assert [links.nth(i).inner_text() for i in range(4)] == [
        "review-agenda.pdf", "Launch review slides", "brand-assets.zip", "budget.xlsx"]
    assert page.locator("#attachment-list a").nth(1).get_attribute("href").startswith(
        "https://docs.google.com/")
    note = tmp_path / "minutes.txt"
    note.write_text("decisions")
    page.set_input_files("#upload-file", str(note))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#attachment-list[data-count='5']", state="attached")
    page.click("button[aria-label='Remove brand-assets.zip']")
    page.wait_for_selector("#attachment-list[data-count='4']", state="attached")
    assert "brand-assets.zip" not in page.inner_text("#attachment-list")
    assert "1500000000000009" not in sim.sim.attachments


@pytest.mark.parametrize("width", [1280, 375])
def test_every_control_is_labelled_and_fits(browser, sim, fake_bridge, width):
    sim.sim.configure_components(bridge_url=fake_bridge.url)
    sim.sim.add_external_attachment(parent=seed.TASK_RICH, name="EX-1",
                                    url="https://jira.example.com/browse/EX-1",
                                    connected_app=CLIENT_ID)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        open_task(page, sim)
        page.click("#app-menu-button")
        page.click("#open-form")
        page.wait_for_selector("#modal:not([hidden])")
        unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll(
            'input:not([type=hidden]), select, textarea, [contenteditable=true], button'))
          .filter(n => n.offsetParent !== null || n.closest('#modal:not([hidden])'))
          .filter(n => {
            if (n.getAttribute('aria-label') || n.getAttribute('aria-labelledby')) return false;
            if (n.tagName === 'BUTTON') return !n.textContent.trim();
            if (n.closest('fieldset') && n.closest('label')) return false;
            return !(n.labels && n.labels.length);
          }).map(n => n.outerHTML.slice(0, 80))""")
        assert unlabelled == []
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px wider than the {width}px viewport"
        page.screenshot(path=f"/tmp/asana-sim-form-{width}.png")
    finally:
        context.close()


def test_pages_meet_the_page_standards(page, sim, fake_bridge):
    """axe-core (WCAG 2.1 A/AA), 1280 and 375 px, Tab reaches everything with a visible
    focus: the task page with a widget and a rule, its dialog, the index and consent pages."""
    from flows.pagecheck import axe_violations, check_page, horizontal_overflow

    sim.sim.add_external_attachment(parent=seed.TASK_RICH, name="EX-1",
                                    url="https://jira.example.com/browse/EX-1",
                                    connected_app=CLIENT_ID)
    sim.sim.save_rule(action="1800000000000009", project=seed.PROJECT, user=seed.ALICE,
                      values={"project": "EX"}, rule_name="Bugs to Jira")
    open_task(page, sim)
    page.wait_for_selector(".widget:not(.error)")
    page.wait_for_selector("#rule-list[data-count='1']", state="attached")
    check_page(page, "asana-sim-task")
    page.click("#app-menu-button")
    page.click("#open-form")
    page.wait_for_selector("#modal:not([hidden])")
    # The dialog keeps Tab inside itself (the page behind is inert), so it gets the axe
    # and width checks; its own controls are reached in test_rule_configured_saved_and_run.
    assert axe_violations(page) == []
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 800})
        assert horizontal_overflow(page) == 0, width
    assert page.evaluate("document.querySelector('main').inert") is True
    page.keyboard.press("Escape")
    assert page.evaluate("document.querySelector('main').inert") is False
    page.goto(sim.base + "/")
    check_page(page, "asana-sim-index")
    page.goto(sim.base + "/-/oauth_authorize?client_id=" + CLIENT_ID + "&redirect_uri="
              "http%3A%2F%2F127.0.0.1%3A9%2Foauth%2Fasana%2Fcallback&response_type=code&state=s")
    check_page(page, "asana-sim-consent")
