"""Launching Debian's Chromium with Playwright for the page tests.

On CI (``CI`` set) a missing browser is an error, not a skip: ``scripts/test`` installs it,
and a suite that silently skips its browser tests proves nothing about pages.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("BRIDGE_CHROMIUM") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium") or ""
)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AVAILABLE = bool(CHROMIUM and os.path.exists(CHROMIUM))

needs_chromium = pytest.mark.skipif(
    not AVAILABLE and not os.environ.get("CI"),
    reason="chromium not found (apt-get install chromium, or set BRIDGE_CHROMIUM)")


def launch(playwright):
    if not AVAILABLE:
        pytest.fail("chromium is required on CI but was not found (scripts/test installs it)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
