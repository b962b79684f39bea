"""The gallery's promises in real Chromium with persistent profiles (issue 12, issue 11 item 8).

Each test drives Debian's Chromium through Playwright with a profile folder on disk
(``launch_persistent_context``), against the real app on a free port:

* after logout a scan of every file of the profile finds no PNG signature and no prompt;
* a second account in the same profile reads nothing of the first's records, even when
  it points its own key at them;
* deleting the account makes its records undecryptable, even with the old session's
  cookie (the server makes no key for a deleted account, and a key made without the
  destroyed salt opens nothing);
* export, then import into a fresh profile, gives the same images, prompts and settings
  (and a second import skips every image by id);
* a full browser (a quota made tiny through the DevTools protocol, as a full disk would
  make it) says so and keeps every image stored before;
* a forged move or wipe link (``/?done=username&from=…``, ``/goodbye?u=…``) moves and
  wipes nothing;
* results the server held for a reload reach the gallery and are acknowledged.
"""

from __future__ import annotations

import base64
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..fixtures_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    WAIT_MS,
    WebServer,
    choose_size,
    gallery_account,
    generate_in_browser,
    login_in_browser,
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

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


def _profile(playwright: Any, folder: Path) -> Any:
    """A Chromium with its profile in ``folder`` (files we can scan afterwards)."""
    context = playwright.chromium.launch_persistent_context(
        str(folder),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        accept_downloads=True,
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(WAIT_MS)
    return context


def _gallery(page: Any, count: int) -> None:
    open_tab(page, "Gallery")
    expect(page.get_by_test_id("gallery-item")).to_have_count(count)


def _logout(page: Any, url: str) -> None:
    page.get_by_test_id("logout").click()
    page.wait_for_url(f"{url}/login**")


def _scan(folder: Path, needles: dict[str, bytes]) -> list[str]:
    """Files of ``folder`` holding any of ``needles``: 'name: path'."""
    found = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        found += [f"{name}: {path}" for name, needle in needles.items() if needle in data]
    return found


def _needles(prompt: str) -> dict[str, bytes]:
    return {
        "PNG signature": PNG_SIGNATURE,
        "prompt (UTF-8)": prompt.encode(),
        "prompt (UTF-16)": prompt.encode("utf-16-le"),
    }


def test_after_logout_the_profile_holds_no_png_and_no_prompt(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    folder = tmp_path / "profile"
    prompt = f"zebra-{os.getpid()}-orchard"
    context = _profile(playwright, folder)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        signup_in_browser(page, web.url, "ada")
        status = generate_in_browser(page, prompt, count=2, negative="foggy-marsh")
        assert status.startswith("Made 2 images"), status
        _gallery(page, 2)
        assert stored_images(page, "ada") == 2
        # Bytes of the images themselves (the end of their compressed data), to look for too.
        samples = page.evaluate(
            """async () => {
              const { Gallery, openGalleryDb } = await import('/ac-static/gallery/storage.js');
              const { fetchGalleryKey } = await import('/ac-static/gallery/crypto.js');
              const g = new Gallery(await openGalleryDb(), await fetchGalleryKey());
              const out = [];
              for (const r of await g.list()) out.push(Array.from((await g.image(r.id)).slice(-60, -16)));
              return out;
            }"""
        )
        _logout(page, web.url)
    finally:
        context.close()
    needles = {**_needles(prompt), **_needles("foggy-marsh")}
    needles.update({f"image {i}": bytes(sample) for i, sample in enumerate(samples)})
    found = _scan(folder, needles)
    # Chromium's own favicon database holds its PNG raster of the site's SVG icon; it is
    # searched for the images' bytes like every file, but a PNG signature there is not ours.
    found = [f for f in found if not (f.startswith("PNG signature") and f.endswith("Favicons"))]
    assert len(samples) == 2 and found == [], found
    # The records are there, sealed: the scan had something to look at.
    assert any("IndexedDB" in str(p) for p in folder.rglob("*"))


def test_a_second_account_in_the_same_profile_reads_nothing_of_the_first(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    context = _profile(playwright, tmp_path / "profile")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        signup_in_browser(page, web.url, "ada")
        generate_in_browser(page, "ada's private garden", count=2)
        _gallery(page, 2)
        ada_id = gallery_account(page)
        _logout(page, web.url)

        signup_in_browser(page, web.url, "bob")
        open_tab(page, "Gallery")
        expect(page.get_by_test_id("gallery-empty")).to_be_visible()
        assert stored_images(page, "bob") == 0
        assert raw_records(page, ada_id) == 2
        # Bob's own key, pointed straight at Ada's records, opens none of them.
        opened = page.evaluate(
            """async (account) => {
              const { Gallery, openGalleryDb } = await import('/ac-static/gallery/storage.js');
              const { fetchGalleryKey } = await import('/ac-static/gallery/crypto.js');
              const mine = await fetchGalleryKey();
              const g = new Gallery(await openGalleryDb(), { ...mine, account });
              const list = await g.list();
              let images = 0;
              for (const r of list) { try { await g.image(r.id); images += 1; } catch {} }
              return { records: list.length, readable: list.filter(r => r.readable).length, images };
            }""",
            ada_id,
        )
        assert opened == {"records": 2, "readable": 0, "images": 0}
        # A search for Ada's words in Bob's gallery finds nothing either.
        page.get_by_test_id("gallery-search").fill("garden")
        expect(page.get_by_test_id("gallery-item")).to_have_count(0)
    finally:
        context.close()


def test_deletion_makes_the_records_undecryptable_even_with_the_old_session(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    context = _profile(playwright, tmp_path / "profile")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        signup_in_browser(page, web.url, "ada")
        generate_in_browser(page, "soon gone", count=1)
        _gallery(page, 1)
        ada_id = gallery_account(page)
        old_cookies = context.cookies()
        open_tab(page, "Account")
        form = page.locator("form[action='/account/delete']")
        form.locator("[name=password]").fill(PASSWORD)
        form.locator("[name=confirm_username]").fill("ada")
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("gallery-unreadable")).to_contain_text("unreadable")
        assert raw_records(page, ada_id) == 1  # still there, and sealed

        # The old session's cookie back: the server hands out no key for a deleted account.
        context.add_cookies(old_cookies)
        status = page.evaluate(
            "() => fetch('/gallery-key', {cache: 'no-store'}).then(r => r.status)"
        )
        assert status == 401
        # Whatever the server could still make for that id (no salt left) opens nothing.
        assert web.studio is not None
        guess = web.studio.gallery_keys.key_for(ada_id, "").key
        opened = page.evaluate(
            """async ([account, raw]) => {
              const { Gallery, openGalleryDb } = await import('/ac-static/gallery/storage.js');
              const { importKey } = await import('/ac-static/gallery/crypto.js');
              const key = await importKey(raw);
              const list = await new Gallery(await openGalleryDb(), { account, kid: '', key }).list();
              return list.filter(r => r.readable).length;
            }""",
            [ada_id, base64.urlsafe_b64encode(guess).decode().rstrip("=")],
        )
        assert opened == 0
    finally:
        context.close()


def test_export_then_import_in_a_fresh_profile_gives_the_same_gallery(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    first = _profile(playwright, tmp_path / "one")
    zip_path = tmp_path / "export.zip"
    try:
        page = first.pages[0] if first.pages else first.new_page()
        signup_in_browser(page, web.url, "ada")
        generate_in_browser(page, "a red kite over hills", count=2, negative="rain")
        _gallery(page, 2)
        expect(page.locator(".ac-gal-export-note")).to_contain_text("not encrypted")
        with page.expect_download() as info:
            page.get_by_test_id("export-zip").click()
        info.value.save_as(zip_path)
        before = page.evaluate(
            """async () => {
              const { Gallery, openGalleryDb } = await import('/ac-static/gallery/storage.js');
              const { fetchGalleryKey } = await import('/ac-static/gallery/crypto.js');
              const g = new Gallery(await openGalleryDb(), await fetchGalleryKey());
              const out = [];
              for (const r of await g.list()) {
                const png = await g.image(r.id);
                out.push([r.id, r.meta, png.length, Array.from(png.slice(-64))]);
              }
              return out.sort();
            }"""
        )
    finally:
        first.close()
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert sorted(n.endswith(".png") for n in names).count(True) == 2
        assert all(archive.read(n).startswith(PNG_SIGNATURE) for n in names if n.endswith(".png"))

    second = _profile(playwright, tmp_path / "two")
    try:
        page = second.pages[0] if second.pages else second.new_page()
        login_in_browser(page, web.url, "ada")
        open_tab(page, "Gallery")
        page.get_by_test_id("import-file").set_input_files(str(zip_path))
        expect(page.get_by_test_id("import-result")).to_contain_text("Imported 2 image(s); 0")
        _gallery(page, 2)
        after = page.evaluate(
            """async () => {
              const { Gallery, openGalleryDb } = await import('/ac-static/gallery/storage.js');
              const { fetchGalleryKey } = await import('/ac-static/gallery/crypto.js');
              const g = new Gallery(await openGalleryDb(), await fetchGalleryKey());
              const out = [];
              for (const r of await g.list()) {
                const png = await g.image(r.id);
                out.push([r.id, r.meta, png.length, Array.from(png.slice(-64))]);
              }
              return out.sort();
            }"""
        )
        assert after == before
        page.get_by_test_id("import-file").set_input_files(str(zip_path))
        expect(page.get_by_test_id("import-result")).to_contain_text(
            "Imported 0 image(s); 2 already here"
        )
        _gallery(page, 2)
        # The viewer shows the imported prompt; "Use these settings" fills the Create form,
        # size, steps and guidance included: set them off the image's values first.
        open_tab(page, "Create")
        choose_size(page, "768x512")
        page.locator("#tab-create button", has_text="Advanced").first.click()
        set_number(page, "steps", 3)
        set_number(page, "guidance", 2.5)
        open_tab(page, "Gallery")
        page.get_by_test_id("gallery-item").first.click()
        expect(page.get_by_test_id("viewer-prompt")).to_have_text("a red kite over hills")
        seed = page.get_by_test_id("viewer-settings").locator("dd").nth(3).inner_text()
        page.get_by_test_id("viewer-use").click()
        expect(page.locator("#prompt textarea")).to_have_value("a red kite over hills")
        expect(page.locator("#negative textarea")).to_have_value("rain")
        expect(page.locator("#seed input")).to_have_value(seed)
        expect(page.locator("#size input")).to_have_value("512x512")
        expect(page.locator("#steps input[type=number]")).to_have_value("1")
        expect(page.locator("#guidance input[type=number]")).to_have_value("0")
    finally:
        second.close()


def test_a_full_browser_says_so_and_keeps_what_it_stored(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    context = _profile(playwright, tmp_path / "profile")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(web.url + "/login")
        # What a nearly full disk does to this origin: room for a few images only. (Chromium
        # applies this override only to an origin that has stored nothing yet.)
        cdp = context.new_cdp_session(page)
        cdp.send("Storage.overrideQuotaForOrigin", {"origin": web.url, "quotaSize": 600_000})
        signup_in_browser(page, web.url, "ada")
        stored = 0
        for attempt in range(9):
            status = generate_in_browser(page, f"picture {attempt}", count=1)
            assert status.startswith("Made 1 image"), status
            note = page.locator("[data-testid=latest] .ac-note")
            expect(note).to_have_count(1)
            page.wait_for_timeout(300)
            if "storage is full" in note.inner_text():
                break
            stored += 1
        else:
            pytest.fail("the quota never ran out")
        assert stored >= 1
        open_tab(page, "Gallery")
        expect(page.get_by_test_id("gallery-error")).to_contain_text("storage is full")
        _gallery(page, stored)
        page.reload()
        wait_ready(page, "ada")
        _gallery(page, stored)
        assert stored_images(page, "ada") == stored
        page.get_by_test_id("gallery-item").first.click()
        expect(page.get_by_test_id("viewer-prompt")).to_have_text(f"picture {stored - 1}")
    finally:
        context.close()


def test_a_forged_link_moves_and_wipes_nothing(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    context = _profile(playwright, tmp_path / "profile")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        signup_in_browser(page, web.url, "bob")
        generate_in_browser(page, "bob's own picture", count=1)
        _gallery(page, 1)
        bob_id = gallery_account(page)
        _logout(page, web.url)
        signup_in_browser(page, web.url, "eve")
        generate_in_browser(page, "eve's picture", count=1)
        _gallery(page, 1)
        eve_id = gallery_account(page)
        # The old "rename" link: once it moved bob's gallery into eve's.
        page.goto(f"{web.url}/?done=username&from=bob")
        wait_ready(page, "eve")
        _gallery(page, 1)
        # Forged goodbye pages: the old ?u= form and a made-up instruction offer no wipe.
        for forged in ("/goodbye?u=bob", "/goodbye?w=forged", f"/goodbye?w={bob_id}"):
            page.goto(web.url + forged)
            expect(page.get_by_test_id("gallery-unreadable")).to_be_visible()
            expect(page.get_by_test_id("wipe-gallery")).to_have_count(0)
        time.sleep(0.5)
        assert raw_records(page, bob_id) == 1 and raw_records(page, eve_id) == 1
    finally:
        context.close()


def test_results_held_for_a_reload_reach_the_gallery_and_are_acknowledged(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    assert web.studio is not None
    web.studio.backend.delay = 1.5  # type: ignore[attr-defined]
    context = _profile(playwright, tmp_path / "profile")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        signup_in_browser(page, web.url, "ada")
        open_tab(page, "Create")
        page.fill("#prompt textarea", "arrives after a reload")
        set_number(page, "count", 2)
        page.click("#generate")
        deadline = time.monotonic() + WAIT_MS / 1000
        while web.studio.deliveries.stats()["running"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        page.goto("about:blank")  # the page leaves mid-generation
        while web.studio.deliveries.stats()["running"]:
            assert time.monotonic() < deadline + 20
            time.sleep(0.05)
        page.goto(web.url + "/")
        wait_ready(page, "ada")
        expect(page.get_by_test_id("recovered-notice")).to_contain_text("recovered")
        _gallery(page, 2)
        account_id = web.studio.account_id("ada")
        deadline = time.monotonic() + 10
        while web.studio.deliveries.pending(account_id).as_dict()["results"]:
            assert time.monotonic() < deadline, "the gallery did not acknowledge the result"
            time.sleep(0.1)
    finally:
        context.close()


def test_viewer_search_select_undo_and_downloads(
    playwright: Any, web: WebServer, tmp_path: Path
) -> None:
    context = _profile(playwright, tmp_path / "profile")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        signup_in_browser(page, web.url, "ada")
        generate_in_browser(page, "a quiet harbour", count=2)
        generate_in_browser(page, "a loud market", count=1)
        _gallery(page, 3)
        # Search by prompt text, in the browser.
        page.get_by_test_id("gallery-search").fill("harbour")
        expect(page.get_by_test_id("gallery-item")).to_have_count(2)
        page.get_by_test_id("gallery-search").fill("")
        expect(page.get_by_test_id("gallery-item")).to_have_count(3)
        # Viewer: arrow keys go to the next and previous image.
        page.get_by_test_id("gallery-item").first.click()
        prompt = page.get_by_test_id("viewer-prompt")
        expect(prompt).to_have_text("a loud market")
        page.keyboard.press("ArrowRight")
        expect(prompt).to_have_text("a quiet harbour")
        page.keyboard.press("ArrowLeft")
        expect(prompt).to_have_text("a loud market")
        # Download: a name with date and seed; the settings go in only when asked.
        seed = page.get_by_test_id("viewer-settings").locator("dd").nth(3).inner_text()
        with page.expect_download() as plain:
            page.get_by_test_id("viewer-download").click()
        name = plain.value.suggested_filename
        assert name.startswith("aicreative-2") and f"-seed{seed}-" in name, name
        plain_png = Path(plain.value.path()).read_bytes()
        assert plain_png.startswith(PNG_SIGNATURE) and b"parameters" not in plain_png
        page.get_by_test_id("settings-in-png").check()
        with page.expect_download() as tagged:
            page.get_by_test_id("viewer-download").click()
        tagged_png = Path(tagged.value.path()).read_bytes()
        assert b"tEXtparameters\x00a loud market\n" in tagged_png
        assert f"Seed: {seed}".encode() in tagged_png
        # Copy seed.
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
        page.get_by_test_id("viewer-copy-seed").click()
        expect(page.get_by_test_id("viewer-status")).to_contain_text(seed)
        # Delete with undo.
        page.get_by_test_id("viewer-delete").click()
        _gallery(page, 2)
        page.get_by_test_id("undo-delete").click()
        _gallery(page, 3)
        # Select several: export them, then delete them.
        page.get_by_test_id("select-mode").click()
        items = page.get_by_test_id("gallery-item")
        items.nth(1).click()
        items.nth(2).click()
        with page.expect_download() as chosen:
            page.get_by_test_id("export-selected").click()
        zip_path = tmp_path / "chosen.zip"
        chosen.value.save_as(zip_path)
        with zipfile.ZipFile(zip_path) as archive:
            assert sum(n.endswith(".png") for n in archive.namelist()) == 2
        page.get_by_test_id("delete-selected").click()
        _gallery(page, 1)
        assert stored_images(page, "ada") == 1
    finally:
        context.close()
