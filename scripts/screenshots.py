"""Make the README's screenshots in docs/: desktop 1280x900 and phone 390x844, light and dark.

Runs the real app (demo backend, a throwaway data dir) on 127.0.0.1 and
Debian's Chromium through Playwright, and acts out the first hour: the
landing page, sign-up, a few generations, the gallery, the Account tab,
and the too-few-credits state. Nothing leaves this machine.

    PYTHONPATH=. python scripts/screenshots.py [OUT_DIR]   # default: docs/
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from aicreative import Settings  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.fixtures_browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    WAIT_MS,
    WebServer,
    choose_size,
    generate_in_browser,
    open_tab,
    set_number,
    signup_in_browser,
)

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PROMPTS = (
    ("A lighthouse on a cliff at dawn, watercolour", 2),
    ("A fox in a snowy forest, ink drawing", 4),
)


def _drawn(page: Any, selector: str) -> None:
    page.wait_for_function(
        "(sel) => { const imgs = [...document.querySelectorAll(sel + ' img')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        arg=selector,
        timeout=WAIT_MS,
    )


def _shoot(page: Any, path: Path) -> None:
    page.wait_for_timeout(400)  # transitions end
    page.screenshot(path=str(path))
    print(path)


def run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="aicreative-shots-"))
    settings = Settings(
        data_dir=data,
        secret_key=secrets.token_hex(16),  # a throwaway server
        backend="demo",
        signup_credits=10,
        credits_help="mailto:credits@example.org",
    )
    web = WebServer(settings, free_port()).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for scheme in ("light", "dark"):
                suffix = "" if scheme == "light" else "-dark"
                context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
                context.set_default_timeout(WAIT_MS)
                page = context.new_page()
                page.goto(web.url + "/")
                _drawn(page, ".ac-example-grid")
                _shoot(page, out / f"landing{suffix}.png")
                page.set_viewport_size(PHONE)
                _shoot(page, out / f"phone-landing{suffix}.png")
                page.set_viewport_size(DESKTOP)

                name = f"mira{scheme}"
                signup_in_browser(page, web.url, name)
                for prompt, count in PROMPTS:
                    generate_in_browser(page, prompt, count=count)
                page.evaluate("() => window.scrollTo(0, 0)")
                _drawn(page, "[data-testid=latest]")
                _shoot(page, out / f"create{suffix}.png")
                page.set_viewport_size(PHONE)
                page.evaluate("() => window.scrollTo(0, 0)")
                _shoot(page, out / f"phone-create{suffix}.png")
                page.set_viewport_size(DESKTOP)

                open_tab(page, "Gallery")
                _drawn(page, "[data-testid=gallery-grid]")
                _shoot(page, out / f"gallery{suffix}.png")
                open_tab(page, "Account")
                _shoot(page, out / f"account{suffix}.png")
                page.set_viewport_size(PHONE)
                _shoot(page, out / f"phone-account{suffix}.png")
                page.set_viewport_size(DESKTOP)

                open_tab(page, "Create")
                set_number(page, "count", 4)
                choose_size(page, "1024x1024")
                page.locator("#generate[disabled]").wait_for()
                page.evaluate("() => window.scrollTo(0, 0)")
                _shoot(page, out / f"short{suffix}.png")
                context.close()
            browser.close()
    finally:
        web.stop()


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs")
