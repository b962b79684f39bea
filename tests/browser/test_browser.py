"""The web app in a real browser: Debian's Chromium driven by Playwright.

Each test runs the real app (``create_app``, uvicorn on 127.0.0.1) and acts
through the page as a person would: the sign-up form, the Create tab, the
gallery that lives in IndexedDB, the Account tab's forms, the Admin tab.
The backend is the demo backend slowed down a little per step (a stand-in
for a real model, so that the progress bar can be seen to move).

Set ``AICREATIVE_SCREENSHOTS=1`` to write the README's screenshots
(``docs/create.png``, ``docs/gallery.png``); otherwise they go to a temp dir.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from aicreative.backends.base import GenerationRequest
from aicreative.web.security import COOKIE_NAME

from ..fixtures_browser import (
    PASSWORD,
    WAIT_MS,
    WebServer,
    choose_size,
    gallery_account,
    generate_in_browser,
    login_in_browser,
    new_context,
    open_tab,
    raw_records,
    set_number,
    signup_in_browser,
    stored_images,
    wait_ready,
)

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

expect.set_options(timeout=WAIT_MS)

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
XSS = "<img src=x onerror=window.__x=1>"
#: The strongest payload email-validator lets through: no "<", ">" or quotes
#: are allowed unquoted, and quoted local parts are refused. It carries a
#: single quote (breaks a single-quoted attribute), JS and Jinja template
#: syntax, and the handler text.
XSS_EMAIL = "x${7*7}{{7*7}}'onerror=window.__x=1@example.org"


def _own_origin_only(urls: list[str], origin: str) -> list[str]:
    """The URLs that go anywhere but the app's own origin (data: and blob: are local)."""
    bad = []
    for url in urls:
        if url.startswith(("data:", "blob:")):
            continue
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != origin:
            bad.append(url)
    return bad


def _one_session_cookie(context: Any) -> dict[str, Any]:
    cookies = context.cookies()
    assert [c["name"] for c in cookies] == [COOKIE_NAME], cookies
    cookie = cookies[0]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    return dict(cookie)


def _no_payload_ran(page: Any) -> None:
    assert page.evaluate("() => typeof window.__x") == "undefined", "an XSS payload ran"
    assert page.locator("img[src='x']").count() == 0, "an XSS payload became an element"


def _gallery(page: Any, count: int) -> None:
    open_tab(page, "Gallery")
    expect(page.get_by_test_id("gallery-item")).to_have_count(count, timeout=WAIT_MS)
    noun = "image" if count == 1 else "images"
    expect(page.get_by_test_id("gallery-count")).to_contain_text(f"{count} {noun}")


def _images_drawn(page: Any, selector: str) -> None:
    """Wait until every image under ``selector`` has loaded (they load lazily)."""
    page.wait_for_function(
        "(sel) => { const imgs = [...document.querySelectorAll(sel + ' img')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        arg=selector,
        timeout=WAIT_MS,
    )


def _balance(page: Any, credits: int) -> None:
    expect(page.get_by_test_id("balance")).to_have_text(f"{credits} credits", timeout=WAIT_MS)


def _submit(page: Any, action: str, fields: dict[str, str], ok: bool = True) -> None:
    """Fill and submit the Account tab's form that posts to ``action``.

    A success loads the page again (onto the Account tab); a refusal is said
    beside the form, without leaving the page.
    """
    open_tab(page, "Account")
    form = page.locator(f"form[action='{action}']")
    for name, value in fields.items():
        form.locator(f"[name='{name}']").fill(value)
    if not ok:
        form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("account-error")).to_be_visible()
        return
    with page.expect_navigation(timeout=WAIT_MS):
        form.locator("button[type=submit]").click()


# -- 1. the main scenario (issue 3) ------------------------------------------------


