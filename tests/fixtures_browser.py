"""Browser-test fixtures: Debian's Chromium through Playwright, and a restartable server.

* ``chromium`` (module scope): one headless Chromium for a test module,
  launched as DESIGN.md says (``/usr/bin/chromium``, no background
  networking, no sync, no component updates). Each test opens its own
  context (fresh cookies, storage and IndexedDB) with :func:`new_context`.
* ``web``: a :class:`WebServer` over the test's settings with the
  :class:`SlowDemoBackend`, on a free port of 127.0.0.1. ``restart()``
  stops it and starts a new Studio and app over the same data dir, secret
  key and port, as a process restart would (the browser's IndexedDB is per
  origin, so the port must stay the same).

Helpers (plain functions): ``signup_in_browser``, ``login_in_browser``,
``open_tab``, ``set_number``, ``generate_in_browser``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicreative import Settings, Studio
from aicreative.accounts import PasswordHasher
from aicreative.backends.base import GenerationRequest, ProgressCallback
from aicreative.backends.demo import DemoBackend
from aicreative.mail import MemoryMailer
from aicreative.store import AccountStore

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery"
#: Upper bound for every wait on the page (ms).
WAIT_MS = 20_000
START_TIMEOUT = 30.0


class SlowDemoBackend(DemoBackend):
    """The demo backend, slowed down by ``delay`` seconds per step.

    A stand-in for a real model: the demo backend finishes 80 steps in a few
    milliseconds, too fast for a test to see Gradio's progress bar move.
    With ``steps=1`` (the UI's default) the delay is negligible.
    """

    def __init__(self, delay: float = 0.03) -> None:
        self.delay = delay

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Any]:
        def slow(done: int, total: int) -> None:
            time.sleep(self.delay)
            if on_progress is not None:
                on_progress(done, total)

        return super().generate(request, slow)


class WebServer:
    """The real app (``create_app``) served by uvicorn in a thread; restartable."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.studio: Studio | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> WebServer:
        import uvicorn

        from aicreative.web.app import create_app

        self.settings.ensure_data_dir()
        # A new Studio over the file, as a new process would build it.
        self.studio = Studio(
            AccountStore.open(self.settings.store_path),
            SlowDemoBackend(),
            settings=self.settings,
            hasher=PasswordHasher.fast(),
            mailer=MemoryMailer(),
            secret_key=self.settings.secret_key.get_secret_value(),
            # As a process would: the data dir's gallery secret, so galleries survive restarts.
            gallery_secret=self.settings.resolve_gallery_secret(),
        )
        config = uvicorn.Config(
            create_app(self.studio, self.settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name=f"uvicorn-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} ended during start-up")
            if self._server.started:
                try:
                    if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"{self.url}/healthz did not answer in {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout=15)
            assert not self._thread.is_alive(), "the server thread did not stop"
        if self.studio is not None:
            self.studio.store.close()

    def restart(self) -> WebServer:
        """Stop, then serve a fresh Studio and app on the same port and data dir."""
        self.stop()
        return self.start()

    @property
    def store(self) -> AccountStore:
        assert self.studio is not None
        return self.studio.store


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (skipped where it is not installed)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_context(chromium: Any, width: int = 1280, height: int = 800) -> Any:
    """A fresh browser context (its own cookies, storage and IndexedDB)."""
    context = chromium.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(WAIT_MS)
    return context


@pytest.fixture
def web(settings: Settings) -> Iterator[WebServer]:
    """The app on a free port, over the test's settings, with the slow demo backend."""
    from .conftest import free_port

    last: Exception | None = None
    for _attempt in range(3):  # a port that was free a moment ago may be taken
        server = WebServer(settings, free_port())
        try:
            server.start()
        except (RuntimeError, TimeoutError) as exc:
            last = exc
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    raise RuntimeError(f"the server did not start: {last}")


# -- page helpers ---------------------------------------------------------------------


def _expect() -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    return expect


def wait_ready(page: Any, username: str) -> None:
    """Wait until the Gradio page has loaded the session (header and gallery script)."""
    _expect()(page.get_by_test_id("header-username")).to_have_text(username, timeout=WAIT_MS)
    page.wait_for_function("() => !!window.AICreative", timeout=WAIT_MS)


def signup_in_browser(
    page: Any, url: str, username: str, email: str | None = None, password: str = PASSWORD
) -> None:
    """Sign up through the real form and wait for the app."""
    page.goto(url + "/signup")
    page.fill("#username", username)
    page.fill("#email", email or f"{username}@example.org")
    page.fill("#password", password)
    page.fill("#password2", password)
    page.click("form.ac-form button[type=submit]")
    page.wait_for_url(url + "/", timeout=WAIT_MS)
    wait_ready(page, username)


def login_in_browser(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the real form and wait for the app."""
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form.ac-form button[type=submit]")
    page.wait_for_url(url + "/", timeout=WAIT_MS)
    wait_ready(page, username)


def open_tab(page: Any, name: str) -> None:
    """Select a tab; the Account tab re-renders its forms then, so wait for that."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if name != "Account":
        tab.click()
        return
    if tab.get_attribute("aria-selected") == "true":
        return
    page.evaluate(
        "() => document.querySelectorAll('#account-info .ac-account')"
        ".forEach(e => e.setAttribute('data-stale', '1'))"
    )
    tab.click()
    fresh = page.locator("#account-info .ac-account:not([data-stale])")
    _expect()(fresh).to_have_count(1, timeout=WAIT_MS)


def set_number(page: Any, elem_id: str, value: int | float) -> None:
    """Set a Gradio slider through its number box, and wait until the slider took it.

    A value typed before the component has hydrated (just after an accordion
    opens, say) can be lost: type it again until the range input shows it.
    """
    box = page.locator(f"#{elem_id} input[type=number]")
    slider = page.locator(f"#{elem_id} input[type=range]")
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        box.fill(str(value))
        box.press("Enter")
        try:
            _expect()(slider).to_have_value(str(value), timeout=2_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def choose_size(page: Any, size: str) -> None:
    page.locator("#size input").click()
    page.get_by_role("option", name=size, exact=True).click()


def generate_in_browser(page: Any, prompt: str, count: int = 1, negative: str = "") -> str:
    """Fill the Create form, click Generate and return the new status text.

    The current status line is marked stale first; Gradio replaces it with
    the event's answer ("Made ..." or the refusal). Two answers in a row with
    the same text would not replace it: tests make each one differ.
    """
    open_tab(page, "Create")
    page.fill("#prompt textarea", prompt)
    page.fill("#negative textarea", negative)
    set_number(page, "count", count)
    page.evaluate(
        "() => document.querySelectorAll('[data-testid=status]')"
        ".forEach(s => s.setAttribute('data-stale', '1'))"
    )
    page.click("#generate")
    status = page.locator("[data-testid=status]:not([data-stale])")
    _expect()(status).to_have_count(1, timeout=WAIT_MS)
    return str(status.inner_text())


def stored_images(page: Any, username: str) -> int:
    """How many images the page's gallery holds (its signed-in account's; ``username`` is for the reader)."""
    return int(page.evaluate("(u) => AICreative.usage(u).then(x => x.count)", username))


#: How many gallery records IndexedDB holds for an account id, read raw (any page of the
#: site, with or without the gallery script or its key).
RAW_COUNT_JS = """(account) => new Promise((resolve, reject) => {
  const open = indexedDB.open('aicreative');
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains('items')) { db.close(); resolve(0); return; }
    const req = db.transaction('items').objectStore('items').index('account').count(account);
    req.onsuccess = () => { db.close(); resolve(req.result); };
    req.onerror = () => reject(req.error);
  };
})"""


def raw_records(page: Any, account_id: str) -> int:
    """Gallery records of ``account_id`` in this browser's IndexedDB, readable or not."""
    return int(page.evaluate(RAW_COUNT_JS, account_id))


def gallery_account(page: Any) -> str:
    """The account id the page's gallery works for (once its key has arrived)."""
    return str(page.evaluate("() => AICreative.ready().then(() => AICreative.account())"))


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
