"""What every page of the bridge must do in a real browser, checked the same way everywhere.

``check_page(page, name)`` runs on a page a test has reached in Chromium:

- axe-core (the engine from the ``axe-playwright-python`` package, injected into the
  page) finds no WCAG 2.x A/AA violation: every input has a label, contrast, names of
  buttons and links, landmarks, language;
- at 1280 and at 375 pixels wide nothing sticks out sideways (no horizontal scrolling);
- every button, link and input is reachable with the Tab key, and the focused one shows a
  visible focus indicator (an outline or a box shadow);
- no image is broken (``broken_images``: every ``<img>``, in every frame, loaded with a
  width);
- a screenshot at each width goes to ``test-results/screenshots/<name>-<width>.png``
  (gitignored; CI keeps them with the test results).

A failure names the page and what is wrong, so a broken page fails the suite.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
WIDTHS = (1280, 375)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Best practices that matter on these small pages (the rest are about large sites).
AXE_BEST_PRACTICES = ["landmark-one-main", "page-has-heading-one", "region",
                      "heading-order", "label-title-only", "landmark-unique"]


@functools.cache
def _axe_source() -> str:
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def axe_violations(page) -> list[str]:
    """axe-core's violations on the page, one readable line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluate() runs outside the page's Content-Security-Policy (a <script> tag
        # would be refused by the bridge's script-src 'self').
        page.evaluate(_axe_source() + "\n;undefined")
    result = page.evaluate(
        """async ([tags, rules]) => {
            const a = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            const b = await axe.run(document, {runOnly: {type: 'rule', values: rules}});
            return [...a.violations, ...b.violations].map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
            }));
        }""", [AXE_TAGS, AXE_BEST_PRACTICES])
    return [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}"
            for v in result]


def horizontal_overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when it fits)."""
    return page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


_FOCUSABLE = ("a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), "
              "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])")


def keyboard_problems(page) -> list[str]:
    """Tab through the page: every visible control must get the focus, with a visible
    indicator. Returns what is wrong."""
    controls = page.evaluate(
        """(sel) => {
            const seen = [];
            document.querySelectorAll(sel).forEach((el, i) => {
                const r = el.getBoundingClientRect();
                const st = getComputedStyle(el);
                if (r.width > 0 && r.height > 0 && st.visibility !== 'hidden') {
                    el.setAttribute('data-kbd-check', String(i));
                    seen.push(String(i));
                }
            });
            return seen;
        }""", _FOCUSABLE)
    if not controls:
        return []
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); "
                  "window.scrollTo(0, 0); }")
    page.locator("body").focus() if page.locator("body").count() else None
    reached: dict[str, dict] = {}
    for _ in range(len(controls) + 3):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || !el.hasAttribute('data-kbd-check')) return null;
                const st = getComputedStyle(el);
                const outline = st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0;
                const shadow = st.boxShadow && st.boxShadow !== 'none';
                return {id: el.getAttribute('data-kbd-check'),
                        what: el.tagName.toLowerCase() + (el.name ? '[name=' + el.name + ']'
                              : '') + ' "' + (el.innerText || el.value || '').trim()
                              .slice(0, 30) + '"',
                        visible: outline || shadow};
            }""")
        if info:
            reached.setdefault(info["id"], info)
    problems = []
    missing = [c for c in controls if c not in reached]
    if missing:
        names = page.evaluate(
            """(ids) => ids.map(i => {
                const el = document.querySelector('[data-kbd-check="' + i + '"]');
                return el.tagName.toLowerCase() + ' "' + (el.innerText || el.name || '')
                    .trim().slice(0, 30) + '"';
            })""", missing)
        problems.append(f"not reachable with Tab: {names}")
    invisible = [r["what"] for r in reached.values() if not r["visible"]]
    if invisible:
        problems.append(f"no visible focus indicator on: {invisible}")
    return problems


def broken_images(page, timeout_ms: int = 5000) -> list[str]:
    """The ``src`` of every ``<img>`` (in the page and its frames) that did not load: an
    icon URL that answers 404 or not an image shows as a blank (issue 16.8). Waits for
    images still loading first."""
    broken = []
    for frame in page.frames:
        frame.wait_for_function(
            "() => [...document.images].every(i => i.complete)", timeout=timeout_ms)
        broken += frame.evaluate(
            "() => [...document.images].filter(i => i.naturalWidth === 0)"
            ".map(i => i.currentSrc || i.src || '(no src)')")
    return broken


def images(page) -> list[str]:
    """The ``src`` of every ``<img>`` in the page and its frames."""
    return [src for frame in page.frames
            for src in frame.evaluate("() => [...document.images].map(i => i.src)")]


def check_page(page, name: str, *, axe: bool = True) -> None:
    """The bridge's page standards (module docstring); fails the test with a sentence."""
    page.wait_for_load_state("load")
    original = page.viewport_size or {"width": 1280, "height": 800}
    failures: list[str] = []
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            overflow = horizontal_overflow(page)
            if overflow:
                failures.append(f"at {width}px the page is {overflow}px too wide")
            screenshot(page, f"{name}-{width}")
        if axe:
            failures += [f"axe: {v}" for v in axe_violations(page)]
        failures += keyboard_problems(page)
        failures += [f"broken image: {src}" for src in broken_images(page)]
    finally:
        page.set_viewport_size(original)
    assert not failures, f"page {name!r} ({page.url}):\n  " + "\n  ".join(failures)