def test_signup_generate_gallery_survives_reload_and_restart_then_export_and_logout(
    chromium: Any, web: WebServer, tmp_path: Path
) -> None:
    marker = f"marker-{os.getpid()}-lighthouse"
    context = new_context(chromium)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "ada")
        _one_session_cookie(context)
        _balance(page, 10)

        status = generate_in_browser(page, marker, count=2)
        assert status.startswith("Made 2 images for 2 credits"), status
        expect(page.get_by_test_id("latest-image")).to_have_count(2)
        _balance(page, 8)
        _gallery(page, 2)

        page.reload()
        wait_ready(page, "ada")
        _gallery(page, 2)

        # A server restart: same data dir, secret key and port; the cookie still works.
        web.restart()
        page.reload()
        wait_ready(page, "ada")
        _balance(page, 8)
        _gallery(page, 2)
        assert stored_images(page, "ada") == 2

        # The viewer shows the prompt as text; delete one from there.
        page.get_by_test_id("gallery-item").first.click()
        viewer = page.get_by_test_id("viewer")
        expect(viewer).to_be_visible()
        expect(page.get_by_test_id("viewer-prompt")).to_have_text(marker)
        expect(page.get_by_test_id("viewer-settings")).to_contain_text("512 × 512")
        page.get_by_test_id("viewer-delete").click()
        expect(viewer).to_be_hidden()
        _gallery(page, 1)

        # Export: a zip built in the browser, one PNG plus gallery.json.
        with page.expect_download(timeout=WAIT_MS) as download_info:
            page.get_by_test_id("export-zip").click()
        zip_path = tmp_path / "gallery.zip"
        download_info.value.save_as(zip_path)
        with zipfile.ZipFile(zip_path) as archive:
            assert archive.testzip() is None
            names = archive.namelist()
            pngs = [n for n in names if n.endswith(".png")]
            assert len(pngs) == 1 and sorted(names) == sorted([*pngs, "gallery.json"]), names
            assert archive.read(pngs[0]).startswith(b"\x89PNG\r\n\x1a\n")
            meta = json.loads(archive.read("gallery.json"))
        assert meta["count"] == 1 and meta["images"][0]["prompt"] == marker

        # Nothing of the prompt in Web Storage; still exactly the one cookie.
        for storage in ("localStorage", "sessionStorage"):
            held = page.evaluate(f"() => JSON.stringify({storage})")
            assert marker not in held, f"{storage} holds the prompt: {held[:200]}"
        _one_session_cookie(context)

        page.get_by_test_id("logout").click()
        page.wait_for_url(f"{web.url}/login**", timeout=WAIT_MS)
        assert urlsplit(page.url).path == "/login"
        assert context.cookies() == []
        page.goto(web.url + "/")
        assert urlsplit(page.url).path == "/welcome"
    finally:
        context.close()
    assert requests, "no request was recorded"
    assert _own_origin_only(requests, web.url) == []


# -- 2. the Create tab: cost, balance, progress, short balance, demo label -----------


def test_cost_balance_progress_and_short_balance(chromium: Any, web: WebServer) -> None:
    context = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "bob")
        expect(page.get_by_test_id("demo-badge")).to_be_visible()
        expect(page.get_by_test_id("backend-label")).to_contain_text("Demo generator")
        _balance(page, 10)

        cost = page.locator("#cost")
        expect(cost).to_have_text("This costs 1 credit (1 per image); you have 10.")
        set_number(page, "count", 3)
        expect(cost).to_have_text("This costs 3 credits (1 per image); you have 10.")
        choose_size(page, "1024x1024")
        expect(cost).to_contain_text("This costs 12 credits (4 per image); you have only 10")
        choose_size(page, "512x512")
        set_number(page, "count", 4)
        expect(cost).to_have_text("This costs 4 credits (1 per image); you have 10.")

        # 4 images x 20 steps with the slowed demo backend: the bar is seen to move.
        page.get_by_text("Advanced", exact=True).click()
        set_number(page, "steps", 20)
        page.fill("#prompt textarea", "a slow kite")
        page.click("#generate")
        level = page.locator("#latest .progress-level-inner")
        expect(level.first).to_contain_text("Generating", timeout=WAIT_MS)
        seen: set[str] = set()
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline and page.get_by_test_id("latest-image").count() < 4:
            texts = page.locator("#latest .meta-text-center")
            seen.update(t.split("|")[0].strip() for t in texts.all_inner_texts())
            time.sleep(0.05)
        steps_seen = {s for s in seen if s.endswith("/80 steps")}
        assert len(steps_seen) >= 2, f"the progress bar did not move: {seen}"
        expect(page.get_by_test_id("latest-image")).to_have_count(4)
        expect(page.get_by_test_id("status")).to_contain_text("Made 4 images for 4 credits")
        _balance(page, 6)

        # Too few credits: said before the click, Generate off, nothing charged or stored.
        set_number(page, "steps", 1)
        choose_size(page, "1024x1024")
        set_number(page, "count", 2)
        expect(cost).to_contain_text("This costs 8 credits (4 per image); you have only 6")
        expect(page.locator("#generate")).to_be_disabled()
        # A call that gets round the page (the API) is still refused by the server.
        assert web.studio is not None
        with pytest.raises(Exception, match="Not enough credits: this needs 8 and you have 6."):
            web.studio.generate(
                "bob",
                GenerationRequest.from_dict(
                    {"prompt": "a big kite", "width": 1024, "height": 1024, "num_images": 2}
                ),
            )
        _balance(page, 6)
        assert web.studio is not None and web.studio.balance("bob") == 6
        expect(page.get_by_test_id("latest-image")).to_have_count(4)
        assert stored_images(page, "bob") == 4

        # And the balance follows a successful generation again.
        choose_size(page, "512x512")
        status = generate_in_browser(page, "a small kite", count=1)
        assert status.startswith("Made 1 image for 1 credit"), status
        _balance(page, 5)
    finally:
        context.close()


