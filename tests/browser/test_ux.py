"""The first hour of a new user (issue 13), in real Chromium through Playwright.

Each test is one of the issue's items, acted out as a person would: the
landing page, the cost against the balance before the click, the keyboard
path to Generate, messages where the eye is, one progress display and a
Stop that works only while something runs, an ended session, the Account
tab's results, log-in with an email, and the phone layout. The backend is
the demo backend slowed down per step (fixtures_browser.SlowDemoBackend),
so that a run lasts long enough to be seen.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from aicreative.web.ui import Handlers, cost_text

from ..fixtures_browser import (
    PASSWORD,
    WAIT_MS,
    WebServer,
    choose_size,
    generate_in_browser,
    new_context,
    open_tab,
    set_number,
    signup_in_browser,
    wait_ready,
)
from .test_a11y import axe_problems

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

expect.set_options(timeout=WAIT_MS)

pytestmark = pytest.mark.browser


# -- 5. the front door -------------------------------------------------------------------


def test_visitors_get_a_landing_page_with_promise_examples_and_the_two_doors(
    chromium: Any, web: WebServer
) -> None:
    context = new_context(chromium)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    try:
        page.goto(web.url + "/")
        assert urlsplit(page.url).path == "/welcome"  # "/" answers 200 only with a session
        expect(page.get_by_role("heading", level=1)).to_contain_text("picture")
        expect(page.get_by_test_id("promise")).to_contain_text("saved in your own browser only")
        images = page.locator(".ac-example-grid img")
        expect(images).to_have_count(3)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.ac-example-grid img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        assert all(r.startswith(web.url) for r in requests), requests  # no outside request
        page.get_by_test_id("landing-signup").click()
        assert urlsplit(page.url).path == "/signup"
        page.go_back()
        page.get_by_test_id("landing-login").click()
        assert urlsplit(page.url).path == "/login"

        # Logged in, "/" is the app itself, and the landing page leads there.
        signup_in_browser(page, web.url, "lena")
        expect(page.get_by_role("heading", level=1)).to_have_text("◆ AI Creative")
        expect(page.get_by_test_id("landing")).to_have_count(0)
        page.goto(web.url + "/welcome")
        assert urlsplit(page.url).path == "/"
    finally:
        context.close()


# -- 1. out of credits is visible before the click ---------------------------------------------


def test_cost_against_balance_disables_generate_and_says_how_to_get_credits(
    chromium: Any, web: WebServer
) -> None:
    web.settings.credits_help = "mailto:credits@example.org"
    context = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "olga")
        cost, go = page.locator("#cost"), page.locator("#generate")
        expect(cost).to_have_text("This costs 1 credit (1 per image); you have 10.")
        expect(go).to_be_enabled()

        set_number(page, "count", 4)
        choose_size(page, "1024x1024")  # 4 x 4 = 16 credits, 10 in hand
        expect(cost).to_contain_text("This costs 16 credits (4 per image); you have only 10")
        expect(cost).to_contain_text("not enough")
        expect(go).to_be_disabled()
        expect(go).to_have_text("Not enough credits")
        link = page.get_by_test_id("credits-help-link")
        expect(link).to_have_attribute("href", "mailto:credits@example.org")
        # Ctrl+Enter does not get round the disabled button either.
        page.locator("#prompt textarea").fill("a castle")
        page.locator("#prompt textarea").press("Control+Enter")
        page.wait_for_timeout(300)
        assert web.studio is not None and web.studio.balance("olga") == 10

        choose_size(page, "512x512")
        expect(go).to_be_enabled()

        # Down to one credit: the header says "1 credit", the button still works once.
        web.studio.store.update("olga", credits=1)
        page.reload()
        wait_ready(page, "olga")
        expect(page.get_by_test_id("balance")).to_have_text("1 credit")
        status = generate_in_browser(page, "the last kite", count=1)
        assert status.startswith("Made 1 image for 1 credit"), status
        expect(page.get_by_test_id("balance")).to_have_text("0 credits")
        expect(go).to_be_disabled()
        expect(cost).to_contain_text("you have only 0")

        open_tab(page, "Account")
        expect(page.get_by_test_id("account-credits")).to_contain_text("You have 0 credits.")
        expect(page.locator("#account-info [data-testid=credits-help-link]")).to_have_attribute(
            "href", "mailto:credits@example.org"
        )
    finally:
        context.close()


def test_cost_text_words_the_balance() -> None:
    assert "you have 3." in cost_text("512x512", 2, 3)
    short = cost_text("1024x1024", 4, 6, "Write to us.")
    assert "16 credits" in short and "only 6" in short and "Write to us." in short
    assert "Ask the site's operator" in cost_text("1024x1024", 4, 6)
    assert "<b>1 credit</b>" in cost_text("512x512", 1, 1)
    linked = cost_text("1024x1024", 1, 0, "https://example.org/buy?a=1&b=<x>")
    assert 'href="https://example.org/buy?a=1&amp;b=&lt;x&gt;"' in linked


# -- 3 and 7: the keyboard path, one progress display, busy Generate, Stop only while running -----


def test_ctrl_enter_generates_enter_adds_a_line_and_the_run_is_shown_once(
    chromium: Any, web: WebServer
) -> None:
    context = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "kim")
        go, halt = page.locator("#generate"), page.locator("#stop")
        expect(halt).to_be_disabled()  # nothing runs yet
        box = page.locator("#prompt textarea")
        box.fill("a red kite")
        box.press("Enter")
        box.type("over the sea")
        expect(box).to_have_value("a red kite\nover the sea")
        assert web.studio is not None and web.studio.balance("kim") == 10

        page.get_by_text("Advanced", exact=True).click()
        set_number(page, "steps", 40)  # 40 x 30 ms: long enough to watch
        box.press("Control+Enter")
        expect(go).to_be_disabled()
        expect(go).to_have_text("Generating…")
        expect(halt).to_be_enabled()
        # One progress display, in the output (none under the buttons).
        expect(page.locator("#latest .progress-level-inner")).to_have_count(1)
        bars = page.locator(".progress-level-inner:visible")
        deadline = time.monotonic() + 5
        most = 0
        while time.monotonic() < deadline and page.get_by_test_id("latest-image").count() < 1:
            most = max(most, bars.count())
            time.sleep(0.05)
        assert most <= 1, f"{most} progress bars at once"
        expect(page.get_by_test_id("latest-image")).to_have_count(1)
        expect(page.get_by_test_id("status")).to_contain_text("Made 1 image")
        expect(go).to_be_enabled()
        expect(go).to_have_text("Generate")
        expect(halt).to_be_disabled()

        # Stop while running: refunded, and Stop is off again.
        box.fill("a slow kite")
        go.click()
        expect(halt).to_be_enabled()
        halt.click()
        expect(page.get_by_test_id("status")).to_contain_text("refunded")
        expect(halt).to_be_disabled()
        expect(go).to_be_enabled()
        assert web.studio.balance("kim") == 9
    finally:
        context.close()


# -- 2. messages where the eye is; the result in view on a phone -----------------------------------


def test_status_beside_the_button_and_results_scrolled_into_view_on_a_phone(
    chromium: Any, web: WebServer
) -> None:
    context = new_context(chromium, 1280, 900)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "pia")
        page.get_by_text("Advanced", exact=True).click()  # open: the status stays in sight
        generate_in_browser(page, "a kite", count=1)
        status = page.get_by_test_id("status")
        expect(status).to_be_in_viewport(ratio=1)
        go_box = page.locator("#generate").bounding_box()
        status_box = status.bounding_box()
        assert go_box and status_box and 0 <= status_box["y"] - go_box["y"] < 120, (
            go_box,
            status_box,
        )

        page.set_viewport_size({"width": 390, "height": 844})
        page.evaluate("() => window.scrollTo(0, 0)")
        page.fill("#prompt textarea", "a second kite")
        page.click("#generate")
        expect(page.get_by_test_id("status")).to_contain_text("Made 1 image")
        page.wait_for_timeout(300)
        expect(page.get_by_test_id("latest-image").first).to_be_in_viewport(ratio=0.6)
    finally:
        context.close()


# -- 4. an ended session -----------------------------------------------------------------------------


def test_an_ended_session_says_so_and_logs_in_again_in_place_keeping_the_prompt(
    chromium: Any, web: WebServer
) -> None:
    context = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "ned")
        other = context.new_page()  # another tab of the same browser logs out
        other.goto(web.url + "/")
        wait_ready(other, "ned")
        other.get_by_test_id("logout").click()
        other.wait_for_url(f"{web.url}/login**")
        other.close()

        page.fill("#prompt textarea", "a prompt worth keeping")
        page.click("#generate")
        box = page.get_by_test_id("session-ended")
        expect(box).to_be_visible()
        expect(box).to_contain_text("Your session has ended")
        page.wait_for_timeout(500)
        expect(page.locator(".toast-body:visible")).to_have_count(0)
        expect(page.get_by_text("Not authenticated")).to_have_count(0)
        expect(page.locator("#prompt textarea")).to_have_value("a prompt worth keeping")
        expect(page.get_by_test_id("login-link")).to_have_attribute("href", "/login")
        page.wait_for_timeout(300)
        assert axe_problems(page) == []

        form = page.get_by_test_id("relogin-form")
        expect(form.locator("input[name=username]")).to_have_value("ned")
        form.locator("input[name=password]").fill("not the password")
        form.locator("button[type=submit]").click()
        expect(form.locator(".ac-relogin-error")).to_have_text("Wrong username or password.")
        form.locator("input[name=password]").fill(PASSWORD)
        form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("session-back")).to_be_visible()
        assert urlsplit(page.url).path == "/"
        expect(page.locator("#prompt textarea")).to_have_value("a prompt worth keeping")
        status = generate_in_browser(page, "a prompt worth keeping, again")
        assert status.startswith("Made 1 image"), status
    finally:
        context.close()


# -- 6. the Account tab keeps its flow -----------------------------------------------------------------


def test_account_results_and_errors_stay_on_the_account_tab_with_human_labels(
    chromium: Any, web: WebServer
) -> None:
    context = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "una")
        open_tab(page, "Account")
        table = page.get_by_test_id("stored-data")
        for label in ("Password", "Log-outs everywhere", "You object to processing"):
            expect(table).to_contain_text(label)
        expect(page.get_by_test_id("stored-objected")).to_have_text("No")
        expect(page.get_by_test_id("stored-email_confirmed")).to_have_text("Yes")

        # Password managers: a username beside every password that is asked for.
        for action in ("/account/email", "/account/password", "/account/delete"):
            form = page.locator(f"form[action='{action}']")
            expect(form.locator("input[autocomplete=username]")).to_have_value("una")

        # A mistake: said beside the form, nothing typed lost, still on the Account tab.
        form = page.locator("form[action='/account/email']")
        form.locator("[name=email]").fill("una.new@example.org")
        form.locator("[name=password]").fill("wrong password!")
        form.locator("button[type=submit]").click()
        error = page.get_by_test_id("account-error")
        expect(error).to_have_text("Your password is not right.")
        expect(form.locator("[name=email]")).to_have_value("una.new@example.org")
        expect(page.get_by_role("tab", name="Account", exact=True)).to_have_attribute(
            "aria-selected", "true"
        )
        assert urlsplit(page.url).path == "/"

        # Success: back on the Account tab, the result at its top.
        form.locator("[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        wait_ready(page, "una")
        expect(page.get_by_role("tab", name="Account", exact=True)).to_have_attribute(
            "aria-selected", "true"
        )
        expect(page.locator("#account-done [data-testid=done]")).to_have_text(
            "Your email was changed."
        )
        expect(page.get_by_test_id("stored-email")).to_have_text("una.new@example.org")
    finally:
        context.close()


def test_a_refusal_page_without_javascript_has_the_logged_in_header(
    chromium: Any, web: WebServer
) -> None:
    """Without the page's script the forms still post; the refusal page then
    offers the way back to the app, not "Log in / Sign up"."""
    context = new_context(chromium)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "ulla")
        answer = context.request.post(
            web.url + "/account/email",
            form={"csrf_token": "stale", "email": "x@example.org", "password": PASSWORD},
            headers={"origin": web.url},
        )
        assert answer.status == 400
        body = answer.text()
        assert "Nothing changed" in body and ">Back to the app</a>" in body
        assert 'href="/signup"' not in body.split("</header>")[0]
    finally:
        context.close()


# -- 10. log in with the email ---------------------------------------------------------------------------


def test_log_in_with_email_and_the_same_answer_when_wrong(chromium: Any, web: WebServer) -> None:
    studio = web.studio
    assert studio is not None
    studio.signup("vera", "Vera@Example.org", PASSWORD)
    context = new_context(chromium)
    page = context.new_page()
    try:
        answers = []
        for who in ("vera", "vera@example.org", "nobody@example.org", "nobody"):
            page.goto(web.url + "/login")
            page.fill("#username", who)
            page.fill("#password", "not the password")
            page.click("form.ac-form button[type=submit]")
            answers.append(page.get_by_test_id("form-error").inner_text())
        assert answers == ["Wrong username or password."] * 4, answers
        expect(page.locator("label[for=username]")).to_have_text("Username or email")

        page.fill("#username", "VERA@example.org")
        page.fill("#password", PASSWORD)
        page.click("form.ac-form button[type=submit]")
        page.wait_for_url(web.url + "/")
        wait_ready(page, "vera")
    finally:
        context.close()


def test_email_and_username_share_one_throttle(web: WebServer) -> None:
    from aicreative.errors import AuthError, Throttled

    studio = web.studio
    assert studio is not None
    studio.signup("walt", "walt@example.org", PASSWORD)
    assert studio.user_from_session(studio.login("WALT@example.org", PASSWORD)).username == "walt"
    refused = 0
    for attempt in range(40):
        who = "walt" if attempt % 2 else "walt@example.org"
        try:
            studio.login(who, "wrong", client="203.0.113.9")
        except Throttled:
            refused += 1
            break
        except AuthError:
            continue
    assert refused, "alternating the username and the email was never throttled"
    # The limit is the same as for the username alone.
    studio.signup("xena", "xena@example.org", PASSWORD)
    alone = 0
    for _attempt in range(40):
        try:
            studio.login("xena", "wrong", client="203.0.113.10")
        except Throttled:
            break
        except AuthError:
            alone += 1
    assert attempt == alone


# -- 9. the phone ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("admin", [False, True])
def test_every_tab_by_name_and_a_compact_header_at_390(
    chromium: Any, web: WebServer, admin: bool
) -> None:
    studio = web.studio
    assert studio is not None
    context = new_context(chromium, 390, 844)
    page = context.new_page()
    try:
        signup_in_browser(page, web.url, "zoe")
        if admin:  # the operator grants the role (never a name in a setting)
            studio.set_role("zoe", "admin")
            page.reload()
            wait_ready(page, "zoe")
        names = ["Create", "Gallery", "Account", "Privacy"] + (["Admin"] if admin else [])
        for name in names:
            expect(page.get_by_role("tab", name=name, exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="More tabs")).to_be_hidden()
        header = page.locator(".ac-header").bounding_box()
        assert header is not None and header["height"] <= 844 / 8, header
        for name in names:
            page.get_by_role("tab", name=name, exact=True).click()
            expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute(
                "aria-selected", "true"
            )
        page.get_by_role("tab", name="Account", exact=True).click()
        expect(page.locator("#account-info .ac-account-table")).to_be_visible()
        # Long field names wrap between words, never inside one.
        broken = page.evaluate(
            "() => [...document.querySelectorAll('#account-info .ac-account-table th')]"
            ".filter(th => { const r = document.createRange(); r.selectNodeContents(th.firstChild);"
            " const lines = [...r.getClientRects()].length; const words ="
            " th.firstChild.textContent.trim().split(/\\s+/).length; return lines > words; })"
            ".map(th => th.textContent)"
        )
        assert broken == [], broken
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 392
    finally:
        context.close()


def test_handlers_are_callable_without_blocks(web: WebServer) -> None:
    """The UI's handlers are plain methods over a Studio (issue 14, item 2)."""
    studio = web.studio
    assert studio is not None
    studio.signup("yuri", "yuri@example.org", PASSWORD)

    class FakeRequest:  # the only part of gr.Request the handlers read
        username = "yuri"

    handlers = Handlers(studio, lambda request: "token")
    line, button = handlers.cost_state("1024x1024", 4, FakeRequest())  # type: ignore[arg-type]
    assert "not enough" in line and button["interactive"] is False
    line, button = handlers.cost_state("512x512", 2, FakeRequest())  # type: ignore[arg-type]
    assert "you have 10" in line and button["interactive"] is True
    go, halt, status = handlers.busy()
    assert go["interactive"] is False and halt["interactive"] is True and status == ""
