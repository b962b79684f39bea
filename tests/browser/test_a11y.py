"""Accessibility: axe-core in real Chromium on every page, and a keyboard-only run.

axe-core comes from the npm registry (``npm ci`` puts it in node_modules;
package.json lists it) and is injected into the page by the test only; the
app never serves it. Every page a person meets is checked, light and dark:
the landing page, sign-up, log-in, forgot and reset, each tab of the app,
the privacy page and the goodbye page. WCAG 2.1 A and AA rules; a serious
or critical violation fails the test, with the rule, the element and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..fixtures_browser import (
    PASSWORD,
    WAIT_MS,
    WebServer,
    choose_size,
    open_tab,
    set_number,
    signup_in_browser,
    wait_ready,
)

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

expect.set_options(timeout=WAIT_MS)

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_problems(page: Any) -> list[str]:
    """The serious and critical WCAG 2.1 AA violations axe finds on the page, worded."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci`")
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: '"
        " + (n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 220))})))",
        TAGS,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> {node}"
        for v in result
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


def _settle(page: Any) -> None:
    """Let transitions end (axe measures colours as painted)."""
    page.wait_for_timeout(350)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_no_serious_axe_violation(
    chromium: Any, web: WebServer, scheme: str
) -> None:
    studio = web.studio
    assert studio is not None
    studio.signup("root", "root@example.org", PASSWORD)
    studio.set_role("root", "admin")  # granted by the operator, never by a name
    found: dict[str, list[str]] = {}
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        for path in ("/", "/signup", "/login", "/forgot", "/reset?token=nope", "/privacy"):
            page.goto(web.url + path)
            _settle(page)
            found[path] = axe_problems(page)

        signup_in_browser(page, web.url, "ada")
        page.fill("#prompt textarea", "a kite over a hill")
        page.click("#generate")
        expect(page.get_by_test_id("latest-image")).to_have_count(1)
        for tab in ("Create", "Gallery", "Account", "Privacy"):
            open_tab(page, tab)
            _settle(page)
            found[f"app: {tab}"] = axe_problems(page)
        open_tab(page, "Create")
        page.get_by_text("Advanced", exact=True).click()
        _settle(page)
        found["app: Create, Advanced open"] = axe_problems(page)
        set_number(page, "count", 4)
        choose_size(page, "1024x1024")
        expect(page.locator("#generate")).to_be_disabled()
        _settle(page)
        found["app: Create, too few credits"] = axe_problems(page)

        page.get_by_test_id("logout").click()
        page.wait_for_url(f"{web.url}/login**")
        page.fill("#username", "root")
        page.fill("#password", PASSWORD)
        page.click("form.ac-form button[type=submit]")
        wait_ready(page, "root")
        open_tab(page, "Admin")
        _settle(page)
        found["app: Admin"] = axe_problems(page)

        page.goto(web.url + "/goodbye?u=ada")
        _settle(page)
        found["/goodbye"] = axe_problems(page)
    finally:
        context.close()
    bad = {where: problems for where, problems in found.items() if problems}
    assert not bad, "\n".join(f"{where}:\n  " + "\n  ".join(p) for where, p in bad.items())


def _tab_to(page: Any, selector: str, limit: int = 40, back: bool = False) -> int:
    """Press Tab (Shift+Tab when ``back``) until ``selector`` has the focus; how many presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if page.evaluate("(s) => !!document.activeElement?.matches(s)", selector):
            return presses
    raise AssertionError(f"{selector} was not reached with {limit} presses of Tab")


def test_the_core_loop_by_keyboard_only(chromium: Any, web: WebServer) -> None:
    """Sign up, write a prompt, generate, see it in the gallery: no mouse at all."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto(web.url + "/")
        _tab_to(page, "a[href='/signup']")
        page.keyboard.press("Enter")
        page.wait_for_url(web.url + "/signup")
        _tab_to(page, "#username")
        page.keyboard.type("kai")
        _tab_to(page, "#email")
        page.keyboard.type("kai@example.org")
        _tab_to(page, "#password")
        page.keyboard.type(PASSWORD)
        _tab_to(page, "#password2")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(web.url + "/")
        wait_ready(page, "kai")

        _tab_to(page, "#prompt textarea")
        # The focus is visible where it lands.
        outline = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle !== 'none' || s.boxShadow !== 'none'"
            " || s.borderColor !== getComputedStyle(document.body).borderColor; }"
        )
        assert outline, "no visible focus on the prompt"
        page.keyboard.type("a kite drawn by keyboard")
        page.keyboard.press("Control+Enter")
        expect(page.get_by_test_id("latest-image")).to_have_count(1)
        expect(page.get_by_test_id("status")).to_contain_text("Made 1 image")

        # Generate itself is reachable by Tab and works with Enter.
        _tab_to(page, "#generate")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("latest-image")).to_have_count(1)
        expect(page.get_by_test_id("balance")).to_have_text("8 credits")

        # Back up to the tab list and open the Gallery tab with Enter.
        _tab_to(page, "#tab-gallery-button", back=True)
        gallery = page.get_by_role("tab", name="Gallery", exact=True)
        page.keyboard.press("Enter")
        expect(gallery).to_have_attribute("aria-selected", "true")
        expect(page.get_by_test_id("gallery-item")).to_have_count(2)
    finally:
        context.close()