# -- 3. the user's rights, end to end (issue 4) ---------------------------------------


def test_rights_see_download_correct_object_delete(
    chromium: Any, web: WebServer, tmp_path: Path
) -> None:
    studio = web.studio
    assert studio is not None
    studio.signup("boss", "boss@example.org", PASSWORD)
    studio.set_role("boss", "admin")  # the operator grants the role
    context = new_context(chromium)
    other = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "cara")
        assert generate_in_browser(page, "cara's secret kite").startswith("Made 1 image")

        # See: every stored field, the hash described, what this browser holds.
        open_tab(page, "Account")
        expect(page.get_by_test_id("stored-username")).to_have_text("cara")
        expect(page.get_by_test_id("stored-email")).to_have_text("cara@example.org")
        expect(page.get_by_test_id("stored-password_hash")).to_have_text("set, argon2id")
        expect(page.get_by_test_id("stored-credits")).to_have_text("9")
        expect(page.get_by_test_id("usage")).to_contain_text("1 image")
        with page.expect_download(timeout=WAIT_MS) as download_info:
            page.get_by_test_id("download-data").click()
        data_path = tmp_path / "data.json"
        download_info.value.save_as(data_path)
        data = json.loads(data_path.read_text())
        assert data["stored"]["username"] == "cara"
        assert data["stored"]["password_hash"] == "set, argon2id"
        assert "secret kite" not in data_path.read_text()

        # Correct the email: a wrong password changes nothing, and says so.
        _submit(
            page, "/account/email", {"email": "new@example.org", "password": "wrong one!"}, ok=False
        )
        expect(page.get_by_test_id("account-error")).to_have_text("Your password is not right.")
        assert studio.account("cara").email == "cara@example.org"
        _submit(page, "/account/email", {"email": "new@example.org", "password": PASSWORD})
        wait_ready(page, "cara")
        expect(page.get_by_test_id("done")).to_contain_text("Your email was changed.")
        open_tab(page, "Account")
        expect(page.get_by_test_id("stored-email")).to_have_text("new@example.org")
        assert studio.account("cara").email == "new@example.org"

        # Correct the username: the gallery belongs to the account id, nothing moves.
        account_id = gallery_account(page)
        _submit(page, "/account/username", {"username": "cara2", "password": PASSWORD})
        wait_ready(page, "cara2")
        expect(page.get_by_test_id("done")).to_contain_text("your gallery stays yours")
        _gallery(page, 1)
        assert stored_images(page, "cara2") == 1 and gallery_account(page) == account_id
        assert studio.store.get("cara") is None and studio.store.get("cara2") is not None

        # Change the password: another browser's session ends, this one goes on.
        other_page = other.new_page()
        login_in_browser(other_page, web.url, "cara2")
        new_password = "an even longer password"
        _submit(
            page,
            "/account/password",
            {"current": PASSWORD, "new": new_password, "new2": new_password},
        )
        wait_ready(page, "cara2")
        expect(page.get_by_test_id("done")).to_contain_text("Every other session has ended")
        other_page.goto(web.url + "/")
        assert urlsplit(other_page.url).path == "/welcome"
        assert other.cookies() == []

        # Object: the page says so and an admin sees the flag.
        open_tab(page, "Account")
        expect(page.get_by_test_id("objection-state")).to_have_text(
            "You do not object to further processing."
        )
        with page.expect_navigation(timeout=WAIT_MS):
            page.get_by_test_id("toggle-objection").click()
        wait_ready(page, "cara2")
        open_tab(page, "Account")
        expect(page.get_by_test_id("objection-state")).to_have_text(
            "You object to further processing."
        )
        rows, _ = studio.admin_accounts("boss", "cara2")
        assert [(r["username"], r["objected"]) for r in rows] == [("cara2", True)]

        # Delete: the typed username must match; then the record is gone at once.
        _submit(
            page,
            "/account/delete",
            {"password": new_password, "confirm_username": "cara"},
            ok=False,
        )
        expect(page.get_by_test_id("account-error")).to_contain_text("Type your username exactly")
        assert studio.store.get("cara2") is not None
        _submit(page, "/account/delete", {"password": new_password, "confirm_username": "cara2"})
        assert urlsplit(page.url).path == "/goodbye"
        assert studio.store.get("cara2") is None
        raw = web.settings.store_path.read_bytes()
        assert b"cara2" not in raw and b"new@example.org" not in raw
        assert context.cookies() == []

        # The goodbye page says every copy is unreadable now and offers to wipe this
        # browser's (unreadable) records of that account, on the server's signed instruction.
        expect(page.get_by_test_id("gallery-unreadable")).to_contain_text("unreadable")
        assert raw_records(page, account_id) == 1
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("wipe-gallery").click()
        expect(page.get_by_test_id("wipe-result")).to_have_text(
            "1 image(s) deleted from this browser."
        )
        assert raw_records(page, account_id) == 0
        page.goto(web.url + "/")
        assert urlsplit(page.url).path == "/welcome"
    finally:
        other.close()
        context.close()


