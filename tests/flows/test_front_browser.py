"""The front page in a real browser: unconfigured, and after an admin connected Jira; it
passes the page checks (axe-core, 1280 and 375 px, keyboard) and its links lead on."""

from __future__ import annotations

import pytest
from bridge_sandbox.liveserver import LiveServer

from .chromium import needs_chromium
from .helpers import oauth1_instance
from .pagecheck import check_page

pytestmark = [pytest.mark.e2e, needs_chromium]


def test_front_page_of_a_fresh_bridge(browser_page, make_app):
    with LiveServer(make_app()) as server:
        browser_page.goto(server.url + "/")
        browser_page.wait_for_selector("text=Next steps")
        check_page(browser_page, "front-fresh")
        assert "not configured yet" in browser_page.inner_text("main")


def test_front_page_of_a_configured_bridge_leads_to_the_admin_pages(browser_page, bridge,
                                                                    jira_factory):
    oauth1_instance(bridge, jira_factory("8.20.0"))
    browser_page.goto(bridge.url + "/")
    browser_page.wait_for_selector("text=Ready")
    check_page(browser_page, "front-configured")
    assert "1 connected" in browser_page.inner_text("main")
    browser_page.click("text=Connect another Jira")
    browser_page.wait_for_selector("text=wants to access your Asana account")  # sign-in
