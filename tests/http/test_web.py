"""The web app over real HTTP: a uvicorn server on a free port of 127.0.0.1.

Covers the public pages, sign-up, login, logout, CSRF and origin checks,
the one session cookie, Gradio's API behind the session, generation with
credits, isolation between users, security headers and password reset.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from aicreative.accounts import Tokens
from aicreative.policy import format_date
from aicreative.web.security import COOKIE_NAME

from ..fixtures_server import (
    PASSWORD,
    LiveServer,
    balance_in,
    csrf_token,
    form_error,
    generate,
    generate_inputs,
    gradio_call,
    gradio_result,
    gradio_submit,
    header_csrf,
    input_value,
    login,
    login_response,
    logout,
    parse_sse,
    png_size,
    signup,
    signup_response,
    status_text,
    submit_form,
)

OTHER_SITE = "http://evil.example"


def _cookie_attributes(set_cookie: str) -> tuple[str, str, dict[str, str]]:
    """(name, value, {attribute lower-cased: value}) of one Set-Cookie header."""
    first, *rest = [part.strip() for part in set_cookie.split(";")]
    name, _, value = first.partition("=")
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.strip().lower()] = val.strip()
    return name, value, attributes


def _anonymous(server: LiveServer, cookie: str | None = None) -> httpx.Client:
    cookies = {COOKIE_NAME: cookie} if cookie is not None else None
    return server.client(cookies=cookies)


def _is_logged_in(client: httpx.Client) -> bool:
    response = client.get("/")
    if response.status_code == 200:
        return True
    assert response.status_code == 303 and response.headers["location"] == "/welcome"
    return False


# -- public pages -----------------------------------------------------------------


def test_root_without_a_session_redirects_to_the_landing_page(live_server: LiveServer) -> None:
    client = _anonymous(live_server)
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/welcome"
    assert "set-cookie" not in response.headers
    landing = client.get("/welcome")
    assert landing.status_code == 200 and 'href="/signup"' in landing.text


def test_root_with_a_dead_cookie_redirects_and_clears_it(live_server: LiveServer) -> None:
    client = _anonymous(live_server, "not-a-session")
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/welcome"
    name, value, attributes = _cookie_attributes(response.headers["set-cookie"])
    assert name == COOKIE_NAME and value in ("", '""')
    assert attributes.get("max-age") == "0" or "expires" in attributes


def test_public_pages_answer_without_a_session(live_server: LiveServer) -> None:
    client = _anonymous(live_server)
    for path, marker in (("/login", "Log in"), ("/signup", "Create your account")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert marker in response.text
        assert csrf_token(response.text)
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["backend"] == live_server.studio.backend_name == "demo"
    assert body["label"] == live_server.studio.backend_label


def test_privacy_page_shows_the_policy_version_and_date(live_server: LiveServer) -> None:
    book = live_server.studio.policy
    doc = book.current() or book.latest()
    client = _anonymous(live_server)
    response = client.get("/privacy")
    assert response.status_code == 200
    meta = re.search(r'data-testid="policy-version">(.*?)</p>', response.text, re.S)
    assert meta, "no version line on /privacy"
    assert f"Version {doc.version}" in meta.group(1)
    assert f"effective {format_date(doc.effective)}" in meta.group(1)
    assert live_server.settings.contact_email in response.text


def test_framework_docs_routes_are_absent(live_server: LiveServer) -> None:
    client = _anonymous(live_server)
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        response = client.get(path)
        assert response.status_code in (401, 404), (path, response.status_code)
        assert "swagger" not in response.text.lower()
        assert '"openapi"' not in response.text


# -- sign-up -------------------------------------------------------------------------


def test_signup_sets_one_httponly_lax_cookie_and_opens_the_app(live_server: LiveServer) -> None:
    client = live_server.client()
    response = signup_response(client, "ada", "ada@example.org")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1, cookies
    name, value, attributes = _cookie_attributes(cookies[0])
    assert name == COOKIE_NAME and value
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"
    assert "secure" not in attributes  # plain http on loopback
    assert attributes.get("path") == "/"

    page = client.get("/")
    assert page.status_code == 200
    assert "gradio" in page.text.lower()
    assert "set-cookie" not in page.headers
    config = client.get("/config")
    assert config.status_code == 200 and "set-cookie" not in config.headers
    assert [c.name for c in client.cookies.jar] == [COOKIE_NAME]

    account = live_server.studio.account("ada")
    assert (account.email, account.credits) == ("ada@example.org", 10)


SECRET = "unique-secret-8f1e2d"


SIGNUP_ERRORS = [
    # username, email, password, repeated password, what the error names
    ("a b!", "ab@example.org", SECRET, SECRET, "username"),
    ("carol", "not-an-email", SECRET, SECRET, "email"),
    ("carol", "carol@example.org", "short-1", "short-1", "at least 10"),
    ("carol", "carol@example.org", SECRET, SECRET + "x", "differ"),
]


def test_signup_errors_are_shown_on_the_form(live_server: LiveServer) -> None:
    client = live_server.client()
    for username, email, password, password2, fragment in SIGNUP_ERRORS:
        response = submit_form(
            client,
            "/signup",
            {"username": username, "email": email, "password": password, "password2": password2},
        )
        case = (username, email, fragment)
        assert 400 <= response.status_code < 500, case
        error = form_error(response.text)
        assert error and fragment in error.lower(), (case, error)
        assert input_value(response.text, "username") == username, case
        assert input_value(response.text, "email") == email, case
        assert password not in response.text and password2 not in response.text, case
        assert input_value(response.text, "password") == "", case
        assert "set-cookie" not in response.headers, case
    assert not client.cookies
    assert live_server.studio.store.all() == []


def test_signup_with_a_taken_username(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    client = live_server.client()
    response = signup_response(client, "ada", "someone@example.org", SECRET)
    assert response.status_code == 409
    assert "taken" in (form_error(response.text) or "")
    assert input_value(response.text, "username") == "ada"
    assert input_value(response.text, "email") == "someone@example.org"
    assert SECRET not in response.text
    assert "set-cookie" not in response.headers
    assert [a.email for a in live_server.studio.store.all()] == ["ada@example.org"]


# -- login -------------------------------------------------------------------------------


def test_login_with_the_right_and_a_wrong_password(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    client = live_server.client()
    wrong = login_response(client, "ada", PASSWORD + "!")
    assert wrong.status_code == 401
    assert form_error(wrong.text) == "Wrong username or password."
    assert input_value(wrong.text, "username") == "ada"
    assert PASSWORD not in wrong.text
    assert "set-cookie" not in wrong.headers
    assert not _is_logged_in(client)

    right = login_response(client, "ada", PASSWORD)
    assert right.status_code == 303 and right.headers["location"] == "/"
    assert _cookie_attributes(right.headers["set-cookie"])[0] == COOKIE_NAME
    assert _is_logged_in(client)
    # Logged in, the form pages send you to the app.
    assert client.get("/login").headers.get("location") == "/"


def test_unknown_user_gets_the_same_message(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    client = live_server.client()
    wrong = login_response(client, "ada", "not the password")
    unknown = login_response(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert form_error(wrong.text) == form_error(unknown.text) == "Wrong username or password."


def test_repeated_failures_are_throttled(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    free = live_server.studio.throttle.per_pair
    client = live_server.client()
    for _ in range(free):
        assert login_response(client, "ada", "wrong password").status_code == 401
    throttled = login_response(client, "ada", PASSWORD)  # even the right one waits
    assert throttled.status_code == 429
    error = form_error(throttled.text) or ""
    assert re.search(r"wait \d+ s", error), error
    retry_after = int(throttled.headers["retry-after"])
    assert 1 <= retry_after <= 300
    assert f"wait {retry_after} s" in error
    assert "set-cookie" not in throttled.headers
    assert not _is_logged_in(client)


def test_forms_have_password_manager_autocomplete(live_server: LiveServer) -> None:
    def autocomplete(page: str, name: str) -> str | None:
        for tag in re.findall(r"<input\b[^>]*>", page):
            if f'name="{name}"' in tag:
                match = re.search(r'autocomplete="([^"]*)"', tag)
                return match.group(1) if match else None
        return None

    client = _anonymous(live_server)
    login_page = client.get("/login").text
    signup_page = client.get("/signup").text
    assert autocomplete(login_page, "username") == "username"
    assert autocomplete(login_page, "password") == "current-password"
    assert autocomplete(signup_page, "username") == "username"
    assert autocomplete(signup_page, "email") == "email"
    assert autocomplete(signup_page, "password") == "new-password"
    assert autocomplete(signup_page, "password2") == "new-password"
    assert re.search(r'<form method="post" action="/login"', login_page)
    assert re.search(r'<form method="post" action="/signup"', signup_page)


# -- CSRF and origin checks ---------------------------------------------------------------


def test_signup_without_a_csrf_token_creates_nothing(live_server: LiveServer) -> None:
    client = live_server.client()
    response = submit_form(
        client,
        "/signup",
        {"username": "eve", "email": "eve@example.org", "password": SECRET, "password2": SECRET},
        token=None,
    )
    assert response.status_code == 400
    assert "expired" in (form_error(response.text) or "")
    assert input_value(response.text, "username") == "eve"
    assert "set-cookie" not in response.headers
    assert live_server.studio.store.get("eve") is None


def test_login_with_a_wrong_csrf_token_does_not_log_in(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    forged = Tokens("another-key-0123456789abcdef").session("ada", 0)
    client = live_server.client()
    for token in ("forged", forged, ""):
        response = submit_form(
            client, "/login", {"username": "ada", "password": PASSWORD}, token=token
        )
        assert response.status_code == 400, token
        assert "set-cookie" not in response.headers
    assert not _is_logged_in(client)


def test_logout_with_a_wrong_csrf_token_keeps_the_session(live_server: LiveServer) -> None:
    client = signup(live_server, "ada")
    for token in (None, "forged"):
        response = submit_form(client, "/logout", {}, token=token)
        assert response.status_code == 400
        assert "set-cookie" not in response.headers
    assert _is_logged_in(client)
    assert gradio_call(client, "session", [])[0] == "complete"
    assert live_server.studio.store.get("ada").session_counter == 0


def test_a_token_from_another_session_cannot_log_out(live_server: LiveServer) -> None:
    ada = signup(live_server, "ada")
    bob = signup(live_server, "bob")
    bobs_token = header_csrf(bob)
    anonymous_token = csrf_token(_anonymous(live_server).get("/login").text)
    for token in (bobs_token, anonymous_token):
        response = submit_form(ada, "/logout", {}, token=token)
        assert response.status_code == 400
    assert _is_logged_in(ada) and _is_logged_in(bob)
    # Its own token works.
    assert logout(ada).status_code == 303
    assert not _is_logged_in(ada) and _is_logged_in(bob)


def test_a_cross_origin_post_is_refused_even_with_a_valid_token(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    client = live_server.client()
    login_try = submit_form(
        client, "/login", {"username": "ada", "password": PASSWORD}, origin=OTHER_SITE
    )
    assert login_try.status_code == 403
    assert "set-cookie" not in login_try.headers
    signup_try = submit_form(
        client,
        "/signup",
        {"username": "eve", "email": "eve@example.org", "password": SECRET, "password2": SECRET},
        origin=OTHER_SITE,
    )
    assert signup_try.status_code == 403
    null_origin = submit_form(
        client, "/login", {"username": "ada", "password": PASSWORD}, origin="null"
    )
    assert null_origin.status_code in (400, 403)
    assert not _is_logged_in(client)
    assert live_server.studio.store.get("eve") is None

    bob = signup(live_server, "bob")
    token = header_csrf(bob)
    out = submit_form(bob, "/logout", {}, token=token, origin=OTHER_SITE)
    assert out.status_code == 403
    assert _is_logged_in(bob)
    # Another site's page cannot spend credits either.
    api = bob.post(
        "/gradio_api/call/generate",
        json={"data": generate_inputs("x")},
        headers={"origin": OTHER_SITE},
    )
    assert api.status_code == 403
    assert live_server.studio.balance("bob") == 10


def test_a_form_post_without_origin_or_referer_is_refused(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    client = live_server.client()
    bare = submit_form(client, "/login", {"username": "ada", "password": PASSWORD}, origin=None)
    assert bare.status_code in (400, 403)
    assert "set-cookie" not in bare.headers
    assert not _is_logged_in(client)

    def login_with_referer(http: httpx.Client, site: str) -> httpx.Response:
        token = csrf_token(http.get("/login").text)
        return http.post(
            "/login",
            data={"username": "ada", "password": PASSWORD, "csrf_token": token},
            headers={"referer": f"{site}/login"},
        )

    # A same-site Referer (Origin stripped by a privacy extension) is accepted...
    assert login_with_referer(client, live_server.url).status_code == 303
    # ... and another site's Referer is not.
    with live_server.client() as other:
        assert login_with_referer(other, OTHER_SITE).status_code == 403
        assert not _is_logged_in(other)


def test_the_browsers_own_posts_with_a_null_origin(live_server: LiveServer) -> None:
    """Under ``Referrer-Policy: no-referrer`` Chromium sends ``Origin: null``, no
    Referer and ``Sec-Fetch-Site: same-origin`` on the site's own form posts and
    fetches (seen in Debian's Chromium here); ``Sec-Fetch-Site`` then decides."""
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    form = {"username": "ada", "password": PASSWORD}
    navigate = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
    client = live_server.client()
    for site, origin in (("cross-site", "null"), ("same-site", "null"), ("cross-site", "self")):
        refused = submit_form(
            client, "/login", form, origin=origin, headers={"sec-fetch-site": site, **navigate}
        )
        assert refused.status_code == 403, (site, origin)
        assert not _is_logged_in(client)
    accepted = submit_form(
        client, "/login", form, origin="null", headers={"sec-fetch-site": "same-origin", **navigate}
    )
    assert accepted.status_code == 303
    assert _is_logged_in(client)

    # The Gradio page's own fetches carry the same headers.
    fetch = {"origin": "null", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"}
    body = {"data": generate_inputs("a kite")}
    cross = client.post(
        "/gradio_api/call/generate", json=body, headers={**fetch, "sec-fetch-site": "cross-site"}
    )
    assert cross.status_code == 403
    assert live_server.studio.balance("ada") == 10
    own = client.post(
        "/gradio_api/call/generate", json=body, headers={**fetch, "sec-fetch-site": "same-origin"}
    )
    assert own.status_code == 200
    result = gradio_result(client, "generate", own.json()["event_id"])
    assert parse_sse(result.text)[-1].event == "complete"
    assert live_server.studio.balance("ada") == 9


# -- logout ----------------------------------------------------------------------------------


def test_logout_ends_the_session_on_the_server(live_server: LiveServer) -> None:
    client = signup(live_server, "ada")
    copied = client.cookies[COOKIE_NAME]
    response = logout(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?m=out"
    name, value, attributes = _cookie_attributes(response.headers["set-cookie"])
    assert name == COOKIE_NAME and attributes.get("max-age") == "0"
    assert not _is_logged_in(client)

    thief = _anonymous(live_server, copied)
    page = thief.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/welcome"
    assert gradio_submit(thief, "generate", generate_inputs("x")).status_code == 401
    assert thief.get("/config").status_code == 401
    assert thief.get("/gradio_api/info").status_code == 401
    assert live_server.studio.store.get("ada").session_counter == 1
    assert live_server.studio.balance("ada") == 10


# -- Gradio's API behind the session ------------------------------------------------------------


GRADIO_ROUTES = [
    ("POST", "/gradio_api/call/generate"),
    ("POST", "/gradio_api/queue/join"),
    ("GET", "/config"),
    ("GET", "/gradio_api/info"),
    ("GET", "/gradio_api/openapi.json"),
    ("GET", "/gradio_api/call/generate/0123456789abcdef"),
]


def _gradio_request(client: httpx.Client, method: str, path: str) -> httpx.Response:
    if method == "POST":
        return client.post(path, json={"data": generate_inputs("a kite"), "fn_index": 0})
    return client.get(path)


def test_gradio_api_refuses_calls_without_a_session(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    client = _anonymous(live_server)
    for method, path in GRADIO_ROUTES:
        response = _gradio_request(client, method, path)
        assert response.status_code == 401, (method, path, response.status_code)
    assert live_server.studio.balance("ada") == 10


def test_gradio_api_refuses_forged_and_tampered_cookies(live_server: LiveServer) -> None:
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    real = live_server.studio.login("ada", PASSWORD)
    payload, stamp, signature = real.split(".")
    bob_payload = base64.urlsafe_b64encode(b'{"u":"bob","c":0}').decode().rstrip("=")
    # The first character: the last one of base64 also carries unused bits.
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    forged = [
        "garbage",
        f"{bob_payload}.{stamp}.{signature}",  # another user's name under ada's signature
        f"{payload}.{stamp}.{flipped}",  # a changed signature
        Tokens("another-key-0123456789abcdef").session("ada", 0),  # signed with another key
        Tokens(live_server.settings.secret_key.get_secret_value()).session(
            "ada", 7
        ),  # an old session counter
    ]
    for cookie in forged:
        client = _anonymous(live_server, cookie)
        for method, path in GRADIO_ROUTES:
            response = _gradio_request(client, method, path)
            assert response.status_code == 401, (cookie, method, path)
        assert not _is_logged_in(client)
    with _anonymous(live_server, real) as client:  # the control: the real cookie works
        assert _is_logged_in(client)
        assert client.get("/config").status_code == 200
    assert live_server.studio.balance("ada") == 10


# -- generation -----------------------------------------------------------------------------------


def test_generate_returns_images_and_the_lower_balance(live_server: LiveServer) -> None:
    client = signup(live_server, "ada")
    submitted = gradio_submit(
        client,
        "generate",
        generate_inputs("a lighthouse at dawn", size="768x512", seed=7, count=2),
    )
    assert submitted.status_code == 200
    streamed = gradio_result(client, "generate", submitted.json()["event_id"])
    events = parse_sse(streamed.text)
    assert events[-1].event == "complete", events[-1]
    payload, status, header = events[-1].data
    assert "/file=" not in streamed.text  # images come as data, never as a cached file URL

    assert payload["user"] == "ada"
    assert payload["prompt"] == "a lighthouse at dawn"
    assert payload["settings"]["width"] == 768 and payload["settings"]["height"] == 512
    assert [image["seed"] for image in payload["images"]] == [7, 8]
    assert [png_size(image["data_url"]) for image in payload["images"]] == [(768, 512)] * 2
    assert payload["images"][0]["data_url"] != payload["images"][1]["data_url"]
    # 768x512 costs 2 credits an image: 10 - 4.
    assert payload["balance"] == 6
    assert balance_in(header) == 6
    assert live_server.studio.balance("ada") == 6
    assert "Made 2 images for 4 credits" in status_text(status)


def test_an_invalid_request_says_why_and_charges_nothing(live_server: LiveServer) -> None:
    client = signup(live_server, "ada")
    event, (payload, status, header), _ = generate(client, "   ")
    assert event == "complete"
    assert "images" not in payload  # an update that leaves the last result alone
    assert status_text(status) == "Please enter a prompt."
    assert "ac-status-error" in status
    assert balance_in(header) == 10

    event, data, _ = generate(client, "a kite", size="500x500")
    assert event == "error"
    assert "500x500" in str(data) and "512x512" in str(data)  # says what is allowed

    event, data, _ = generate(client, "a kite", steps=999)
    assert event == "error"
    assert "50" in str(data)  # the limit

    assert live_server.studio.balance("ada") == 10


def test_a_short_balance_says_not_enough_credits(live_server: LiveServer) -> None:
    client = signup(live_server, "ada")
    # 1024x1024 costs 4 credits an image; 4 images need 16, ada has 10.
    event, (payload, status, header), _ = generate(client, "a kite", size="1024x1024", count=4)
    assert event == "complete"
    assert "images" not in payload
    assert "Not enough credits" in status_text(status)
    assert "16" in status_text(status) and "10" in status_text(status)
    assert balance_in(header) == 10
    assert live_server.studio.balance("ada") == 10


# -- two users ----------------------------------------------------------------------------------------


def test_two_users_never_see_each_others_balance_or_results(live_server: LiveServer) -> None:
    studio = live_server.studio
    ada = signup(live_server, "ada")
    bob = signup(live_server, "bob")
    studio.grant("bob", 5)  # balances differ: 10 and 15
    event_a, (payload_a, _, header_a), _ = generate(ada, "ada's secret garden", count=1)
    event_b, (payload_b, _, header_b), _ = generate(bob, "bob's quiet harbour", count=2)
    assert event_a == event_b == "complete"
    assert payload_a["user"] == "ada" and payload_b["user"] == "bob"
    assert payload_a["prompt"] == "ada's secret garden"
    assert payload_b["prompt"] == "bob's quiet harbour"
    assert (payload_a["balance"], payload_b["balance"]) == (9, 13)
    assert balance_in(header_a) == 9 and balance_in(header_b) == 13
    assert 'data-user="ada"' in header_a and "bob" not in header_a
    assert 'data-user="bob"' in header_b and "ada" not in header_b
    # The session event shows each their own account.
    _, (session_a, *_), _ = gradio_call(ada, "session", [])
    _, (session_b, *_), _ = gradio_call(bob, "session", [])
    assert balance_in(session_a) == 9 and 'data-user="ada"' in session_a
    assert balance_in(session_b) == 13 and 'data-user="bob"' in session_b
    assert (studio.balance("ada"), studio.balance("bob")) == (9, 13)


def test_another_user_cannot_read_an_event_result(live_server: LiveServer) -> None:
    marker = f"ada-private-{uuid.uuid4().hex}"
    ada = signup(live_server, "ada")
    bob = signup(live_server, "bob")
    submitted = gradio_submit(ada, "generate", generate_inputs(marker))
    assert submitted.status_code == 200
    event_id = submitted.json()["event_id"]
    time.sleep(0.3)  # let the event finish, so its result waits to be read

    stolen = gradio_result(bob, "generate", event_id)
    assert marker not in stolen.text
    assert stolen.status_code in (403, 404), (stolen.status_code, stolen.text[:200])
    with _anonymous(live_server) as anonymous:
        assert gradio_result(anonymous, "generate", event_id).status_code == 401

    # The owner still gets the result.
    own = gradio_result(ada, "generate", event_id)
    final = [e for e in parse_sse(own.text) if e.event == "complete"]
    assert final and final[-1].data[0]["prompt"] == marker
    assert final[-1].data[0]["user"] == "ada"


def _fn_index(client: httpx.Client, api_name: str) -> int:
    config = client.get("/config")
    assert config.status_code == 200
    for dependency in config.json()["dependencies"]:
        if dependency.get("api_name") == api_name:
            return int(dependency["id"])
    raise AssertionError(f"no event named {api_name}")


def _join(
    client: httpx.Client, fn_index: int, session_hash: str, data: list[Any]
) -> httpx.Response:
    return client.post(
        "/gradio_api/queue/join",
        json={
            "data": data,
            "fn_index": fn_index,
            "session_hash": session_hash,
            "event_data": None,
            "trigger_id": None,
        },
    )


def test_another_user_cannot_use_a_browser_session_hash(live_server: LiveServer) -> None:
    """The browser's own protocol: queue/join, then the session's event stream."""
    marker = f"ada-browser-{uuid.uuid4().hex}"
    session_hash = uuid.uuid4().hex[:11]
    ada = signup(live_server, "ada")
    bob = signup(live_server, "bob")
    fn_index = _fn_index(ada, "generate")
    joined = _join(ada, fn_index, session_hash, generate_inputs(marker))
    assert joined.status_code == 200 and joined.json()["event_id"]
    time.sleep(0.3)

    stream = bob.get("/gradio_api/queue/data", params={"session_hash": session_hash})
    assert stream.status_code == 404 and marker not in stream.text
    hijack = _join(bob, fn_index, session_hash, generate_inputs("bob's prompt"))
    assert hijack.status_code == 404
    for path in (
        f"/gradio_api/heartbeat/{session_hash}",
        f"/gradio_api/deep_link?session_hash={session_hash}",
    ):
        assert marker not in bob.get(path).text
        assert bob.get(path).status_code == 404
    call = bob.post(
        "/gradio_api/call/generate",
        json={"data": generate_inputs("x"), "session_hash": session_hash},
    )
    assert call.status_code == 404

    own = ada.get("/gradio_api/queue/data", params={"session_hash": session_hash})
    assert own.status_code == 200
    assert marker in own.text and "process_completed" in own.text
    assert "bob's prompt" not in own.text
    assert live_server.studio.balance("bob") == 10


def test_gradio_client_with_the_session_cookie(live_server: LiveServer) -> None:
    """Gradio's own Python client (queue/join and the event stream) with the cookie."""
    from gradio_client import Client

    ada = signup(live_server, "ada")
    cookie = ada.cookies[COOKIE_NAME]
    client = Client(
        live_server.url + "/",
        headers={"Cookie": f"{COOKIE_NAME}={cookie}"},
        verbose=False,
        analytics_enabled=False,
        download_files=False,
    )
    try:
        payload, status, header = client.predict(
            *generate_inputs("a paper boat", seed=3, count=1), api_name="/generate"
        )
    finally:
        client.close()
    assert payload["user"] == "ada"
    assert [png_size(image["data_url"]) for image in payload["images"]] == [(512, 512)]
    assert payload["balance"] == balance_in(header) == 9
    assert "Made 1 image" in status_text(status)
    with pytest.raises(Exception):  # noqa: B017 - any refusal; the client wraps the 401
        Client(live_server.url + "/", verbose=False, analytics_enabled=False)
    assert live_server.studio.balance("ada") == 9


# -- headers ---------------------------------------------------------------------------------------------


def _check_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives.get("default-src") == ["'self'"], csp
    assert directives.get("frame-ancestors") == ["'self'"], csp
    assert directives.get("object-src") == ["'none'"], csp
    allowed = {"'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "data:", "blob:"}
    for name, sources in directives.items():
        assert set(sources) <= allowed, f"{name} allows {set(sources) - allowed}"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"
    permissions = headers.get("permissions-policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()"):
        assert feature in permissions
    assert "strict-transport-security" not in headers  # plain http


def test_security_headers_on_pages_and_the_gradio_app(live_server: LiveServer) -> None:
    anonymous = _anonymous(live_server)
    for path in ("/login", "/signup", "/privacy", "/forgot", "/healthz", "/"):
        _check_security_headers(anonymous.get(path))
    _check_security_headers(anonymous.get("/config"))  # the 401 too
    client = signup(live_server, "ada")
    page = client.get("/")
    assert page.status_code == 200
    _check_security_headers(page)
    _check_security_headers(client.get("/config"))
    _check_security_headers(client.get("/ac-static/gallery/main.js"))
    submitted = gradio_submit(client, "generate", generate_inputs("a kite"))
    _check_security_headers(submitted)
    _check_security_headers(gradio_result(client, "generate", submitted.json()["event_id"]))


def test_our_static_files_leave_gradios_own_reachable(live_server: LiveServer) -> None:
    client = signup(live_server, "ada")
    try:
        ours = client.get("/ac-static/gallery/storage.js")
        assert ours.status_code == 200 and "IndexedDB" in ours.text
        assert "javascript" in ours.headers["content-type"]  # served as a module can be
        vendored = client.get("/ac-static/vendor/idb.js")
        assert vendored.status_code == 200 and "openDB" in vendored.text
        # Gradio's page loads this script when framed (as on Spaces); a mount
        # of ours at /static used to answer it with 404.
        gradios = client.get("/static/js/iframeResizer.contentWindow.min.js")
        assert gradios.status_code == 200 and "iFrameResizer" in gradios.text
    finally:
        client.close()


# -- password reset ------------------------------------------------------------------------------------------


def _wait_for_mail(server: LiveServer, address: str, count: int = 1) -> list[Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        mails = server.studio.mailer.to(address)
        if len(mails) >= count:
            return mails
        time.sleep(0.02)
    raise AssertionError(f"no mail to {address} in 5 s")


def _forgot(client: httpx.Client, email: str) -> httpx.Response:
    return submit_form(client, "/forgot", {"email": email})


def test_forgot_answers_the_same_for_known_and_unknown_emails(live_server: LiveServer) -> None:
    live_server.settings.public_url = live_server.url  # links come from the setting only
    live_server.studio.signup("ada", "ada@example.org", PASSWORD)
    client = live_server.client()
    known = _forgot(client, "ada@example.org")
    unknown = _forgot(client, "nobody@example.org")

    def visible(page: str) -> str:  # the page without its (time-stamped) CSRF token
        return page.replace(csrf_token(page), "TOKEN")

    assert known.status_code == unknown.status_code == 200
    assert visible(known.text) == visible(unknown.text)
    assert "reset link is on its way" in known.text
    assert len(_wait_for_mail(live_server, "ada@example.org")) == 1
    time.sleep(0.2)
    assert live_server.studio.mailer.to("nobody@example.org") == []


def test_password_reset_over_http(live_server: LiveServer) -> None:
    studio = live_server.studio
    live_server.settings.public_url = live_server.url  # links come from the setting only
    new_password = "a brand new passphrase"
    old_session = signup(live_server, "ada")
    client = live_server.client()
    assert _forgot(client, "ada@example.org").status_code == 200
    (mail,) = _wait_for_mail(live_server, "ada@example.org")
    match = re.search(r"(http://\S+/reset\?token=\S+)", mail.body)
    assert match, mail.body
    link = match.group(1)
    assert link.startswith(live_server.url + "/reset?token=")
    path = link[len(live_server.url) :]

    form = client.get(path)
    assert form.status_code == 200
    token = input_value(form.text, "token")
    assert token and input_value(form.text, "username") == "ada"
    done = submit_form(
        client,
        "/reset",
        {"token": token, "password": new_password, "password2": new_password},
        form_path=path,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/login?m=reset"

    # The old session died with the old password.
    assert not _is_logged_in(old_session)
    assert login_response(client, "ada", PASSWORD).status_code == 401

    # The link works once.
    again = client.get(path)
    assert again.status_code == 400
    assert "already used" in (form_error(again.text) or "")
    assert input_value(again.text, "password") is None  # no form to fill
    replay = submit_form(
        client,
        "/reset",
        {
            "token": token,
            "password": "yet another passphrase",
            "password2": "yet another passphrase",
        },
        form_path="/forgot",
    )
    assert replay.status_code == 400
    fresh = login(live_server, "ada", new_password)
    assert _is_logged_in(fresh)
    assert studio.hasher.verify(new_password, studio.store.get("ada").password_hash)