# -- 4. hostile input is shown as text (issue 5) ----------------------------------------


def test_xss_payloads_are_text_everywhere(chromium: Any, web: WebServer) -> None:
    from aicreative.accounts import validate_email

    assert validate_email(XSS_EMAIL) == XSS_EMAIL  # the validator lets this one through
    studio = web.studio
    assert studio is not None
    studio.signup("boss", "boss@example.org", PASSWORD)
    studio.set_role("boss", "admin")  # the operator grants the role
    context = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "eve", email=XSS_EMAIL)
        status = generate_in_browser(page, XSS, negative=XSS)
        assert status.startswith("Made 1 image"), status
        image = page.get_by_test_id("latest-image")
        expect(image).to_have_count(1)
        assert image.get_attribute("alt") == f"Generated image: {XSS}"
        _no_payload_ran(page)

        for _visit in range(2):  # as just stored, then as read back after a reload
            _gallery(page, 1)
            page.get_by_test_id("gallery-item").click()
            expect(page.get_by_test_id("viewer-prompt")).to_have_text(XSS)
            expect(page.get_by_test_id("viewer-negative")).to_have_text(XSS)
            _no_payload_ran(page)
            page.get_by_test_id("viewer-close").click()
            page.reload()
            wait_ready(page, "eve")

        open_tab(page, "Account")
        expect(page.get_by_test_id("stored-email")).to_have_text(XSS_EMAIL)
        email_box = page.locator("form[action='/account/email'] input[name='email']")
        expect(email_box).to_have_value(XSS_EMAIL)
        _no_payload_ran(page)
    finally:
        context.close()

    # The admin table shows the email as text.
    admin = new_context(chromium)
    page = admin.new_page()
    try:
        login_in_browser(page, web.url, "boss")
        open_tab(page, "Admin")
        page.locator("#admin-search textarea").fill("eve")
        page.click("#admin-find")
        table = page.locator("#admin-table")
        expect(table).to_contain_text(XSS_EMAIL)
        expect(page.locator("#admin-info")).to_contain_text("1 account(s)")
        _no_payload_ran(page)
    finally:
        admin.close()

    # The payload as a username: the browser's own check, then the server's.
    visitor = new_context(chromium)
    page = visitor.new_page()
    try:
        page.goto(web.url + "/signup")
        page.fill("#username", XSS)
        page.fill("#email", "mallory@example.org")
        page.fill("#password", PASSWORD)
        page.fill("#password2", PASSWORD)
        assert page.eval_on_selector("#username", "e => e.validity.patternMismatch")
        page.eval_on_selector("form.ac-form", "f => { f.noValidate = true; }")
        with page.expect_navigation(timeout=WAIT_MS):
            page.click("form.ac-form button[type=submit]")
        expect(page.get_by_test_id("form-error")).to_have_text(
            "A username may hold only letters, digits and _ . - (no spaces)."
        )
        expect(page.locator("#username")).to_have_value(XSS)
        _no_payload_ran(page)
        assert studio.store.get(XSS) is None
        assert visitor.cookies() == []
    finally:
        visitor.close()


# -- 5. the Admin tab (issue 5) ------------------------------------------------------------


def test_admin_tab_search_and_grant_only_for_admins(chromium: Any, web: WebServer) -> None:
    studio = web.studio
    assert studio is not None
    studio.signup("ada", "ada@example.org", PASSWORD)
    studio.signup("adam", "adam@example.org", PASSWORD)
    studio.signup("boss", "boss@example.org", PASSWORD)
    studio.set_role("boss", "admin")  # the operator grants the role

    user = new_context(chromium)
    try:
        page = user.new_page()
        login_in_browser(page, web.url, "ada")
        expect(page.get_by_role("tab", name="Create", exact=True)).to_be_visible()
        expect(page.get_by_role("tab", name="Admin", exact=True)).to_have_count(0)
        expect(page.locator("#admin-table")).to_have_count(0)
    finally:
        user.close()

    admin = new_context(chromium)
    try:
        page = admin.new_page()
        login_in_browser(page, web.url, "boss")
        expect(page.get_by_text("admin", exact=True)).to_be_visible()  # the header's role
        open_tab(page, "Admin")
        table = page.locator("#admin-table")
        expect(page.locator("#admin-info")).to_contain_text("3 account(s)")
        page.locator("#admin-search textarea").fill("adam")
        page.click("#admin-find")
        expect(page.locator("#admin-info")).to_contain_text("1 account(s)")
        expect(table).to_contain_text("adam@example.org")
        expect(table).not_to_contain_text("boss@example.org")

        page.locator("#admin-target textarea").fill("adam")
        page.locator("#admin-amount input").fill("5")
        page.click("#admin-apply")
        expect(page.locator("#admin-status")).to_have_text("adam now has 15 credits.")
        assert studio.balance("adam") == 15 and studio.balance("ada") == 10
        expect(table).to_contain_text("15")
    finally:
        admin.close()


# -- 6. screenshots for the README, and the narrow layout ---------------------------------


def test_screenshots_and_layout_at_1280_and_390(
    chromium: Any, web: WebServer, tmp_path: Path
) -> None:
    out = DOCS if os.environ.get("AICREATIVE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    context = new_context(chromium, 1280, 800)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "mira")
        generate_in_browser(page, "A lighthouse on a cliff at dawn, watercolour", count=2)
        expect(page.get_by_test_id("latest-image")).to_have_count(2)
        generate_in_browser(page, "A fox in a snowy forest, ink drawing", count=4)
        expect(page.get_by_test_id("latest-image")).to_have_count(4)
        page.evaluate("() => window.scrollTo(0, 0)")
        _images_drawn(page, "[data-testid=latest]")
        page.screenshot(path=str(out / "create.png"))
        _gallery(page, 6)
        _images_drawn(page, "[data-testid=gallery-grid]")
        page.screenshot(path=str(out / "gallery.png"))
        for name in ("create.png", "gallery.png"):
            assert (out / name).read_bytes().startswith(b"\x89PNG")

        # At 390 px wide (a phone) no tab scrolls sideways, nor does the viewer.
        overflow = {}
        for tab in ("Create", "Gallery", "Account", "Privacy"):
            page.set_viewport_size({"width": 1280, "height": 800})
            open_tab(page, tab)
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(150)
            overflow[tab] = page.evaluate("() => document.documentElement.scrollWidth")
        assert all(width <= 392 for width in overflow.values()), overflow
        page.set_viewport_size({"width": 1280, "height": 800})
        open_tab(page, "Gallery")
        page.set_viewport_size({"width": 390, "height": 844})
        page.get_by_test_id("gallery-item").first.click()
        # The viewer opens once the image is decrypted: wait for it, as a person does.
        expect(page.get_by_test_id("viewer")).to_be_visible()
        box = page.get_by_test_id("viewer").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        expect(page.get_by_test_id("viewer-download")).to_be_in_viewport()
    finally:
        context.close()
